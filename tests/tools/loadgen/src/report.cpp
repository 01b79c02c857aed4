#include "report.hpp"

#include <cstdio>
#include <gno/loadgen/loadgen.hpp>

namespace gno::loadgen {
namespace {
unsigned long long ull(std::uint64_t v) {
    return static_cast<unsigned long long>(v);
}
} // namespace

std::string summary_json(const summary& s) {
    char buf[768];
    std::snprintf(buf, sizeof buf,
                  "{\"players\":%d,\"seconds\":%.3f,\"joined\":%d,\"packets_sent\":%llu,"
                  "\"frames_received\":%llu,\"frames_lost\":%llu,\"loss_pct\":%.4f,"
                  "\"gap_p50_us\":%.1f,\"gap_p99_us\":%.1f,\"gap_max_us\":%.1f,"
                  "\"late_gaps\":%llu,\"decoded\":%d,\"decoded_with_sound\":%d,"
                  "\"flood_packets\":%llu}",
                  s.players, s.seconds, s.joined, ull(s.packets_sent), ull(s.frames_received),
                  ull(s.frames_lost), s.loss_pct, s.gap_p50_us, s.gap_p99_us, s.gap_max_us,
                  ull(s.late_gaps), s.decoded, s.decoded_with_sound, ull(s.flood_packets));
    return buf;
}

std::string player_report_line(const player_report& r) {
    const auto& p = *r.player;
    const auto& a = *r.reception;
    char first[32] = "null";
    if (a.first_local_ns() >= 0)
        std::snprintf(first, sizeof first, "%.1f",
                      static_cast<double>(a.first_local_ns() - p.join_ns()) / 1e6);
    char sound[96] = "\"decoded\":false";
    if (r.sound != nullptr)
        std::snprintf(sound, sizeof sound,
                      "\"decoded\":true,\"windows\":%d,\"loud_windows\":%d,\"has_sound\":%s",
                      r.sound->windows(), r.sound->loud_windows(),
                      r.sound->has_sound() ? "true" : "false");
    char buf[640];
    std::snprintf(
        buf, sizeof buf,
        "{\"player\":%d,\"session\":%u,\"program\":%u,\"flood\":%s,\"joined\":%s,"
        "\"key_states\":%llu,\"datagrams_sent\":%llu,\"chords\":%llu,\"frames_received\":%llu,"
        "\"frames_lost\":%llu,\"first_frame_ms\":%s,\"gap_max_us\":%.1f,"
        "\"late_gaps\":%llu,\"player_infos\":%llu,%s}\n",
        r.index, p.session_id(), static_cast<unsigned>(p.program()),
        p.flooding() ? "true" : "false", a.received() > 0 ? "true" : "false", ull(p.key_states()),
        ull(p.key_states() * static_cast<std::uint64_t>(p.copies())), ull(p.chords()),
        ull(a.received()), ull(a.lost()), first, static_cast<double>(a.gap_max_ns()) / 1e3,
        ull(a.late_gaps()), ull(a.player_infos()), sound);
    return buf;
}

} // namespace gno::loadgen
