// gno-bench: the project's measurements, one JSON line per result.
//   gno-bench alignment [--players N] [--notes N] [--modes a,b] [--seed N] [--keep DIR]
//   gno-bench scale [--players N] [--mix own|shared] [--seconds S] [--find-max] ...
//   gno-bench mesh [--nodes N] [--players P] [--mix own|shared] [--seconds S] ...
//   gno-bench client [--seconds S] [--jack] [--players N] [--keep DIR]
//   gno-bench floor [--work-us LIST] [--seconds S] [--threads N]
#include "alignment_run.hpp"
#include "client_run.hpp"
#include "floor_run.hpp"
#include "gno/test/process.hpp"
#include "gno/test/text.hpp"
#include "mesh_run.hpp"
#include "scale_run.hpp"
#include "unit_costs.hpp"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef GNO_DEFAULT_SOUNDFONT
#define GNO_DEFAULT_SOUNDFONT "/usr/share/sounds/sf2/FluidR3_GM.sf2"
#endif

namespace {

constexpr std::string_view k_usage =
    R"(usage: gno-bench alignment [--players N] [--notes N] [--modes time-advanced,one-cycle,live]
                           [--seed N] [--nodes N] [--conductor] [--mesh-codec pcm|opus]
                           [--keep DIR]
       gno-bench scale [--players N] [--mix own|shared] [--seconds S] [--find-max]
                       [--complexity C] [--render-threads N] [--seed N] [--loadgen FILE]
                       [--keep DIR]
       gno-bench client [--seconds S] [--jack] [--players N] [--keep DIR]
       gno-bench floor [--work-us LIST] [--seconds S] [--threads N]
       gno-bench mesh [--nodes N] [--players P] [--mix own|shared] [--seconds S]
                      [--mesh-codec pcm|opus] [--keep DIR]
  alignment  real server, clients and impairment proxies; onset alignment across players
             (--nodes N: N render nodes exchanging stems, players spread over them;
             --conductor: the timing and piece start from a conductor on node 1, not options)
  scale      real server and load generator; unit costs, steady-window counters, ceiling
             (defaults: 16 players, shared mix, 30 s window, complexity 5; --find-max searches
             for the most players with no late frame, from --players up, with 15 s probes)
  mesh       N render nodes exchanging stems (default 3), a load generator of P players on
             each (default 100, shared mix, 20 s window): each node's CPU and egress to its
             players and to the mesh, late frames and stems
  client     real server and one performer gno-client playing notes the whole time, its page
             served but not opened; the client's CPU share of one core over S s (default 30)
             after a 3 s warm-up, against the 2 % budget. Audio to a WAV file written in real
             time, or with --jack to a private jackd (dummy driver, 48 kHz, 256 frames);
             --players N adds N simulated players to the mix (gno-loadgen; default 0)
  floor      the machine's own floor: the render clock and work crew (real-time priority
             where allowed) doing only fixed arithmetic, --work-us per thread per 5 ms frame
             (default 500,1000,1500,2000,2500), S s each (default 60), N threads (default
             the cores): the late frames any render of that block time can expect here
)";

[[noreturn]] void usage(const std::string& msg) {
    std::cerr << "gno-bench: " << msg << "\n" << k_usage;
    std::exit(2);
}

long parse_int(std::string_view name, const std::string& v, long lo, long hi) {
    const auto n = gno::test::parse_int<long>(v);
    if (!n || *n < lo || *n > hi)
        usage(std::string(name) + " needs a whole number from " + std::to_string(lo) + " to " +
              std::to_string(hi) + ", got '" + v + "'");
    return *n;
}

std::string parse_mix(const std::string& v) {
    if (v != "own" && v != "shared")
        usage("--mix must be own or shared, got '" + v + "'");
    return v;
}

std::string parse_mesh_codec(const std::string& v) {
    if (v != "pcm" && v != "opus")
        usage("--mesh-codec must be pcm or opus, got '" + v + "'");
    return v;
}

int run_alignment_command(int argc, char** argv) {
    int players = 16;
    int notes = 24;
    std::uint64_t seed = 1;
    std::string modes = "time-advanced,one-cycle";
    std::string keep;
    int nodes = 1;
    bool conducted = false;
    std::string mesh_codec = "pcm";
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--conductor") {
            conducted = true;
            continue;
        }
        if (i + 1 >= argc)
            usage("missing value for " + std::string(a));
        const std::string v = argv[++i];
        if (a == "--players")
            players = static_cast<int>(parse_int(a, v, 2, 64));
        else if (a == "--nodes")
            nodes = static_cast<int>(parse_int(a, v, 1, 8));
        else if (a == "--notes")
            notes = static_cast<int>(parse_int(a, v, 4, 1000));
        else if (a == "--seed")
            seed = static_cast<std::uint64_t>(parse_int(a, v, 0, LONG_MAX));
        else if (a == "--modes")
            modes = v;
        else if (a == "--mesh-codec")
            mesh_codec = parse_mesh_codec(v);
        else if (a == "--keep")
            keep = v;
        else
            usage("unknown option " + std::string(a));
    }
    int status = 0;
    std::stringstream list(modes);
    for (std::string mode; std::getline(list, mode, ',');) {
        gno::test::temp_dir dir("gno-bench-alignment");
        gno::bench::alignment_params p;
        p.mode = mode;
        p.players = gno::bench::spread_links(players, seed);
        p.notes = notes;
        p.seed = seed;
        p.nodes = nodes;
        p.conducted = conducted;
        p.mesh_codec = mesh_codec;
        p.server_exe = GNO_SERVER_EXE;
        p.client_exe = GNO_CLIENT_EXE;
        p.impair_exe = GNO_IMPAIR_EXE;
        p.work_dir = keep.empty() ? dir.path() : std::filesystem::path(keep) / mode;
        const auto r = gno::bench::run_alignment(p);
        std::cout << r.json() << std::endl;
        if (!r.error.empty())
            status = 1;
    }
    return status;
}

int run_scale_command(int argc, char** argv) {
    gno::bench::scale_params p;
    p.server_exe = GNO_SERVER_EXE;
#ifdef GNO_LOADGEN_EXE
    p.loadgen_exe = GNO_LOADGEN_EXE;
#endif
    bool find_max = false;
    std::string keep;
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--find-max") {
            find_max = true;
            continue;
        }
        if (i + 1 >= argc)
            usage("unknown option or missing value: " + std::string(a));
        const std::string v = argv[++i];
        if (a == "--players")
            p.players = static_cast<int>(parse_int(a, v, 1, 1020));
        else if (a == "--mix")
            p.mix = parse_mix(v);
        else if (a == "--seconds")
            p.seconds = static_cast<double>(parse_int(a, v, 2, 3600));
        else if (a == "--complexity")
            p.complexity = static_cast<int>(parse_int(a, v, 0, 10));
        else if (a == "--render-threads")
            p.render_threads = static_cast<int>(parse_int(a, v, 1, 64));
        else if (a == "--seed")
            p.seed = static_cast<std::uint64_t>(parse_int(a, v, 0, LONG_MAX));
        else if (a == "--loadgen")
            p.loadgen_exe = v;
        else if (a == "--keep")
            keep = v;
        else
            usage("unknown option " + std::string(a));
    }
    if (p.loadgen_exe.empty())
        usage("gno-loadgen is not part of this build; build it or pass --loadgen FILE");
    // Before spending time on the unit costs: can this server run what was asked?
    if (p.mix != "shared" && !gno::bench::server_has_option(p.server_exe, "--mix")) {
        std::cerr << "gno-bench: this gno-server has no --mix option (one shared mix only)\n";
        return 2;
    }
    if (p.render_threads > 0 && gno::bench::render_threads_option(p.server_exe).empty()) {
        std::cerr << "gno-bench: this gno-server cannot be given its number of render threads\n";
        return 2;
    }

    gno::bench::unit_costs costs;
    try {
        gno::bench::unit_cost_params up;
        up.soundfont = GNO_DEFAULT_SOUNDFONT;
        up.bitrate = p.bitrate;
        up.complexity = p.complexity;
        costs = gno::bench::measure_unit_costs(up);
    } catch (const std::exception& e) {
        std::cerr << "gno-bench: measuring unit costs: " << e.what() << "\n";
        return 1;
    }

    gno::test::temp_dir dir("gno-bench-scale");
    p.work_dir = keep.empty() ? dir.path() : std::filesystem::path(keep);
    gno::bench::scale_result r;
    if (find_max) {
        r = gno::bench::find_max_players(
            p, costs, std::min(15.0, p.seconds),
            [](const gno::bench::scale_result& probe) { std::cerr << probe.json() << std::endl; });
    } else {
        r = gno::bench::run_scale(p, costs);
    }
    std::cout << r.json() << std::endl;
    return r.error.empty() ? 0 : 1;
}

int run_floor_command(int argc, char** argv) {
    gno::bench::floor_params p;
    std::string levels = "500,1000,1500,2000,2500";
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (i + 1 >= argc)
            usage("unknown option or missing value: " + std::string(a));
        const std::string v = argv[++i];
        if (a == "--work-us")
            levels = v;
        else if (a == "--seconds")
            p.seconds = static_cast<double>(parse_int(a, v, 1, 3600));
        else if (a == "--threads")
            p.threads = static_cast<int>(parse_int(a, v, 1, 64));
        else
            usage("unknown option " + std::string(a));
    }
    std::vector<double> work;
    std::stringstream list(levels);
    for (std::string level; std::getline(list, level, ',');)
        work.push_back(static_cast<double>(parse_int("--work-us", level, 0, 5000)));
    if (work.empty())
        usage("--work-us needs at least one number");
    for (const double w : work) {
        p.work_us = w;
        try {
            std::cout << gno::bench::run_floor(p).json() << std::endl;
        } catch (const std::exception& e) {
            std::cerr << "gno-bench: floor: " << e.what() << "\n";
            return 1;
        }
    }
    return 0;
}

int run_mesh_command(int argc, char** argv) {
    gno::bench::mesh_params p;
    p.server_exe = GNO_SERVER_EXE;
#ifdef GNO_LOADGEN_EXE
    p.loadgen_exe = GNO_LOADGEN_EXE;
#endif
    std::string keep;
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (i + 1 >= argc)
            usage("unknown option or missing value: " + std::string(a));
        const std::string v = argv[++i];
        if (a == "--nodes")
            p.nodes = static_cast<int>(parse_int(a, v, 2, 8));
        else if (a == "--players")
            p.players = static_cast<int>(parse_int(a, v, 1, 1000));
        else if (a == "--mix")
            p.mix = parse_mix(v);
        else if (a == "--mesh-codec")
            p.mesh_codec = parse_mesh_codec(v);
        else if (a == "--seconds")
            p.seconds = static_cast<double>(parse_int(a, v, 2, 3600));
        else if (a == "--keep")
            keep = v;
        else
            usage("unknown option " + std::string(a));
    }
    if (p.loadgen_exe.empty())
        usage("gno-loadgen is not part of this build");
    gno::test::temp_dir dir("gno-bench-mesh");
    p.work_dir = keep.empty() ? dir.path() : std::filesystem::path(keep);
    const auto r = gno::bench::run_mesh(p);
    std::cout << r.json() << std::endl;
    std::printf("node  players  cpu(cores)  to players Mbit/s  to mesh Mbit/s  stems in/s  "
                "late frames  late stems  p99 block us  RSS MiB\n");
    for (const auto& n : r.nodes)
        std::printf("%4d  %7.0f  %10.2f  %17.2f  %14.2f  %10.0f  %11.0f  %10.0f  %12.0f  %7.0f\n",
                    n.node, n.players, n.cpu_cores, n.to_players_mbps, n.to_mesh_mbps,
                    n.from_mesh_per_s, n.late_frames, n.late_stems, n.block_time_p99_us, n.rss_mib);
    std::printf("load generators: %.2f cores of %d\n", r.loadgen_cores, r.cores);
    if (!r.error.empty()) {
        std::cerr << "gno-bench: mesh: " << r.error << "\n";
        return 1;
    }
    return 0;
}

int run_client_command(int argc, char** argv) {
    gno::bench::client_params p;
    p.server_exe = GNO_SERVER_EXE;
    p.client_exe = GNO_CLIENT_EXE;
#ifdef GNO_LOADGEN_EXE
    p.loadgen_exe = GNO_LOADGEN_EXE;
#endif
    std::string keep;
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--jack") {
            p.use_jack = true;
            continue;
        }
        if (i + 1 >= argc)
            usage("unknown option or missing value: " + std::string(a));
        const std::string v = argv[++i];
        if (a == "--seconds")
            p.seconds = static_cast<double>(parse_int(a, v, 5, 2400));
        else if (a == "--players")
            p.other_players = static_cast<int>(parse_int(a, v, 0, 1000));
        else if (a == "--keep")
            keep = v;
        else
            usage("unknown option " + std::string(a));
    }
    if (p.other_players > 0 && p.loadgen_exe.empty())
        usage("--players needs gno-loadgen, which is not part of this build");
    gno::test::temp_dir dir("gno-bench-client");
    p.work_dir = keep.empty() ? dir.path() : std::filesystem::path(keep);
    gno::bench::client_result r;
    try {
        r = gno::bench::run_client(p);
    } catch (const std::exception& e) {
        std::cerr << "gno-bench: client: " << e.what() << "\n";
        return 1;
    }
    std::cout << r.json() << std::endl;
    if (!r.error.empty()) {
        std::cerr << "gno-bench: client: " << r.error << "\n";
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string_view which = argc >= 2 ? argv[1] : "";
    if (which == "--help" || which == "-h") {
        std::cout << k_usage;
        return 0;
    }
    if (which == "alignment")
        return run_alignment_command(argc, argv);
    if (which == "scale")
        return run_scale_command(argc, argv);
    if (which == "mesh")
        return run_mesh_command(argc, argv);
    if (which == "client")
        return run_client_command(argc, argv);
    if (which == "floor")
        return run_floor_command(argc, argv);
    usage(which.empty() ? "which benchmark?" : "unknown benchmark " + std::string(which));
}
