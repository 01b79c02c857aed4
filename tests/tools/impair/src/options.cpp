#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <gno/impair/options.hpp>
#include <gno/test/text.hpp>
#include <map>
#include <utility>

namespace gno::impair {
namespace {

namespace ip = boost::asio::ip;

using test::parse_double;

std::optional<ip::udp::endpoint> parse_endpoint(std::string_view s) {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos)
        return std::nullopt;
    std::string host(s.substr(0, colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host == "localhost")
        host = "127.0.0.1";
    const auto port = test::parse_int<std::uint64_t>(s.substr(colon + 1));
    if (!port || *port > 65535)
        return std::nullopt;
    boost::system::error_code ec;
    const auto address = ip::make_address(host, ec);
    if (ec)
        return std::nullopt;
    return ip::udp::endpoint(address, static_cast<unsigned short>(*port));
}

// "S:D": a start >= 0 and a duration > 0, in seconds.
std::optional<outage_window> parse_outage(std::string_view s) {
    const auto colon = s.find(':');
    if (colon == std::string_view::npos)
        return std::nullopt;
    const auto start = parse_double(s.substr(0, colon));
    const auto duration = parse_double(s.substr(colon + 1));
    if (!start || !duration || *start < 0.0 || *duration <= 0.0)
        return std::nullopt;
    return outage_window{*start, *duration};
}

enum class limit { probability, non_negative };

struct impairment_option {
    double impairment_params::*field;
    limit range;
};

const std::map<std::string_view, impairment_option>& impairment_options() {
    static const std::map<std::string_view, impairment_option> options = {
        {"delay-ms", {&impairment_params::delay_ms, limit::non_negative}},
        {"jitter-ms", {&impairment_params::jitter_ms, limit::non_negative}},
        {"loss", {&impairment_params::loss, limit::probability}},
        {"duplicate", {&impairment_params::duplicate, limit::probability}},
        {"reorder", {&impairment_params::reorder, limit::probability}},
        {"reorder-ms", {&impairment_params::reorder_ms, limit::non_negative}},
        {"burst-enter", {&impairment_params::burst_enter, limit::probability}},
        {"burst-exit", {&impairment_params::burst_exit, limit::probability}},
        {"burst-loss", {&impairment_params::burst_loss, limit::probability}},
    };
    return options;
}

constexpr std::string_view k_keep_order = "jitter-keep-order";

} // namespace

std::string usage() {
    return R"(usage: gno-impair --listen ADDR:PORT --upstream ADDR:PORT [options]
UDP impairment proxy: each client address gets its own upstream socket (like a NAT).
  --listen ADDR:PORT        where clients send (port 0 = any; the real one is printed
                            as "listening ADDR:PORT" once ready)
  --upstream ADDR:PORT      the server
  --seed N                  make every random choice reproducible
  --stats FILE              JSON counters, rewritten every second and on SIGINT/SIGTERM
  --rebind-after-s S        every S seconds, move each client's upstream socket to a new port
  --max-queue N             packets held for delay, both directions (default 10000)
  --max-clients N           distinct client addresses (default 256)
  --outage S:D              from S seconds after the proxy starts (its "listening" line), for
                            D seconds, drop every datagram both ways, in flight ones too
                            (counted as lost and outage_lost); repeat for more outages
Impairments, for both directions (--X), client->server (--up-X) or server->client (--down-X);
a direction-specific option overrides --X:
  --delay-ms MS             fixed one-way delay
  --jitter-ms MS            uniform +-MS added to the delay
  --jitter-keep-order       (flag) jitter never reorders packets
  --loss P                  drop probability 0..1
  --burst-enter P --burst-exit P --burst-loss P
                            Gilbert-Elliott bursts: chance per packet to enter / leave the
                            bad state and the drop probability in it (default exit 0.5, loss 1)
  --duplicate P             probability of sending a second copy
  --reorder P               probability that a copy is held back an extra --reorder-ms
  --reorder-ms MS           (default 10)
)";
}

parse_result parse_options(const std::vector<std::string_view>& args) {
    parse_result result;
    auto& o = result.options;
    bool have_listen = false;
    bool have_upstream = false;
    // (direction mask, setter) pairs; generic ones are applied before direction-specific ones.
    using setter = std::function<void(impairment_params&)>;
    std::vector<setter> generic;
    std::vector<std::pair<int, setter>> specific; // 1 = up, 2 = down

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
        std::string_view name = arg.substr(2);
        std::optional<std::string_view> inline_value;
        if (const auto eq = name.find('='); eq != std::string_view::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        int direction = 0;
        std::string_view base = name;
        if (base.starts_with("up-")) {
            direction = 1;
            base.remove_prefix(3);
        } else if (base.starts_with("down-")) {
            direction = 2;
            base.remove_prefix(5);
        }

        if (base == k_keep_order) {
            if (inline_value)
                return fail("--" + std::string(name) + " takes no value");
            setter set = [](impairment_params& p) {
                p.keep_order = true;
            };
            if (direction == 0)
                generic.push_back(set);
            else
                specific.emplace_back(direction, set);
            continue;
        }

        static constexpr std::array<std::string_view, 8> k_general = {
            "listen",         "upstream",  "seed",        "stats",
            "rebind-after-s", "max-queue", "max-clients", "outage"};
        const bool known = impairment_options().contains(base) ||
                           (direction == 0 &&
                            std::find(k_general.begin(), k_general.end(), name) != k_general.end());
        if (!known)
            return fail("unknown option --" + std::string(name));

        std::string_view value;
        if (inline_value) {
            value = *inline_value;
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return fail("--" + std::string(name) + " needs a value");
        }
        const auto bad_value = [&](std::string_view what) {
            return fail("--" + std::string(name) + ": '" + std::string(value) + "' is not " +
                        std::string(what));
        };

        if (const auto it = impairment_options().find(base); it != impairment_options().end()) {
            const auto v = parse_double(value);
            const auto [field, range] = it->second;
            if (!v || *v < 0.0 || (range == limit::probability && *v > 1.0))
                return bad_value(range == limit::probability ? "a probability in [0, 1]"
                                                             : "a number >= 0");
            setter set = [field, x = *v](impairment_params& p) {
                p.*field = x;
            };
            if (direction == 0)
                generic.push_back(set);
            else
                specific.emplace_back(direction, set);
            continue;
        }
        if (direction != 0)
            return fail("unknown option --" + std::string(name));

        if (name == "listen" || name == "upstream") {
            const auto ep = parse_endpoint(value);
            if (!ep)
                return bad_value("ADDR:PORT (e.g. 127.0.0.1:9000)");
            if (name == "listen") {
                o.listen = *ep;
                have_listen = true;
            } else {
                if (ep->port() == 0)
                    return bad_value("an address with a non-zero port");
                o.upstream = *ep;
                have_upstream = true;
            }
        } else if (name == "seed") {
            const auto v = test::parse_int<std::uint64_t>(value);
            if (!v)
                return bad_value("an unsigned integer");
            o.seed = *v;
        } else if (name == "stats") {
            if (value.empty())
                return bad_value("a file name");
            o.stats_file = std::string(value);
        } else if (name == "rebind-after-s") {
            const auto v = parse_double(value);
            if (!v || *v <= 0.0)
                return bad_value("a number of seconds > 0");
            o.rebind_after_s = *v;
        } else if (name == "outage") {
            const auto window = parse_outage(value);
            if (!window)
                return bad_value("S:D, seconds from the start >= 0 and a duration > 0 (e.g. 2:3)");
            o.outages.push_back(*window);
        } else if (name == "max-queue" || name == "max-clients") {
            const auto v = test::parse_int<std::uint64_t>(value);
            if (!v || *v == 0)
                return bad_value("a positive integer");
            (name == "max-queue" ? o.max_queue : o.max_clients) = static_cast<std::size_t>(*v);
        } else {
            return fail("unknown option --" + std::string(name));
        }
    }
    if (!have_listen)
        return fail("--listen ADDR:PORT is required");
    if (!have_upstream)
        return fail("--upstream ADDR:PORT is required");
    if (o.listen.protocol() != o.upstream.protocol())
        return fail("--listen and --upstream must both be IPv4 or both IPv6");
    for (const auto& set : generic) {
        set(o.up);
        set(o.down);
    }
    for (const auto& [direction, set] : specific)
        set(direction == 1 ? o.up : o.down);
    return result;
}

} // namespace gno::impair
