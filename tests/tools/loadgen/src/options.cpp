// Command line of gno-loadgen: every value checked here, so the run itself only fails on
// things the machine refuses (sockets, a silent server).
#include <arpa/inet.h>
#include <cmath>
#include <cstring>
#include <gno/loadgen/loadgen.hpp>
#include <gno/test/text.hpp>
#include <limits>
#include <netinet/in.h>

namespace gno::loadgen {
namespace {

using test::parse_double;
using test::parse_int;

// The load generator only ever targets this machine: many players' worth of traffic at a
// server somewhere else would be an attack, not a test.
bool is_loopback(const std::string& host) {
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1)
        return std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
    return false;
}

} // namespace

std::string usage() {
    return R"(usage: gno-loadgen --server HOST:PORT [options]
Simulates many players against a gno-server on this machine and prints one JSON line.
  --server HOST:PORT   the server; a loopback address only (127.x.x.x, [::1], localhost)
  --players N          simulated players, 1..2000 (default 10)
  --seconds S          length of the run (default 10)
  --seed N             makes programs, chords and phases reproducible (default 1)
  --ramp-s S           players join spread evenly over S seconds; 0 = all at once (default 1)
  --decode K           sampled players that decode their stream and check it for sound
                       (default 4)
  --session-base N     player i uses session id N + i (default 1)
  --flood-players K    fault injection: the first K players flood the server ... (default 0)
  --flood-factor F     ... sending every key state F times, each copy its own datagram and
                       sequence number: F times the normal rate, in bursts (default 10)
  --udp-secret-file F  the node's UDP secret (gno-server --udp-secret-file), from which
                       every player's session key is derived (required: the node takes only
                       keyed datagrams)
  --report FILE        per-player JSON lines, written at the end
  --epoch-ns N         CLOCK_MONOTONIC ns at the server's render sample 0 (gno-server prints
                       it as "epoch_monotonic_ns N"); without it the server clock is estimated
                       by clock ping/pong
SIGINT or SIGTERM end the run early; the JSON line is still printed.
)";
}

parse_result parse_options(const std::vector<std::string_view>& args) {
    parse_result result;
    options& o = result.opts;
    bool have_server = false;
    bool have_decode = false;
    const auto fail = [&](std::string message) {
        result.error = std::move(message);
        return result;
    };

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h") {
            result.help = true;
            return result;
        }
        if (!arg.starts_with("--"))
            return fail("unexpected argument '" + std::string(arg) + "'");
        std::string_view name = arg;
        std::optional<std::string_view> value;
        if (const auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        }
        if (!value)
            return fail(std::string(name) + " needs a value");
        const std::string v(*value);
        const auto bad = [&](const char* what) {
            return fail(std::string(name) + " must be " + what + ", got '" + v + "'");
        };

        if (name == "--server") {
            const auto colon = v.rfind(':');
            if (colon == std::string::npos)
                return bad("HOST:PORT");
            std::string host = v.substr(0, colon);
            if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
                host = host.substr(1, host.size() - 2);
            if (host == "localhost")
                host = "127.0.0.1";
            const auto port = parse_int<unsigned>(std::string_view(v).substr(colon + 1));
            if (!port || *port == 0 || *port > 65535)
                return bad("HOST:PORT with a port 1..65535");
            if (!is_loopback(host))
                return fail("--server " + v +
                            " is not a loopback address: gno-loadgen only loads a server on "
                            "this machine (127.0.0.1, [::1] or localhost)");
            o.host = host;
            o.port = static_cast<std::uint16_t>(*port);
            have_server = true;
        } else if (name == "--players") {
            const auto n = parse_int<int>(v);
            if (!n || *n < 1 || *n > k_max_players)
                return bad("1..2000");
            o.players = *n;
        } else if (name == "--seconds") {
            const auto s = parse_double(v);
            if (!s || *s <= 0.0 || *s > 86400.0)
                return bad("a number of seconds above 0 (at most 86400)");
            o.seconds = *s;
        } else if (name == "--seed") {
            const auto n = parse_int<std::uint64_t>(v);
            if (!n)
                return bad("a non-negative integer");
            o.seed = *n;
        } else if (name == "--ramp-s") {
            const auto s = parse_double(v);
            if (!s || *s < 0.0 || *s > 3600.0)
                return bad("a number of seconds 0..3600");
            o.ramp_s = *s;
        } else if (name == "--decode") {
            const auto n = parse_int<int>(v);
            if (!n || *n < 0 || *n > k_max_players)
                return bad("0..2000");
            o.decode = *n;
            have_decode = true;
        } else if (name == "--session-base") {
            const auto n = parse_int<std::uint32_t>(v);
            if (!n || *n == 0)
                return bad("a session id 1..4294967295");
            o.session_base = *n;
        } else if (name == "--flood-players") {
            const auto n = parse_int<int>(v);
            if (!n || *n < 0 || *n > k_max_players)
                return bad("0..2000");
            o.flood_players = *n;
        } else if (name == "--flood-factor") {
            const auto n = parse_int<int>(v);
            if (!n || *n < 1 || *n > 1000)
                return bad("1..1000");
            o.flood_factor = *n;
        } else if (name == "--udp-secret-file") {
            if (v.empty())
                return bad("a file name");
            o.udp_secret_file = v;
        } else if (name == "--report") {
            if (v.empty())
                return bad("a file name");
            o.report = v;
        } else if (name == "--epoch-ns") {
            const auto n = parse_int<std::int64_t>(v);
            if (!n || *n < 0)
                return bad("a CLOCK_MONOTONIC time in ns (gno-server's epoch_monotonic_ns)");
            o.epoch_ns = *n;
        } else {
            return fail("unknown option " + std::string(name));
        }
    }

    if (!have_server)
        return fail("--server HOST:PORT is required");
    if (o.udp_secret_file.empty())
        return fail("--udp-secret-file FILE is required: the node takes only datagrams keyed "
                    "with its secret");
    if (o.flood_players > o.players)
        return fail("--flood-players " + std::to_string(o.flood_players) +
                    " is more than --players " + std::to_string(o.players));
    if (o.decode > o.players) {
        if (have_decode)
            return fail("--decode " + std::to_string(o.decode) + " is more than --players " +
                        std::to_string(o.players));
        o.decode = o.players; // the default 4 with fewer players: decode them all
    }
    if (std::uint64_t{o.session_base} + static_cast<std::uint64_t>(o.players) - 1 >
        std::numeric_limits<std::uint32_t>::max())
        return fail("--session-base " + std::to_string(o.session_base) + " + --players " +
                    std::to_string(o.players) + " runs past the largest session id");
    return result;
}

} // namespace gno::loadgen
