// The node as the control plane sees it: the hooks the WebSocket side calls, and the
// Prometheus exposition of the node's counters.
#include "gno/render/server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace gno::render {

namespace {

// A piece's name as the mesh carries it (proto timing_state): control characters become
// spaces, and it is cut to k_max_piece_name bytes on a character boundary.
std::string piece_label(std::string_view name) {
    std::size_t n = std::min(name.size(), proto::v1::k_max_piece_name);
    // The first byte cut off continues a character: that character goes whole.
    while (n > 0 && n < name.size() && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80)
        --n;
    std::string s(name.substr(0, n));
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
            c = ' ';
    return s;
}

std::string_view mode_name(timing_mode m) {
    switch (m) {
    case timing_mode::live:
        return "live";
    case timing_mode::time_advanced:
        return "time-advanced";
    case timing_mode::one_cycle:
        return "one-cycle";
    }
    return "live";
}

// The last second of each player's link, as the roster and /metrics show it.
std::vector<player_link_view> link_views(const link_report& r) {
    std::vector<player_link_view> out;
    out.reserve(r.players.size());
    for (const auto& w : r.players) {
        if (w.left)
            continue;
        player_link_view v;
        v.session = w.session_id;
        v.rtt_ms = w.rtt_mean_us() / 1e3;
        v.min_rtt_ms = w.rtt_min_us / 1e3;
        v.jitter_ms = w.jitter_us / 1e3;
        v.loss_up_pct = w.uplink_loss_pct();
        v.loss_down_pct = w.downlink_loss_pct();
        v.late_events = static_cast<std::uint32_t>(w.late_events);
        out.push_back(v);
    }
    return out;
}

// A performer's own mix between the wire's doubles (proto) and the render path's floats.
static_assert(control::section_names.size() == k_sections, "one level per section both sides");
mix_profile to_profile(const control::mix_levels& l) {
    mix_profile p;
    p.own_level = static_cast<float>(l.own);
    p.click_level = static_cast<float>(l.click);
    for (std::size_t s = 0; s < p.section_level.size(); ++s)
        p.section_level[s] = static_cast<float>(l.sections[s]);
    return p;
}
control::mix_levels to_levels(const mix_profile& p) {
    control::mix_levels l;
    l.own = p.own_level;
    l.click = p.click_level;
    for (std::size_t s = 0; s < l.sections.size(); ++s)
        l.sections[s] = p.section_level[s];
    return l;
}

} // namespace

directory_node server::own_node() const {
    directory_node n;
    n.node_id = cfg_.mesh.node_id;
    // A wildcard listen address names no host: the peers use the address its mesh datagrams
    // come from, and this node's own directory does not place players here.
    const auto& listen = cfg_.listen_address;
    n.host = !cfg_.mesh.public_host.empty()            ? cfg_.mesh.public_host
             : (listen == "0.0.0.0" || listen == "::") ? std::string()
                                                       : listen;
    n.udp_port = io_->port();
    n.control_port = control_ ? control_->port() : 0;
    for (const int s : cfg_.mesh.sections)
        n.sections |= 1u << s;
    n.players = static_cast<int>(counters_.players.load(std::memory_order_relaxed));
    n.max_players = cfg_.max_players;
    n.up = true;
    n.known = true;
    return n;
}

void server::share_timing_locked() {
    if (!mesh_)
        return;
    // Later than any change this node has made or taken, and than the wall clock: the latest
    // change wins across the mesh, even from a node that has just restarted (timing.hpp).
    const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    timing_version_ = std::max<std::uint64_t>(
        timing_version_ + 1, static_cast<std::uint64_t>(std::max<std::int64_t>(0, wall_ms)));
    timing_origin_ = cfg_.mesh.node_id;
    timing_version_metric_.store(timing_version_, std::memory_order_relaxed);
    mesh_->announce_timing();
}

shared_timing server::shared_timing_now() {
    std::lock_guard lock(timing_mu_);
    return {timing_version_, timing_origin_, timing_.config.load(), piece_name_};
}

void server::adopt_timing(const shared_timing& s) {
    std::vector<std::string> tell; // to this node's sessions, as its own conductor's would be
    {
        std::lock_guard lock(timing_mu_);
        if (!s.newer_than(timing_version_, timing_origin_))
            return;
        const timing_config was = timing_.config.load();
        const timing_config t = adopt_shared(was, s.config);
        timing_.config.store(t);
        timing_version_ = s.version;
        timing_origin_ = s.origin;
        piece_name_ = s.piece;
        timing_version_metric_.store(timing_version_, std::memory_order_relaxed);
        const std::string by = "conductor on node " + std::to_string(s.origin);
        if (t.mode != was.mode || t.tempo_bpm != was.tempo_bpm ||
            t.cycle_beats != was.cycle_beats || t.change.at != was.change.at ||
            t.change.tempo_bpm != was.change.tempo_bpm ||
            t.change.cycle_beats != was.change.cycle_beats) {
            // What the players go on to: the planned change while there is one.
            const bool planned = t.change.at >= 0;
            control::timing m;
            m.mode = std::string(mode_name(t.mode));
            m.tempo_bpm = planned ? t.change.tempo_bpm : t.tempo_bpm;
            m.cycle_beats = planned ? t.change.cycle_beats : t.cycle_beats;
            tell.push_back(control::encode_broadcast(m, 0, by, control::role::conductor));
        }
        if (t.piece_start >= 0 && t.piece_start != was.piece_start)
            tell.push_back(control::encode_piece(
                s.piece, samples_to_ns(t.piece_start, cfg_.sample_rate), t.piece_start, 0));
    }
    std::fprintf(stdout,
                 "timing from node %u (version %llu): %s, %.3f BPM, %d-beat cycle, piece start "
                 "%lld\n",
                 s.origin, static_cast<unsigned long long>(s.version),
                 std::string(mode_name(s.config.mode)).c_str(), s.config.tempo_bpm,
                 s.config.cycle_beats, static_cast<long long>(s.config.piece_start));
    std::fflush(stdout);
    for (auto& m : tell)
        control_->announce(std::move(m));
}

void server::play_peer_talkback(std::uint32_t from, std::int64_t at, std::span<const float> pcm) {
    std::optional<bool> tell; // talk-back on or off, for this node's performers
    {
        std::lock_guard lock(talkback_mu_);
        if (talker_ != 0 && talker_ != from)
            return; // another conductor holds the feed here
        if (pcm.empty()) {
            if (talker_ != from)
                return;
            talker_ = 0;
            talkback_.end();
            tell = false;
        } else {
            if (talker_ == from && talkback_.active() && at < talkback_.next_sample())
                return; // a reordered slice: its time has been taken
            if (talker_ != from || !talkback_.active() || talkback_.next_sample() != at) {
                // A new talk-back, or one that goes on after a lost slice: from its own time.
                if (talker_ != from)
                    tell = true;
                talker_ = from;
                talkback_.begin(at);
            }
            talkback_.push(pcm);
        }
    }
    if (tell)
        control_->announce_talkback(*tell);
}

control_hooks server::make_control_hooks() {
    control_hooks h;
    h.dir = directory_.get();
    h.status_json = [this] {
        return stats_json();
    };
    h.metrics_text = [this] {
        return metrics_text();
    };
    h.healthy = [this] {
        // Rendering: the render clock (the render thread, or JACK's callback) has produced a
        // frame within the last second.
        const auto r = counters_.render_sample.load(std::memory_order_relaxed);
        return (render_thread_.joinable() || venue_) &&
               ns_to_samples(timeline().now_ns(), cfg_.sample_rate) - r < cfg_.sample_rate;
    };
    h.now_ns = [this] {
        return timeline().now_ns();
    };
    h.links = [this] {
        return link_views(latest_link_report());
    };
    h.session_defaults = [this] {
        control::welcome w;
        w.udp_port = io_->port();
        w.sample_rate = cfg_.sample_rate;
        w.frame_samples = cfg_.frame_samples;
        const timing_config t = timing_.config.load();
        w.mode = std::string(mode_name(t.mode));
        w.tempo_bpm = t.tempo_bpm;
        w.cycle_beats = t.cycle_beats;
        return w;
    };
    h.session_key = [this](std::uint32_t session) {
        const auto k = proto::v1::derive_session_key(udp_secret_, session);
        std::array<std::uint8_t, 16> out;
        static_assert(sizeof out == sizeof k);
        std::memcpy(out.data(), k.data(), out.size());
        return out;
    };
    // Only sessions the control plane handed out may begin to play (udp_io::admit).
    h.admit = [this](std::uint32_t session, std::span<const std::uint8_t, 16>, int, int) {
        io_->admit(session);
    };
    h.release = [this](std::uint32_t session) {
        io_->release(session);
    };
    h.mute = [this](std::uint32_t session, bool muted) {
        io_->set_muted(session, muted);
    };
    h.dismiss = [this](std::uint32_t session) {
        io_->dismiss(session);
    };
    // Own mixes: the levels go to the network thread, which hands them to the session's slot
    // (player_timing.hpp); a shared-mix node keeps them too, but nobody hears them.
    h.mix = [this](std::uint32_t session, const control::mix_levels& levels) {
        io_->set_mix(session, to_profile(levels));
        return cfg_.mix == mix_mode::own;
    };
    h.mix_defaults = [this] {
        return to_levels(default_mix_profile(cfg_));
    };
    h.solo_grant = [this](std::uint32_t session) {
        io_->grant_solo(session);
    };
    h.piece_start = [this](std::string_view name,
                           std::int64_t start_in_ms) -> control_hooks::piece_time {
        std::lock_guard lock(timing_mu_);
        timing_config t = timing_.config.load();
        const std::int64_t f = cfg_.frame_samples;
        // On a frame boundary at least a frame ahead, so the first beat is never in the past.
        const std::int64_t at =
            (render_sample_now() + start_in_ms * cfg_.sample_rate / 1000 + 2 * f - 1) / f * f;
        t.piece_start = at;
        t.cycle_origin = at;
        t.change = tempo_change{}; // a change planned for the old piece does not carry over
        timing_.config.store(t);
        piece_name_ = piece_label(name);
        share_timing_locked();
        return {at, samples_to_ns(at, cfg_.sample_rate)};
    };
    h.timing = [this](const control::timing& m) -> std::string {
        std::lock_guard lock(timing_mu_);
        timing_config t = timing_.config.load();
        if (m.mode) {
            if (*m.mode == "live")
                t.mode = timing_mode::live;
            else if (*m.mode == "time-advanced")
                t.mode = timing_mode::time_advanced;
            else
                t.mode = timing_mode::one_cycle;
        }
        if (m.tempo_bpm || m.cycle_beats) {
            const double bpm = m.tempo_bpm.value_or(t.tempo_bpm);
            const int beats = m.cycle_beats.value_or(t.cycle_beats);
            const std::int64_t now = render_sample_now();
            if (t.piece_start >= 0 && t.piece_start <= now) {
                // A piece is playing: the change lands on a cycle boundary a whole cycle
                // ahead, so every player hears of it in time (timing.hpp).
                if (t.change.at >= 0 && t.change.at > now)
                    return "a tempo change is already planned; wait for it to take effect";
                if (t.change.at >= 0) {
                    // The last change took effect: it becomes the tempo in force.
                    t.tempo_bpm = t.change.tempo_bpm;
                    t.cycle_beats = t.change.cycle_beats;
                    t.cycle_origin = t.change.at;
                    t.change = tempo_change{};
                }
                t.change = plan_tempo_change(t, now, bpm, beats);
            } else {
                t.tempo_bpm = bpm;
                t.cycle_beats = beats;
            }
        }
        timing_.config.store(t);
        share_timing_locked();
        return {};
    };
    // Talk-back: the feed has one producer; a conductor's messages may run on any control
    // thread, so the feed is used under a mutex the render thread never sees.
    h.talkback_begin = [this](std::optional<std::int64_t> at_ms) {
        std::lock_guard lock(talkback_mu_);
        talker_ = cfg_.mesh.node_id != 0 ? cfg_.mesh.node_id : 1; // this node's conductor
        const std::int64_t now = render_sample_now();
        std::int64_t start = talkback_.start_at_once(now);
        if (at_ms) {
            const std::int64_t f = cfg_.frame_samples;
            start = std::max(start, (now + *at_ms * cfg_.sample_rate / 1000 + f - 1) / f * f);
        }
        talkback_.begin(start);
        return true;
    };
    h.talkback_pcm = [this](std::span<const std::int16_t> pcm) {
        std::lock_guard lock(talkback_mu_);
        const std::int64_t at = talkback_.next_sample();
        const std::size_t n = talkback_.push(pcm);
        // The performers of the other nodes hear it too, on the same render samples.
        if (mesh_ && n > 0) {
            std::vector<float> f(n);
            for (std::size_t i = 0; i < n; ++i)
                f[i] = static_cast<float>(pcm[i]) / 32768.0f;
            mesh_->send_talkback(at, std::move(f));
        }
    };
    h.listen = listen_.get();
    // A performer's own instrument: built and loaded on the control plane's builder thread,
    // then to the network thread, which knows the performer's slot (udp_io::install_instrument).
    h.instrument_upload = [this](std::uint32_t session, std::string_view type,
                                 std::string_view body) -> control_hooks::instrument_reply {
        auto b = instruments_->build(session, type, body);
        if (!b.instrument)
            return {b.status, control::encode_error(b.error, b.message)};
        io_->install_instrument(session, std::move(b.instrument));
        return {200, std::move(b.json)};
    };
    h.instrument_remove = [this](std::uint32_t session) {
        io_->remove_instrument(session);
    };
    h.talkback_end = [this] {
        std::lock_guard lock(talkback_mu_);
        talkback_.end();
        talker_ = 0;
    };
    return h;
}

std::string server::metrics_text() const {
    const auto& c = counters_;
    std::ostringstream o;
    auto metric = [&o](std::string_view name, std::string_view type, std::string_view help,
                       auto value) {
        o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
          << name << ' ' << value << '\n';
    };
    auto v = [](const auto& a) {
        return a.load(std::memory_order_relaxed);
    };
    metric("gno_players", "gauge", "Players holding a slot on this node.", v(c.players));
    metric("gno_voices", "gauge", "Synthesiser voices sounding.", v(c.voices));
    metric("gno_frames_total", "counter", "Audio frames rendered.", v(c.frames));
    metric("gno_late_frames_total", "counter", "Frames finished after their deadline.",
           v(c.late_frames));
    metric("gno_late_starts_total", "counter",
           "Late frames that also started more than a quarter period after they were due.",
           v(c.late_starts));
    metric("gno_skipped_frames_total", "counter", "Frames skipped to catch up.",
           v(c.skipped_frames));
    metric("gno_xruns_total", "counter", "JACK periods reported late or missed (--jack).",
           v(c.xruns));
    metric("gno_packets_in_total", "counter", "UDP datagrams received.", v(c.packets_in));
    metric("gno_packets_out_total", "counter", "UDP datagrams sent.", v(c.packets_out));
    metric("gno_bytes_out_total", "counter", "UDP bytes sent.", v(c.bytes_out));
    metric("gno_bad_packets_total", "counter", "Datagrams dropped as malformed or foreign.",
           v(c.bad_packets));
    metric("gno_bad_tags_total", "counter",
           "Datagrams dropped: forged, tag-less or tagged with another session's key.",
           v(c.bad_tags));
    metric("gno_unadmitted_total", "counter",
           "Datagrams dropped unread: their session is not one a performer holds now.",
           v(c.unadmitted));
    metric("gno_stale_packets_total", "counter",
           "Key states dropped as duplicated, reordered or replayed.", v(c.stale_packets));
    metric("gno_replayed_packets_total", "counter", "Clock pings dropped as replays.",
           v(c.replayed_packets));
    metric("gno_unanswered_pings_total", "counter",
           "Valid clock pings not answered: the session is not playing, or not from there.",
           v(c.unanswered_pings));
    metric("gno_source_limited_total", "counter",
           "Datagrams dropped above one source address's rate, before any other work.",
           v(c.source_limited));
    metric("gno_rejected_players_total", "counter",
           "Key states dropped: no free player slot, or the session was dismissed.",
           v(c.rejected_players));
    metric("gno_ingress_overflows_total", "counter",
           "Key states dropped: the render thread's ingress ring was full.",
           v(c.ingress_overflows));
    metric("gno_rebinds_total", "counter",
           "Players whose address changed (NAT re-binding), followed on a valid tag.",
           v(c.rebinds));
    metric("gno_rate_limited_total", "counter", "Key states dropped above a player's rate.",
           v(c.rate_limited));
    metric("gno_late_events_total", "counter", "Key events that arrived after their time.",
           v(c.late_events));
    metric("gno_distinct_mixes", "gauge", "Distinct mixes encoded per frame.", v(c.distinct_mixes));
    metric("gno_opus_complexity", "gauge", "Opus complexity in force (overload lowers it).",
           v(c.opus_complexity));
    metric("gno_degrade_steps_total", "counter", "Overload steps down.", v(c.degrade_steps));
    metric("gno_synth_degrade", "gauge",
           "Synthesiser overload step in force (0 full quality .. 3).", v(c.synth_degrade));
    metric("gno_tails_ended_total", "counter",
           "Released notes' tails ended: faded below the floor, or their lane taken by a new note.",
           v(c.tails_ended));
    metric("gno_imprecise_onsets_total", "counter",
           "Notes not started on their exact sample (late, or every lane busy).",
           v(c.imprecise_onsets));
    metric("gno_block_time_p50_seconds", "gauge", "Median frame render path since start.",
           static_cast<double>(c.block_time.quantile_us(0.5)) * 1e-6);
    metric("gno_block_time_p99_seconds", "gauge", "99th percentile frame render path since start.",
           static_cast<double>(c.block_time.quantile_us(0.99)) * 1e-6);
    metric("gno_block_time_max_seconds", "gauge", "Slowest frame since start.",
           static_cast<double>(v(c.block_time_max_us)) * 1e-6);
    const auto links = link_views(latest_link_report());
    auto per_player = [&](std::string_view name, std::string_view help, auto value) {
        o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n";
        for (const auto& l : links)
            o << name << "{player=\"" << l.session << "\"} " << value(l) << '\n';
    };
    per_player("gno_player_rtt_seconds", "Round trip the player reports, last second.",
               [](const player_link_view& l) { return l.rtt_ms / 1e3; });
    per_player("gno_player_min_rtt_seconds", "Least round trip the player reported, last second.",
               [](const player_link_view& l) { return l.min_rtt_ms / 1e3; });
    per_player("gno_player_jitter_seconds", "Key-state interarrival jitter (RFC 3550).",
               [](const player_link_view& l) { return l.jitter_ms / 1e3; });
    per_player("gno_player_uplink_loss_ratio", "Key states lost on the way in, last second.",
               [](const player_link_view& l) { return l.loss_up_pct / 100.0; });
    per_player("gno_player_downlink_loss_ratio", "Audio frames the player reports lost.",
               [](const player_link_view& l) { return l.loss_down_pct / 100.0; });
    const auto cp = control_->counters();
    metric("gno_control_connections", "gauge", "Open control-plane connections.",
           cp.open_connections);
    metric("gno_control_joins_total", "counter", "WebSocket joins accepted.", cp.joined);
    metric("gno_control_refused_joins_total", "counter",
           "Joins refused (bad code, wrong role or code full).", cp.refused_joins);
    metric("gno_control_code_lockouts_total", "counter",
           "Joins and directory requests refused unchecked: too many wrong codes from their "
           "address.",
           cp.code_lockouts);
    metric("gno_control_code_full_total", "counter",
           "Joins refused because their code admits no more members at once.", cp.code_full);
    metric("gno_control_bad_messages_total", "counter", "Control messages refused as malformed.",
           cp.bad_messages);
    metric("gno_control_rate_limited_total", "counter", "Control messages refused by rate.",
           cp.rate_limited);
    metric("gno_control_slow_readers_dropped_total", "counter",
           "Connections dropped for reading too slowly.", cp.slow_readers_dropped);
    const auto lib = instruments_->counters();
    metric("gno_instruments_built_total", "counter", "Performers' instruments built from uploads.",
           lib.built);
    metric("gno_instrument_uploads_refused_total", "counter",
           "Instrument uploads refused (credentials, size, busy, bad samples, budget).",
           cp.refused_uploads + lib.refused);
    metric("gno_instruments_bytes", "gauge", "SF2 bytes of performers' instruments held.",
           lib.live_bytes);
    if (listen_) {
        const auto ls = listen_->counters();
        metric("gno_listeners", "gauge", "Listeners connected to /listen.", ls.listeners);
        metric("gno_listeners_dropped_total", "counter",
               "Listeners dropped for falling behind the live stream.", ls.dropped);
        metric("gno_listen_pages_total", "counter", "Ogg pages encoded for /listen.", ls.pages);
        metric("gno_listen_bytes_total", "counter", "Ogg bytes encoded for /listen.", ls.bytes);
        metric("gno_listen_overflows_total", "counter",
               "Audience frames /listen lost: its encoder fell behind.", v(c.listen_overflows));
    }
    if (mesh_) {
        // The stem exchange with the other render nodes (DESIGN.md §9).
        metric("gno_mesh_timing_version", "gauge",
               "Version of the conductor's timing this node renders by (a wall-clock ms; "
               "equal on every node once the mesh agrees; 0: its own options).",
               timing_version_metric_.load(std::memory_order_relaxed));
        metric("gno_mesh_datagrams_out_total", "counter", "Stem datagrams sent to peer nodes.",
               v(c.mesh_datagrams_out));
        metric("gno_mesh_bytes_out_total", "counter", "Stem bytes sent to peer nodes.",
               v(c.mesh_bytes_out));
        metric("gno_mesh_datagrams_in_total", "counter", "Datagrams received from peer nodes.",
               v(c.mesh_datagrams_in));
        metric("gno_mesh_bad_packets_total", "counter",
               "Mesh datagrams dropped: undecodable, an unknown node or a bad tag.",
               v(c.mesh_bad_packets));
        metric("gno_mesh_stems_mixed_total", "counter", "Peers' stem slices placed in the mixes.",
               v(c.mesh_stems_mixed));
        metric("gno_mesh_late_stems_total", "counter",
               "Peers' stem slices that came after their frame was mixed (dropped).",
               v(c.mesh_late_stems));
        metric("gno_mesh_early_stems_total", "counter",
               "Peers' stem slices too far ahead of this node's timeline (dropped).",
               v(c.mesh_early_stems));
        metric("gno_mesh_unsynced_total", "counter",
               "Peers' stem slices dropped before their clock offset was known.",
               v(c.mesh_unsynced));
        metric("gno_mesh_overflows_total", "counter",
               "Stem frames lost between the render and mesh threads.",
               v(c.mesh_inbound_overflows) + v(c.mesh_outbound_overflows));
        const auto peers = mesh_->peers();
        auto per_peer = [&](std::string_view name, std::string_view help, auto value) {
            o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n";
            for (const auto& p : peers)
                o << name << "{node=\"" << p.node_id << "\"} " << value(p) << '\n';
        };
        per_peer("gno_mesh_peer_up", "1 while the peer node was heard within 1.5 s.",
                 [](const mesh_peer_status& p) { return p.up ? 1 : 0; });
        per_peer("gno_mesh_peer_offset_seconds", "The peer's render timeline minus this node's.",
                 [](const mesh_peer_status& p) { return static_cast<double>(p.offset_us) / 1e6; });
        per_peer("gno_mesh_peer_rtt_seconds", "Round trip of the best recent ping to the peer.",
                 [](const mesh_peer_status& p) { return static_cast<double>(p.rtt_us) / 1e6; });
    }
    return o.str();
}

} // namespace gno::render
