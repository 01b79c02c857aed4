// gno-server: a render node. Parses options (server_options.hpp), wires gno::render::server,
// waits for a signal.
#include "gno/render/server.hpp"
#include "gno/render/server_options.hpp"
#include "gno/render/service_notify.hpp"

#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

int render_command(int argc, char** argv); // render_command.cpp

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "render")
        return render_command(argc, argv);
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    auto parsed = gno::render::parse_server_args(args);
    if (!parsed.error.empty()) {
        std::cerr << "gno-server: " << parsed.error << " (see --help)\n";
        return 2;
    }
    if (parsed.help) {
        std::cout << gno::render::server_usage();
        return 0;
    }
    gno::render::server_config& cfg = parsed.cfg;
    const std::optional<double> duration_s = parsed.duration_s;
    if (cfg.control.codes.empty()) {
        // Nobody can join without a code: make one per role, for this run only.
        std::random_device rd;
        for (const auto who :
             {gno::render::control::role::performer, gno::render::control::role::conductor,
              gno::render::control::role::ops, gno::render::control::role::listener}) {
            gno::render::join_code c;
            c.who = who;
            static constexpr char k_alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
            for (int k = 0; k < 10; ++k)
                c.code.push_back(k_alphabet[rd() % (sizeof k_alphabet - 1)]);
            cfg.control.codes.push_back(c);
        }
    }

    // Signals are taken synchronously by this thread; every thread started later inherits
    // the mask, so none of them is interrupted.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::optional<gno::render::server> node;
    try {
        node.emplace(cfg);
    } catch (const gno::render::venue_error& e) {
        std::cerr << "gno-server: " << e.what() << "\n";
        return 2;
    } catch (const gno::render::soundfont_error& e) {
        // A --soundfont that is missing or not an SF2: a bad option value, like a usage error.
        std::cerr << "gno-server: " << e.what() << "\n";
        return 2;
    } catch (const gno::render::option_error& e) {
        std::cerr << "gno-server: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "gno-server: " << e.what() << "\n";
        return 1;
    }
    std::ofstream stats;
    if (!cfg.stats_path.empty()) {
        stats.open(cfg.stats_path, std::ios::app);
        if (!stats) {
            std::cerr << "gno-server: cannot write stats file " << cfg.stats_path << "\n";
            return 1;
        }
    }
    std::ofstream onsets;
    if (!cfg.onset_log_path.empty()) {
        onsets.open(cfg.onset_log_path, std::ios::app);
        if (!onsets) {
            std::cerr << "gno-server: cannot write onset log " << cfg.onset_log_path << "\n";
            return 1;
        }
    }
    try {
        node->start();
    } catch (const gno::render::venue_error& e) {
        std::cerr << "gno-server: " << e.what() << "\n";
        return 2;
    }
    if (auto w = node->realtime_warning(); !w.empty())
        std::cerr << "gno-server: warning: " << w << "\n";
    if (auto w = node->venue_warning(); !w.empty())
        std::cerr << "gno-server: warning: " << w << "\n";
    std::cout << "gno-server: listening on udp " << cfg.listen_address << ":" << node->port()
              << ", frame " << cfg.frame_samples * 1000.0 / cfg.sample_rate << " ms, "
              << cfg.max_players << " player slots, mode "
              << (cfg.timing.mode == gno::render::timing_mode::live            ? "live"
                  : cfg.timing.mode == gno::render::timing_mode::time_advanced ? "time-advanced"
                                                                               : "one-cycle")
              << ", " << (cfg.mix == gno::render::mix_mode::own ? "own" : "shared") << " mixes, "
              << node->render_threads() << " render threads, soundfont " << cfg.soundfont;
    if (!cfg.record.opus.empty())
        std::cout << ", recording to " << cfg.record.opus;
    if (!cfg.record.wav.empty())
        std::cout << ", recording PCM to " << cfg.record.wav;
    if (const auto* venue = node->venue())
        std::cout << ", JACK client " << venue->client_name() << " (period " << venue->period()
                  << ")";
    std::cout << ", control on tcp " << cfg.control.address << ":" << node->control_port()
              << ", epoch_monotonic_ns " << node->epoch_ns() << std::endl;
    if (const auto* mesh = node->mesh()) {
        std::cout << "gno-server: node " << cfg.mesh.node_id << ", mesh on udp "
                  << cfg.listen_address << ":" << mesh->port() << ", " << cfg.mesh.peers.size()
                  << " peers, mixes "
                  << cfg.mesh.delay_frames * cfg.frame_samples * 1000.0 / cfg.sample_rate
                  << " ms behind the render, timeline ";
        if (node->timeline_from() != 0)
            std::cout << "of node " << node->timeline_from();
        else
            std::cout << "its own";
        std::cout << std::endl;
    }
    std::cout << "gno-server: conductor's console at http://" << cfg.control.address << ":"
              << node->control_port() << "/console/; join codes:";
    for (const auto& c : node->join_codes())
        std::cout << " " << gno::render::control::role_name(c.who) << "=" << c.code;
    std::cout << std::endl;

    // Under systemd (deploy/systemd): ready now; the watchdog is fed only while frames are
    // rendered, so a render clock that stops gets the node restarted.
    const gno::render::service_notify service;
    service.send("READY=1");
    auto fed = std::chrono::steady_clock::now();
    std::uint64_t frames_fed = node->counters().frames.load();

    const auto started = std::chrono::steady_clock::now();
    int signo = 0;
    std::string fatal;
    for (;;) {
        const timespec tick{0, 250'000'000};
        signo = sigtimedwait(&signals, nullptr, &tick);
        if (signo > 0)
            break;
        if (fatal = node->fatal_error(); !fatal.empty()) {
            std::cerr << "gno-server: " << fatal << "; stopping\n";
            break;
        }
        if (const auto every = service.watchdog_interval();
            every && std::chrono::steady_clock::now() - fed >= *every) {
            const std::uint64_t frames = node->counters().frames.load();
            if (frames != frames_fed)
                service.send("WATCHDOG=1");
            frames_fed = frames;
            fed = std::chrono::steady_clock::now();
        }
        if (stats.is_open())
            stats << node->stats_json() << std::endl;
        if (onsets.is_open())
            node->write_onsets(onsets);
        if (duration_s && std::chrono::steady_clock::now() - started >=
                              std::chrono::duration<double>(*duration_s))
            break;
    }
    service.send("STOPPING=1");
    node->stop();
    if (onsets.is_open())
        node->write_onsets(onsets);
    const std::string summary = node->stats_json();
    if (stats.is_open())
        stats << summary << std::endl;
    std::cout << "gno-server: stopped" << (signo > 0 ? " by signal" : "") << "; " << summary
              << std::endl;
    for (const auto& path : {cfg.record.opus, cfg.record.wav})
        if (!path.empty())
            std::cout << "gno-server: recording finalised: " << path << std::endl;
    return fatal.empty() ? 0 : 1;
}
