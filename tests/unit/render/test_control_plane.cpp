// The control plane on real loopback sockets with Boost.Beast clients: joining with codes and
// roles, routing by role and section, and every kind of bad input — malformed, unknown,
// oversized, floods, a slow reader, wrong or missing codes — answered clearly without
// disturbing anyone else. The node behind it is a set of recording hooks.
#include "gno/render/control_plane.hpp"
#include "gno/test/ws_client.hpp"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace gno::render;
using namespace std::chrono_literals;
using client = gno::test::ws_client;

namespace {

struct recorded {
    std::mutex mu;
    std::vector<std::uint32_t> admitted, muted;
    std::vector<std::pair<std::uint32_t, control::mix_levels>> mixes;
    std::size_t talkback_samples = 0;
    int talkback_begins = 0, talkback_ends = 0;
    std::vector<player_link_view> links; // what the links hook answers (a UDP side's view)
};

class ControlPlane : public ::testing::Test {
protected:
    void SetUp() override { start({}); }

    /// `udp_side`: the node has a links hook (rec_.links), so its performers get `link`.
    /// Without codes in `cfg`, one per role.
    void start(control_config cfg, bool udp_side = false) {
        plane_.reset();
        cfg.port = 0;
        if (cfg.codes.empty())
            cfg.codes = {{control::role::performer, "perf-code", 40, 0},
                         {control::role::conductor, "cond-code", 0, 0},
                         {control::role::ops, "ops-code", 0, 0},
                         {control::role::listener, "listen-code", 0, 0}};
        control_hooks h;
        h.status_json = [] {
            return std::string(R"({"frames":1})");
        };
        h.metrics_text = [] {
            return std::string("gno_players 0\n");
        };
        h.now_ns = [] {
            return std::int64_t{1'000'000'000};
        };
        h.admit = [this](std::uint32_t s, std::span<const std::uint8_t, 16>, int, int) {
            std::lock_guard l(rec_.mu);
            rec_.admitted.push_back(s);
        };
        h.mute = [this](std::uint32_t s, bool) {
            std::lock_guard l(rec_.mu);
            rec_.muted.push_back(s);
        };
        h.piece_start = [](std::string_view, std::int64_t ms) {
            const std::int64_t at = 48000 + ms * 48;
            return control_hooks::piece_time{at, at * 1'000'000'000 / 48000};
        };
        h.timing = [](const control::timing&) {
            return std::string();
        };
        h.talkback_begin = [this](std::optional<std::int64_t>) {
            std::lock_guard l(rec_.mu);
            ++rec_.talkback_begins;
            return true;
        };
        h.talkback_pcm = [this](std::span<const std::int16_t> pcm) {
            std::lock_guard l(rec_.mu);
            rec_.talkback_samples += pcm.size();
        };
        h.talkback_end = [this] {
            std::lock_guard l(rec_.mu);
            ++rec_.talkback_ends;
        };
        h.mix = [this](std::uint32_t s, const control::mix_levels& levels) {
            std::lock_guard l(rec_.mu);
            rec_.mixes.emplace_back(s, levels);
            return own_mixes_.load();
        };
        h.mix_defaults = [] {
            control::mix_levels d;
            d.sections.fill(0.5); // the node's --other-sections-db -6
            return d;
        };
        if (udp_side)
            h.links = [this] {
                std::lock_guard l(rec_.mu);
                return rec_.links;
            };
        plane_ = std::make_unique<control_plane>(cfg, h);
        plane_->start();
    }

    std::uint16_t port() const { return plane_->port(); }

    std::string http_get(std::string_view target, std::string method = "GET",
                         int* status = nullptr) {
        net::io_context ioc;
        beast::tcp_stream s(ioc);
        s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
        http::request<http::string_body> req{http::string_to_verb(method), std::string(target), 11};
        req.set(http::field::host, "127.0.0.1");
        req.prepare_payload();
        http::write(s, req);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(s, buf, res);
        if (status)
            *status = static_cast<int>(res.result_int());
        return res.body();
    }

    /// The hook's mix calls so far.
    std::vector<std::pair<std::uint32_t, control::mix_levels>> mixes() {
        std::lock_guard l(rec_.mu);
        return rec_.mixes;
    }

    recorded rec_;
    std::atomic<bool> own_mixes_{true}; // what the mix hook answers: the node runs own mixes
    std::unique_ptr<control_plane> plane_;
};

} // namespace

TEST_F(ControlPlane, PerformerJoinsAndGetsItsSessionKeyAndSection) {
    client p(port());
    const json w = p.join("perf-code", "performer", "Ann", 41);
    EXPECT_EQ(w["type"], "welcome");
    EXPECT_EQ(w["role"], "performer");
    EXPECT_EQ(w["name"], "Ann");
    EXPECT_EQ(w["section"], "strings");
    EXPECT_EQ(w["session_key"].get<std::string>().size(), 32u);
    const auto player = w["player"].get<std::uint32_t>();
    EXPECT_NE(player, 0u);
    std::lock_guard l(rec_.mu);
    ASSERT_EQ(rec_.admitted.size(), 1u);
    EXPECT_EQ(rec_.admitted[0], player);
}

TEST_F(ControlPlane, WrongOrMissingCodeAndWrongRoleAreRefusedAndClosed) {
    {
        client c(port());
        const json e = c.join("nope-code", "conductor", "x");
        EXPECT_EQ(e["type"], "error");
        EXPECT_EQ(e["code"], "bad_code");
        EXPECT_FALSE(c.next(1000ms));
        EXPECT_TRUE(c.closed());
        EXPECT_EQ(c.close_reason(), websocket::close_code::policy_error);
    }
    {
        client c(port());
        const json e = c.join("perf-code", "conductor", "x");
        EXPECT_EQ(e["code"], "wrong_role");
        EXPECT_EQ(e["message"], "this code admits a performer, not a conductor");
        EXPECT_FALSE(c.next(1000ms));
    }
    {
        client c(port());
        c.send(R"({"type":"chat","text":"hello before joining"})");
        const auto e = c.next();
        ASSERT_TRUE(e);
        EXPECT_EQ((*e)["code"], "join_first");
        EXPECT_FALSE(c.next(1000ms));
    }
    std::lock_guard l(rec_.mu);
    EXPECT_TRUE(rec_.admitted.empty());
}

// Wrong codes from one address: after the node's limit, even the right code from there is
// refused unchecked (too_many_attempts) and counted; nothing was admitted.
TEST_F(ControlPlane, AnAddressThatKeepsTryingWrongCodesIsHeldOff) {
    control_config cfg;
    cfg.code_failures = 3;
    start(cfg);
    for (int i = 0; i < 3; ++i) {
        client c(port());
        EXPECT_EQ(c.join("guess-" + std::to_string(i), "performer", "x")["code"], "bad_code");
    }
    client c(port());
    const json e = c.join("perf-code", "performer", "Ann");
    EXPECT_EQ(e["code"], "too_many_attempts");
    EXPECT_FALSE(c.next(1000ms));
    EXPECT_TRUE(c.closed());
    EXPECT_EQ(plane_->counters().code_lockouts, 1u);
    EXPECT_EQ(plane_->counters().refused_joins, 4u);
    std::lock_guard l(rec_.mu);
    EXPECT_TRUE(rec_.admitted.empty());
}

// A code admits at most its MAX members at once (or its role's default); the next is refused
// and closed with code_full, and counted; one who leaves frees a place.
TEST_F(ControlPlane, ACodeAdmitsAtMostItsMaxAtOnceAndALeaverFreesAPlace) {
    control_config cfg;
    cfg.codes = {parse_join_code("performer:two-seats::2"), parse_join_code("conductor:cond-code")};
    start(cfg);
    auto p1 = std::make_unique<client>(port());
    EXPECT_EQ(p1->join("two-seats", "performer", "Ann")["type"], "welcome");
    client p2(port());
    EXPECT_EQ(p2.join("two-seats", "performer", "Bob")["type"], "welcome");
    {
        client p3(port());
        const json e = p3.join("two-seats", "performer", "Cy");
        EXPECT_EQ(e["type"], "error");
        EXPECT_EQ(e["code"], "code_full");
        EXPECT_EQ(e["message"],
                  "this join code admits at most 2 at once; ask the conductor for another");
        EXPECT_FALSE(p3.next(1000ms));
        EXPECT_TRUE(p3.closed());
        EXPECT_EQ(p3.close_reason(), websocket::close_code::policy_error);
    }
    EXPECT_EQ(plane_->counters().code_full, 1u);
    EXPECT_EQ(plane_->counters().refused_joins, 1u);
    EXPECT_EQ(plane_->counters().joined, 2u);

    // Ann hangs up; her place is free once the node has seen her go.
    p1.reset();
    json w;
    for (int i = 0; i < 100; ++i) {
        client again(port());
        w = again.join("two-seats", "performer", "Dee");
        if (w["type"] == "welcome" || w["code"] != "code_full")
            break;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(w["type"], "welcome");
    EXPECT_EQ(w["name"], "Dee");

    // A conductor code without MAX admits k_default_code_conductors at once.
    std::vector<std::unique_ptr<client>> leads;
    for (int i = 0; i < k_default_code_conductors; ++i) {
        leads.push_back(std::make_unique<client>(port()));
        EXPECT_EQ(leads.back()->join("cond-code", "conductor", "Lead")["type"], "welcome");
    }
    client one_too_many(port());
    const json e = one_too_many.join("cond-code", "conductor", "Lead");
    EXPECT_EQ(e["code"], "code_full");
    EXPECT_EQ(e["message"],
              "this join code admits at most 4 at once; ask the conductor for another");
}

TEST(JoinCode, RoleCodeProgramAndMax) {
    const auto plain = parse_join_code("performer:violins");
    EXPECT_EQ(plain.who, control::role::performer);
    EXPECT_EQ(plain.code, "violins");
    EXPECT_EQ(plain.max_members, 0);
    EXPECT_EQ(members_allowed(plain), 0); // only the node's player slots bound it

    const auto both = parse_join_code("performer:violins:40:12");
    EXPECT_EQ(both.program, 40);
    EXPECT_EQ(both.max_members, 12);
    EXPECT_EQ(members_allowed(both), 12);

    const auto no_program = parse_join_code("performer:violins::40");
    EXPECT_EQ(no_program.program, 0);
    EXPECT_EQ(no_program.bank, 0);
    EXPECT_EQ(no_program.max_members, 40);

    const auto drums = parse_join_code("performer:drum-kit:128:65535");
    EXPECT_EQ(drums.bank, 128);
    EXPECT_EQ(drums.max_members, 65535);

    EXPECT_EQ(members_allowed(parse_join_code("conductor:baton")), 4);
    EXPECT_EQ(members_allowed(parse_join_code("ops:night-shift")), 8);
    EXPECT_EQ(members_allowed(parse_join_code("listener:the-hall")), 256);
    EXPECT_EQ(members_allowed(parse_join_code("listener:the-hall::1000")), 1000);
}

TEST(JoinCode, BadMaxOrFieldsAreRefusedWithAReason) {
    const auto why = [](std::string_view spec) -> std::string {
        try {
            parse_join_code(spec);
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "accepted";
    };
    for (const auto* spec :
         {"performer:violins:40:0", "performer:violins::65536", "performer:violins::-1",
          "performer:violins::+3", "performer:violins:: 3", "performer:violins::many",
          "performer:violins::", "performer:violins:40:3x", "listener:the-hall::99999999999"})
        EXPECT_EQ(why(spec), "join code MAX (how many may be joined with it at once) must be "
                             "1..65535, e.g. performer:violins::40")
            << spec;
    EXPECT_EQ(why("performer:violins:40:3:4"),
              "a join code is ROLE:CODE[:PROGRAM[:MAX]], e.g. performer:violins, "
              "performer:violins:40:12 or listener:hall::500");
    EXPECT_EQ(why("violins"), why("performer:violins:40:3:4"));
    // An empty PROGRAM only before a MAX.
    EXPECT_EQ(why("performer:violins:"), "join code program must be 0..127, or 128 for drums");
    EXPECT_EQ(why("performer:violins:129:4"), "join code program must be 0..127, or 128 for drums");
    EXPECT_EQ(why("performer:abc::4"), "a join code is 4 to 128 characters");
}

TEST_F(ControlPlane, ImagesAndCuesReachTheirSectionAndChatReachesEveryone) {
    client cond(port());
    cond.join("cond-code", "conductor", "Maestro");
    client violin(port()), flute(port());
    violin.join("perf-code", "performer", "Vi", 40); // strings
    flute.join("perf-code", "performer", "Fl", 73);  // pipe
    cond.send(R"({"type":"image","section":"strings","image":"swell"})");
    cond.send(R"({"type":"cue","section":"all","intensity":0.25,"register":"low"})");
    const auto img = violin.next_of("image");
    ASSERT_TRUE(img);
    EXPECT_EQ((*img)["image"], "swell");
    EXPECT_EQ((*img)["section"], "strings");
    const auto cue_v = violin.next_of("cue");
    ASSERT_TRUE(cue_v);
    EXPECT_DOUBLE_EQ((*cue_v)["intensity"].get<double>(), 0.25);
    // The flute's first message after joining is the all-section cue: no strings image.
    const auto first = flute.next();
    ASSERT_TRUE(first);
    EXPECT_EQ((*first)["type"], "cue");

    flute.send(R"({"type":"chat","text":"ready at B"})");
    const auto ch = cond.next_of("chat");
    ASSERT_TRUE(ch);
    EXPECT_EQ((*ch)["text"], "ready at B");
    EXPECT_EQ((*ch)["name"], "Fl");
    EXPECT_TRUE(violin.next_of("chat"));
}

TEST_F(ControlPlane, APerformerMayNotConductAndBadMessagesGetReasons) {
    client p(port());
    p.join("perf-code", "performer", "Ann");
    p.send(R"({"type":"cue","section":"all","intensity":1})");
    auto e = p.next();
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["code"], "forbidden");
    EXPECT_EQ((*e)["message"], "a performer may not send cue");
    p.send("{not json");
    EXPECT_EQ((*p.next())["code"], "bad_json");
    p.send(R"({"type":"teleport"})");
    EXPECT_EQ((*p.next())["code"], "unknown_type");
    p.send(R"({"type":"join","code":"perf-code"})");
    EXPECT_EQ((*p.next())["code"], "already_joined");
    p.send_binary({1, 2, 3, 4});
    EXPECT_EQ((*p.next())["code"], "bad_frame");
    // Still joined and served after all that.
    p.send(R"({"type":"chat","text":"still here"})");
    const auto ch = p.next_of("chat");
    ASSERT_TRUE(ch);
    EXPECT_EQ((*ch)["text"], "still here");
}

TEST_F(ControlPlane, AnOversizedFrameIsRefusedAndClosedOthersUndisturbed) {
    client other(port());
    other.join("perf-code", "performer", "Other");
    client big(port());
    big.join("perf-code", "performer", "Big");
    // The server may close while the frame is still being written.
    big.try_send(std::string(200 * 1024, 'x'));
    // Beast closes at once with 1009 (message too big): the close code is the error. The close
    // frame can be lost to a reset while our write is still under way; closed it must be.
    EXPECT_FALSE(big.next(2000ms));
    EXPECT_TRUE(big.closed());
    if (big.close_reason() != websocket::close_code::none) {
        EXPECT_EQ(big.close_reason(), websocket::close_code::too_big);
    }
    other.send(R"({"type":"chat","text":"fine"})");
    EXPECT_TRUE(other.next_of("chat"));
    for (int i = 0; i < 100 && plane_->counters().bad_messages == 0; ++i)
        std::this_thread::sleep_for(20ms);
    EXPECT_EQ(plane_->counters().bad_messages, 1u);
}

TEST_F(ControlPlane, AFloodIsRateLimitedThenCutOff) {
    client p(port());
    p.join("perf-code", "performer", "Flood");
    for (int i = 0; i < 400; ++i)
        p.send(R"({"type":"solo_request"})");
    int limited = 0;
    for (;;) {
        auto m = p.next(2000ms);
        if (!m)
            break;
        if ((*m)["type"] == "error" && (*m)["code"] == "rate_limited")
            ++limited;
    }
    EXPECT_GT(limited, 100);
    EXPECT_TRUE(p.closed()); // too many refusals: cut off
    EXPECT_GT(plane_->counters().rate_limited, 100u);
    client q(port());
    EXPECT_EQ(q.join("perf-code", "performer", "Next")["type"], "welcome");
}

TEST_F(ControlPlane, ASlowReaderIsDroppedWithBoundedMemory) {
    control_config cfg;
    cfg.max_queued_messages = 16;
    cfg.chats_per_second = 1e6;
    cfg.chat_burst = 1e6;
    cfg.messages_per_second = 1e6;
    cfg.message_burst = 1e6;
    start(cfg);
    // The slow reader joins and then never reads; the talker fills its queue with chat.
    net::io_context ioc;
    websocket::stream<beast::tcp_stream> slow(ioc);
    beast::get_lowest_layer(slow).connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
    // A tiny receive window so the server's writes back up quickly.
    slow.next_layer().socket().set_option(net::socket_base::receive_buffer_size(4096));
    slow.handshake("127.0.0.1", "/ws");
    slow.write(net::buffer(std::string(R"({"type":"join","code":"perf-code","name":"Slow"})")));
    client talker(port());
    talker.join("perf-code", "performer", "Talker");
    const std::string text(480, 'y');
    // The talker reads its own echo each time, so only the slow reader falls behind (the
    // kernel's socket buffers absorb a few megabytes first).
    for (int i = 0; i < 40000 && plane_->counters().slow_readers_dropped == 0; ++i) {
        talker.send(json{{"type", "chat"}, {"text", text}}.dump());
        ASSERT_TRUE(talker.next_of("chat")) << "iteration " << i << " closed " << talker.closed();
    }
    EXPECT_EQ(plane_->counters().slow_readers_dropped, 1u);
    // The talker is still served.
    client probe(port());
    EXPECT_EQ(probe.join("perf-code", "performer", "Probe")["type"], "welcome");
}

TEST_F(ControlPlane, TalkbackIsTheConductorsAndCarriesPcm) {
    client cond(port());
    cond.join("cond-code", "conductor", "Maestro");
    client p(port());
    p.join("perf-code", "performer", "Ann");
    cond.send(R"({"type":"talkback_begin"})");
    const auto on = p.next_of("talkback");
    ASSERT_TRUE(on);
    EXPECT_EQ((*on)["state"], "on");
    std::vector<std::uint8_t> pcm(960 * 2, 0);
    cond.send_binary(pcm);
    cond.send_binary(pcm);
    cond.send_binary({1, 2, 3}); // odd: refused
    const auto e = cond.next_of("error");
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["code"], "bad_frame");
    cond.send(R"({"type":"talkback_end"})");
    const auto off = p.next_of("talkback");
    ASSERT_TRUE(off);
    EXPECT_EQ((*off)["state"], "off");
    std::lock_guard l(rec_.mu);
    EXPECT_EQ(rec_.talkback_begins, 1);
    EXPECT_EQ(rec_.talkback_ends, 1);
    EXPECT_EQ(rec_.talkback_samples, 1920u);
}

TEST_F(ControlPlane, RosterMuteAndKick) {
    client cond(port());
    cond.join("cond-code", "conductor", "Maestro");
    client p(port());
    const auto player = p.join("perf-code", "performer", "Ann", 0)["player"].get<std::uint32_t>();
    json roster;
    for (int i = 0; i < 5; ++i) {
        auto r = cond.next_of("roster");
        ASSERT_TRUE(r);
        if (r->dump().find("Ann") != std::string::npos) {
            roster = *r;
            break;
        }
    }
    ASSERT_FALSE(roster.is_null());
    cond.send(json{{"type", "mute"}, {"player", player}, {"muted", true}}.dump());
    const auto m = p.next_of("mute");
    ASSERT_TRUE(m);
    EXPECT_EQ((*m)["muted"], true);
    cond.send(json{{"type", "kick"}, {"player", player}}.dump());
    EXPECT_TRUE(p.next_of("kick"));
    EXPECT_FALSE(p.next(1000ms));
    cond.send(json{{"type", "kick"}, {"player", 12345}}.dump());
    EXPECT_EQ((*cond.next_of("error"))["code"], "unknown_player");
    std::lock_guard l(rec_.mu);
    EXPECT_EQ(rec_.muted, std::vector<std::uint32_t>{player});
}

// Each performer learns its own link as the node sees it, every second, from the snapshot the
// leads' roster is made of; a performer the node hears nothing from is told so; a lead gets
// the roster, not `link`; and nothing follows a kick, not even a `link`.
TEST_F(ControlPlane, EachPerformerGetsItsOwnLinkEverySecond) {
    start({}, /*udp_side=*/true);
    client cond(port());
    cond.join("cond-code", "conductor", "Maestro");
    client ann(port());
    const auto a = ann.join("perf-code", "performer", "Ann", 0)["player"].get<std::uint32_t>();
    client bo(port());
    ASSERT_NE(bo.join("perf-code", "performer", "Bo", 0)["player"].get<std::uint32_t>(), 0u);
    constexpr std::uint32_t udp_only = 77; // a load generator: UDP, no WebSocket
    {
        std::lock_guard l(rec_.mu);
        rec_.links = {{udp_only, 5, 5, 0, 0, 0, 0}, {a, 12.5, 10.25, 1.5, 2.5, 0.75, 3}};
    }

    // Within 2.5 s: a tick may have gone before the row was there (then udp was false).
    std::optional<json> own;
    const auto until = std::chrono::steady_clock::now() + 2500ms;
    while (std::chrono::steady_clock::now() < until) {
        own = ann.next_of("link", std::chrono::duration_cast<std::chrono::milliseconds>(
                                      until - std::chrono::steady_clock::now()));
        if (!own || (*own)["udp"] == true)
            break;
    }
    ASSERT_TRUE(own);
    EXPECT_EQ((*own)["udp"], true);
    EXPECT_EQ((*own)["rtt_ms"], 12.5);
    EXPECT_EQ((*own)["min_rtt_ms"], 10.25);
    EXPECT_EQ((*own)["jitter_ms"], 1.5);
    EXPECT_EQ((*own)["loss_up_pct"], 2.5);
    EXPECT_EQ((*own)["loss_down_pct"], 0.75);
    EXPECT_EQ((*own)["late_events"], 3);
    EXPECT_FALSE(own->contains("player")); // its own, nobody else's

    const auto none = bo.next_of("link", 2500ms);
    ASSERT_TRUE(none);
    EXPECT_EQ((*none)["udp"], false);
    EXPECT_EQ((*none)["rtt_ms"], 0.0);

    // The conductor's roster shows the same figures, and the UDP-only player; no `link`.
    json roster;
    const auto roster_until = std::chrono::steady_clock::now() + 3000ms;
    while (roster.is_null() && std::chrono::steady_clock::now() < roster_until) {
        const auto m = cond.next(1500ms);
        if (!m)
            break;
        EXPECT_NE((*m)["type"], "link");
        if ((*m)["type"] != "roster")
            continue;
        for (const auto& row : (*m)["players"])
            if (row["player"] == a && row["udp"] == true)
                roster = *m;
    }
    ASSERT_FALSE(roster.is_null());
    int rows_seen = 0;
    for (const auto& row : roster["players"]) {
        if (row["player"] == a) {
            ++rows_seen;
            EXPECT_EQ(row["loss_up_pct"], 2.5);
            EXPECT_EQ(row["connected"], true);
        } else if (row["player"] == udp_only) {
            ++rows_seen;
            EXPECT_EQ(row["connected"], false);
            EXPECT_EQ(row["udp"], true);
        } else if (row["name"] == "Bo") {
            ++rows_seen;
            EXPECT_EQ(row["udp"], false);
        }
    }
    EXPECT_EQ(rows_seen, 3);

    cond.send(json{{"type", "kick"}, {"player", a}}.dump());
    ASSERT_TRUE(ann.next_of("kick"));
    EXPECT_FALSE(ann.next(2500ms)); // closed, with no `link` after the kick
    EXPECT_TRUE(ann.closed());
}

// A performer's own mix: each message changes what it gives, the node gets every level (with
// the node's defaults for the rest), and the answer shows them all.
TEST_F(ControlPlane, APerformersMixIsAppliedAndEchoedInFull) {
    client p(port());
    const auto player = p.join("perf-code", "performer", "Ann", 73)["player"].get<std::uint32_t>();
    p.send(R"({"type":"mix","own":1,"sections":{"strings":0}})");
    auto echo = p.next_of("mix");
    ASSERT_TRUE(echo);
    EXPECT_EQ((*echo)["own"], 1.0);
    EXPECT_EQ((*echo)["click"], 1.0);
    EXPECT_EQ((*echo)["sections"]["strings"], 0.0);
    EXPECT_EQ((*echo)["sections"]["brass"], 0.5); // the node's default
    EXPECT_EQ((*echo)["sections"].size(), control::section_names.size());
    EXPECT_EQ((*echo)["mix_mode"], "own");
    EXPECT_EQ((*echo)["applied"], true);
    {
        const auto m = mixes();
        ASSERT_EQ(m.size(), 1u);
        EXPECT_EQ(m[0].first, player);
        EXPECT_EQ(m[0].second.own, 1.0);
        EXPECT_EQ(m[0].second.click, 1.0);
        EXPECT_EQ(m[0].second.sections[5], 0.0);
        EXPECT_EQ(m[0].second.sections[7], 0.5);
    }
    // The next change keeps the earlier ones; an empty mix only asks.
    p.send(R"({"type":"mix","click":0.25})");
    echo = p.next_of("mix");
    ASSERT_TRUE(echo);
    EXPECT_EQ((*echo)["own"], 1.0);
    EXPECT_EQ((*echo)["click"], 0.25);
    EXPECT_EQ((*echo)["sections"]["strings"], 0.0);
    p.send(R"({"type":"mix"})");
    const auto asked = p.next_of("mix");
    ASSERT_TRUE(asked);
    EXPECT_EQ(*asked, *echo);
    const auto m = mixes();
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[2].second.click, 0.25);
    EXPECT_EQ(m[2].second.sections[5], 0.0);
}

// Only a performer has a mix of its own; bad levels are refused with the field named, and
// nothing changes: the node is not told, and the levels in force stay.
TEST_F(ControlPlane, AMixFromAnotherRoleOrWithBadLevelsIsRefusedAndChangesNothing) {
    client cond(port()), ops(port()), listener(port());
    cond.join("cond-code", "conductor", "Maestro");
    ops.join("ops-code", "ops", "Ops");
    listener.join("listen-code", "listener", "Lis");
    cond.send(R"({"type":"mix","own":1})");
    auto e = cond.next_of("error");
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["code"], "forbidden");
    EXPECT_EQ((*e)["message"], "a conductor may not send mix");
    ops.send(R"({"type":"mix","own":1})");
    EXPECT_EQ((*ops.next_of("error"))["code"], "forbidden");
    listener.send(R"({"type":"mix","own":1})");
    EXPECT_EQ((*listener.next_of("error"))["message"], "a listener may not send mix");

    client p(port());
    p.join("perf-code", "performer", "Ann");
    p.send(R"({"type":"mix","own":0.5})");
    ASSERT_TRUE(p.next_of("mix"));
    const std::pair<std::string, std::string> bad[] = {
        {R"({"type":"mix","own":2.5})", "field 'own' must be from 0.0 to 2.0"},
        {R"({"type":"mix","click":-1})", "field 'click' must be from 0.0 to 2.0"},
        {R"({"type":"mix","own":"max"})", "field 'own' must be a number"},
        {R"({"type":"mix","own":1,"sections":{"kazoos":1}})",
         "field 'sections.kazoos' is not a section (one of the welcome's sections)"},
        {R"({"type":"mix","sections":{"strings":null,"brass":7}})",
         "field 'sections.brass' must be a number from 0.0 to 2.0"},
    };
    for (const auto& [text, why] : bad) {
        p.send(text);
        e = p.next();
        ASSERT_TRUE(e) << text;
        EXPECT_EQ((*e)["type"], "error") << text;
        EXPECT_EQ((*e)["code"], "bad_field") << text;
        EXPECT_EQ((*e)["message"], why) << text;
    }
    p.send(R"({"type":"mix"})");
    const auto now = p.next();
    ASSERT_TRUE(now);
    EXPECT_EQ((*now)["type"], "mix");
    EXPECT_EQ((*now)["own"], 0.5);
    EXPECT_EQ((*now)["click"], 1.0);
    EXPECT_EQ((*now)["sections"]["brass"], 0.5);
    const auto m = mixes();
    ASSERT_EQ(m.size(), 2u); // the good one and the question: nothing from the refused
    EXPECT_EQ(m[0].second, m[1].second);
}

// A shared-mix node keeps the levels but cannot honour them, and says so; a performer who
// leaves has its levels set back to the defaults, so the node forgets them.
TEST_F(ControlPlane, ASharedMixNodeSaysTheLevelsAreNotHeardAndALeaverIsForgotten) {
    own_mixes_.store(false);
    std::uint32_t player = 0;
    {
        client p(port());
        player = p.join("perf-code", "performer", "Ann")["player"].get<std::uint32_t>();
        p.send(R"({"type":"mix","own":1})");
        const auto echo = p.next_of("mix");
        ASSERT_TRUE(echo);
        EXPECT_EQ((*echo)["own"], 1.0);
        EXPECT_EQ((*echo)["mix_mode"], "shared");
        EXPECT_EQ((*echo)["applied"], false);
    }
    for (int i = 0; i < 100 && mixes().size() < 2; ++i)
        std::this_thread::sleep_for(20ms);
    const auto m = mixes();
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[1].first, player);
    control::mix_levels defaults;
    defaults.sections.fill(0.5);
    EXPECT_EQ(m[1].second, defaults);
}

TEST_F(ControlPlane, HttpEndpoints) {
    int status = 0;
    EXPECT_EQ(http_get("/healthz", "GET", &status), "ok\n");
    EXPECT_EQ(status, 200);
    EXPECT_EQ(http_get("/metrics"), "gno_players 0\n");
    EXPECT_EQ(json::parse(http_get("/api/status"))["frames"], 1);
    EXPECT_NE(http_get("/console/").find("<html"), std::string::npos);
    http_get("/console/../../etc/passwd", "GET", &status);
    EXPECT_EQ(status, 404);
    http_get("/metrics", "POST", &status);
    EXPECT_EQ(status, 405);
}
