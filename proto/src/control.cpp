#include "gno/proto/v1/control.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace gno::proto::v1::control {

using json = nlohmann::json;

namespace {

constexpr std::array<std::string_view, 4> k_role_names{"performer", "conductor", "ops", "listener"};

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Field readers: absent -> nullopt with no error; present but wrong -> an error naming it.
struct reader {
    const json& obj;
    parse_error& err;

    const json* find(const char* key) const {
        const auto it = obj.find(key);
        return it == obj.end() || it->is_null() ? nullptr : &*it;
    }
    bool fail(const char* key, std::string what) {
        if (err.code.empty()) {
            err.code = "bad_field";
            err.message = std::string("field '") + key + "' " + std::move(what);
        }
        return false;
    }
    std::optional<std::string> text(const char* key, std::size_t max_bytes, bool required,
                                    bool allow_empty = false) {
        const json* v = find(key);
        if (!v) {
            if (required)
                fail(key, "is required");
            return std::nullopt;
        }
        if (!v->is_string()) {
            fail(key, "must be a string");
            return std::nullopt;
        }
        const auto& s = v->get_ref<const std::string&>();
        if (s.size() > max_bytes) {
            fail(key, "is longer than " + std::to_string(max_bytes) + " bytes");
            return std::nullopt;
        }
        if (s.empty() && !allow_empty) {
            fail(key, "must not be empty");
            return std::nullopt;
        }
        // Plain text: no control characters other than newline and tab.
        if (std::any_of(s.begin(), s.end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return (u < 0x20 && c != '\n' && c != '\t') || u == 0x7f;
            })) {
            fail(key, "contains control characters");
            return std::nullopt;
        }
        return s;
    }
    std::optional<double> number(const char* key, double lo, double hi, bool required) {
        const json* v = find(key);
        if (!v) {
            if (required)
                fail(key, "is required");
            return std::nullopt;
        }
        if (!v->is_number()) {
            fail(key, "must be a number");
            return std::nullopt;
        }
        const double d = v->get<double>();
        if (!std::isfinite(d) || d < lo || d > hi) {
            fail(key, "must be from " + json(lo).dump() + " to " + json(hi).dump());
            return std::nullopt;
        }
        return d;
    }
    std::optional<std::int64_t> integer(const char* key, std::int64_t lo, std::int64_t hi,
                                        bool required) {
        const json* v = find(key);
        if (!v) {
            if (required)
                fail(key, "is required");
            return std::nullopt;
        }
        if (!v->is_number_integer()) {
            fail(key, "must be a whole number");
            return std::nullopt;
        }
        if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
            fail(key, "must be from " + std::to_string(lo) + " to " + std::to_string(hi));
            return std::nullopt;
        }
        const auto i = v->get<std::int64_t>();
        if (i < lo || i > hi) {
            fail(key, "must be from " + std::to_string(lo) + " to " + std::to_string(hi));
            return std::nullopt;
        }
        return i;
    }
    std::optional<bool> boolean(const char* key, bool required) {
        const json* v = find(key);
        if (!v) {
            if (required)
                fail(key, "is required");
            return std::nullopt;
        }
        if (!v->is_boolean()) {
            fail(key, "must be true or false");
            return std::nullopt;
        }
        return v->get<bool>();
    }
    std::optional<int> section(const char* key) {
        const auto s = text(key, 20, true);
        if (!s)
            return std::nullopt;
        const auto idx = parse_section(*s);
        if (!idx) {
            fail(key, "must be a section name or \"all\"");
            return std::nullopt;
        }
        return *idx;
    }
    std::optional<std::uint32_t> player(const char* key) {
        const auto p = integer(key, 1, 0xffffffffLL, true);
        return p ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(*p)) : std::nullopt;
    }
};

// A level of the own mix: a finite number from 0 to mix::k_max_level.
bool mix_level(const json& v) {
    return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0.0 &&
           v.get<double>() <= mix::k_max_level;
}

std::optional<client_message> read_mix(reader& r) {
    mix m;
    m.own = r.number("own", 0.0, mix::k_max_level, false);
    m.click = r.number("click", 0.0, mix::k_max_level, false);
    if (!r.err.code.empty())
        return std::nullopt;
    const json* sections = r.find("sections");
    if (!sections)
        return m;
    if (!sections->is_object()) {
        r.fail("sections", "must be an object of section levels, e.g. {\"strings\":0.5}");
        return std::nullopt;
    }
    for (const auto& [name, level] : sections->items()) {
        // Untrusted names go into the message cut short.
        const std::string field = "sections." + name.substr(0, 20);
        const auto idx = parse_section(name);
        if (!idx || *idx < 0) {
            r.fail(field.c_str(), "is not a section (one of the welcome's sections)");
            return std::nullopt;
        }
        if (level.is_null())
            continue; // as absent, like any field
        if (!mix_level(level)) {
            r.fail(field.c_str(), "must be a number from " + json(0.0).dump() + " to " +
                                      json(mix::k_max_level).dump());
            return std::nullopt;
        }
        m.sections[static_cast<std::size_t>(*idx)] = level.get<double>();
    }
    return m;
}

std::optional<client_message> read_message(std::string_view type, reader& r) {
    parse_error& e = r.err;
    if (type == "join") {
        join j;
        auto code = r.text("code", 128, true);
        if (!code)
            return std::nullopt;
        j.code = *code;
        if (auto w = r.text("role", 20, false)) {
            j.wanted = parse_role(*w);
            if (!j.wanted) {
                r.fail("role", "must be performer, conductor, ops or listener");
                return std::nullopt;
            }
        }
        if (auto n = r.text("name", k_max_name_chars, false))
            j.name = *n;
        if (auto p = r.integer("program", 0, 127, false))
            j.program = static_cast<int>(*p);
        if (auto b = r.integer("bank", 0, 128, false)) {
            if (*b != 0 && *b != 128) {
                r.fail("bank", "must be 0 (melodic) or 128 (drums)");
                return std::nullopt;
            }
            j.bank = static_cast<int>(*b);
        }
        if (!e.code.empty())
            return std::nullopt;
        return j;
    }
    if (type == "chat") {
        auto t = r.text("text", k_max_chat_chars, true);
        if (!t)
            return std::nullopt;
        return chat{*t};
    }
    if (type == "image") {
        auto s = r.section("section");
        auto n = r.text("image", 40, true);
        if (!s || !n)
            return std::nullopt;
        if (std::find(image_names.begin(), image_names.end(), *n) == image_names.end()) {
            r.fail("image", "is not one of the console's images");
            return std::nullopt;
        }
        return image{*s, *n};
    }
    if (type == "cue") {
        cue c;
        auto s = r.section("section");
        if (!s)
            return std::nullopt;
        c.section = *s;
        c.intensity = r.number("intensity", 0.0, 1.0, false);
        c.reg = r.text("register", 10, false);
        if (c.reg && *c.reg != "high" && *c.reg != "medium" && *c.reg != "low")
            r.fail("register", "must be high, medium or low");
        c.point = r.text("point", k_max_label_chars, false);
        if (!e.code.empty())
            return std::nullopt;
        if (!c.intensity && !c.reg && !c.point) {
            r.fail("intensity", "or register or point is required");
            return std::nullopt;
        }
        return c;
    }
    if (type == "piece") {
        piece p;
        if (auto n = r.text("name", k_max_label_chars, false))
            p.name = *n;
        auto s = r.integer("start_in_ms", 0, 600'000, true);
        if (!s || !e.code.empty())
            return std::nullopt;
        p.start_in_ms = *s;
        return p;
    }
    if (type == "timing") {
        timing t;
        t.mode = r.text("mode", 20, false);
        if (t.mode && *t.mode != "live" && *t.mode != "time-advanced" && *t.mode != "one-cycle")
            r.fail("mode", "must be live, time-advanced or one-cycle");
        t.tempo_bpm = r.number("tempo_bpm", 20, 300, false);
        if (auto b = r.integer("cycle_beats", 1, 64, false))
            t.cycle_beats = static_cast<int>(*b);
        if (!e.code.empty())
            return std::nullopt;
        if (!t.mode && !t.tempo_bpm && !t.cycle_beats) {
            r.fail("mode", "or tempo_bpm or cycle_beats is required");
            return std::nullopt;
        }
        return t;
    }
    if (type == "solo_request")
        return solo_request{};
    if (type == "solo_grant") {
        auto p = r.player("player");
        if (!p)
            return std::nullopt;
        return solo_grant{*p};
    }
    if (type == "mute") {
        auto p = r.player("player");
        auto m = r.boolean("muted", true);
        if (!p || !m)
            return std::nullopt;
        return mute{*p, *m};
    }
    if (type == "kick") {
        auto p = r.player("player");
        if (!p)
            return std::nullopt;
        return kick{*p};
    }
    if (type == "talkback_begin") {
        talkback_begin t;
        t.at_ms = r.integer("at_ms", 0, 600'000, false);
        if (!e.code.empty())
            return std::nullopt;
        return t;
    }
    if (type == "talkback_end")
        return talkback_end{};
    if (type == "mix")
        return read_mix(r);
    e.code = "unknown_type";
    e.message = "unknown message type '" + std::string(type.substr(0, 40)) + "'";
    return std::nullopt;
}

const char* section_label(int s) {
    return s < 0 ? "all" : section_names[static_cast<std::size_t>(s)].data();
}

} // namespace

bool within_depth(std::string_view text) noexcept {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"')
            in_string = true;
        else if (c == '{' || c == '[') {
            if (++depth > k_max_depth)
                return false;
        } else if (c == '}' || c == ']')
            --depth;
    }
    return true;
}

std::string_view role_name(role r) noexcept {
    return k_role_names[static_cast<std::size_t>(r)];
}

std::optional<role> parse_role(std::string_view s) noexcept {
    for (std::size_t i = 0; i < k_role_names.size(); ++i)
        if (k_role_names[i] == s)
            return static_cast<role>(i);
    return std::nullopt;
}

std::optional<int> parse_section(std::string_view s) noexcept {
    if (s == "all")
        return -1;
    for (std::size_t i = 0; i < section_names.size(); ++i)
        if (section_names[i] == s)
            return static_cast<int>(i);
    return std::nullopt;
}

parse_result parse(std::string_view text) noexcept {
    parse_result out;
    try {
        if (text.size() > k_max_text_frame) {
            out.error = {"too_large",
                         "a message may be at most " + std::to_string(k_max_text_frame) + " bytes"};
            return out;
        }
        if (!within_depth(text)) {
            out.error = {"bad_json", "nested too deeply"};
            return out;
        }
        const json j = json::parse(text, nullptr, false);
        if (j.is_discarded()) {
            out.error = {"bad_json", "not valid JSON (UTF-8 text, one object)"};
            return out;
        }
        if (!j.is_object()) {
            out.error = {"bad_json", "a message is one JSON object"};
            return out;
        }
        const auto t = j.find("type");
        if (t == j.end() || !t->is_string()) {
            out.error = {"bad_field", "field 'type' (a string) is required"};
            return out;
        }
        if (const auto v = j.find("v");
            v != j.end() && !(v->is_number_integer() && v->get<std::int64_t>() == k_version)) {
            out.error = {"bad_version", "this server speaks version " + std::to_string(k_version)};
            return out;
        }
        reader r{j, out.error};
        out.message = read_message(t->get_ref<const std::string&>(), r);
        if (out.message)
            out.error = {};
        else if (out.error.code.empty())
            out.error = {"bad_field", "invalid message"};
    } catch (const std::exception&) {
        // Only allocation failure can get here; the message is refused like any bad one.
        out.message.reset();
        out.error = {"bad_json", "message could not be read"};
    }
    return out;
}

bool allowed(const client_message& m, role r) noexcept {
    return std::visit(
        [r](const auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, join>)
                return false; // only once, before anything else
            else if constexpr (std::is_same_v<T, chat>)
                return r != role::listener;
            else if constexpr (std::is_same_v<T, solo_request> || std::is_same_v<T, mix>)
                return r == role::performer;
            else if constexpr (std::is_same_v<T, kick>)
                return r == role::conductor || r == role::ops;
            else
                return r == role::conductor;
        },
        m);
}

std::string_view type_name(const client_message& m) noexcept {
    static constexpr std::array<std::string_view, std::variant_size_v<client_message>> names{
        "join",           "chat",         "image",      "cue",  "piece",
        "timing",         "solo_request", "solo_grant", "mute", "kick",
        "talkback_begin", "talkback_end", "mix"};
    return names[m.index()];
}

std::string encode_error(std::string_view code, std::string_view message) {
    return dump({{"type", "error"}, {"v", k_version}, {"code", code}, {"message", message}});
}

std::string encode(const welcome& w) {
    return dump(
        {{"type", "welcome"},
         {"v", k_version},
         {"player", w.player},
         {"role", role_name(w.who)},
         {"name", w.name},
         {"bank", w.bank},
         {"program", w.program},
         {"section", section_label(w.who == role::performer ? section_of(w.bank, w.program) : -1)},
         {"session_key", w.session_key},
         {"udp_port", w.udp_port},
         {"server_time_ns", w.server_time_ns},
         {"sample_rate", w.sample_rate},
         {"frame_samples", w.frame_samples},
         {"mode", w.mode},
         {"tempo_bpm", w.tempo_bpm},
         {"cycle_beats", w.cycle_beats},
         {"sections", section_names},
         {"images", image_names}});
}

std::string encode_roster(const std::vector<roster_entry>& players,
                          std::optional<std::uint32_t> soloist,
                          const std::vector<std::uint32_t>& solo_queue) {
    json list = json::array();
    auto round = [](double x) {
        return std::round(x * 100.0) / 100.0;
    };
    for (const auto& p : players)
        list.push_back({{"player", p.player},
                        {"name", p.name},
                        {"role", role_name(p.who)},
                        {"section", section_label(p.section)},
                        {"program", p.program},
                        {"connected", p.connected},
                        {"muted", p.muted},
                        {"udp", p.udp},
                        {"rtt_ms", round(p.rtt_ms)},
                        {"min_rtt_ms", round(p.min_rtt_ms)},
                        {"jitter_ms", round(p.jitter_ms)},
                        {"loss_up_pct", round(p.loss_up_pct)},
                        {"loss_down_pct", round(p.loss_down_pct)},
                        {"late_events", p.late_events}});
    json j{{"type", "roster"},
           {"v", k_version},
           {"players", std::move(list)},
           {"solo_queue", solo_queue}};
    j["soloist"] = soloist ? json(*soloist) : json(nullptr);
    return dump(j);
}

std::string encode_link(const roster_entry& own) {
    // Written by hand rather than through a json object: it goes to every performer every
    // second. to_chars is locale-independent; the clamp bounds every number's length, so the
    // whole message (at most about 230 bytes) fits what is reserved.
    std::string out;
    out.reserve(256);
    auto number = [&out](auto x, auto... format) {
        std::array<char, 32> digits;
        const auto r = std::to_chars(digits.begin(), digits.end(), x, format...);
        if (r.ec == std::errc{})
            out.append(digits.data(), r.ptr);
        else
            out += '0'; // cannot happen within the clamp; still JSON if it did
    };
    auto figure = [&](std::string_view key, double x) {
        out += key;
        x = std::isfinite(x) ? std::round(std::clamp(x, -1e9, 1e9) * 100.0) / 100.0 : 0.0;
        number(x, std::chars_format::fixed, 2);
    };
    out += R"({"type":"link","v":)";
    number(k_version);
    out += own.udp ? R"(,"udp":true)" : R"(,"udp":false)";
    figure(R"(,"rtt_ms":)", own.rtt_ms);
    figure(R"(,"min_rtt_ms":)", own.min_rtt_ms);
    figure(R"(,"jitter_ms":)", own.jitter_ms);
    figure(R"(,"loss_up_pct":)", own.loss_up_pct);
    figure(R"(,"loss_down_pct":)", own.loss_down_pct);
    out += R"(,"late_events":)";
    number(own.late_events);
    out += '}';
    return out;
}

std::string encode_piece(std::string_view name, std::int64_t start_ns, std::int64_t start_sample,
                         std::uint32_t from) {
    return dump({{"type", "piece"},
                 {"v", k_version},
                 {"from", from},
                 {"name", name},
                 {"start_ns", start_ns},
                 {"start_sample", start_sample}});
}

mix_levels apply(mix_levels levels, const mix& change) noexcept {
    if (change.own)
        levels.own = *change.own;
    if (change.click)
        levels.click = *change.click;
    for (std::size_t i = 0; i < levels.sections.size(); ++i)
        if (change.sections[i])
            levels.sections[i] = *change.sections[i];
    return levels;
}

std::string encode_mix(const mix_levels& levels, std::string_view mix_mode, bool applied) {
    json sections = json::object();
    for (std::size_t i = 0; i < section_names.size(); ++i)
        sections[std::string(section_names[i])] = levels.sections[i];
    return dump({{"type", "mix"},
                 {"v", k_version},
                 {"own", levels.own},
                 {"click", levels.click},
                 {"sections", std::move(sections)},
                 {"mix_mode", mix_mode},
                 {"applied", applied}});
}

std::string encode_broadcast(const client_message& m, std::uint32_t from,
                             std::string_view from_name, role from_role) {
    json j{{"v", k_version}, {"from", from}, {"name", from_name}, {"role", role_name(from_role)}};
    j["type"] = type_name(m);
    std::visit(
        [&j](const auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, chat>) {
                j["text"] = msg.text;
            } else if constexpr (std::is_same_v<T, image>) {
                j["section"] = section_label(msg.section);
                j["image"] = msg.name;
            } else if constexpr (std::is_same_v<T, cue>) {
                j["section"] = section_label(msg.section);
                if (msg.intensity)
                    j["intensity"] = *msg.intensity;
                if (msg.reg)
                    j["register"] = *msg.reg;
                if (msg.point)
                    j["point"] = *msg.point;
            } else if constexpr (std::is_same_v<T, timing>) {
                if (msg.mode)
                    j["mode"] = *msg.mode;
                if (msg.tempo_bpm)
                    j["tempo_bpm"] = *msg.tempo_bpm;
                if (msg.cycle_beats)
                    j["cycle_beats"] = *msg.cycle_beats;
            } else if constexpr (std::is_same_v<T, solo_grant> || std::is_same_v<T, kick>) {
                j["player"] = msg.player;
            } else if constexpr (std::is_same_v<T, mute>) {
                j["player"] = msg.player;
                j["muted"] = msg.muted;
            } else if constexpr (std::is_same_v<T, mix>) {
                // What the message changed (the server answers a mix with encode_mix instead).
                if (msg.own)
                    j["own"] = *msg.own;
                if (msg.click)
                    j["click"] = *msg.click;
                json sections = json::object();
                for (std::size_t i = 0; i < section_names.size(); ++i)
                    if (msg.sections[i])
                        sections[std::string(section_names[i])] = *msg.sections[i];
                if (!sections.empty())
                    j["sections"] = std::move(sections);
            }
        },
        m);
    return dump(j);
}

} // namespace gno::proto::v1::control
