// The performer's page protocol (ui_messages.hpp) and its server (local_ui.hpp): untrusted
// page input is parsed into a result or an error, and the server answers only this machine's
// pages. The server runs on a real loopback socket; a Beast client plays the page.
#include <boost/asio/connect.hpp>
#include <boost/beast/http.hpp>
#include <gno/client/local_ui.hpp>
#include <gno/client/ui_messages.hpp>
#include <gno/test/ws_client.hpp>
#include <gtest/gtest.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace gno::client {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(PageMessages, KeysChatSoloMixAndReleaseParse) {
    const auto key =
        parse_page_message(R"({"type":"key","key":60,"down":true,"velocity":90,"id":7})");
    ASSERT_TRUE(std::holds_alternative<page_key>(key));
    EXPECT_EQ(std::get<page_key>(key).key, 60);
    EXPECT_TRUE(std::get<page_key>(key).down);
    EXPECT_EQ(std::get<page_key>(key).velocity, 90);
    EXPECT_EQ(std::get<page_key>(key).id, 7);
    const auto up = parse_page_message(R"({"type":"key","key":60,"down":false})");
    ASSERT_TRUE(std::holds_alternative<page_key>(up));
    EXPECT_EQ(std::get<page_key>(up).velocity, k_default_velocity);
    EXPECT_FALSE(std::get<page_key>(up).id);

    const auto chat = parse_page_message(R"({"type":"chat","text":"  ready  "})");
    ASSERT_TRUE(std::holds_alternative<page_chat>(chat));
    EXPECT_EQ(std::get<page_chat>(chat).text, "ready");
    const auto solo = parse_page_message(R"({"type":"solo","on":true})");
    ASSERT_TRUE(std::holds_alternative<page_solo>(solo));
    EXPECT_TRUE(std::get<page_solo>(solo).on);
    const auto mix = parse_page_message(R"({"type":"mix","own":0.5,"sections":{"strings":0}})");
    ASSERT_TRUE(std::holds_alternative<page_mix>(mix));
    EXPECT_EQ(std::get<page_mix>(mix).own, 0.5);
    EXPECT_FALSE(std::get<page_mix>(mix).click);
    EXPECT_EQ(std::get<page_mix>(mix).sections.at("strings"), 0.0);
    EXPECT_TRUE(
        std::holds_alternative<page_release_all>(parse_page_message(R"({"type":"release_all"})")));
}

TEST(PageMessages, JunkIsAnErrorNamingWhatIsWrong) {
    const auto error = [](std::string_view text) {
        const auto m = parse_page_message(text);
        return std::holds_alternative<page_error>(m) ? std::get<page_error>(m).message
                                                     : std::string("(accepted)");
    };
    EXPECT_EQ(error("{"), "not a JSON object");
    EXPECT_EQ(error("[1,2]"), "not a JSON object");
    EXPECT_EQ(error(R"({"key":60})"), "no \"type\"");
    EXPECT_EQ(error(R"({"type":"nope"})"), "unknown type \"nope\"");
    EXPECT_NE(error(R"({"type":"key","key":128,"down":true})").find("0-127"), std::string::npos);
    EXPECT_NE(error(R"({"type":"key","key":-1,"down":true})").find("0-127"), std::string::npos);
    EXPECT_NE(error(R"({"type":"key","key":60.5,"down":true})").find("0-127"), std::string::npos);
    EXPECT_NE(error(R"({"type":"key","key":60,"down":1})").find("down"), std::string::npos);
    EXPECT_NE(error(R"({"type":"key","key":60,"down":true,"velocity":0})").find("velocity"),
              std::string::npos);
    EXPECT_NE(error(R"({"type":"chat","text":"   "})").find("empty"), std::string::npos);
    EXPECT_NE(error(R"({"type":"chat","text":")" + std::string(501, 'x') + "\"}").find("500"),
              std::string::npos);
    EXPECT_NE(error(R"({"type":"mix","own":2.5})").find("0-2"), std::string::npos);
    EXPECT_NE(error(R"({"type":"mix","sections":{"kazoos":1}})").find("kazoos"), std::string::npos);
    EXPECT_NE(error(R"({"type":"solo"})").find("on"), std::string::npos);
    EXPECT_EQ(error(std::string(k_max_page_message + 1, ' ')), "message too long");
    EXPECT_EQ(error(std::string(200, '[') + std::string(200, ']')), "message nested too deeply");
}

// Issue 7: the instrument panel's messages, strictly checked like every page message.
TEST(PageMessages, ProgramKitAndArticulationParse) {
    const auto program = parse_page_message(R"({"type":"program","program":48})");
    ASSERT_TRUE(std::holds_alternative<page_program>(program));
    EXPECT_EQ(std::get<page_program>(program).program, 48);
    EXPECT_FALSE(std::get<page_program>(program).kit);
    const auto kit = parse_page_message(R"({"type":"program","program":0,"kit":true})");
    ASSERT_TRUE(std::holds_alternative<page_program>(kit));
    EXPECT_EQ(std::get<page_program>(kit).program, 0);
    EXPECT_TRUE(std::get<page_program>(kit).kit);
    const auto edge = parse_page_message(R"({"type":"program","program":127,"kit":false})");
    ASSERT_TRUE(std::holds_alternative<page_program>(edge));
    EXPECT_EQ(std::get<page_program>(edge).program, 127);

    const auto short_notes =
        parse_page_message(R"({"type":"articulation","articulation":"short"})");
    ASSERT_TRUE(std::holds_alternative<page_articulation>(short_notes));
    EXPECT_EQ(std::get<page_articulation>(short_notes).style, articulation::short_notes);
    const auto sustained =
        parse_page_message(R"({"type":"articulation","articulation":"sustained"})");
    ASSERT_TRUE(std::holds_alternative<page_articulation>(sustained));
    EXPECT_EQ(std::get<page_articulation>(sustained).style, articulation::sustained);
}

TEST(PageMessages, BadProgramsAndArticulationsAreErrors) {
    const auto error = [](std::string_view text) {
        const auto m = parse_page_message(text);
        return std::holds_alternative<page_error>(m) ? std::get<page_error>(m).message
                                                     : std::string("(accepted)");
    };
    for (const char* bad :
         {R"({"type":"program"})", R"({"type":"program","program":128})",
          R"({"type":"program","program":-1})", R"({"type":"program","program":4.5})",
          R"({"type":"program","program":"48"})", R"({"type":"program","program":true})",
          R"({"type":"program","program":null})"})
        EXPECT_NE(error(bad).find("0-127"), std::string::npos) << bad;
    for (const char* bad : {R"({"type":"program","program":0,"kit":1})",
                            R"({"type":"program","program":0,"kit":"yes"})"})
        EXPECT_NE(error(bad).find("kit"), std::string::npos) << bad;
    for (const char* bad :
         {R"({"type":"articulation"})", R"({"type":"articulation","articulation":"legato"})",
          R"({"type":"articulation","articulation":"SHORT"})",
          R"({"type":"articulation","articulation":1})", R"({"type":"articulation","short":true})"})
        EXPECT_NE(error(bad).find("\"sustained\" or \"short\""), std::string::npos) << bad;
}

TEST(PageMessages, StatusCarriesTheInstrumentInForce) {
    ui_status s;
    EXPECT_TRUE(json::parse(status_frame_json(s))["instrument"].is_null()); // not attached yet
    s.has_instrument = true;
    s.in_force = {25, k_percussion_bank, articulation::short_notes};
    const auto j = json::parse(status_frame_json(s))["instrument"];
    EXPECT_EQ(j["program"], 25);
    EXPECT_EQ(j["bank"], 128);
    EXPECT_EQ(j["kit"], true);
    EXPECT_EQ(j["articulation"], "short");
    s.in_force = {48, 0, articulation::sustained};
    const auto k = json::parse(status_frame_json(s))["instrument"];
    EXPECT_EQ(k["kit"], false);
    EXPECT_EQ(k["articulation"], "sustained");
}

TEST(PageMessages, PatternBecomesThePartsNotes) {
    note_pattern p;
    p.events = {{0, 60, 100, true},
                {500'000'000, 60, 0, false},
                {500'000'000, 64, 100, true},
                {750'000'000, 64, 100, true}, // re-struck
                {900'000'000, 67, 100, true}};
    p.length_ns = 2'000'000'000;
    const auto notes = score_notes(p);
    ASSERT_EQ(notes.size(), 4u);
    EXPECT_EQ(notes[0].key, 60);
    EXPECT_DOUBLE_EQ(notes[0].length_s, 0.5);
    EXPECT_EQ(notes[1].key, 64);
    EXPECT_DOUBLE_EQ(notes[1].length_s, 0.25); // ended by its own re-strike
    EXPECT_EQ(notes[2].key, 64);
    EXPECT_DOUBLE_EQ(notes[2].start_s, 0.75);
    EXPECT_DOUBLE_EQ(notes[3].start_s, 0.9);
    EXPECT_DOUBLE_EQ(notes[3].length_s, 1.1); // still down at the end: lasts to the length
}

TEST(PageMessages, StatusSaysNullForWhatIsNotKnownYet) {
    ui_status s;
    auto j = json::parse(status_frame_json(s));
    EXPECT_EQ(j["type"], "status");
    EXPECT_TRUE(j["score_s"].is_null());
    EXPECT_TRUE(j["clock_offset_ms"].is_null());
    EXPECT_TRUE(j["mode"].is_null());
    EXPECT_TRUE(j["loss_up_pct"].is_null());
    s.has_score = s.has_piece = s.clock_synchronised = true;
    s.score_s = 1.25;
    s.mode = "time_advanced";
    j = json::parse(status_frame_json(s));
    EXPECT_DOUBLE_EQ(j["score_s"].get<double>(), 1.25);
    EXPECT_EQ(j["mode"], "time_advanced");
}

TEST(PageMessages, ServerTextReachesThePageAsDataNotMarkup) {
    control_event e;
    e.what = control_event::kind::chat;
    e.from_name = "<b>Maestro</b>";
    e.text = "bar \"5\"\n";
    const auto j = json::parse(event_json(e));
    EXPECT_EQ(j["from"], "<b>Maestro</b>"); // the page sets textContent, never innerHTML
    EXPECT_EQ(j["text"], "bar \"5\"\n");
    e.what = control_event::kind::other;
    EXPECT_TRUE(event_json(e).empty());
}

/// A local_ui on a free port whose hooks record what the page did.
struct recording_ui {
    std::mutex mu;
    std::vector<page_key> keys;
    std::vector<std::string> chats;
    std::vector<page_program> programs;
    std::vector<page_articulation> articulations;
    int releases = 0;
    local_ui ui{
        ui_config{"127.0.0.1", 0, false},
        ui_hooks{
            .key =
                [this](const page_key& k) {
                    std::lock_guard lock(mu);
                    keys.push_back(k);
                },
            .release_all =
                [this] {
                    std::lock_guard lock(mu);
                    ++releases;
                },
            .chat =
                [this](std::string_view t) {
                    std::lock_guard lock(mu);
                    chats.emplace_back(t);
                },
            .solo = {},
            .mix = {},
            .join = {},
            .program =
                [this](const page_program& p) {
                    std::lock_guard lock(mu);
                    programs.push_back(p);
                },
            .articulation =
                [this](const page_articulation& a) {
                    std::lock_guard lock(mu);
                    articulations.push_back(a);
                },
            .hello =
                [](const std::vector<std::string>& history) {
                    return hello_json(ui_identity{"Viola", 7, "strings", 40, true}, {}, history);
                },
            .status = [] { return status_frame_json(ui_status{}); },
        }};
    recording_ui() { ui.start(); }
};

TEST(LocalUi, APageSaysHelloPlaysKeysAndGetsStatus) {
    recording_ui r;
    r.ui.broadcast(R"({"type":"image","section":"all","image":"swell"})", "image");
    r.ui.broadcast(R"({"type":"image","section":"all","image":"fade"})", "image"); // replaces
    std::this_thread::sleep_for(50ms);
    test::ws_client page(r.ui.port());
    const auto hello = page.next();
    ASSERT_TRUE(hello);
    EXPECT_EQ((*hello)["type"], "hello");
    EXPECT_EQ((*hello)["name"], "Viola");
    ASSERT_EQ((*hello)["history"].size(), 1u);
    EXPECT_EQ((*hello)["history"][0]["image"], "fade");
    page.send(R"({"type":"key","key":62,"down":true,"id":1})");
    const auto ack = page.next_of("key_ack");
    ASSERT_TRUE(ack);
    EXPECT_EQ((*ack)["id"], 1);
    EXPECT_TRUE(page.next_of("status"));
    page.send(R"({"type":"key","key":99})");
    const auto err = page.next_of("error");
    ASSERT_TRUE(err);
    EXPECT_NE((*err)["message"].get<std::string>().find("down"), std::string::npos);
    {
        std::lock_guard lock(r.mu);
        ASSERT_EQ(r.keys.size(), 1u); // the junk changed nothing
        EXPECT_EQ(r.keys[0].key, 62);
    }
    EXPECT_EQ(r.ui.counters().refused.load(), 1u);
}

TEST(LocalUi, TheInstrumentPanelReachesTheHooksAndJunkIsAnswered) {
    recording_ui r;
    test::ws_client page(r.ui.port());
    ASSERT_TRUE(page.next()); // hello
    page.send(R"({"type":"program","program":0,"kit":true})");
    page.send(R"({"type":"articulation","articulation":"short"})");
    page.send(R"({"type":"program","program":200})");
    const auto err = page.next_of("error");
    ASSERT_TRUE(err);
    EXPECT_NE((*err)["message"].get<std::string>().find("0-127"), std::string::npos);
    page.send(R"({"type":"articulation","articulation":"legato"})");
    ASSERT_TRUE(page.next_of("error"));
    std::lock_guard lock(r.mu);
    ASSERT_EQ(r.programs.size(), 1u); // the junk changed nothing
    EXPECT_EQ(r.programs[0].program, 0);
    EXPECT_TRUE(r.programs[0].kit);
    ASSERT_EQ(r.articulations.size(), 1u);
    EXPECT_EQ(r.articulations[0].style, articulation::short_notes);
    EXPECT_EQ(r.ui.counters().refused.load(), 2u);
}

/// One plain HTTP request with these headers; returns the status code.
int http_status(std::uint16_t port, const std::string& target, const std::string& host,
                const std::string& origin, bool upgrade) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host);
    if (!origin.empty())
        req.set(http::field::origin, origin);
    if (upgrade) {
        req.set(http::field::connection, "Upgrade");
        req.set(http::field::upgrade, "websocket");
        req.set(http::field::sec_websocket_version, "13");
        req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return static_cast<int>(res.result_int());
}

TEST(LocalUi, ServesItsPageAndAnswersOnlyThisMachinesPages) {
    recording_ui r;
    const auto port = r.ui.port();
    const std::string here = "127.0.0.1:" + std::to_string(port);
    EXPECT_EQ(http_status(port, "/", here, "", false), 200);
    EXPECT_EQ(http_status(port, "/app.js", "localhost:" + std::to_string(port), "", false), 200);
    EXPECT_EQ(http_status(port, "/images/swell.svg", here, "", false), 200);
    EXPECT_EQ(http_status(port, "/nope", here, "", false), 404);
    EXPECT_EQ(http_status(port, "/ws", here, "http://" + here, true), 101);
    // Another site's page (or a DNS-rebound name) may not open the instrument.
    EXPECT_EQ(http_status(port, "/ws", here, "http://example.com", true), 403);
    EXPECT_EQ(http_status(port, "/ws", "evil.example:" + std::to_string(port), "", true), 403);
    EXPECT_EQ(http_status(port, "/", "evil.example", "", false), 403);
    EXPECT_GE(r.ui.counters().forbidden.load(), 3u);
}

TEST(LocalUi, AClosedPageReleasesItsKeys) {
    recording_ui r;
    {
        test::ws_client page(r.ui.port());
        ASSERT_TRUE(page.next()); // hello
        page.send(R"({"type":"key","key":60,"down":true,"id":1})");
        ASSERT_TRUE(page.next_of("key_ack"));
    }
    for (int i = 0; i < 100; ++i) {
        {
            std::lock_guard lock(r.mu);
            if (r.releases > 0)
                break;
        }
        std::this_thread::sleep_for(20ms);
    }
    std::lock_guard lock(r.mu);
    EXPECT_EQ(r.releases, 1);
}

TEST(LocalUi, OnlyLoopbackIsServed) {
    local_ui ui(ui_config{"0.0.0.0", 0, false}, ui_hooks{});
    EXPECT_THROW(ui.start(), local_ui_error);
}

} // namespace
} // namespace gno::client
