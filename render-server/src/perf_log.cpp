#include "gno/render/perf_log.hpp"

#include "gno/proto/smf.hpp"
#include "gno/render/render_engine.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace gno::render {
namespace {

namespace fs = std::filesystem;

// One tick is one sample: 24000 ticks a quarter note at 24e9 / rate µs a quarter (500000 µs,
// 120 BPM, at 48 kHz), so a sequencer shows the performance at its real times.
constexpr std::uint16_t k_ticks_per_quarter = 24000;
constexpr std::size_t k_header_bytes = 22; // MThd chunk (14) + "MTrk" + track length
constexpr std::uint32_t k_max_delta = 0x0FFFFFFF;
constexpr std::uint8_t k_manufacturer = 0x7D; // non-commercial: sequencer-specific metas
constexpr std::string_view k_tag = "gno ";

void put_u16(std::string& b, std::uint32_t v) {
    b.push_back(static_cast<char>((v >> 8) & 0xFF));
    b.push_back(static_cast<char>(v & 0xFF));
}
void put_u32(std::string& b, std::uint32_t v) {
    put_u16(b, v >> 16);
    put_u16(b, v & 0xFFFF);
}
void put_varlen(std::string& b, std::uint32_t v) {
    char tmp[4];
    int n = 0;
    tmp[n++] = static_cast<char>(v & 0x7F);
    while ((v >>= 7) != 0)
        tmp[n++] = static_cast<char>(0x80 | (v & 0x7F));
    while (n > 0)
        b.push_back(tmp[--n]);
}
void put_meta(std::string& b, std::uint8_t type, std::string_view data) {
    b.push_back(static_cast<char>(0xFF));
    b.push_back(static_cast<char>(type));
    put_varlen(b, static_cast<std::uint32_t>(data.size()));
    b.append(data);
}
/// Our own record: a sequencer-specific meta event, "gno WORD ARGS…" after our manufacturer id.
void put_record(std::string& b, const std::string& text) {
    std::string data(1, static_cast<char>(k_manufacturer));
    data.append(k_tag);
    data.append(text);
    put_meta(b, 0x7F, data);
}
/// A delta time; gaps longer than a varlen holds (93 minutes) are bridged by empty text events.
void put_delta(std::string& b, std::uint64_t delta) {
    while (delta > k_max_delta) {
        put_varlen(b, k_max_delta);
        put_meta(b, 0x01, {});
        delta -= k_max_delta;
    }
    put_varlen(b, static_cast<std::uint32_t>(delta));
}

std::string format_gain(float g) {
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, g); // shortest exact round trip
    return {buf, res.ptr};
}

void write_all(int fd, const std::string& bytes, off_t at, const std::string& path) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n =
            ::pwrite(fd, bytes.data() + done, bytes.size() - done, at + static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw std::runtime_error("cannot write performance log " + path + ": " +
                                     std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
}

} // namespace

/// One MIDI file of the log, written in place: events wait (sorted) until no earlier one can
/// come, then are appended and the track length and end-of-track rewritten.
struct perf_log_writer::midi_file {
    struct pending {
        std::uint64_t tick;
        std::uint64_t seq;
        std::string bytes; // the event(s) after the first delta time
    };
    std::string path;
    std::string head; // tick-0 events written when the file is created
    std::vector<pending> waiting;
    std::uint64_t last_tick = 0;
    std::uint64_t track_bytes = 0; // events written, without the end-of-track
    bool created = false;
    bool failed = false;
    int bank = 0; // the program's bank: the GM kit plays on channel 10

    [[nodiscard]] std::uint8_t channel() const noexcept { return bank == 128 ? 9 : 0; }

    /// Writes what is due (tick <= horizon; everything with `all`). Never throws: a file that
    /// cannot be written is reported once and left alone, the others go on.
    void flush(std::uint64_t horizon, bool all) {
        if (failed)
            return;
        std::stable_sort(waiting.begin(), waiting.end(), [](const pending& a, const pending& b) {
            return a.tick != b.tick ? a.tick < b.tick : a.seq < b.seq;
        });
        std::size_t n = 0;
        while (n < waiting.size() && (all || waiting[n].tick <= horizon))
            ++n;
        if (n == 0 && created)
            return;
        std::string out;
        for (std::size_t i = 0; i < n; ++i) {
            // Never before what is written (cannot happen in journal order; a file stays valid).
            waiting[i].tick = std::max(waiting[i].tick, last_tick);
            put_delta(out, waiting[i].tick - last_tick);
            out.append(waiting[i].bytes);
            last_tick = waiting[i].tick;
        }
        try {
            const int fd = ::open(path.c_str(),
                                  O_WRONLY | O_CREAT | O_CLOEXEC | (created ? 0 : O_TRUNC), 0644);
            if (fd < 0)
                throw std::runtime_error("cannot write performance log " + path + ": " +
                                         std::strerror(errno));
            struct closer {
                int fd;
                ~closer() { ::close(fd); }
            } guard{fd};
            if (!created) {
                std::string h = "MThd";
                put_u32(h, 6);
                put_u16(h, 0); // format 0: one track
                put_u16(h, 1);
                put_u16(h, k_ticks_per_quarter);
                h.append("MTrk");
                put_u32(h, 0);
                write_all(fd, h, 0, path);
                out.insert(0, head);
                created = true;
            }
            std::string eot;
            put_varlen(eot, 0);
            put_meta(eot, 0x2F, {});
            write_all(fd, out + eot, static_cast<off_t>(k_header_bytes + track_bytes), path);
            track_bytes += out.size();
            std::string len;
            put_u32(len, static_cast<std::uint32_t>(track_bytes + eot.size()));
            write_all(fd, len, static_cast<off_t>(k_header_bytes - 4), path);
        } catch (const std::runtime_error& e) {
            failed = true;
            std::fprintf(stderr, "gno-server: %s; this part of the performance log stops here\n",
                         e.what());
            return;
        }
        waiting.erase(waiting.begin(), waiting.begin() + static_cast<std::ptrdiff_t>(n));
    }
};

perf_log_writer::perf_log_writer(const std::string& dir, const server_config& cfg,
                                 spsc_ring<log_record>& ring, node_counters& counters)
    : dir_(dir), ring_(ring), counters_(counters), sample_rate_(cfg.sample_rate) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec || !fs::is_directory(dir_))
        throw std::runtime_error("cannot create the performance log directory " + dir_ + " (" +
                                 (ec ? ec.message() : "not a directory") + ")");
    node_ = std::make_unique<midi_file>();
    node_->path = (fs::path(dir_) / "node.mid").string();
    // A performance's id ties its files together: logs of two performances do not mix.
    std::random_device rd;
    const std::uint64_t id = (std::uint64_t{rd()} << 32) | rd();
    std::ostringstream head;
    head << "node " << id << " rate=" << cfg.sample_rate << " frame=" << cfg.frame_samples
         << " slots=" << cfg.max_players << " per_bank=" << cfg.players_per_bank
         << " polyphony=" << cfg.polyphony_per_bank << " lanes=" << cfg.lanes_per_player
         << " gain=" << format_gain(cfg.master_gain) << " soundfont=" << cfg.soundfont;
    std::string& h = node_->head;
    put_varlen(h, 0);
    const auto us_per_quarter = static_cast<std::uint32_t>(
        std::llround(1e6 * k_ticks_per_quarter / static_cast<double>(cfg.sample_rate)));
    std::string tempo;
    tempo.push_back(static_cast<char>((us_per_quarter >> 16) & 0xFF));
    tempo.push_back(static_cast<char>((us_per_quarter >> 8) & 0xFF));
    tempo.push_back(static_cast<char>(us_per_quarter & 0xFF));
    put_meta(h, 0x51, tempo);
    put_varlen(h, 0);
    put_meta(h, 0x03, "Global Net Orchestra node");
    put_varlen(h, 0);
    put_record(h, head.str());
    perf_id_ = std::to_string(id);
    tempo_ = tempo;
    node_->flush(0, false); // node.mid exists (and is valid) from the start
    thread_ = std::thread([this] { run(); });
}

perf_log_writer::~perf_log_writer() {
    stop();
}

void perf_log_writer::take(const log_record& r) {
    using k = log_record::kind;
    if (origin_ < 0)
        origin_ = r.frame;
    last_frame_ = std::max(last_frame_, r.frame);
    next_seq_ = std::max(next_seq_, r.seq + 1);
    const auto tick_of = [this](std::int64_t sample) {
        return static_cast<std::uint64_t>(std::max<std::int64_t>(0, sample - origin_));
    };
    const std::string seq = std::to_string(r.seq);
    std::string b;
    switch (r.what) {
    case k::join: {
        auto f = std::make_unique<midi_file>();
        f->path = (fs::path(dir_) /
                   ("slot-" + std::to_string(r.slot) + "-" + std::to_string(++sessions_) + ".mid"))
                      .string();
        put_varlen(f->head, 0);
        put_meta(f->head, 0x51, tempo_);
        put_varlen(f->head, 0);
        put_meta(f->head, 0x03,
                 "slot " + std::to_string(r.slot) + ", session " + std::to_string(sessions_));
        put_varlen(f->head, 0);
        put_record(f->head, "session " + perf_id_ + " " + std::to_string(r.slot) + " " +
                                std::to_string(sessions_));
        put_record(b, "join " + seq);
        f->waiting.push_back({tick_of(r.frame), r.seq, std::move(b)});
        auto& slot = players_[r.slot];
        if (slot) {
            slot->flush(0, true);
            closed_.push_back(std::move(slot));
        }
        slot = std::move(f);
        return;
    }
    case k::leave:
    case k::push: {
        const auto it = players_.find(r.slot);
        if (it == players_.end())
            return; // no session: nothing to add it to (cannot happen in journal order)
        midi_file& f = *it->second;
        if (r.what == k::leave) {
            put_record(b, "leave " + seq);
            f.waiting.push_back({tick_of(r.frame), r.seq, std::move(b)});
            return;
        }
        const std::string d = std::to_string(r.at - r.frame);
        const note_event& e = r.ev;
        if (e.what == note_event::kind::program) {
            f.bank = e.bank;
            const std::uint8_t ch = f.channel();
            put_record(b, "p " + seq + " " + d);
            for (const std::uint8_t m : {std::uint8_t{0x00}, std::uint8_t{0x20}}) {
                put_varlen(b, 0);
                b.push_back(static_cast<char>(0xB0 | ch));
                b.push_back(static_cast<char>(m));
                b.push_back(static_cast<char>(m == 0 ? (e.bank >> 7) & 0x7F : e.bank & 0x7F));
            }
            put_varlen(b, 0);
            b.push_back(static_cast<char>(0xC0 | ch));
            b.push_back(static_cast<char>(e.value & 0x7F));
        } else {
            const std::uint8_t ch = f.channel();
            const std::uint8_t status = e.what == note_event::kind::note_on    ? 0x90
                                        : e.what == note_event::kind::note_off ? 0x80
                                                                               : 0xB0;
            put_record(b, "q " + seq + " " + d);
            put_varlen(b, 0);
            b.push_back(static_cast<char>(status | ch));
            b.push_back(static_cast<char>(e.key & 0x7F));
            b.push_back(static_cast<char>(e.value & 0x7F));
        }
        f.waiting.push_back({tick_of(r.at), r.seq, std::move(b)});
        return;
    }
    case k::start:
        put_record(b, "start " + seq + " " + std::to_string(r.frame));
        break;
    case k::gap:
        put_record(b, "gap " + seq + " " + std::to_string(r.frame) + " " + std::to_string(r.at));
        break;
    case k::mute:
        put_record(b, "mute " + seq + " " + std::to_string(r.slot) + " " + std::to_string(r.value));
        break;
    case k::solo:
        put_record(b, "solo " + seq + " " + std::to_string(r.slot) + " " + std::to_string(r.at) +
                          " " + std::to_string(r.until) + " " + format_gain(r.gain));
        break;
    case k::degrade:
        put_record(b, "degrade " + seq + " " + std::to_string(r.value));
        break;
    case k::lost:
        put_record(b, "lost " + seq + " " + std::to_string(r.value));
        break;
    case k::end:
        put_record(b, "end " + seq + " " + std::to_string(r.frame));
        break;
    }
    node_->waiting.push_back({tick_of(r.frame), r.seq, std::move(b)});
}

void perf_log_writer::drain() {
    log_record r;
    while (ring_.try_pop(r))
        take(r);
}

void perf_log_writer::flush(bool all) {
    // Every record of the frames rendered so far is in the ring once the frame is seen rendered
    // (the render thread publishes it with release); nothing journaled later can be due before
    // that frame (events are never queued for a time before the frame that queues them), so it
    // is safe to write everything up to there.
    const std::int64_t rendered = counters_.render_sample.load(std::memory_order_acquire);
    drain();
    if (origin_ < 0)
        return; // nothing rendered yet
    last_frame_ = std::max(last_frame_, rendered);
    const auto horizon =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, last_frame_ - origin_));
    node_->flush(horizon, all);
    for (auto& [slot, f] : players_)
        f->flush(horizon, all);
    for (auto& f : closed_)
        f->flush(horizon, true);
    closed_.clear();
}

void perf_log_writer::run() {
    auto next = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!stopping_.load(std::memory_order_acquire)) {
        drain();
        if (std::chrono::steady_clock::now() >= next) {
            flush(false);
            next += std::chrono::seconds(1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void perf_log_writer::stop() {
    if (stopped_)
        return;
    stopped_ = true;
    stopping_.store(true, std::memory_order_release);
    if (thread_.joinable())
        thread_.join();
    drain();
    if (origin_ >= 0) {
        last_frame_ =
            std::max(last_frame_, counters_.render_sample.load(std::memory_order_acquire));
        log_record end{.what = log_record::kind::end, .seq = next_seq_, .frame = last_frame_};
        take(end);
    }
    flush(true);
}

// --- reading ----------------------------------------------------------------------------------

namespace {

struct parsed_record {
    std::string word;
    std::vector<std::string> args;
};

/// The words of one of our records, or nothing for any other meta event.
std::optional<parsed_record> our_record(std::span<const std::byte> bytes,
                                        const proto::smf::raw_event& e) {
    if (e.status != 0xFF || e.meta_type != 0x7F || e.data_size < 1 + k_tag.size())
        return std::nullopt;
    const auto* d = reinterpret_cast<const char*>(bytes.data()) + e.data_offset;
    if (static_cast<std::uint8_t>(d[0]) != k_manufacturer)
        return std::nullopt;
    const std::string_view text(d + 1, e.data_size - 1);
    if (!text.starts_with(k_tag))
        return std::nullopt;
    std::istringstream in{std::string(text.substr(k_tag.size()))};
    parsed_record r;
    in >> r.word;
    for (std::string w; in >> w;)
        r.args.push_back(w);
    return r;
}

std::int64_t to_int(const std::string& s, const std::string& file) {
    std::int64_t v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (res.ec != std::errc{} || res.ptr != s.data() + s.size())
        throw std::runtime_error(file + ": malformed performance log record ('" + s + "')");
    return v;
}

float to_float(const std::string& s, const std::string& file) {
    float v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (res.ec != std::errc{} || res.ptr != s.data() + s.size())
        throw std::runtime_error(file + ": malformed performance log record ('" + s + "')");
    return v;
}

std::vector<std::byte> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> bytes(raw.size());
    std::memcpy(bytes.data(), raw.data(), raw.size());
    return bytes;
}

struct log_file {
    std::string path;
    std::vector<std::byte> bytes;
    proto::smf::file smf;
};

log_file parse_log_file(const std::string& path) {
    log_file f{path, read_file(path), {}};
    std::size_t where = 0;
    if (auto ec = proto::smf::parse(f.bytes, f.smf, &where, {.keep_events = true}))
        throw std::runtime_error(path + ": " + ec.message() + " at byte " + std::to_string(where));
    return f;
}

} // namespace

perf_log load_perf_log(const std::vector<std::string>& paths) {
    std::vector<std::string> files;
    for (const auto& p : paths) {
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            std::vector<std::string> here;
            for (const auto& e : fs::directory_iterator(p, ec))
                if (e.path().extension() == ".mid")
                    here.push_back(e.path().string());
            std::sort(here.begin(), here.end());
            files.insert(files.end(), here.begin(), here.end());
        } else if (fs::is_regular_file(p, ec)) {
            files.push_back(p);
        } else {
            throw std::runtime_error("no such performance log: " + p);
        }
    }
    perf_log log;
    log.files = files;
    std::string perf_id;
    std::int64_t origin = -1;
    bool have_node = false;
    std::vector<log_file> parsed;
    for (const auto& path : files)
        parsed.push_back(parse_log_file(path));
    // node.mid first: the configuration, the origin and the performance's id.
    for (const auto& f : parsed) {
        for (const auto& t : f.smf.tracks) {
            for (const auto& e : t.events) {
                const auto rec = our_record(f.bytes, e);
                if (!rec)
                    continue;
                const auto& a = rec->args;
                if (rec->word == "node" && !a.empty()) {
                    if (have_node)
                        throw std::runtime_error(f.path +
                                                 ": a second node.mid; give one performance");
                    have_node = true;
                    perf_id = a[0];
                    server_config& c = log.cfg;
                    for (std::size_t i = 1; i < a.size(); ++i) {
                        const auto eq = a[i].find('=');
                        const std::string key = a[i].substr(0, eq);
                        std::string val = eq == std::string::npos ? "" : a[i].substr(eq + 1);
                        if (key == "soundfont") { // the rest of the record, spaces and all
                            for (std::size_t j = i + 1; j < a.size(); ++j)
                                val += " " + a[j];
                            c.soundfont = val;
                            break;
                        }
                        if (key == "rate")
                            c.sample_rate = static_cast<int>(to_int(val, f.path));
                        else if (key == "frame")
                            c.frame_samples = static_cast<int>(to_int(val, f.path));
                        else if (key == "slots")
                            c.max_players = static_cast<int>(to_int(val, f.path));
                        else if (key == "per_bank")
                            c.players_per_bank = static_cast<int>(to_int(val, f.path));
                        else if (key == "polyphony")
                            c.polyphony_per_bank = static_cast<int>(to_int(val, f.path));
                        else if (key == "lanes")
                            c.lanes_per_player = static_cast<int>(to_int(val, f.path));
                        else if (key == "gain")
                            c.master_gain = to_float(val, f.path);
                    }
                } else if (rec->word == "start" && a.size() >= 2) {
                    origin = to_int(a[1], f.path);
                }
            }
        }
    }
    if (!have_node || origin < 0)
        throw std::runtime_error("the performance log has no node.mid with a start record (give "
                                 "the log directory, or node.mid with the players' files)");
    if (log.cfg.max_players < 1 || log.cfg.max_players > 1024 || log.cfg.sample_rate != 48000)
        throw std::runtime_error("node.mid: a configuration this build cannot render");
    log.first_frame = origin;

    using k = log_record::kind;
    for (const auto& f : parsed) {
        int slot = -1;
        bool ours = false;
        for (const auto& t : f.smf.tracks) {
            // A push's record comes first, then its channel message(s) at the same tick.
            std::optional<log_record> pending;
            int bank_msb = 0;
            int bank_lsb = 0;
            for (const auto& e : t.events) {
                const auto sample = origin + static_cast<std::int64_t>(e.tick);
                if (auto rec = our_record(f.bytes, e)) {
                    const auto& a = rec->args;
                    const auto need = [&](std::size_t n) {
                        if (a.size() < n)
                            throw std::runtime_error(f.path + ": malformed '" + rec->word +
                                                     "' record");
                    };
                    log_record r;
                    if (rec->word == "node") {
                        ours = true;
                        continue;
                    }
                    if (rec->word == "session") {
                        need(2);
                        if (a[0] != perf_id)
                            throw std::runtime_error(f.path +
                                                     " belongs to another performance than "
                                                     "node.mid");
                        slot = static_cast<int>(to_int(a[1], f.path));
                        ours = true;
                        continue;
                    }
                    need(1);
                    r.seq = static_cast<std::uint64_t>(to_int(a[0], f.path));
                    r.frame = sample;
                    r.slot = slot;
                    if (rec->word == "q" || rec->word == "p") {
                        need(2);
                        r.what = k::push;
                        r.at = sample;
                        r.frame = sample - to_int(a[1], f.path);
                        r.ev.what = rec->word == "p" ? note_event::kind::program
                                                     : note_event::kind::note_on;
                        pending = r;
                        continue;
                    }
                    if (rec->word == "join")
                        r.what = k::join;
                    else if (rec->word == "leave")
                        r.what = k::leave;
                    else if (rec->word == "start")
                        r.what = k::start;
                    else if (rec->word == "gap") {
                        need(3);
                        r.what = k::gap;
                        r.at = to_int(a[2], f.path);
                    } else if (rec->word == "mute") {
                        need(3);
                        r.what = k::mute;
                        r.slot = static_cast<int>(to_int(a[1], f.path));
                        r.value = static_cast<int>(to_int(a[2], f.path));
                    } else if (rec->word == "solo") {
                        need(5);
                        r.what = k::solo;
                        r.slot = static_cast<int>(to_int(a[1], f.path));
                        r.at = to_int(a[2], f.path);
                        r.until = to_int(a[3], f.path);
                        r.gain = to_float(a[4], f.path);
                    } else if (rec->word == "degrade") {
                        need(2);
                        r.what = k::degrade;
                        r.value = static_cast<int>(to_int(a[1], f.path));
                    } else if (rec->word == "lost") {
                        need(2);
                        r.what = k::lost;
                        log.lost += static_cast<std::uint64_t>(to_int(a[1], f.path));
                    } else if (rec->word == "end") {
                        need(2);
                        r.what = k::end;
                        log.last_frame = to_int(a[1], f.path);
                    } else {
                        continue; // a record of a later version: not ours to judge
                    }
                    log.records.push_back(r);
                    continue;
                }
                if (!pending || e.status == 0xFF || e.status >= 0xF0)
                    continue;
                const std::uint8_t kind = e.status & 0xF0;
                log_record& r = *pending;
                if (r.ev.what == note_event::kind::program) {
                    if (kind == 0xB0 && e.d1 == 0x00)
                        bank_msb = e.d2;
                    else if (kind == 0xB0 && e.d1 == 0x20)
                        bank_lsb = e.d2;
                    else if (kind == 0xC0) {
                        r.ev.bank = static_cast<std::uint16_t>((bank_msb << 7) | bank_lsb);
                        r.ev.value = e.d1;
                        log.records.push_back(r);
                        pending.reset();
                    }
                    continue;
                }
                if (kind == 0x90 || kind == 0x80 || kind == 0xB0) {
                    r.ev.what = kind == 0x90   ? note_event::kind::note_on
                                : kind == 0x80 ? note_event::kind::note_off
                                               : note_event::kind::control;
                    r.ev.key = e.d1;
                    r.ev.value = e.d2;
                    log.records.push_back(r);
                }
                pending.reset();
            }
        }
        if (!ours)
            throw std::runtime_error(f.path + " is not a gno performance log");
    }
    std::sort(log.records.begin(), log.records.end(),
              [](const log_record& a, const log_record& b) { return a.seq < b.seq; });
    for (std::size_t i = 1; i < log.records.size(); ++i)
        if (log.records[i].seq == log.records[i - 1].seq)
            throw std::runtime_error("the performance log holds record " +
                                     std::to_string(log.records[i].seq) +
                                     " twice: a file was given twice?");
    return log;
}

std::uint64_t replay(const perf_log& log, const std::string& soundfont_override, int threads,
                     double tail_s,
                     const std::function<void(std::int64_t, std::span<const float>)>& frame) {
    server_config cfg = log.cfg;
    if (!soundfont_override.empty())
        cfg.soundfont = soundfont_override;
    cfg.render_threads = threads;
    cfg.mix = mix_mode::shared;
    node_counters counters;
    timing_state timing(cfg.max_players);
    spsc_ring<ingress_event> ingress(16);
    render_engine engine(cfg, counters, timing, ingress, nullptr);

    const std::int64_t f = cfg.frame_samples;
    std::int64_t last = log.last_frame;
    if (last < 0) { // the node died: render until every logged event has sounded, and a tail
        last = log.first_frame;
        for (const auto& r : log.records)
            last = std::max({last, r.frame, r.what == log_record::kind::push ? r.at : 0});
        last += static_cast<std::int64_t>(tail_s * cfg.sample_rate);
        last -= (last - log.first_frame) % f;
    }
    std::uint64_t frames = 0;
    std::size_t i = 0;
    std::vector<log_record> batch;
    for (std::int64_t r = log.first_frame; r <= last;) {
        batch.clear();
        std::int64_t jump = -1;
        while (i < log.records.size() && log.records[i].frame <= r) {
            batch.push_back(log.records[i]);
            ++i;
        }
        engine.replay_frame(r, batch);
        frame(r, engine.last_mix());
        ++frames;
        // A gap: the node skipped frames after this one, and rendered the gap's frame next.
        if (i < log.records.size() && log.records[i].what == log_record::kind::gap &&
            log.records[i].at == r)
            jump = log.records[i].frame;
        r = jump >= 0 ? jump : r + f;
    }
    return frames;
}

} // namespace gno::render
