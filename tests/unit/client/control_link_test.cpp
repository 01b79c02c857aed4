// The client's side of the control plane without a server: parsing what the server says (as
// proto's own encoders write it, and hostile variants), the log lines, and the join frame.
// One test runs the link against a port nobody listens on: it retries, never crashes, stops.
#include "gno/client/cli_options.hpp"
#include "gno/client/control_link.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gno/proto/v1/control.hpp>
#include <gtest/gtest.h>
#include <string>

namespace gno::client {
namespace {

namespace control = proto::v1::control;
using kind = control_event::kind;

TEST(ControlLink, ParsesTheServersWelcome) {
    control::welcome w;
    w.player = 42;
    w.name = "Ann";
    w.program = 40; // violin: strings
    w.session_key = "00ff";
    w.udp_port = 47000;
    w.mode = "live";
    w.tempo_bpm = 96;
    const auto e = parse_server_message(control::encode(w));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->what, kind::welcome);
    EXPECT_EQ(e->player, 42u);
    EXPECT_EQ(e->session_key, "00ff");
    EXPECT_EQ(e->udp_port, 47000);
    EXPECT_EQ(e->section, "strings");
    EXPECT_EQ(e->mode, "live");
    EXPECT_DOUBLE_EQ(e->tempo_bpm, 96);
    EXPECT_EQ(describe(*e), "joined as player 42 (section strings, mode live)");
}

TEST(ControlLink, ParsesBroadcastsIntoOneLineEach) {
    const auto line = [](const control::client_message& m) {
        const auto e = parse_server_message(
            control::encode_broadcast(m, 7, "Maestro", control::role::conductor));
        return e ? describe(*e) : std::string("(malformed)");
    };
    EXPECT_EQ(line(control::image{5, "swell"}), "image strings swell");
    EXPECT_EQ(line(control::image{-1, "fade"}), "image all fade");
    EXPECT_EQ(line(control::cue{7, 0.5, std::string("high"), std::string("A")}),
              "cue brass intensity 0.50 register high point A");
    EXPECT_EQ(line(control::chat{"hello\nthere"}), "chat Maestro: hello there");
    EXPECT_EQ(line(control::timing{std::string("one-cycle"), 90.0, 8}),
              "timing mode one-cycle tempo 90.0 cycle 8");
    EXPECT_EQ(line(control::mute{3, true}), "muted by the conductor");
    EXPECT_EQ(line(control::mute{3, false}), "unmuted by the conductor");
    EXPECT_EQ(line(control::kick{3}), "kicked by the conductor (player 3)");
    EXPECT_EQ(line(control::solo_grant{9}), "solo to player 9");

    const auto piece =
        parse_server_message(control::encode_piece("Etude", 5'000'000'000, 240000, 7));
    ASSERT_TRUE(piece);
    EXPECT_EQ(piece->what, kind::piece);
    EXPECT_EQ(piece->start_sample, 240000);
    EXPECT_EQ(describe(*piece),
              "piece Etude starts at server time 5000000000 ns (render sample 240000)");

    const auto err = parse_server_message(control::encode_error("bad_code", "not valid here"));
    ASSERT_TRUE(err);
    EXPECT_EQ(err->what, kind::error);
    EXPECT_EQ(err->code, "bad_code");
    EXPECT_EQ(err->message, "not valid here");

    const auto tb = parse_server_message(R"({"type":"talkback","v":1,"state":"on"})");
    ASSERT_TRUE(tb);
    EXPECT_EQ(describe(*tb), "talk-back on");
}

// The node's view of our own link, every second: parsed into figures, never a log line.
TEST(ControlLink, LinkGivesOurOwnFiguresSilently) {
    control::roster_entry row;
    row.udp = true;
    row.rtt_ms = 42.5;
    row.min_rtt_ms = 40.25;
    row.jitter_ms = 1.75;
    row.loss_up_pct = 2.5;
    row.loss_down_pct = 0.75;
    row.late_events = 3;
    const auto e = parse_server_message(control::encode_link(row));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->what, kind::link);
    EXPECT_EQ(e->type, "link");
    EXPECT_TRUE(e->link.udp);
    EXPECT_DOUBLE_EQ(e->link.rtt_ms, 42.5);
    EXPECT_DOUBLE_EQ(e->link.min_rtt_ms, 40.25);
    EXPECT_DOUBLE_EQ(e->link.jitter_ms, 1.75);
    EXPECT_DOUBLE_EQ(e->link.loss_up_pct, 2.5);
    EXPECT_DOUBLE_EQ(e->link.loss_down_pct, 0.75);
    EXPECT_EQ(e->link.late_events, 3u);
    EXPECT_EQ(describe(*e), "");

    const auto none = parse_server_message(control::encode_link(control::roster_entry{}));
    ASSERT_TRUE(none);
    EXPECT_EQ(none->what, kind::link);
    EXPECT_FALSE(none->link.udp);
    EXPECT_EQ(none->link.rtt_ms, 0.0);

    for (const std::string& bad : {
             std::string(R"({"type":"link","rtt_ms":"12"})"),
             std::string(R"({"type":"link","udp":1})"),
             std::string(R"({"type":"link","late_events":-1})"),
             std::string(R"({"type":"link","late_events":1.5})"),
         })
        EXPECT_FALSE(parse_server_message(bad)) << bad;
}

TEST(ControlLink, UnknownTypesAreHarmlessAndSilent) {
    const auto e = parse_server_message(R"({"type":"roster","players":[]})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->what, kind::other);
    EXPECT_EQ(describe(*e), "");
}

TEST(ControlLink, MalformedServerMessagesAreRefusedNotThrown) {
    const std::string deep = std::string(100, '[') + std::string(100, ']');
    const std::string huge = R"({"type":"chat","text":")" + std::string(20000, 'x') + "\"}";
    for (const std::string& bad : {
             std::string(""),
             std::string("not json"),
             std::string("[1,2]"),
             std::string(R"({"no_type":1})"),
             std::string(R"({"type":7})"),
             std::string(R"({"type":"welcome"})"),             // no player
             std::string(R"({"type":"welcome","player":-1})"), // out of range
             std::string(R"({"type":"welcome","player":5000000000})"),
             std::string(R"({"type":"welcome","player":"1"})"), // wrong type
             std::string(R"({"type":"welcome","player":1,"udp_port":70000})"),
             std::string(R"({"type":"image","section":"all"})"), // no image
             std::string(R"({"type":"image","section":3,"image":"x"})"),
             std::string(R"({"type":"error","message":"no code"})"),
             std::string(R"({"type":"mute","muted":"yes"})"),
             std::string(R"({"type":"piece","start_ns":1.5})"),
             std::string("{\"type\":\"chat\",\"text\":\"\xff\xfe\"}"), // invalid UTF-8
             deep,
             huge,
         })
        EXPECT_FALSE(parse_server_message(bad)) << bad.substr(0, 80);
}

TEST(ControlLink, ServerTextCannotBreakTheLogLine) {
    control_event e;
    e.what = kind::chat;
    e.from_name = "a\r\nb";
    e.text = std::string("x\x1b[2Jy\n", 8);
    const auto line = describe(e);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.find('\r'), std::string::npos);
    EXPECT_EQ(line.find('\x1b'), std::string::npos);
}

TEST(ControlLink, JoinFrameIsWhatTheServerParses) {
    control_config c;
    c.code = "play-code";
    c.name = "Bo";
    c.program = 40;
    c.bank = 0;
    const auto parsed = control::parse(encode_join(c));
    ASSERT_TRUE(parsed.message) << parsed.error.message;
    const auto* j = std::get_if<control::join>(&*parsed.message);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(j->code, "play-code");
    EXPECT_EQ(j->wanted, control::role::performer);
    EXPECT_EQ(j->name, "Bo");
    EXPECT_EQ(j->program, 40);
    EXPECT_EQ(j->bank, 0);

    const auto chat = control::parse(encode_chat("hi"));
    ASSERT_TRUE(chat.message);
    EXPECT_TRUE(std::holds_alternative<control::chat>(*chat.message));
    const auto solo = control::parse(encode_solo_request());
    ASSERT_TRUE(solo.message);
    EXPECT_TRUE(std::holds_alternative<control::solo_request>(*solo.message));
}

// The performer's mix: the frame is what the server parses, and the server's answer comes
// back as one event with every level.
TEST(ControlLink, MixFrameAndTheServersAnswer) {
    const auto change = control::parse(encode_mix(1.0, std::nullopt, {{"strings", 0.0}}));
    ASSERT_TRUE(change.message) << change.error.message;
    const auto* m = std::get_if<control::mix>(&*change.message);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->own, 1.0);
    EXPECT_FALSE(m->click);
    EXPECT_EQ(m->sections[5], 0.0);
    EXPECT_FALSE(m->sections[7]);
    const auto ask = control::parse(encode_mix(std::nullopt, std::nullopt));
    ASSERT_TRUE(ask.message);
    EXPECT_EQ(std::get<control::mix>(*ask.message).sections, control::mix{}.sections);
    // Out of range is the server's to refuse: the client sends what it is given.
    EXPECT_FALSE(control::parse(encode_mix(3.0, std::nullopt)).message);

    control::mix_levels levels;
    levels.own = 1.0;
    levels.click = 0.25;
    levels.sections[5] = 0.0; // strings
    const auto e = parse_server_message(control::encode_mix(levels, "own", true));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->what, kind::mix);
    EXPECT_EQ(e->levels, levels);
    EXPECT_TRUE(e->applied);
    EXPECT_EQ(e->mode, "own");
    EXPECT_EQ(describe(*e), "mix own 1.00 click 0.25 strings 0.00");
    const auto shared = parse_server_message(control::encode_mix(levels, "shared", false));
    ASSERT_TRUE(shared);
    EXPECT_FALSE(shared->applied);
    EXPECT_EQ(describe(*shared),
              "mix own 1.00 click 0.25 strings 0.00 (not heard: the node runs one shared mix)");
    // A section this client does not know is skipped; a level that is not a number is not.
    const auto newer = parse_server_message(
        R"({"type":"mix","own":0.5,"click":1,"sections":{"theremin":2,"brass":0.5}})");
    ASSERT_TRUE(newer);
    EXPECT_EQ(newer->levels.sections[7], 0.5);
    EXPECT_FALSE(parse_server_message(R"({"type":"mix","own":"loud"})"));
    EXPECT_FALSE(parse_server_message(R"({"type":"mix","sections":[1]})"));
    EXPECT_FALSE(parse_server_message(R"({"type":"mix","sections":{"brass":"x"}})"));
}

// Nobody listens: the link keeps trying (quietly: no event before a first welcome), drops
// sends while not joined, and stops promptly.
TEST(ControlLink, RetriesQuietlyWhileNobodyListensAndStopsPromptly) {
    std::uint16_t port = 0;
    {
        boost::asio::io_context io;
        boost::asio::ip::tcp::acceptor a(
            io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
        port = a.local_endpoint().port(); // closed again at once: a port nobody listens on
    }
    control_config c;
    c.port = port;
    c.code = "x";
    control_link link(c);
    link.start();
    link.send_chat("nobody hears this");
    link.send_mix(1.0, std::nullopt);
    EXPECT_FALSE(link.wait_event(std::chrono::milliseconds(1500)));
    EXPECT_EQ(link.counters().connects.load(), 0u);
    EXPECT_EQ(link.counters().sends_dropped.load(), 2u);
    const auto t0 = std::chrono::steady_clock::now();
    link.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

TEST(ControlLink, CliJoinCodeOptions) {
    std::string error;
    const auto o =
        parse_cli({"--join-code", "abc", "--control-port", "5000", "--name", "Cy"}, error);
    ASSERT_TRUE(o) << error;
    EXPECT_EQ(o->join_code, "abc");
    EXPECT_EQ(o->control_port, 5000);
    EXPECT_EQ(o->name, "Cy");
    const auto d = parse_cli({}, error);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->control_port, k_default_control_port);
    EXPECT_TRUE(d->join_code.empty());
    EXPECT_FALSE(parse_cli({"--join-code", "abc", "--session", "5"}, error));
    EXPECT_NE(error.find("exclude"), std::string::npos);
    EXPECT_FALSE(parse_cli({"--control-port", "0"}, error));
    EXPECT_FALSE(parse_cli({"--join-code", ""}, error));
}

} // namespace
} // namespace gno::client
