#include "gno/client/ui_messages.hpp"

#include <algorithm>
#include <array>
#include <gno/proto/v1/control.hpp>
#include <nlohmann/json.hpp>

namespace gno::client {

using json = nlohmann::json;
namespace control = proto::v1::control;

namespace {

constexpr double k_max_level = 2.0;

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

page_message parse_key(const json& j) {
    page_key k;
    const auto key = j.find("key");
    const auto down = j.find("down");
    if (key == j.end() || !key->is_number_integer() || key->get<std::int64_t>() < 0 ||
        key->get<std::int64_t>() > 127)
        return page_error{"key: \"key\" must be an integer 0-127"};
    if (down == j.end() || !down->is_boolean())
        return page_error{"key: \"down\" must be true or false"};
    k.key = static_cast<std::uint8_t>(key->get<std::int64_t>());
    k.down = down->get<bool>();
    if (const auto v = j.find("velocity"); v != j.end() && !v->is_null()) {
        if (!v->is_number_integer() || v->get<std::int64_t>() < 1 || v->get<std::int64_t>() > 127)
            return page_error{"key: \"velocity\" must be an integer 1-127"};
        k.velocity = static_cast<std::uint8_t>(v->get<std::int64_t>());
    }
    if (const auto id = j.find("id"); id != j.end() && !id->is_null()) {
        if (!id->is_number_integer())
            return page_error{"key: \"id\" must be an integer"};
        k.id = id->get<std::int64_t>();
    }
    return k;
}

page_message parse_chat(const json& j) {
    const auto t = j.find("text");
    if (t == j.end() || !t->is_string())
        return page_error{"chat: \"text\" must be a string"};
    std::string text = t->get<std::string>();
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return page_error{"chat: the message is empty"};
    text.erase(0, first);
    text.erase(text.find_last_not_of(" \t\r\n") + 1);
    if (text.size() > k_max_chat_text)
        return page_error{"chat: at most 500 bytes"};
    return page_chat{std::move(text)};
}

bool level_ok(const json& v) {
    return v.is_number() && v.get<double>() >= 0.0 && v.get<double>() <= k_max_level;
}

page_message parse_mix(const json& j) {
    page_mix m;
    for (const char* name : {"own", "click"}) {
        const auto v = j.find(name);
        if (v == j.end() || v->is_null())
            continue;
        if (!level_ok(*v))
            return page_error{std::string("mix: \"") + name + "\" must be a number 0-2"};
        (std::string_view(name) == "own" ? m.own : m.click) = v->get<double>();
    }
    if (const auto s = j.find("sections"); s != j.end() && !s->is_null()) {
        if (!s->is_object())
            return page_error{"mix: \"sections\" must be an object"};
        for (const auto& [name, v] : s->items()) {
            const auto& names = control::section_names;
            if (std::find(names.begin(), names.end(), name) == names.end())
                return page_error{"mix: no section named \"" + name.substr(0, 40) + "\""};
            if (!level_ok(v))
                return page_error{"mix: section levels must be numbers 0-2"};
            m.sections[name] = v.get<double>();
        }
    }
    return m;
}

} // namespace

page_message parse_page_message(std::string_view text) noexcept {
    try {
        if (text.size() > k_max_page_message)
            return page_error{"message too long"};
        if (!control::within_depth(text))
            return page_error{"message nested too deeply"};
        const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object())
            return page_error{"not a JSON object"};
        const auto type = j.find("type");
        if (type == j.end() || !type->is_string())
            return page_error{"no \"type\""};
        const auto& t = type->get_ref<const std::string&>();
        if (t == "key")
            return parse_key(j);
        if (t == "chat")
            return parse_chat(j);
        if (t == "solo") {
            const auto on = j.find("on");
            if (on == j.end() || !on->is_boolean())
                return page_error{"solo: \"on\" must be true or false"};
            return page_solo{on->get<bool>()};
        }
        if (t == "mix")
            return parse_mix(j);
        if (t == "release_all")
            return page_release_all{};
        if (t == "join") {
            const auto code = j.find("code");
            if (code == j.end() || !code->is_string())
                return page_error{"join: \"code\" must be a string"};
            const auto& c = code->get_ref<const std::string&>();
            const bool printable = std::all_of(c.begin(), c.end(), [](char ch) {
                return static_cast<unsigned char>(ch) > 0x20 &&
                       static_cast<unsigned char>(ch) < 0x7F;
            });
            if (c.size() < 4 || c.size() > 128 || !printable)
                return page_error{"join: a join code is 4 to 128 characters, no spaces"};
            return page_join{c};
        }
        if (t == "program") {
            const auto program = j.find("program");
            if (program == j.end() || !program->is_number_integer() ||
                program->get<std::int64_t>() < 0 || program->get<std::int64_t>() > 127)
                return page_error{"program: \"program\" must be an integer 0-127"};
            page_program p{static_cast<std::uint8_t>(program->get<std::int64_t>()), false};
            if (const auto kit = j.find("kit"); kit != j.end() && !kit->is_null()) {
                if (!kit->is_boolean())
                    return page_error{"program: \"kit\" must be true or false"};
                p.kit = kit->get<bool>();
            }
            return p;
        }
        if (t == "articulation") {
            const auto a = j.find("articulation");
            const auto style = a != j.end() && a->is_string()
                                   ? parse_articulation(a->get_ref<const std::string&>())
                                   : std::nullopt;
            if (!style)
                return page_error{
                    "articulation: \"articulation\" must be \"sustained\" or \"short\""};
            return page_articulation{*style};
        }
        return page_error{"unknown type \"" + t.substr(0, 40) + "\""};
    } catch (...) { // allocation failure only: every access above checks its type first
        return page_error{"cannot read the message"};
    }
}

std::vector<score_note> score_notes(const note_pattern& pattern) {
    std::vector<score_note> out;
    std::array<std::int64_t, 128> down_at;
    down_at.fill(-1);
    const auto close = [&](std::uint8_t key, std::int64_t at) {
        if (down_at[key] < 0)
            return;
        out.push_back({static_cast<double>(down_at[key]) / 1e9,
                       static_cast<double>(at - down_at[key]) / 1e9, key});
        down_at[key] = -1;
    };
    for (const auto& e : pattern.events) {
        const auto key = static_cast<std::uint8_t>(e.key & 0x7F);
        close(key, e.offset_ns); // a repeated key-down ends the previous note
        if (e.on)
            down_at[key] = e.offset_ns;
    }
    for (std::size_t k = 0; k < down_at.size(); ++k)
        close(static_cast<std::uint8_t>(k), std::max(pattern.length_ns, down_at[k]));
    std::sort(out.begin(), out.end(),
              [](const score_note& a, const score_note& b) { return a.start_s < b.start_s; });
    return out;
}

std::string hello_json(const ui_identity& who, const std::vector<score_note>& part,
                       const std::vector<std::string>& history) {
    json notes = json::array();
    for (const auto& n : part)
        notes.push_back(json::array({n.start_s, n.length_s, n.key}));
    json events = json::array();
    for (const auto& h : history) {
        json e = json::parse(h, nullptr, false);
        if (!e.is_discarded())
            events.push_back(std::move(e));
    }
    return dump(json{{"type", "hello"},
                     {"name", who.name},
                     {"player", who.player},
                     {"section", who.section},
                     {"program", who.program},
                     {"joined", who.joined},
                     {"sections", control::section_names},
                     {"images", control::image_names},
                     {"part", std::move(notes)},
                     {"history", std::move(events)}});
}

std::string event_json(const control_event& e) {
    using kind = control_event::kind;
    switch (e.what) {
    case kind::welcome:
        return dump({{"type", "welcome"},
                     {"player", e.player},
                     {"section", e.section},
                     {"mode", e.mode},
                     {"tempo_bpm", e.tempo_bpm},
                     {"cycle_beats", e.cycle_beats}});
    case kind::refused:
        return dump({{"type", "connection"},
                     {"state", "refused"},
                     {"message", describe(e)},
                     {"code", e.code}});
    case kind::disconnected:
    case kind::moved:
        return dump({{"type", "connection"}, {"state", "reconnecting"}, {"message", describe(e)}});
    case kind::chat:
        return dump({{"type", "chat"}, {"from", e.from_name}, {"text", e.text}});
    case kind::image:
        return dump({{"type", "image"}, {"section", e.section}, {"image", e.image}});
    case kind::cue:
        return dump({{"type", "cue"}, {"section", e.section}, {"text", e.text}});
    case kind::piece:
        return dump({{"type", "piece"},
                     {"name", e.name},
                     {"start_ns", e.start_ns},
                     {"start_sample", e.start_sample}});
    case kind::timing:
        return dump({{"type", "timing"},
                     {"mode", e.mode},
                     {"tempo_bpm", e.tempo_bpm},
                     {"cycle_beats", e.cycle_beats}});
    case kind::mute:
        return dump({{"type", "mute"}, {"player", e.player}, {"muted", e.muted}});
    case kind::kick:
        return dump({{"type", "kick"}, {"player", e.player}});
    case kind::talkback:
        return dump({{"type", "talkback"}, {"on", !e.muted}});
    case kind::solo:
        return dump({{"type", "solo"}, {"player", e.player}});
    case kind::error:
        return dump({{"type", "error"}, {"code", e.code}, {"message", e.message}});
    case kind::mix: {
        json sections = json::object();
        for (std::size_t i = 0; i < e.levels.sections.size(); ++i)
            sections[std::string(control::section_names[i])] = e.levels.sections[i];
        return dump({{"type", "mix"},
                     {"own", e.levels.own},
                     {"click", e.levels.click},
                     {"sections", std::move(sections)},
                     {"mix_mode", e.mode},
                     {"applied", e.applied}});
    }
    default:
        return {};
    }
}

std::string status_frame_json(const ui_status& s) {
    const auto or_null = [](bool has, double v) {
        return has ? json(v) : json(nullptr);
    };
    return dump({{"type", "status"},
                 {"connection", s.connection},
                 {"outage_s", s.outage_s},
                 {"player", s.player},
                 {"rtt_ms", s.rtt_ms},
                 {"loss_down_pct", s.loss_down_pct},
                 {"loss_up_pct", or_null(s.loss_up_pct >= 0, s.loss_up_pct)},
                 {"jitter_depth", s.jitter_depth},
                 {"jitter_target", s.jitter_target},
                 {"clock_offset_ms", or_null(s.clock_synchronised, s.clock_offset_ms)},
                 {"late_events", s.late_events},
                 {"mode", s.mode.empty() ? json(nullptr) : json(s.mode)},
                 {"tempo_bpm", s.tempo_bpm},
                 {"cycle_beats", s.cycle_beats},
                 {"advance_ms", s.advance_ms},
                 {"score_s", or_null(s.has_score && s.has_piece, s.score_s)},
                 {"beat", or_null(s.has_score && s.has_piece, s.beat)},
                 {"cycle_beat", or_null(s.has_score, s.cycle_beat)},
                 {"solo_request", s.solo_request},
                 {"soloing", s.soloing},
                 {"soloist", s.soloist},
                 {"muted", s.muted},
                 {"instrument",
                  s.has_instrument
                      ? json{{"program", s.in_force.program},
                             {"bank", s.in_force.bank},
                             {"kit", s.in_force.kit()},
                             {"articulation", std::string(articulation_name(s.in_force.style))}}
                      : json(nullptr)}});
}

std::string key_ack_json(std::int64_t id) {
    return dump({{"type", "key_ack"}, {"id", id}});
}

std::string note_json(std::uint8_t key, bool down, std::string_view source) {
    return dump({{"type", "note"}, {"key", key}, {"down", down}, {"source", source}});
}

std::string error_json(std::string_view message) {
    return dump({{"type", "error"}, {"code", "bad_request"}, {"message", message}});
}

} // namespace gno::client
