#include "gno/client/ui_bridge.hpp"

#include "gno/client/score_clock.hpp"
#include "gno/client/steady_time.hpp"

#include <cmath>

namespace gno::client {
namespace {

enum connection_state : int {
    connecting = 0,
    joined = 1,
    reconnecting = 2,
    refused = 3,
    kicked = 4
};

constexpr std::int64_t k_no_audio_after_ns = 500'000'000; // a gap longer than this is an outage

} // namespace

ui_bridge::ui_bridge(ui_bridge_config config, key_sink& sink, server_link& link,
                     const playout& audio, control_link* control,
                     std::function<bool()> solo_requested)
    : cfg_(std::move(config)), sink_(sink), link_(link), audio_(audio), control_(control),
      solo_requested_(std::move(solo_requested)),
      ui_(cfg_.ui, ui_hooks{
                       .key = [this](const struct page_key& k) { on_page_key(k); },
                       .release_all = [this] { release_page_keys(); },
                       .chat =
                           [this](std::string_view text) {
                               if (control_ != nullptr)
                                   control_->send_chat(text);
                           },
                       .solo = [this](bool on) { tee_.solo_request(on); },
                       .mix = [this](const page_mix& m) { send_mix(m); },
                       .hello =
                           [this](const std::vector<std::string>& history) {
                               ui_identity who;
                               who.name = cfg_.name;
                               who.section = cfg_.section;
                               who.player = link_.counters().session_id.load();
                               who.program = cfg_.program;
                               who.joined = control_ != nullptr;
                               return hello_json(who, cfg_.part, history);
                           },
                       .status = [this] { return status(); },
                   }) {}

ui_bridge::~ui_bridge() {
    stop();
}

void ui_bridge::start() {
    ui_.start();
}

void ui_bridge::stop() {
    ui_.stop();
}

void ui_bridge::tee::key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) {
    b_.sink_.key_down(key, velocity, local_ns);
    b_.ui_.broadcast(note_json(key, true, "input"));
}

void ui_bridge::tee::key_up(std::uint8_t key, std::int64_t local_ns) {
    b_.sink_.key_up(key, local_ns);
    b_.ui_.broadcast(note_json(key, false, "input"));
}

void ui_bridge::tee::solo_request(bool on) {
    b_.sink_.solo_request(on);
    // A solo granted by the conductor is also asked over the control plane (the queue there).
    if (on && b_.control_ != nullptr)
        b_.control_->send_solo_request();
}

void ui_bridge::on_page_key(const struct page_key& k) {
    // Stamped on arrival: the page's own clock is not ours, and the local socket adds well
    // under a millisecond (the page measures it with key_ack).
    const std::int64_t now = steady_now_ns();
    if (k.down) {
        page_held_[k.key] = true;
        sink_.key_down(k.key, k.velocity, now);
    } else {
        page_held_[k.key] = false;
        sink_.key_up(k.key, now);
    }
    ui_.broadcast(note_json(k.key, k.down, "page"));
}

void ui_bridge::release_page_keys() {
    const std::int64_t now = steady_now_ns();
    for (std::size_t key = 0; key < page_held_.size(); ++key) {
        if (!page_held_[key])
            continue;
        page_held_[key] = false;
        sink_.key_up(static_cast<std::uint8_t>(key), now);
        ui_.broadcast(note_json(static_cast<std::uint8_t>(key), false, "page"));
    }
}

void ui_bridge::send_mix(const page_mix& m) {
    if (control_ == nullptr) {
        ui_.broadcast(error_json("the mix is set on the server: join with --join-code"));
        return;
    }
    {
        // Merged like the server merges them, so a re-join restores the whole picture.
        std::lock_guard lock(mix_mu_);
        page_mix& kept = last_mix_ ? *last_mix_ : last_mix_.emplace();
        if (m.own)
            kept.own = m.own;
        if (m.click)
            kept.click = m.click;
        for (const auto& [name, level] : m.sections)
            kept.sections[name] = level;
    }
    control_->send_mix(m.own, m.click, section_levels(m.sections.begin(), m.sections.end()));
}

void ui_bridge::on_control_event(const control_event& e) {
    using kind = control_event::kind;
    switch (e.what) {
    case kind::welcome:
        connection_.store(joined);
        player_.store(e.player);
        if (control_ != nullptr) {
            std::lock_guard lock(mix_mu_);
            if (last_mix_)
                control_->send_mix(
                    last_mix_->own, last_mix_->click,
                    section_levels(last_mix_->sections.begin(), last_mix_->sections.end()));
        }
        break;
    case kind::disconnected:
        connection_.store(reconnecting);
        break;
    case kind::refused:
        connection_.store(refused);
        break;
    case kind::kick:
        if (e.player == link_.counters().session_id.load())
            connection_.store(kicked);
        break;
    case kind::mute:
        if (e.player == link_.counters().session_id.load())
            muted_.store(e.muted);
        break;
    default:
        break;
    }
    std::string frame = event_json(e);
    std::string keep;
    switch (e.what) {
    case kind::welcome:
        keep = "welcome";
        break;
    case kind::chat:
        keep = "chat";
        break;
    case kind::image:
        keep = "image";
        break;
    case kind::cue:
        keep = "cue";
        break;
    case kind::piece:
        keep = "piece";
        break;
    case kind::timing:
        keep = "timing";
        break;
    default:
        break;
    }
    ui_.broadcast(std::move(frame), std::move(keep));
}

std::string ui_bridge::status() {
    ui_status s;
    const std::int64_t now = steady_now_ns();
    const auto& jc = audio_.buffer().counters();
    const auto& lc = link_.counters();

    // Audio present or missing, and since when.
    const std::uint64_t packets = jc.packets_received.load(std::memory_order_relaxed);
    if (packets != last_packets_) {
        last_packets_ = packets;
        last_packet_ns_ = now;
    }
    const bool audio_ok = last_packet_ns_ != 0 && now - last_packet_ns_ <= k_no_audio_after_ns;
    switch (connection_.load()) {
    case refused:
        s.connection = "refused";
        break;
    case kicked:
        s.connection = "kicked";
        break;
    case reconnecting:
        s.connection = "reconnecting";
        break;
    default:
        s.connection = audio_ok ? "connected" : (last_packet_ns_ == 0 ? "connecting" : "no_audio");
        break;
    }
    if (!audio_ok && last_packet_ns_ != 0)
        s.outage_s = static_cast<double>(now - last_packet_ns_) / 1e9;

    // Downlink loss over the last second: frames the stream spanned vs frames that came.
    const loss_point point{jc.frames_expected.load(std::memory_order_relaxed),
                           packets - jc.packets_duplicate.load(std::memory_order_relaxed)};
    const loss_point old = loss_window_[loss_at_];
    loss_window_[loss_at_] = point;
    loss_at_ = (loss_at_ + 1) % loss_window_.size();
    if (point.expected > old.expected) {
        const double expected = static_cast<double>(point.expected - old.expected);
        const double got = static_cast<double>(point.unique - std::min(point.unique, old.unique));
        s.loss_down_pct = std::clamp(100.0 * (1.0 - got / expected), 0.0, 100.0);
    }

    s.player = lc.session_id.load(std::memory_order_relaxed);
    s.rtt_ms = lc.rtt_us.load(std::memory_order_relaxed) / 1000.0;
    s.jitter_depth = jc.depth_frames.load(std::memory_order_relaxed);
    s.jitter_target = audio_.buffer().target_frames();

    timing_inputs in;
    in.player = link_.timing().player.load();
    in.server_clock = link_.timing().server_clock.load();
    in.heard = audio_.heard_anchor();
    s.clock_synchronised = in.server_clock.synchronised;
    if (s.clock_synchronised)
        s.clock_offset_ms = static_cast<double>(in.server_clock.server_at(now) - now) / 1e6;
    if (in.player.received) {
        const auto& info = in.player.info;
        s.mode = mode_name(info.mode);
        s.tempo_bpm = info.tempo_milli_bpm / 1000.0;
        s.cycle_beats = info.cycle_beats;
        s.advance_ms = static_cast<double>(info.advance_ns) / 1e6;
        s.late_events = info.late_events;
        s.soloing = (info.flags & 1u) != 0;
        s.soloist = info.soloist_session;
        s.has_piece = info.piece_start >= 0;
    }
    if (const auto pos = score_at(in, now)) {
        s.has_score = true;
        s.has_piece = pos->has_piece_start;
        s.score_s = pos->score_s();
        s.beat = pos->beat;
        s.cycle_beat = pos->cycle_beat;
    }
    s.solo_request = solo_requested_ ? solo_requested_() : false;
    s.muted = muted_.load();
    return status_frame_json(s);
}

} // namespace gno::client
