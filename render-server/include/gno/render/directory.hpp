#pragma once
// The directory (DESIGN.md §8, §9): any node of a mesh tells a joining performer which node
// serves its section, with a join token for that node — the paper's "players locate the server
// via the website", served by the nodes themselves so there is no extra process to keep alive.
//
//   GET  /api/directory   every node the mesh knows: where players reach it, its sections, how
//                         full it is, whether it is up (no secrets; a web page may show it)
//   POST /api/directory   {"code":"violins","program":40,"bank":0,"avoid":2}: a performer code
//                         valid on this node -> {"node":3,"host":..,"udp_port":..,
//                         "control_port":..,"section":"strings","token":"gno1-...",
//                         "expires_in_s":120,"directories":["host:port",...]}
//
// Placement: among the nodes up and not draining (this one always counts as up), those that
// serve the performer's section and have room; the least full of them (players / max), lowest
// node id on a tie. When none serves it, any node with room, the same way: every node renders
// every section it has players for, so a section whose node died keeps playing elsewhere.
// `avoid` (the node a client just lost) is left out unless it is the only one.
//
// Join tokens: `gno1-` and 38 bytes in hex — node id, expiry (Unix s), program, bank, an
// 8-byte hash of the code it was given for, and a 16-byte keyed BLAKE2b tag under a key every
// node derives from the mesh secret. A node takes a token as a performer's join code when the
// tag checks, it names this node and has not expired; it counts the join against its own code
// of that hash (its MAX), or, when it has none, admits a performer with the token's instrument:
// a node trusts the directory of its mesh, so only the nodes players ask need the codes.
//
// Thread: the pure functions anywhere; `directory` is thread-safe (const, and its node source
// must be).

#include "gno/proto/v1/auth.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gno::render {

/// One node as the directory sees it.
struct directory_node {
    std::uint32_t node_id = 0;
    std::string host; // where players reach it
    std::uint16_t udp_port = 0;
    std::uint16_t control_port = 0;
    std::uint32_t sections = 0; // bit s: serves section s; 0: none in particular
    int players = 0;
    int max_players = 0;
    bool up = false;       // this node, or a peer heard within the mesh's timeout
    bool draining = false; // stopping: send nobody there
    bool known = false;    // its node_info has arrived (a peer never heard is not placed)
};

/// Index into `nodes` of the node for a performer of `section` (0..16), or nullopt when no
/// node is up with room. See the file comment for the rule.
[[nodiscard]] std::optional<std::size_t> choose_node(std::span<const directory_node> nodes,
                                                     int section, std::uint32_t avoid = 0);

using code_hash = std::array<std::byte, 8>;
/// The hash a token names its code by (keyless: it identifies, the tag authenticates).
[[nodiscard]] code_hash hash_code(std::string_view code) noexcept;

struct join_token {
    std::uint32_t node_id = 0;
    std::int64_t expires_unix_s = 0;
    int program = 0;
    int bank = 0; // 0, or 128 for drums
    code_hash code{};
};
inline constexpr std::string_view k_token_prefix = "gno1-";
inline constexpr std::int64_t k_token_lifetime_s = 120;

/// The key tokens are tagged with, from the mesh secret.
[[nodiscard]] proto::v1::session_key token_key(const proto::v1::master_secret& mesh) noexcept;
[[nodiscard]] std::string make_token(const join_token& t, const proto::v1::session_key& key);
/// The token's claims when `text` is a well-formed token whose tag checks under `key`; nullopt
/// otherwise (expiry and node are the caller's to check: read_token_for does both).
[[nodiscard]] std::optional<join_token> read_token(std::string_view text,
                                                   const proto::v1::session_key& key);
[[nodiscard]] bool looks_like_token(std::string_view code) noexcept;

/// What the control plane asks of the directory.
class directory {
public:
    /// `nodes`: this node first, then its peers (thread-safe, cheap; called per request).
    /// `key`: token_key() of the mesh secret.
    directory(std::uint32_t own_node_id, const proto::v1::session_key& key,
              std::function<std::vector<directory_node>()> nodes);

    /// GET /api/directory's body.
    [[nodiscard]] std::string nodes_json() const;

    struct placement {
        int status = 200; // 503 when no node can take the performer
        std::string json;
    };
    /// POST /api/directory, after the control plane has checked the performer's code.
    [[nodiscard]] placement place(std::string_view code, int program, int bank, std::uint32_t avoid,
                                  std::int64_t now_unix_s) const;

    /// A join's code that is a token for this node, still valid: its claims. Nullopt for
    /// anything else (a forged, expired or other node's token says why in `why`).
    [[nodiscard]] std::optional<join_token>
    accept_token(std::string_view code, std::int64_t now_unix_s, std::string& why) const;
    /// Whether `code` is a token the mesh's directory made (its tag holds), whatever its node
    /// or expiry: an expired one is a late performer, a forged one a guess.
    [[nodiscard]] bool genuine(std::string_view code) const;

private:
    std::uint32_t own_;
    proto::v1::session_key key_{};
    std::function<std::vector<directory_node>()> nodes_;
};

} // namespace gno::render
