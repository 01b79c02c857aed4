#pragma once
// Authentication of the real-time UDP channel (DESIGN.md §8), on libsodium.
//
// Every datagram's 16-byte header tag is keyed BLAKE2b-128 over the header (tag field zeroed)
// and the payload, under the session's 16-byte key. A node derives each session's key from
// its 32-byte master secret and the session id (crypto_kdf), so it keeps no key table: the
// control plane hands a joined performer derive_session_key(master, player id), and nobody
// without the master secret or that key can make a datagram the node accepts.
//
// Sequence numbers guard against replays: whole-state key states are taken only when newer
// than the last (serial arithmetic, player_directory), pings through a replay_window.
// A client starts its sequences from the wall clock in milliseconds (first_sequence), so a
// restarted client is newer than anything it sent before and needs no reset on the node.
// Thread: any. seal/verify/derive never allocate.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gno::proto::v1 {

inline constexpr std::size_t k_session_key_size = 16;
inline constexpr std::size_t k_master_secret_size = 32;
using session_key = std::array<std::byte, k_session_key_size>;
using master_secret = std::array<std::byte, k_master_secret_size>;

/// Initialises libsodium once (thread-safe); false if it cannot (no usable randomness).
bool crypto_ready() noexcept;

/// A fresh secret from the system's CSPRNG.
master_secret random_master_secret();

/// The key of `session` under `master`.
session_key derive_session_key(const master_secret& master, std::uint32_t session) noexcept;

/// Exactly 2 * N hex digits (surrounding whitespace ignored) -> N bytes; nullopt otherwise.
std::optional<master_secret> parse_master_secret(std::string_view hex);
std::optional<session_key> parse_session_key(std::string_view hex);
std::string to_hex(std::span<const std::byte> bytes);

/// Exactly 2 * out.size() hex digits -> out; false (out unspecified) otherwise.
[[nodiscard]] bool from_hex(std::string_view hex, std::span<std::byte> out) noexcept;

/// Reads a master secret file (64 hex digits); on failure, nullopt and `error` says why.
std::optional<master_secret> read_master_secret(const std::string& path, std::string& error);

/// Writes the tag of a complete datagram (header + payload) into its header, in place.
/// A datagram shorter than the header is left alone.
void seal(std::span<std::byte> datagram, const session_key& key) noexcept;

/// The keyed BLAKE2b-128 of `data`, as seal() tags a datagram: for the mesh's other signed
/// things (directory tokens).
[[nodiscard]] std::array<std::byte, 16> keyed_tag(std::span<const std::byte> data,
                                                  const session_key& key) noexcept;
/// Constant-time equality of two tags.
[[nodiscard]] bool same_tag(std::span<const std::byte, 16> a,
                            std::span<const std::byte, 16> b) noexcept;

/// True when the datagram carries the tag `key` gives it (constant-time comparison).
[[nodiscard]] bool verify(std::span<const std::byte> datagram, const session_key& key) noexcept;

/// The first sequence number of a sender that starts now: the wall clock in milliseconds,
/// so that it is newer than anything a previous run of the same session sent (a sender
/// sends far fewer than 1000 datagrams of a type per second).
std::uint32_t first_sequence() noexcept;

/// Which of the last 64 sequence numbers (serial arithmetic) have been seen: accept() is true
/// once per sequence, and false for anything older than the window.
class replay_window {
public:
    static constexpr std::uint32_t k_width = 64;
    [[nodiscard]] bool accept(std::uint32_t sequence) noexcept {
        if (!started_) {
            started_ = true;
            top_ = sequence;
            seen_ = 1;
            return true;
        }
        const auto ahead = static_cast<std::int32_t>(sequence - top_);
        if (ahead > 0) {
            seen_ = ahead >= static_cast<std::int32_t>(k_width) ? 0 : seen_ << ahead;
            seen_ |= 1;
            top_ = sequence;
            return true;
        }
        const auto behind = static_cast<std::uint32_t>(-ahead);
        if (behind >= k_width)
            return false;
        const std::uint64_t bit = std::uint64_t{1} << behind;
        if (seen_ & bit)
            return false;
        seen_ |= bit;
        return true;
    }
    void reset() noexcept { *this = replay_window{}; }

private:
    bool started_ = false;
    std::uint32_t top_ = 0;
    std::uint64_t seen_ = 0; // bit i: top_ - i was seen
};

} // namespace gno::proto::v1
