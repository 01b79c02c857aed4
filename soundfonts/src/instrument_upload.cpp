#include "gno/soundfonts/instrument_upload.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace gno::soundfonts {
namespace {

using nlohmann::json;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// The value of parameter `key` in "type; a=b; key="v"" (quotes removed), if present.
std::optional<std::string> header_param(std::string_view value, std::string_view key) {
    std::size_t at = value.find(';');
    while (at != std::string_view::npos) {
        std::string_view rest = value.substr(at + 1);
        const std::size_t next = rest.find(';');
        std::string_view item = trim(rest.substr(0, next));
        const std::size_t eq = item.find('=');
        if (eq != std::string_view::npos && lower(trim(item.substr(0, eq))) == key) {
            std::string_view v = trim(item.substr(eq + 1));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
                v = v.substr(1, v.size() - 2);
            return std::string(v);
        }
        at = next == std::string_view::npos ? next : at + 1 + next;
    }
    return std::nullopt;
}

struct part {
    std::string name;
    std::string filename;
    std::string_view content;
};

/// Splits a multipart body into its parts, or says why not.
std::vector<part> split_parts(std::string_view body, const std::string& boundary,
                              std::size_t max_parts, std::string& error) {
    std::vector<part> parts;
    const std::string dash = "--" + boundary;
    const std::string delimiter = "\r\n" + dash;
    // The first boundary opens the body (a preamble before it is allowed and ignored).
    std::size_t at;
    if (body.substr(0, dash.size()) == dash) {
        at = dash.size();
    } else {
        at = body.find(delimiter);
        if (at == std::string_view::npos) {
            error = "multipart body has no boundary line";
            return {};
        }
        at += delimiter.size();
    }
    for (;;) {
        if (body.substr(at, 2) == "--")
            return parts; // the closing boundary
        // Transport padding, then CRLF.
        while (at < body.size() && (body[at] == ' ' || body[at] == '\t'))
            ++at;
        if (body.substr(at, 2) != "\r\n") {
            error = "multipart boundary line is not followed by a line break";
            return {};
        }
        at += 2;
        const std::size_t headers_end = body.find("\r\n\r\n", at);
        if (headers_end == std::string_view::npos || headers_end - at > 4096) {
            error = "a multipart part has no end to its headers";
            return {};
        }
        part p;
        std::string_view headers = body.substr(at, headers_end - at);
        bool disposition = false;
        while (!headers.empty()) {
            const std::size_t eol = headers.find("\r\n");
            const std::string_view line = headers.substr(0, eol);
            headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
            const std::size_t colon = line.find(':');
            if (colon == std::string_view::npos)
                continue;
            if (lower(trim(line.substr(0, colon))) != "content-disposition")
                continue;
            const std::string_view value = trim(line.substr(colon + 1));
            if (lower(value.substr(0, value.find(';'))) != "form-data") {
                error = "a multipart part is not form-data";
                return {};
            }
            disposition = true;
            p.name = header_param(value, "name").value_or("");
            p.filename = header_param(value, "filename").value_or("");
        }
        if (!disposition) {
            error = "a multipart part has no Content-Disposition";
            return {};
        }
        const std::size_t content_start = headers_end + 4;
        const std::size_t content_end = body.find(delimiter, content_start);
        if (content_end == std::string_view::npos) {
            error = "multipart body ends without its closing boundary";
            return {};
        }
        p.content = body.substr(content_start, content_end - content_start);
        parts.push_back(std::move(p));
        if (parts.size() > max_parts) {
            error = "more than " + std::to_string(max_parts) + " parts";
            return {};
        }
        at = content_end + delimiter.size();
    }
}

/// An integer field in [lo, hi]; `fallback` when absent; nullopt (and `error`) when wrong.
std::optional<int> int_field(const json& o, const char* key, int lo, int hi,
                             std::optional<int> fallback, const std::string& where,
                             std::string& error) {
    const auto it = o.find(key);
    if (it == o.end()) {
        if (!fallback)
            error = where + ": \"" + key + "\" is missing";
        return fallback;
    }
    if (!it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi) {
        error = where + ": \"" + key + "\" must be a whole number from " + std::to_string(lo) +
                " to " + std::to_string(hi);
        return std::nullopt;
    }
    return static_cast<int>(it->get<std::int64_t>());
}

std::optional<double> seconds_field(const json& o, const char* key, double lo, double hi,
                                    double fallback, std::string& error) {
    const auto it = o.find(key);
    if (it == o.end())
        return fallback;
    if (!it->is_number() || !(it->get<double>() >= lo && it->get<double>() <= hi)) {
        error = std::string("\"") + key + "\" must be a number of seconds from " +
                std::to_string(lo) + " to " + std::to_string(hi);
        return std::nullopt;
    }
    return it->get<double>();
}

} // namespace

std::string multipart_boundary(std::string_view content_type) {
    const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    if (lower(type) != "multipart/form-data")
        return {};
    auto b = header_param(content_type, "boundary");
    if (!b || b->empty() || b->size() > 70)
        return {};
    return *b;
}

upload_result parse_instrument_upload(std::string_view content_type, std::string_view body,
                                      const std::string& default_name,
                                      const upload_limits& limits) {
    upload_result r;
    const std::string boundary = multipart_boundary(content_type);
    if (boundary.empty()) {
        r.error = "send multipart/form-data with a boundary (a \"map\" part and the WAV files)";
        return r;
    }
    const auto parts = split_parts(body, boundary, limits.max_parts, r.error);
    if (!r.error.empty())
        return r;
    const part* map_part = nullptr;
    for (const auto& p : parts)
        if (p.name == "map" && p.filename.empty())
            map_part = &p;
    if (!map_part) {
        r.error = "no \"map\" part: it says which file plays which keys";
        return r;
    }
    const json map = json::parse(map_part->content, nullptr, false);
    if (map.is_discarded() || !map.is_object()) {
        r.error = "the \"map\" part is not a JSON object";
        return r;
    }
    const auto samples = map.find("samples");
    if (samples == map.end() || !samples->is_array() || samples->empty()) {
        r.error = "the map needs \"samples\": a list of {file, root, lo, hi}";
        return r;
    }
    if (samples->size() > limits.max_samples) {
        r.error = "the map lists more than " + std::to_string(limits.max_samples) + " samples";
        return r;
    }
    std::string name = default_name;
    if (const auto n = map.find("name"); n != map.end()) {
        if (!n->is_string() || n->get<std::string>().empty()) {
            r.error = "\"name\" must be a non-empty string";
            return r;
        }
        name = n->get<std::string>();
    }
    sf2_envelope env;
    const auto attack = seconds_field(map, "attack_s", 0.0, 10.0, env.attack_s, r.error);
    const auto release = seconds_field(map, "release_s", 0.0, 20.0, env.release_s, r.error);
    if (!attack || !release)
        return r;
    env.attack_s = *attack;
    env.release_s = *release;

    sf2_preset preset;
    preset.name = name;
    for (std::size_t i = 0; i < samples->size(); ++i) {
        const json& e = (*samples)[i];
        const std::string where = "samples[" + std::to_string(i) + "]";
        if (!e.is_object()) {
            r.error = where + " is not an object";
            return r;
        }
        const auto file = e.find("file");
        if (file == e.end() || !file->is_string()) {
            r.error = where + ": \"file\" must name an uploaded file";
            return r;
        }
        const std::string fname = file->get<std::string>();
        const part* data = nullptr;
        for (const auto& p : parts)
            if (&p != map_part && (p.filename == fname || (p.filename.empty() && p.name == fname)))
                data = &p;
        if (!data) {
            r.error = where + ": no uploaded file named \"" + fname + "\"";
            return r;
        }
        const auto root = int_field(e, "root", 0, 127, std::nullopt, where, r.error);
        const auto lo = int_field(e, "lo", 0, 127, 0, where, r.error);
        const auto hi = int_field(e, "hi", 0, 127, 127, where, r.error);
        const auto tune = int_field(e, "tune_cents", -99, 99, 0, where, r.error);
        if (!root || !lo || !hi || !tune)
            return r;
        if (*lo > *hi) {
            r.error = where + ": \"lo\" is above \"hi\"";
            return r;
        }
        bool loop = false;
        if (const auto l = e.find("loop"); l != e.end()) {
            if (!l->is_boolean()) {
                r.error = where + ": \"loop\" must be true or false";
                return r;
            }
            loop = l->get<bool>();
        }
        const auto bytes = std::as_bytes(std::span(data->content.data(), data->content.size()));
        wav_audio audio = read_wav(bytes, limits.wav);
        if (!audio.ok()) {
            r.error = fname + ": " + audio.error;
            return r;
        }
        const auto frames = static_cast<int>(std::min<std::size_t>(audio.samples.size(), 1u << 30));
        sf2_sample s;
        s.name = fname.substr(0, fname.rfind('.'));
        s.pcm = to_pcm16(audio.samples);
        s.sample_rate = audio.sample_rate;
        s.root_key = *root;
        s.tune_cents = *tune;
        if (loop) {
            const auto start = int_field(e, "loop_start", 0, frames, 0, where, r.error);
            const auto end = int_field(e, "loop_end", 0, frames, frames, where, r.error);
            if (!start || !end)
                return r;
            if (*start + 8 > *end) {
                r.error = where + ": the loop must be at least 8 frames (loop_start < loop_end)";
                return r;
            }
            s.loop =
                sample_loop{static_cast<std::uint32_t>(*start), static_cast<std::uint32_t>(*end)};
        }
        if (s.pcm.size() < 8) {
            r.error = fname + ": shorter than 8 samples";
            return r;
        }
        sf2_zone z;
        z.sample = static_cast<int>(r.bank.samples.size());
        z.key_lo = *lo;
        z.key_hi = *hi;
        z.loop = loop;
        z.envelope = env;
        r.bank.samples.push_back(std::move(s));
        preset.zones.push_back(z);
    }
    r.bank.name = name;
    r.bank.presets.push_back(std::move(preset));
    return r;
}

} // namespace gno::soundfonts
