#include "gno/render/server.hpp"

#include <algorithm>
#include <sstream>

namespace gno::render {
namespace {

proto::v1::master_secret load_udp_secret(const server_config& cfg) {
    if (!proto::v1::crypto_ready())
        throw std::runtime_error("libsodium cannot initialise (no system randomness)");
    if (cfg.udp_secret_file.empty())
        return proto::v1::random_master_secret();
    std::string error;
    const auto m = proto::v1::read_master_secret(cfg.udp_secret_file, error);
    if (!m)
        throw option_error(error);
    return *m;
}

} // namespace

server::server(server_config cfg)
    : cfg_(std::move(cfg)), udp_secret_(load_udp_secret(cfg_)), timing_(cfg_.max_players),
      ingress_(4096),
      // Two seconds of audience mix may queue before the recorder counts an overflow.
      record_ring_(static_cast<std::size_t>(2 * cfg_.sample_rate / cfg_.frame_samples)),
      // Half a second of /listen mix may wait for the encoder thread before frames are dropped.
      listen_ring_(static_cast<std::size_t>(cfg_.sample_rate / 2 / cfg_.frame_samples)),
      onset_ring_(8192),
      // Some seconds of a busy orchestra's events may wait for the performance log's writer.
      log_ring_(cfg_.perf_log_dir.empty() ? 2 : 65536),
      // Ten seconds of talk-back may wait for its time (a talk-back scheduled ahead, or one the
      // render thread is behind on) before the feed counts an overflow.
      talkback_ring_(static_cast<std::size_t>(10 * cfg_.sample_rate / k_max_frame_samples)),
      // A frame of every section, a few times over, waits for the mesh thread; a second of
      // slices from several peers waits for the render thread. Nothing without a mesh.
      mesh_out_ring_(cfg_.mesh.enabled() ? 16 * static_cast<std::size_t>(k_sections) : 2),
      mesh_in_ring_(cfg_.mesh.enabled() ? 8192 : 2),
      talkback_(talkback_ring_, counters_, cfg_.sample_rate, cfg_.frame_samples),
      clock_(cfg_.sample_rate, cfg_.frame_samples, counters_) {
    // First: JACK's refusals (no server, another rate, the name in use) come before the
    // soundfont loads, and the timeline is the card's from here on.
    if (cfg_.venue.jack)
        venue_ = std::make_unique<venue_output>(cfg_.venue, cfg_.sample_rate, cfg_.frame_samples,
                                                counters_);
    if (cfg_.mesh.enabled()) {
        // Before anything reads the timeline: a node joining a running mesh takes its time.
        mesh_ = std::make_unique<stem_exchange>(cfg_, counters_, mesh_out_ring_, mesh_in_ring_);
        if (!cfg_.mesh.peers.empty()) {
            if (const auto found = mesh_->find_timeline(std::chrono::milliseconds(1500))) {
                clock_.adopt_epoch(found->epoch_ns);
                timeline_from_ = found->node_id;
            }
        }
        mesh_->set_timeline([this] { return timeline().now_ns(); });
        mesh_->set_advert([this] { return own_node(); });
        mesh_->set_timing([this] { return shared_timing_now(); },
                          [this](const shared_timing& t) { adopt_timing(t); });
        mesh_->set_talkback(
            [this](std::uint32_t from, std::int64_t at, std::span<const float> pcm) {
                play_peer_talkback(from, at, pcm);
            });
        directory_ = std::make_unique<directory>(cfg_.mesh.node_id, mesh_->token_key(), [this] {
            std::vector<directory_node> nodes{own_node()};
            for (const auto& p : mesh_->peers())
                nodes.push_back(p.node);
            return nodes;
        });
    }
    engine_ = std::make_unique<render_engine>(cfg_, counters_, timing_, ingress_,
                                              cfg_.record.any() ? &record_ring_ : nullptr, 0,
                                              cfg_.onset_log_path.empty() ? nullptr : &onset_ring_);
    engine_->set_epoch_ns(timeline().epoch_ns());
    engine_->set_timeline(&timeline());
    engine_->set_talkback(&talkback_ring_);
    if (mesh_)
        engine_->set_mesh(&mesh_out_ring_, &mesh_in_ring_);
    instruments_ = std::make_unique<instrument_library>(
        instrument_library_config{cfg_.instrument_dir, cfg_.instrument_budget_bytes});
    engine_->set_instrument_retirement(&instruments_->retired());
    if (!cfg_.perf_log_dir.empty()) {
        perf_log_ =
            std::make_unique<perf_log_writer>(cfg_.perf_log_dir, cfg_, log_ring_, counters_);
        engine_->set_perf_log(&log_ring_);
    }
    // Always kept for latest_link_report(); written to a file only with --net-stats.
    net_stats_ = std::make_unique<network_stats_log>(cfg_.net_stats_path);
    io_ = std::make_unique<udp_io>(
        cfg_, udp_secret_, counters_, timing_, ingress_, engine_->egress(),
        [this] { return timeline().now_ns(); },
        [this](link_report r) { net_stats_->submit(std::move(r)); });
    if (cfg_.record.any())
        recorder_ =
            std::make_unique<recorder>(cfg_.record, cfg_.sample_rate, record_ring_, counters_);
    if (cfg_.listen) {
        listen_ =
            std::make_unique<listen_stream>(cfg_.sample_rate, cfg_.listen_bitrate, listen_ring_);
        engine_->set_listen(&listen_ring_, listen_.get());
    }
    control_ = std::make_unique<control_plane>(cfg_.control, make_control_hooks());
}

server::~server() {
    stop();
}

void server::start() {
    control_->start();
    network_thread_ = std::thread([this] { io_->run(); });
    if (mesh_)
        mesh_thread_ = std::thread([this] { mesh_->run(); });
    if (venue_) {
        // JACK's process thread renders from now on, with JACK's real-time priority.
        venue_->start(
            [](void* self, std::int64_t r, std::span<float* const> out) noexcept {
                static_cast<server*>(self)->render_venue_frame(r, out);
            },
            this);
        return;
    }
    std::atomic<bool> priority_known{false};
    render_thread_ = std::jthread([this, &priority_known](std::stop_token stop) {
        std::string why;
        if (!render_clock::try_realtime_priority(why)) {
            realtime_why_ = why;
            realtime_ok_.store(false);
        }
        priority_known.store(true, std::memory_order_release);
        priority_known.notify_one();
        clock_.run(stop, [this](std::int64_t r, std::int64_t) {
            if (engine_->render_frame(r))
                io_->notify_egress();
            if (mesh_)
                mesh_->notify_outbound();
        });
    });
    priority_known.wait(false, std::memory_order_acquire);
}

void server::stop() {
    if (stopped_)
        return;
    stopped_ = true;
    // The peers first: their directories send nobody here from now on, before this node's
    // performers, their connections closed, ask them where to go.
    if (mesh_thread_.joinable()) {
        mesh_->stop();
        mesh_thread_.join();
    }
    control_->stop();
    if (venue_)
        venue_->deactivate(); // no frame is rendered after this
    if (render_thread_.joinable()) {
        render_thread_.request_stop();
        render_thread_.join();
    }
    if (network_thread_.joinable()) {
        io_->stop();
        network_thread_.join();
    }
    if (venue_)
        venue_->close();  // nobody reads the timeline any more; before the engine goes
    net_stats_->finish(); // the last windows and the session summary
    if (listen_)
        listen_->stop();
    if (recorder_)
        recorder_->stop();
    if (perf_log_)
        perf_log_->stop();
}

void server::write_onsets(std::ostream& out) {
    stem_onset o;
    while (onset_ring_.try_pop(o))
        out << "{\"slot\":" << o.slot << ",\"render_sample\":" << o.render_sample << "}\n";
    out.flush();
}

void server::render_venue_frame(std::int64_t r, std::span<float* const> out) noexcept {
    const std::int64_t started = monotonic_ns();
    if (engine_->render_frame(r))
        io_->notify_egress();
    const auto mix = engine_->last_mix(); // interleaved
    const auto frames = static_cast<std::size_t>(cfg_.frame_samples);
    for (std::size_t i = 0; i < frames; ++i) {
        out[0][i] = mix[2 * i];
        out[1][i] = mix[2 * i + 1];
    }
    // Stems: each section bus at the master gain, before the limiter, so that together they
    // make the audience mix as far as the limiter leaves it alone.
    const section_buses& buses = engine_->last_buses();
    const auto sections = static_cast<int>((out.size() - 2) / 2); // 0 without stems
    for (int s = 0; s < sections; ++s) {
        float* l = out[2 + 2 * static_cast<std::size_t>(s)];
        float* rr = out[3 + 2 * static_cast<std::size_t>(s)];
        if (!buses.used(s)) {
            std::fill(l, l + frames, 0.0f);
            std::fill(rr, rr + frames, 0.0f);
            continue;
        }
        for (std::size_t i = 0; i < frames; ++i) {
            l[i] = cfg_.master_gain * buses.left(s)[i];
            rr[i] = cfg_.master_gain * buses.right(s)[i];
        }
    }
    const auto took_us = static_cast<std::uint64_t>((monotonic_ns() - started) / 1000);
    if (took_us > counters_.block_time_max_us.load(std::memory_order_relaxed))
        counters_.block_time_max_us.store(took_us, std::memory_order_relaxed);
}

std::string server::fatal_error() const {
    if (venue_ && venue_->server_gone())
        return "the JACK server has gone away (" + venue_->gone_reason() + ")";
    return {};
}

std::string server::realtime_warning() const {
    if (venue_ && !venue_->realtime())
        return "the JACK server runs without real-time scheduling, and so does rendering; run "
               "jackd with -R and the rtprio limits of the audio group";
    if (realtime_ok_.load())
        return {};
    return "render thread runs without real-time priority (" + realtime_why_ +
           "); grant it with `ulimit -r 95`, LimitRTPRIO= in the systemd unit, or CAP_SYS_NICE";
}

std::string server::stats_json() const {
    const auto& c = counters_;
    auto v = [](const auto& a) {
        return a.load(std::memory_order_relaxed);
    };
    std::ostringstream o;
    o << "{\"render_sample\":" << v(c.render_sample) << ",\"frames\":" << v(c.frames)
      << ",\"late_frames\":" << v(c.late_frames) << ",\"late_starts\":" << v(c.late_starts)
      << ",\"skipped_frames\":" << v(c.skipped_frames) << ",\"xruns\":" << v(c.xruns)
      << ",\"block_time_max_us\":" << v(c.block_time_max_us) << ",\"players\":" << v(c.players)
      << ",\"voices\":" << v(c.voices) << ",\"packets_in\":" << v(c.packets_in)
      << ",\"packets_out\":" << v(c.packets_out) << ",\"bytes_out\":" << v(c.bytes_out)
      << ",\"bad_packets\":" << v(c.bad_packets) << ",\"stale_packets\":" << v(c.stale_packets)
      << ",\"rate_limited\":" << v(c.rate_limited)
      << ",\"rejected_players\":" << v(c.rejected_players) << ",\"bad_tags\":" << v(c.bad_tags)
      << ",\"unadmitted\":" << v(c.unadmitted) << ",\"replayed_packets\":" << v(c.replayed_packets)
      << ",\"unanswered_pings\":" << v(c.unanswered_pings)
      << ",\"source_limited\":" << v(c.source_limited) << ",\"rebinds\":" << v(c.rebinds)
      << ",\"send_errors\":" << v(c.send_errors)
      << ",\"ingress_overflows\":" << v(c.ingress_overflows)
      << ",\"egress_overflows\":" << v(c.egress_overflows)
      << ",\"record_overflows\":" << v(c.record_overflows)
      << ",\"log_overflows\":" << v(c.log_overflows)
      << ",\"listen_overflows\":" << v(c.listen_overflows) << ",\"pings\":" << v(c.pings)
      << ",\"talkback_frames\":" << v(c.talkback_frames)
      << ",\"talkback_late\":" << v(c.talkback_late)
      << ",\"talkback_overflows\":" << v(c.talkback_overflows)
      << ",\"talkback_truncated\":" << v(c.talkback_truncated) << ",\"note_ons\":" << v(c.note_ons)
      << ",\"note_offs\":" << v(c.note_offs) << ",\"timeouts\":" << v(c.timeouts)
      << ",\"late_events\":" << v(c.late_events)
      << ",\"unstamped_events\":" << v(c.unstamped_events)
      << ",\"clamped_events\":" << v(c.clamped_events)
      << ",\"imprecise_onsets\":" << v(c.imprecise_onsets)
      << ",\"tails_ended\":" << v(c.tails_ended)
      << ",\"mesh_datagrams_out\":" << v(c.mesh_datagrams_out)
      << ",\"mesh_bytes_out\":" << v(c.mesh_bytes_out)
      << ",\"mesh_datagrams_in\":" << v(c.mesh_datagrams_in)
      << ",\"mesh_bad_packets\":" << v(c.mesh_bad_packets)
      << ",\"mesh_unsynced\":" << v(c.mesh_unsynced)
      << ",\"mesh_stems_mixed\":" << v(c.mesh_stems_mixed)
      << ",\"mesh_late_stems\":" << v(c.mesh_late_stems)
      << ",\"mesh_early_stems\":" << v(c.mesh_early_stems)
      << ",\"mesh_overflows\":" << v(c.mesh_inbound_overflows) + v(c.mesh_outbound_overflows)
      << ",\"queue_overflows\":" << v(c.queue_overflows) << ",\"solos\":" << v(c.solos)
      << ",\"recorded_samples\":" << v(c.recorded_samples)
      << ",\"distinct_mixes\":" << v(c.distinct_mixes)
      << ",\"opus_complexity\":" << v(c.opus_complexity)
      << ",\"opus_complexity_min\":" << v(c.opus_complexity_min)
      << ",\"synth_degrade\":" << v(c.synth_degrade)
      << ",\"synth_degrade_max\":" << v(c.synth_degrade_max)
      << ",\"degrade_steps\":" << v(c.degrade_steps) << ",\"recover_steps\":" << v(c.recover_steps)
      << ",\"block_time_p50_us\":" << c.block_time.quantile_us(0.5)
      << ",\"block_time_p99_us\":" << c.block_time.quantile_us(0.99)
      << ",\"encode_time_p99_us\":" << c.encode_time.quantile_us(0.99)
      << ",\"added_latency_p50_us\":" << c.added_latency.quantile_us(0.5)
      << ",\"added_latency_p99_us\":" << c.added_latency.quantile_us(0.99) << "}";
    return o.str();
}

} // namespace gno::render
