#include "gno/render/directory.hpp"

#include "gno/proto/byte_io.hpp"
#include "gno/proto/v1/control.hpp"

#include <nlohmann/json.hpp>

namespace gno::render {

namespace v1 = proto::v1;
using json = nlohmann::json;

namespace {

// The token key's id in the mesh secret's key space: apart from the node keys (top bit and a
// node id of 1..65535, stem_exchange.cpp) and from any player's session id (below 2^31).
constexpr std::uint32_t k_token_key_id = 0xC000'0000u;
constexpr std::size_t k_claims_size = 4 + 8 + 1 + 1 + 8; // node, expiry, program, bank, code
constexpr std::size_t k_token_bytes = k_claims_size + 16;

bool has_room(const directory_node& n) noexcept {
    return n.max_players <= 0 || n.players < n.max_players;
}

double fullness(const directory_node& n) noexcept {
    return n.max_players > 0 ? static_cast<double>(n.players) / n.max_players
                             : static_cast<double>(n.players);
}

std::vector<std::string> section_list(std::uint32_t mask) {
    std::vector<std::string> out;
    for (std::size_t s = 0; s < v1::control::section_names.size(); ++s)
        if ((mask >> s) & 1u)
            out.emplace_back(v1::control::section_names[s]);
    return out;
}

std::string endpoint(const directory_node& n) {
    return n.host + ':' + std::to_string(n.control_port);
}

} // namespace

std::optional<std::size_t> choose_node(std::span<const directory_node> nodes, int section,
                                       std::uint32_t avoid) {
    auto pick = [&](bool serving_only, bool avoiding) -> std::optional<std::size_t> {
        std::optional<std::size_t> best;
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const auto& n = nodes[i];
            if (!n.known || !n.up || n.draining || !has_room(n) || n.host.empty())
                continue;
            if (avoiding && n.node_id == avoid)
                continue;
            if (serving_only &&
                (section < 0 || section >= 32 || ((n.sections >> section) & 1u) == 0))
                continue;
            if (!best || fullness(n) < fullness(nodes[*best]) ||
                (fullness(n) == fullness(nodes[*best]) && n.node_id < nodes[*best].node_id))
                best = i;
        }
        return best;
    };
    for (const bool avoiding : {true, false})
        for (const bool serving_only : {true, false})
            if (const auto i = pick(serving_only, avoiding && avoid != 0))
                return i;
    return std::nullopt;
}

code_hash hash_code(std::string_view code) noexcept {
    const auto tag =
        v1::keyed_tag(std::as_bytes(std::span(code.data(), code.size())), v1::session_key{});
    code_hash h{};
    std::copy_n(tag.begin(), h.size(), h.begin());
    return h;
}

v1::session_key token_key(const v1::master_secret& mesh) noexcept {
    return v1::derive_session_key(mesh, k_token_key_id);
}

bool looks_like_token(std::string_view code) noexcept {
    return code.starts_with(k_token_prefix);
}

std::string make_token(const join_token& t, const v1::session_key& key) {
    std::array<std::byte, k_token_bytes> b{};
    proto::byte_writer w(b);
    w.u32(t.node_id);
    w.i64(t.expires_unix_s);
    w.u8(static_cast<std::uint8_t>(t.program));
    w.u8(static_cast<std::uint8_t>(t.bank));
    w.bytes(t.code);
    const auto tag = v1::keyed_tag(std::span(b).first(k_claims_size), key);
    std::copy(tag.begin(), tag.end(), b.begin() + k_claims_size);
    return std::string(k_token_prefix) + v1::to_hex(b);
}

std::optional<join_token> read_token(std::string_view text, const v1::session_key& key) {
    if (!looks_like_token(text))
        return std::nullopt;
    std::array<std::byte, k_token_bytes> b{};
    if (!v1::from_hex(text.substr(k_token_prefix.size()), b))
        return std::nullopt;
    const auto tag = v1::keyed_tag(std::span(b).first(k_claims_size), key);
    if (!v1::same_tag(std::span<const std::byte, 16>(tag),
                      std::span<const std::byte, 16>(b.data() + k_claims_size, 16)))
        return std::nullopt;
    proto::byte_reader r(b);
    join_token t;
    t.node_id = r.u32();
    t.expires_unix_s = r.i64();
    t.program = r.u8();
    t.bank = r.u8();
    const auto code = r.bytes(t.code.size());
    std::copy(code.begin(), code.end(), t.code.begin());
    if (t.program > 127 || (t.bank != 0 && t.bank != 128))
        return std::nullopt;
    return t;
}

directory::directory(std::uint32_t own_node_id, const v1::session_key& key,
                     std::function<std::vector<directory_node>()> nodes)
    : own_(own_node_id), key_(key), nodes_(std::move(nodes)) {}

std::string directory::nodes_json() const {
    json list = json::array();
    for (const auto& n : nodes_())
        list.push_back({{"node", n.node_id},
                        {"host", n.host},
                        {"udp_port", n.udp_port},
                        {"control_port", n.control_port},
                        {"sections", section_list(n.sections)},
                        {"players", n.players},
                        {"max_players", n.max_players},
                        {"up", n.up},
                        {"draining", n.draining},
                        {"known", n.known}});
    return json{{"node", own_}, {"nodes", std::move(list)}}.dump(-1, ' ', false,
                                                                 json::error_handler_t::replace) +
           "\n";
}

directory::placement directory::place(std::string_view code, int program, int bank,
                                      std::uint32_t avoid, std::int64_t now_unix_s) const {
    const int section = v1::control::section_of(bank, program);
    const auto nodes = nodes_();
    const auto i = choose_node(nodes, section, avoid);
    if (!i)
        return {503, json{{"error", "no_node"},
                          {"message", "no render node is up with room for another player; try "
                                      "again in a moment"}}
                             .dump() +
                         "\n"};
    const auto& n = nodes[*i];
    join_token t;
    t.node_id = n.node_id;
    t.expires_unix_s = now_unix_s + k_token_lifetime_s;
    t.program = program;
    t.bank = bank;
    t.code = hash_code(code);
    // Where to ask again should this node go: every other node up, the chosen one last.
    json directories = json::array();
    for (const auto& m : nodes)
        if (m.known && m.up && !m.host.empty() && m.node_id != n.node_id)
            directories.push_back(endpoint(m));
    directories.push_back(endpoint(n));
    return {200, json{{"node", n.node_id},
                      {"host", n.host},
                      {"udp_port", n.udp_port},
                      {"control_port", n.control_port},
                      {"section",
                       std::string(v1::control::section_names[static_cast<std::size_t>(section)])},
                      {"token", make_token(t, key_)},
                      {"expires_in_s", k_token_lifetime_s},
                      {"directories", std::move(directories)}}
                         .dump(-1, ' ', false, json::error_handler_t::replace) +
                     "\n"};
}

bool directory::genuine(std::string_view code) const {
    return read_token(code, key_).has_value();
}

std::optional<join_token> directory::accept_token(std::string_view code, std::int64_t now_unix_s,
                                                  std::string& why) const {
    const auto t = read_token(code, key_);
    if (!t) {
        why = "this join token is not one the mesh's directory gave";
        return std::nullopt;
    }
    if (t->node_id != own_) {
        why = "this join token is for node " + std::to_string(t->node_id) + ", not node " +
              std::to_string(own_) + "; ask the directory again";
        return std::nullopt;
    }
    if (now_unix_s > t->expires_unix_s || t->expires_unix_s > now_unix_s + 2 * k_token_lifetime_s) {
        why = "this join token has expired; ask the directory again";
        return std::nullopt;
    }
    return t;
}

} // namespace gno::render
