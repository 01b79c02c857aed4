#include "gno/client/ui_bridge.hpp"

#include "gno/client/score_clock.hpp"
#include "gno/client/score_player.hpp"
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

ui_bridge::ui_bridge(ui_bridge_config config)
    : cfg_(std::move(config)),
      ui_(cfg_.ui,
          ui_hooks{
              .key = [this](const struct page_key& k) { on_page_key(k); },
              .release_all = [this] { release_page_keys(); },
              .chat =
                  [this](std::string_view text) {
                      if (auto* c = control_.load())
                          c->send_chat(text);
                      else
                          ui_.broadcast(error_json("not joined: chat needs a join"));
                  },
              .solo = [this](bool on) { tee_.solo_request(on); },
              .mix = [this](const page_mix& m) { send_mix(m); },
              .join = [this](std::string code) { on_page_join(std::move(code)); },
              .program = [this](const page_program& p) { on_page_program(p); },
              .articulation = [this](const page_articulation& a) { on_page_articulation(a); },
              .hello =
                  [this](const std::vector<std::string>& history) {
                      ui_identity who;
                      who.name = cfg_.name;
                      {
                          std::lock_guard lock(mu_);
                          who.section = section_;
                      }
                      who.player = player_.load();
                      who.program = cfg_.program;
                      who.joined = control_.load() != nullptr;
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

void ui_bridge::set_control(control_link* control) noexcept {
    control_.store(control);
}

void ui_bridge::attach(key_sink& sink, server_link& link, const playout& audio,
                       std::function<bool()> solo_requested) {
    sink_ = &sink;
    link_ = &link;
    audio_ = &audio;
    solo_requested_ = std::move(solo_requested);
    if (player_.load() == 0)
        player_.store(link.counters().session_id.load());
    attached_.store(true, std::memory_order_release);
}

std::optional<std::string> ui_bridge::wait_for_code(std::chrono::milliseconds timeout,
                                                    const std::atomic<bool>& stop) {
    std::unique_lock lock(mu_);
    code_.reset();
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!code_ && !stop.load() && std::chrono::steady_clock::now() < until)
        code_cv_.wait_for(lock, std::chrono::milliseconds(100));
    auto code = std::move(code_);
    code_.reset();
    return code;
}

void ui_bridge::on_page_join(std::string code) {
    if (connection_.load() != refused) {
        ui_.broadcast(error_json("already joined; a new join code is for after a refusal"));
        return;
    }
    connection_.store(connecting);
    ui_.broadcast(R"({"type":"connection","state":"connecting","message":"joining..."})",
                  "connection");
    {
        std::lock_guard lock(mu_);
        code_ = std::move(code);
    }
    code_cv_.notify_all();
}

void ui_bridge::tee::key_down(std::uint8_t key, std::uint8_t velocity, std::int64_t local_ns) {
    if (b_.attached_.load(std::memory_order_acquire))
        b_.sink_->key_down(key, velocity, local_ns);
    b_.ui_.broadcast(note_json(key, true, "input"));
}

void ui_bridge::tee::key_up(std::uint8_t key, std::int64_t local_ns) {
    if (b_.attached_.load(std::memory_order_acquire))
        b_.sink_->key_up(key, local_ns);
    b_.ui_.broadcast(note_json(key, false, "input"));
}

void ui_bridge::tee::solo_request(bool on) {
    if (b_.attached_.load(std::memory_order_acquire))
        b_.sink_->solo_request(on);
    // A solo granted by the conductor is also asked over the control plane (the queue there).
    if (auto* c = b_.control_.load(); on && c != nullptr)
        c->send_solo_request();
}

void ui_bridge::tee::program_change(std::uint8_t program, std::uint16_t bank) {
    if (b_.attached_.load(std::memory_order_acquire))
        b_.sink_->program_change(program, bank);
}

void ui_bridge::tee::articulation_change(articulation style) {
    if (b_.attached_.load(std::memory_order_acquire))
        b_.sink_->articulation_change(style);
}

// The page shows the instrument in force from the status frames (what the key states carry),
// so whatever changed it, page or MIDI, the page follows.
void ui_bridge::on_page_program(const page_program& p) {
    if (!attached_.load(std::memory_order_acquire)) {
        ui_.broadcast(error_json("not playing yet: the client is still joining"));
        return;
    }
    sink_->program_change(p.program, p.kit ? k_percussion_bank : 0);
}

void ui_bridge::on_page_articulation(const page_articulation& a) {
    if (!attached_.load(std::memory_order_acquire)) {
        ui_.broadcast(error_json("not playing yet: the client is still joining"));
        return;
    }
    sink_->articulation_change(a.style);
}

void ui_bridge::on_page_key(const struct page_key& k) {
    // Stamped on arrival: the page's own clock is not ours, and the local socket adds well
    // under a millisecond (the page measures it with key_ack).
    if (!attached_.load(std::memory_order_acquire)) {
        ui_.broadcast(error_json("not playing yet: the client is still joining"));
        return;
    }
    const std::int64_t now = steady_now_ns();
    if (k.down) {
        page_held_[k.key] = true;
        sink_->key_down(k.key, k.velocity, now);
    } else {
        page_held_[k.key] = false;
        sink_->key_up(k.key, now);
    }
    ui_.broadcast(note_json(k.key, k.down, "page"));
}

void ui_bridge::release_page_keys() {
    if (!attached_.load(std::memory_order_acquire))
        return;
    const std::int64_t now = steady_now_ns();
    for (std::size_t key = 0; key < page_held_.size(); ++key) {
        if (!page_held_[key])
            continue;
        page_held_[key] = false;
        sink_->key_up(static_cast<std::uint8_t>(key), now);
        ui_.broadcast(note_json(static_cast<std::uint8_t>(key), false, "page"));
    }
}

void ui_bridge::send_mix(const page_mix& m) {
    auto* control = control_.load();
    if (control == nullptr) {
        ui_.broadcast(error_json("the mix is set on the server: join with --join-code"));
        return;
    }
    {
        // Merged like the server merges them, so a re-join restores the whole picture.
        std::lock_guard lock(mu_);
        page_mix& kept = last_mix_ ? *last_mix_ : last_mix_.emplace();
        if (m.own)
            kept.own = m.own;
        if (m.click)
            kept.click = m.click;
        for (const auto& [name, level] : m.sections)
            kept.sections[name] = level;
    }
    control->send_mix(m.own, m.click, section_levels(m.sections.begin(), m.sections.end()));
}

void ui_bridge::on_control_event(const control_event& e) {
    using kind = control_event::kind;
    switch (e.what) {
    case kind::welcome:
        connection_.store(joined);
        player_.store(e.player);
        if (auto* control = control_.load()) {
            std::lock_guard lock(mu_);
            section_ = e.section;
            if (last_mix_)
                control->send_mix(
                    last_mix_->own, last_mix_->click,
                    section_levels(last_mix_->sections.begin(), last_mix_->sections.end()));
        }
        break;
    case kind::disconnected:
    case kind::moved:
        connection_.store(reconnecting);
        break;
    case kind::refused:
        connection_.store(refused);
        break;
    case kind::kick:
        if (e.player == player_.load())
            connection_.store(kicked);
        break;
    case kind::mute:
        if (e.player == player_.load())
            muted_.store(e.muted);
        break;
    case kind::link: // the node's view of our link: the uplink loss only it can count
        loss_up_pct_.store(e.link.udp ? e.link.loss_up_pct : -1.0);
        return; // every second: nothing for the page beyond the status
    default:
        break;
    }
    std::string frame = event_json(e);
    std::string keep;
    switch (e.what) {
    case kind::welcome:
        keep = "welcome";
        break;
    case kind::refused:
    case kind::disconnected:
    case kind::moved:
        keep = "connection";
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
    const int state = connection_.load();
    if (!attached_.load(std::memory_order_acquire)) {
        s.connection = state == refused ? "refused" : "connecting";
        return status_frame_json(s);
    }
    const std::int64_t now = steady_now_ns();
    const auto& jc = audio_->buffer().counters();
    const auto& lc = link_->counters();

    // Audio present or missing, and since when.
    const std::uint64_t packets = jc.packets_received.load(std::memory_order_relaxed);
    if (packets != last_packets_) {
        last_packets_ = packets;
        last_packet_ns_ = now;
    }
    const bool audio_ok = last_packet_ns_ != 0 && now - last_packet_ns_ <= k_no_audio_after_ns;
    switch (state) {
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
    s.jitter_target = audio_->buffer().target_frames();

    const timing_inputs in = live_timing_inputs(link_->timing(), *audio_);
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
    s.loss_up_pct = loss_up_pct_.load();
    s.muted = muted_.load();
    s.has_instrument = true;
    s.in_force = link_->current_instrument();
    return status_frame_json(s);
}

} // namespace gno::client
