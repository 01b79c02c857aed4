// gno-bench: the project's measurements, one JSON line per result.
//   gno-bench alignment [--players N] [--notes N] [--modes a,b] [--seed N] [--keep DIR]
#include "alignment_run.hpp"
#include "gno/test/process.hpp"

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void usage(const std::string& msg) {
    std::cerr << "gno-bench: " << msg
              << "\nusage: gno-bench alignment [--players N] [--notes N] [--modes "
                 "time-advanced,one-cycle,live] [--seed N] [--keep DIR]\n";
    std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string_view(argv[1]) != "alignment")
        usage("which benchmark?");
    int players = 16;
    int notes = 24;
    std::uint64_t seed = 1;
    std::string modes = "time-advanced,one-cycle";
    std::string keep;
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (i + 1 >= argc)
            usage("missing value for " + std::string(a));
        const std::string v = argv[++i];
        if (a == "--players")
            players = std::atoi(v.c_str());
        else if (a == "--notes")
            notes = std::atoi(v.c_str());
        else if (a == "--seed")
            seed = std::strtoull(v.c_str(), nullptr, 10);
        else if (a == "--modes")
            modes = v;
        else if (a == "--keep")
            keep = v;
        else
            usage("unknown option " + std::string(a));
    }
    if (players < 2 || players > 64 || notes < 4 || notes > 1000)
        usage("--players must be 2..64 and --notes 4..1000");
    int status = 0;
    std::stringstream list(modes);
    for (std::string mode; std::getline(list, mode, ',');) {
        gno::test::temp_dir dir("gno-bench-alignment");
        gno::bench::alignment_params p;
        p.mode = mode;
        p.players = gno::bench::spread_links(players, seed);
        p.notes = notes;
        p.seed = seed;
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
