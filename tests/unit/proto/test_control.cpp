// The reliable channel's messages (proto/v1/control.hpp): what is accepted, what is refused
// and why, which role may send what, and what the server encodes.
#include "gno/proto/v1/control.hpp"

#include <gtest/gtest.h>
#include <limits>
#include <nlohmann/json.hpp>

namespace c = gno::proto::v1::control;
using nlohmann::json;

namespace {

c::client_message ok(std::string_view text) {
    auto r = c::parse(text);
    EXPECT_TRUE(r.message) << text << " -> " << r.error.code << ": " << r.error.message;
    return r.message ? *r.message : c::client_message{c::talkback_end{}};
}

c::parse_error refused(std::string_view text) {
    auto r = c::parse(text);
    EXPECT_FALSE(r.message) << text;
    EXPECT_FALSE(r.error.code.empty());
    EXPECT_FALSE(r.error.message.empty());
    return r.error;
}

} // namespace

TEST(ControlMessages, JoinCarriesCodeRoleAndInstrument) {
    const auto m = ok(R"({"type":"join","code":"abcd","role":"performer","name":"Ann",)"
                      R"("program":40,"bank":0})");
    const auto& j = std::get<c::join>(m);
    EXPECT_EQ(j.code, "abcd");
    EXPECT_EQ(j.wanted, c::role::performer);
    EXPECT_EQ(j.name, "Ann");
    EXPECT_EQ(j.program, 40);
    EXPECT_EQ(refused(R"({"type":"join","code":"abcd","role":"king"})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"join"})").message, "field 'code' is required");
    EXPECT_EQ(refused(R"({"type":"join","code":"abcd","program":128})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"join","code":"abcd","bank":5})").code, "bad_field");
}

TEST(ControlMessages, SectionsImagesAndCuesAreChecked) {
    const auto im =
        std::get<c::image>(ok(R"({"type":"image","section":"strings","image":"swell"})"));
    EXPECT_EQ(im.section, 5);
    EXPECT_EQ(std::get<c::image>(ok(R"({"type":"image","section":"all","image":"pulse"})")).section,
              -1);
    EXPECT_EQ(refused(R"({"type":"image","section":"kazoos","image":"swell"})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"image","section":"all","image":"cat"})").code, "bad_field");
    const auto cue = std::get<c::cue>(
        ok(R"({"type":"cue","section":"brass","intensity":0.8,"register":"high","point":"B"})"));
    EXPECT_DOUBLE_EQ(*cue.intensity, 0.8);
    EXPECT_EQ(*cue.reg, "high");
    EXPECT_EQ(refused(R"({"type":"cue","section":"brass","intensity":1.5})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"cue","section":"brass","register":"shrill"})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"cue","section":"brass"})").code, "bad_field");
}

TEST(ControlMessages, ChatIsBoundedPlainText) {
    EXPECT_EQ(std::get<c::chat>(ok(R"({"type":"chat","text":"letter B, p"})")).text, "letter B, p");
    EXPECT_EQ(refused(R"({"type":"chat","text":""})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"chat","text":"a\u0007b"})").code, "bad_field");
    const std::string long_text(c::k_max_chat_chars + 1, 'x');
    EXPECT_EQ(refused(json{{"type", "chat"}, {"text", long_text}}.dump()).code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"chat","text":42})").message, "field 'text' must be a string");
}

TEST(ControlMessages, MalformedUnknownOversizedAndDeepAreRefused) {
    EXPECT_EQ(refused("{").code, "bad_json");
    EXPECT_EQ(refused("[1,2]").code, "bad_json");
    EXPECT_EQ(refused("\xff\xfe").code, "bad_json");
    EXPECT_EQ(refused(R"({"type":"shout"})").code, "unknown_type");
    EXPECT_EQ(refused(R"({"text":"hi"})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"chat","v":2,"text":"hi"})").code, "bad_version");
    EXPECT_EQ(refused(std::string(c::k_max_text_frame + 1, ' ')).code, "too_large");
    std::string deep(5000, '[');
    deep += std::string(5000, ']');
    EXPECT_EQ(refused(R"({"type":"chat","text":)" + deep + "}").code, "bad_json");
    EXPECT_EQ(refused(R"({"type":"mute","player":0,"muted":true})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"mute","player":99999999999,"muted":true})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"piece","start_in_ms":-1})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"timing","tempo_bpm":1e308})").code, "bad_field");
}

TEST(ControlMessages, AMixSetsOnlyTheLevelsItGivesWithinZeroToTwo) {
    const auto m = std::get<c::mix>(
        ok(R"({"type":"mix","own":1,"click":0.25,"sections":{"strings":0,"drums":2}})"));
    EXPECT_EQ(m.own, 1.0);
    EXPECT_EQ(m.click, 0.25);
    EXPECT_EQ(m.sections[5], 0.0);  // strings
    EXPECT_EQ(m.sections[16], 2.0); // drums
    EXPECT_FALSE(m.sections[0]);
    // Every field is optional: an empty mix asks for the levels in force.
    const auto ask = std::get<c::mix>(ok(R"({"type":"mix"})"));
    EXPECT_FALSE(ask.own);
    EXPECT_FALSE(ask.click);
    EXPECT_EQ(std::get<c::mix>(ok(R"({"type":"mix","sections":{}})")).sections, ask.sections);
    EXPECT_EQ(
        std::get<c::mix>(ok(R"({"type":"mix","own":null,"sections":{"reed":null}})")).sections,
        ask.sections); // null is absent

    EXPECT_EQ(refused(R"({"type":"mix","own":2.5})").message,
              "field 'own' must be from 0.0 to 2.0");
    EXPECT_EQ(refused(R"({"type":"mix","click":-0.1})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"mix","own":"loud"})").message, "field 'own' must be a number");
    EXPECT_EQ(refused(R"({"type":"mix","own":true})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"mix","own":1e999})").code, "bad_json"); // not JSON at all
    EXPECT_EQ(refused(R"({"type":"mix","sections":{"kazoos":1}})").message,
              "field 'sections.kazoos' is not a section (one of the welcome's sections)");
    EXPECT_EQ(refused(R"({"type":"mix","sections":{"all":1}})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"mix","sections":{"strings":3}})").message,
              "field 'sections.strings' must be a number from 0.0 to 2.0");
    EXPECT_EQ(refused(R"({"type":"mix","sections":{"strings":"0"}})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"mix","sections":{"strings":[1]}})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"mix","sections":[1,2]})").code, "bad_field");
    EXPECT_EQ(refused(R"({"type":"mix","sections":0.5})").code, "bad_field");
    // A good level does not excuse a bad one beside it.
    EXPECT_EQ(refused(R"({"type":"mix","own":1,"sections":{"brass":9}})").code, "bad_field");
    // An untrusted name is cut short in the message.
    const auto e =
        refused(json{{"type", "mix"}, {"sections", {{std::string(500, 'x'), 1}}}}.dump());
    EXPECT_LT(e.message.size(), 100u);
}

TEST(ControlMessages, AMixAppliesOverTheLevelsInForceAndIsEchoedInFull) {
    c::mix_levels start;
    EXPECT_EQ(start.own, 0.0);
    EXPECT_EQ(start.click, 1.0);
    for (double s : start.sections)
        EXPECT_EQ(s, 1.0);
    const auto m = std::get<c::mix>(ok(R"({"type":"mix","own":0.5,"sections":{"brass":0}})"));
    const auto after = c::apply(start, m);
    EXPECT_EQ(after.own, 0.5);
    EXPECT_EQ(after.click, 1.0);
    EXPECT_EQ(after.sections[7], 0.0); // brass
    EXPECT_EQ(after.sections[6], 1.0);
    EXPECT_EQ(c::apply(after, c::mix{}), after); // an empty mix changes nothing

    const auto j = json::parse(c::encode_mix(after, "own", true));
    EXPECT_EQ(j["type"], "mix");
    EXPECT_EQ(j["own"], 0.5);
    EXPECT_EQ(j["click"], 1.0);
    EXPECT_EQ(j["sections"].size(), c::section_names.size());
    EXPECT_EQ(j["sections"]["brass"], 0.0);
    EXPECT_EQ(j["sections"]["drums"], 1.0);
    EXPECT_EQ(j["mix_mode"], "own");
    EXPECT_EQ(j["applied"], true);
    EXPECT_EQ(json::parse(c::encode_mix(after, "shared", false))["applied"], false);
    // The echo parses back as the same levels.
    c::mix again;
    again.own = j["own"].get<double>();
    again.click = j["click"].get<double>();
    for (const auto& [name, level] : j["sections"].items())
        again.sections[static_cast<std::size_t>(*c::parse_section(name))] = level.get<double>();
    EXPECT_EQ(c::apply(c::mix_levels{}, again), after);
}

TEST(ControlMessages, EachRoleSendsOnlyItsOwnMessages) {
    const auto cue = ok(R"({"type":"cue","section":"all","intensity":0.5})");
    const auto chat = ok(R"({"type":"chat","text":"hi"})");
    const auto solo = ok(R"({"type":"solo_request"})");
    const auto kick = ok(R"({"type":"kick","player":7})");
    const auto talk = ok(R"({"type":"talkback_begin","at_ms":2000})");
    EXPECT_TRUE(c::allowed(cue, c::role::conductor));
    EXPECT_FALSE(c::allowed(cue, c::role::performer));
    EXPECT_FALSE(c::allowed(cue, c::role::ops));
    EXPECT_TRUE(c::allowed(chat, c::role::performer));
    EXPECT_FALSE(c::allowed(chat, c::role::listener));
    EXPECT_TRUE(c::allowed(solo, c::role::performer));
    EXPECT_FALSE(c::allowed(solo, c::role::conductor));
    EXPECT_TRUE(c::allowed(kick, c::role::ops));
    EXPECT_FALSE(c::allowed(kick, c::role::performer));
    EXPECT_TRUE(c::allowed(talk, c::role::conductor));
    EXPECT_FALSE(c::allowed(talk, c::role::ops));
    const auto mix = ok(R"({"type":"mix","own":1})");
    EXPECT_TRUE(c::allowed(mix, c::role::performer));
    EXPECT_FALSE(c::allowed(mix, c::role::conductor));
    EXPECT_FALSE(c::allowed(mix, c::role::ops));
    EXPECT_FALSE(c::allowed(mix, c::role::listener));
    EXPECT_EQ(c::type_name(mix), "mix");
    EXPECT_FALSE(c::allowed(ok(R"({"type":"join","code":"abcd"})"), c::role::conductor));
}

TEST(ControlMessages, ServerMessagesAreJsonWithTheirFields) {
    c::welcome w;
    w.player = 12345;
    w.who = c::role::performer;
    w.program = 41;
    w.session_key = "00ff";
    const auto wj = json::parse(c::encode(w));
    EXPECT_EQ(wj["type"], "welcome");
    EXPECT_EQ(wj["section"], "strings");
    EXPECT_EQ(wj["player"], 12345);
    const auto b =
        json::parse(c::encode_broadcast(ok(R"({"type":"image","section":"reed","image":"fade"})"),
                                        9, "Maestro", c::role::conductor));
    EXPECT_EQ(b["type"], "image");
    EXPECT_EQ(b["section"], "reed");
    EXPECT_EQ(b["image"], "fade");
    EXPECT_EQ(b["from"], 9);
    // Names are text, whatever bytes they hold: encoding never throws.
    c::roster_entry e;
    e.name = "bad \xff utf8";
    e.rtt_ms = 12.345;
    const auto r = json::parse(c::encode_roster({e}, std::nullopt, {}));
    EXPECT_EQ(r["players"][0]["rtt_ms"], 12.35);
    EXPECT_TRUE(r["soloist"].is_null());
    EXPECT_EQ(json::parse(c::encode_error("x", "y"))["code"], "x");
}

// A performer's own link: its roster row's figures, rounded like the roster's, never anything
// that is not JSON.
TEST(ControlMessages, LinkCarriesAPerformersOwnFigures) {
    c::roster_entry e;
    e.player = 7;
    e.name = "not sent";
    e.udp = true;
    e.rtt_ms = 12.345;
    e.min_rtt_ms = 9.5;
    e.jitter_ms = 1.25;
    e.loss_up_pct = 3.333;
    e.loss_down_pct = 0.5;
    e.late_events = 4000000000u;
    const auto j = json::parse(c::encode_link(e));
    EXPECT_EQ(j["type"], "link");
    EXPECT_EQ(j["v"], 1);
    EXPECT_EQ(j["udp"], true);
    EXPECT_EQ(j["rtt_ms"], 12.35);
    EXPECT_EQ(j["min_rtt_ms"], 9.5);
    EXPECT_EQ(j["jitter_ms"], 1.25);
    EXPECT_EQ(j["loss_up_pct"], 3.33);
    EXPECT_EQ(j["loss_down_pct"], 0.5);
    EXPECT_EQ(j["late_events"], 4000000000u);
    EXPECT_FALSE(j.contains("player"));
    EXPECT_FALSE(j.contains("name"));
    EXPECT_EQ(j.size(), 9u);

    const auto none = json::parse(c::encode_link(c::roster_entry{}));
    EXPECT_EQ(none["udp"], false);
    EXPECT_EQ(none["rtt_ms"], 0.0);
    EXPECT_EQ(none["late_events"], 0);

    e.rtt_ms = std::numeric_limits<double>::quiet_NaN();
    e.min_rtt_ms = std::numeric_limits<double>::infinity();
    e.jitter_ms = -1e300;
    e.loss_up_pct = 1e300;
    const auto odd = json::parse(c::encode_link(e)); // throws if it is not JSON
    EXPECT_EQ(odd["rtt_ms"], 0.0);
    EXPECT_EQ(odd["min_rtt_ms"], 0.0);
    EXPECT_EQ(odd["jitter_ms"], -1e9);
    EXPECT_EQ(odd["loss_up_pct"], 1e9);
}
