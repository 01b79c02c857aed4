#include "alignment_run.hpp"

#include "gno/test/jackd.hpp"
#include "gno/test/process.hpp"
#include "gno/test/text.hpp"
#include "gno/test/udp_secret.hpp"
#include "gno/test/ws_client.hpp"
#include "proc_stats.hpp"
#include "report.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <random>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace gno::bench {
namespace {

using namespace std::chrono_literals;

using test::json_number;
using test::wait_for_match;

} // namespace

std::string alignment_result::json() const {
    std::ostringstream o;
    o << "{\"mode\":\"" << mode << "\",\"players\":" << players
      << ",\"alignment_error_p50_samples\":" << fmt(alignment_error_p50_samples)
      << ",\"alignment_error_p99_samples\":" << fmt(alignment_error_p99_samples)
      << ",\"alignment_error_max_samples\":" << fmt(alignment_error_max_samples)
      << ",\"spread_p99_samples\":" << fmt(spread_p99_samples) << ",\"late_events\":" << late_events
      << ",\"clock_offset_error_p99_us\":" << fmt(clock_offset_error_p99_us)
      << ",\"onsets\":" << onsets << ",\"beats\":" << beats
      << ",\"clock_samples\":" << clock_samples;
    if (mix_onsets > 0)
        o << ",\"mix_onsets\":" << mix_onsets
          << ",\"mix_error_max_samples\":" << fmt(mix_error_max_samples);
    if (!error.empty())
        o << ",\"error\":\"" << error << "\"";
    o << "}";
    return o.str();
}

std::vector<player_link> spread_links(int players, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> offset(-5000.0, 5000.0);
    std::uniform_real_distribution<double> drift(-100.0, 100.0);
    std::vector<player_link> links;
    for (int i = 0; i < players; ++i) {
        const double x = players > 1 ? static_cast<double>(i) / (players - 1) : 0.0;
        links.push_back({5.0 + 295.0 * x, 30.0, 0.10 * x, offset(rng), drift(rng)});
    }
    return links;
}

alignment_result run_alignment(const alignment_params& p) {
    alignment_result res;
    res.mode = p.mode;
    res.players = static_cast<int>(p.players.size());
    const auto& dir = p.work_dir;
    std::filesystem::create_directories(dir);

    std::optional<test::jackd_server> jack;
    std::vector<std::pair<std::string, std::string>> client_env;
    if (p.use_jack) {
        jack.emplace();
        client_env = jack->client_env();
    }

    // One node, or a mesh of them (each with its own onset log and output files).
    const int nodes = std::max(1, p.nodes);
    auto node_file = [&](const std::string& stem, int n, const std::string& ext) {
        return dir / (nodes == 1 ? stem + ext : stem + "-" + std::to_string(n + 1) + ext);
    };
    std::vector<std::uint16_t> mesh_ports;
    for (int n = 0; n < nodes && nodes > 1; ++n)
        mesh_ports.push_back(free_udp_port());
    std::vector<test::child_process> servers;
    std::vector<test::child_options> server_opts(static_cast<std::size_t>(nodes));
    std::vector<std::string> ports; // each node's UDP port, in node order
    auto started = [&](int m) {
        const auto& so = server_opts[static_cast<std::size_t>(m)];
        const auto port = wait_for_match(so.stdout_file, "listening on udp [0-9.]+:([0-9]+)", 20s);
        if (!port)
            res.error = "gno-server " + std::to_string(m + 1) +
                        " did not start: " + test::read_file(so.stderr_file);
        else
            ports.push_back(*port);
        return port.has_value();
    };
    for (int n = 0; n < nodes; ++n) {
        auto& so = server_opts[static_cast<std::size_t>(n)];
        so.stdout_file = node_file("server", n, ".log");
        so.stderr_file = node_file("server", n, ".err");
        std::vector<std::string> args = {"--port", "0"};
        if (p.conducted) {
            if (n == 0)
                args.insert(args.end(), {"--join-code", "conductor:lead-code"});
        } else {
            args.insert(args.end(),
                        {"--mode", p.mode, "--tempo", std::to_string(static_cast<int>(p.tempo_bpm)),
                         "--cycle-beats", std::to_string(p.cycle_beats), "--piece-start-s",
                         std::to_string(p.piece_start_s)});
        }
        args.insert(args.end(),
                    {"--onset-log", node_file("onsets", n, ".jsonl").string(), "--max-players",
                     std::to_string(std::max<std::size_t>(4, p.players.size())),
                     "--udp-secret-file", test::udp_secret_file(dir).string()});
        if (nodes > 1) {
            // The mesh's keys come from the same secret file (kept apart from session keys).
            const auto mesh = test::mesh_node_args(dir, mesh_ports, static_cast<std::size_t>(n));
            args.insert(args.end(), mesh.begin(), mesh.end());
            args.insert(args.end(), {"--mesh-codec", p.mesh_codec});
        }
        servers.emplace_back(p.server_exe.string(), args, so);
        // Node 1 first: the others take its timeline when they start.
        if (n == 0 && !started(0))
            return res;
    }
    for (int m = 1; m < nodes; ++m)
        if (!started(m))
            return res;
    const auto epoch =
        wait_for_match(server_opts[0].stdout_file, "epoch_monotonic_ns ([0-9]+)", 20s);
    if (!epoch) {
        res.error = "gno-server did not start";
        return res;
    }
    for (int n = 1; n < nodes; ++n)
        if (!wait_for_match(server_opts[static_cast<std::size_t>(n)].stdout_file,
                            "timeline (of node 1)", 5s)) {
            res.error = "node " + std::to_string(n + 1) + " did not take node 1's timeline";
            return res;
        }

    // The piece's first beat on the render timeline: the nodes' option, or the conductor's.
    std::int64_t piece_start = static_cast<std::int64_t>(p.piece_start_s) * 48000;
    if (p.conducted) {
        const auto control =
            wait_for_match(server_opts[0].stdout_file, "control on tcp [0-9.]+:([0-9]+)", 5s);
        if (!control) {
            res.error = "node 1 did not open its control port";
            return res;
        }
        try {
            test::ws_client lead(static_cast<std::uint16_t>(std::stoi(*control)));
            if (lead.join("lead-code", "conductor", "Maestro").value("type", "") != "welcome")
                throw std::runtime_error("the conductor was not welcomed");
            lead.send(R"({"type":"timing","mode":")" + p.mode + R"(","tempo_bpm":)" +
                      fmt(p.tempo_bpm) + R"(,"cycle_beats":)" + std::to_string(p.cycle_beats) +
                      "}");
            if (!lead.next_of("timing"))
                throw std::runtime_error("the timing was not taken");
            lead.send(R"({"type":"piece","name":"Unison","start_in_ms":)" +
                      std::to_string(p.piece_start_s * 1000) + "}");
            const auto piece = lead.next_of("piece");
            if (!piece)
                throw std::runtime_error("the piece did not start");
            piece_start = (*piece)["start_sample"].get<std::int64_t>();
        } catch (const std::exception& e) {
            res.error = std::string("conductor on node 1: ") + e.what();
            return res;
        }
        // Every other node has the conductor's piece start from node 1.
        for (int n = 1; n < nodes; ++n)
            if (!wait_for_match(server_opts[static_cast<std::size_t>(n)].stdout_file,
                                "(timing from node 1 .* piece start [0-9]+)", 5s)) {
                res.error =
                    "node " + std::to_string(n + 1) + " did not take the conductor's timing";
                return res;
            }
    }

    std::vector<test::child_process> proxies;
    std::vector<std::uint16_t> proxy_ports;
    for (std::size_t i = 0; i < p.players.size(); ++i) {
        const auto& l = p.players[i];
        test::child_options po;
        po.stdout_file = dir / ("proxy-" + std::to_string(i) + ".log");
        po.stderr_file = dir / ("proxy-" + std::to_string(i) + ".err");
        proxies.emplace_back(p.impair_exe.string(),
                             std::vector<std::string>{
                                 "--listen", "127.0.0.1:0", "--upstream",
                                 "127.0.0.1:" + ports[i % ports.size()], "--delay-ms",
                                 fmt(l.one_way_delay_ms), "--jitter-ms", fmt(l.jitter_ms), "--loss",
                                 fmt(l.loss), "--seed", std::to_string(p.seed * 100 + i)},
                             po);
        const auto pp = wait_for_match(po.stdout_file, "listening [0-9.]+:([0-9]+)", 20s);
        if (!pp) {
            res.error = "gno-impair did not start";
            return res;
        }
        proxy_ports.push_back(static_cast<std::uint16_t>(std::stoi(*pp)));
    }

    const int beat_ms = static_cast<int>(std::lround(60000.0 / p.tempo_bpm));
    std::vector<test::child_process> clients;
    for (std::size_t i = 0; i < p.players.size(); ++i) {
        const auto& l = p.players[i];
        std::vector<std::string> args = {
            "--server",
            "127.0.0.1:" + std::to_string(proxy_ports[i]),
            "--session",
            std::to_string(1000 + i),
            "--udp-secret-file",
            test::udp_secret_file(dir).string(),
            "--program",
            "115", // woodblock: crisp onsets
            "--play",
            "phrase:" + std::to_string(p.notes) + ":150:" + std::to_string(beat_ms - 150),
            "--at-piece-start",
            "--jitter-frames",
            std::to_string(p.jitter_frames),
            "--status",
            (dir / ("status-" + std::to_string(i) + ".jsonl")).string(),
            "--clock-offset-ms",
            fmt(l.clock_offset_ms),
            "--clock-drift-ppm",
            fmt(l.clock_drift_ppm),
            "--summary",
            (dir / ("client-" + std::to_string(i) + ".json")).string()};
        if (!p.use_jack) {
            args.push_back("--output");
            args.push_back("/dev/null");
        } else {
            args.push_back("--no-connect");
            args.push_back("--jack-name");
            args.push_back("gno-client-" + std::to_string(i));
        }
        test::child_options co;
        co.env = client_env;
        co.stdout_file = dir / ("client-" + std::to_string(i) + ".log");
        co.stderr_file = dir / ("client-" + std::to_string(i) + ".err");
        clients.emplace_back(p.client_exe.string(), args, co);
    }
    const double piece_s = p.notes * 60.0 / p.tempo_bpm;
    const auto budget =
        std::chrono::milliseconds(static_cast<long>((p.piece_start_s + piece_s + 30.0) * 1000));
    bool clients_ok = true;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        const auto rc = clients[i].wait_for_exit(budget);
        if (rc != 0) {
            clients_ok = false;
            res.error = "client " + std::to_string(i) + " exited with " +
                        (rc ? std::to_string(*rc) : std::string("timeout")) + ": " +
                        test::read_file(dir / ("client-" + std::to_string(i) + ".err"));
        }
    }
    // Everything scheduled has rendered: one-cycle events land a cycle after they were played.
    const double cycle_s = p.cycle_beats * 60.0 / p.tempo_bpm;
    std::this_thread::sleep_for(std::chrono::milliseconds(
        static_cast<long>((p.mode == "one-cycle" ? cycle_s : 0.0) * 1000) + 1500));
    for (auto& server : servers)
        server.signal(SIGINT);
    for (auto& server : servers)
        server.wait_for_exit(20s);
    for (auto& x : proxies)
        x.signal(SIGTERM);
    for (const auto& so : server_opts) {
        const auto final_line = wait_for_match(so.stdout_file, "(stopped.*)", 5s);
        if (final_line)
            res.late_events +=
                static_cast<std::uint64_t>(json_number(*final_line, "late_events").value_or(0));
    }
    if (!clients_ok)
        return res;

    // Onsets -> beats -> deviations from each beat's median.
    const double beat = 48000.0 * 60.0 / p.tempo_bpm;
    // The earliest onset of each player near each beat: a note's own decay can re-cross the
    // threshold later, which is not an onset of the rhythm.
    // Players are keyed node * 10000 + slot; the peers' section onsets each node mixed are
    // kept apart, per node and beat.
    std::map<long, std::map<int, double>> first_onset; // beat -> player -> sample
    std::map<long, std::map<int, double>> mixed_onset; // beat -> node -> sample
    for (int n = 0; n < nodes; ++n) {
        std::ifstream in(node_file("onsets", n, ".jsonl"));
        for (std::string line; std::getline(in, line);) {
            const auto r = json_number(line, "render_sample");
            const auto slot = json_number(line, "slot");
            if (!r || !slot)
                continue;
            const double pos = (*r - static_cast<double>(piece_start)) / beat;
            const long k = std::lround(pos);
            if (k < 0 || k >= p.notes || std::abs(pos - static_cast<double>(k)) > 0.25)
                continue; // not one of the rhythm's beats
            auto& onsets = *slot < 0 ? mixed_onset[k] : first_onset[k];
            const int key = *slot < 0 ? n : n * 10000 + static_cast<int>(*slot);
            if (!onsets.contains(key) || *r < onsets[key])
                onsets[key] = *r;
        }
    }
    // What a node mixes from its peers starts where the earliest of their players' stems does.
    for (const auto& [k, by_node] : mixed_onset) {
        for (const auto& [n, r] : by_node) {
            std::optional<double> earliest;
            for (const auto& [key, x] : first_onset[k])
                if (key / 10000 != n && (!earliest || x < *earliest))
                    earliest = x;
            if (!earliest)
                continue;
            ++res.mix_onsets;
            res.mix_error_max_samples =
                std::max(res.mix_error_max_samples, std::abs(r - *earliest));
        }
    }
    std::map<long, std::vector<double>> by_beat;
    for (const auto& [k, slots] : first_onset)
        for (const auto& [slot, r] : slots)
            by_beat[k].push_back(r);
    std::vector<double> errors, spreads;
    for (auto& [k, v] : by_beat) {
        if (v.size() * 2 < p.players.size())
            continue;
        std::sort(v.begin(), v.end());
        const double median = v[v.size() / 2];
        for (double x : v)
            errors.push_back(std::abs(x - median));
        spreads.push_back(v.back() - v.front());
        ++res.beats;
        res.onsets += v.size();
    }
    res.alignment_error_p50_samples = percentile(errors, 0.50);
    res.alignment_error_p99_samples = percentile(errors, 0.99);
    res.alignment_error_max_samples =
        errors.empty() ? 0 : *std::max_element(errors.begin(), errors.end());
    res.spread_p99_samples = percentile(spreads, 0.99);
    if (res.beats == 0)
        res.error = "no beat was played by at least half the players";

    // Clock: each client's estimate of server time against the truth on this machine.
    const double epoch_ns = std::stod(*epoch);
    std::vector<double> clock_errors;
    for (std::size_t i = 0; i < p.players.size(); ++i) {
        std::ifstream st(dir / ("status-" + std::to_string(i) + ".jsonl"));
        for (std::string line; std::getline(st, line);) {
            const auto est = json_number(line, "server_ns");
            const auto local = json_number(line, "true_local_ns");
            if (!est || !local)
                continue;
            const double truth = *local - epoch_ns;
            if (truth < 10e9) // after a 10 s warm-up
                continue;
            clock_errors.push_back(std::abs(*est - truth) / 1000.0);
        }
    }
    res.clock_samples = clock_errors.size();
    res.clock_offset_error_p99_us = percentile(clock_errors, 0.99);
    return res;
}

} // namespace gno::bench
