#include "gno/proto/v1/auth.hpp"

#include "gno/proto/v1/datagram.hpp"

#include <cctype>
#include <chrono>
#include <fstream>
#include <sodium.h>
#include <sstream>
#include <stdexcept>

namespace gno::proto::v1 {
namespace {

// crypto_kdf's context: 8 bytes naming what the subkeys are for.
constexpr char k_kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "GNOudp01";
static_assert(k_session_key_size >= crypto_kdf_BYTES_MIN);
static_assert(k_master_secret_size == crypto_kdf_KEYBYTES);
static_assert(k_session_key_size >= crypto_generichash_KEYBYTES_MIN);
static_assert(k_tag_size >= crypto_generichash_BYTES_MIN);

const unsigned char* u8(const std::byte* p) noexcept {
    return reinterpret_cast<const unsigned char*>(p);
}

void compute_tag(std::span<const std::byte> datagram, const session_key& key,
                 std::span<std::byte, k_tag_size> out) noexcept {
    static constexpr std::array<std::byte, k_tag_size> zero{};
    crypto_generichash_state st;
    crypto_generichash_init(&st, u8(key.data()), key.size(), k_tag_size);
    crypto_generichash_update(&st, u8(datagram.data()), k_tag_offset);
    crypto_generichash_update(&st, u8(zero.data()), zero.size());
    crypto_generichash_update(&st, u8(datagram.data() + k_header_size),
                              datagram.size() - k_header_size);
    crypto_generichash_final(&st, reinterpret_cast<unsigned char*>(out.data()), k_tag_size);
}

template <std::size_t N>
std::optional<std::array<std::byte, N>> parse_hex(std::string_view hex) {
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front())))
        hex.remove_prefix(1);
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back())))
        hex.remove_suffix(1);
    std::array<std::byte, N> out{};
    if (!from_hex(hex, out))
        return std::nullopt;
    return out;
}

} // namespace

bool from_hex(std::string_view hex, std::span<std::byte> out) noexcept {
    if (hex.size() != 2 * out.size())
        return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = nibble(hex[2 * i]);
        const int lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = static_cast<std::byte>(hi << 4 | lo);
    }
    return true;
}

std::array<std::byte, 16> keyed_tag(std::span<const std::byte> data,
                                    const session_key& key) noexcept {
    std::array<std::byte, 16> out{};
    crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(), u8(data.data()),
                       data.size(), u8(key.data()), key.size());
    return out;
}

bool same_tag(std::span<const std::byte, 16> a, std::span<const std::byte, 16> b) noexcept {
    return sodium_memcmp(a.data(), b.data(), 16) == 0;
}

bool crypto_ready() noexcept {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

master_secret random_master_secret() {
    if (!crypto_ready())
        throw std::runtime_error("libsodium cannot initialise (no system randomness)");
    master_secret m;
    crypto_kdf_keygen(reinterpret_cast<unsigned char*>(m.data()));
    return m;
}

session_key derive_session_key(const master_secret& master, std::uint32_t session) noexcept {
    session_key k;
    crypto_kdf_derive_from_key(reinterpret_cast<unsigned char*>(k.data()), k.size(), session,
                               k_kdf_context, u8(master.data()));
    return k;
}

std::optional<master_secret> parse_master_secret(std::string_view hex) {
    return parse_hex<k_master_secret_size>(hex);
}

std::optional<session_key> parse_session_key(std::string_view hex) {
    return parse_hex<k_session_key_size>(hex);
}

std::string to_hex(std::span<const std::byte> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (const auto b : bytes) {
        s.push_back(digits[std::to_integer<int>(b) >> 4]);
        s.push_back(digits[std::to_integer<int>(b) & 15]);
    }
    return s;
}

std::optional<master_secret> read_master_secret(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read the UDP secret file " + path;
        return std::nullopt;
    }
    std::string text;
    text.resize(200);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    auto m = parse_master_secret(text);
    if (!m)
        error = "the UDP secret file " + path + " must hold exactly 64 hex digits (32 bytes)";
    return m;
}

void seal(std::span<std::byte> datagram, const session_key& key) noexcept {
    if (datagram.size() < k_header_size)
        return;
    compute_tag(datagram, key, datagram.subspan<k_tag_offset, k_tag_size>());
}

bool verify(std::span<const std::byte> datagram, const session_key& key) noexcept {
    if (datagram.size() < k_header_size)
        return false;
    std::array<std::byte, k_tag_size> expected;
    compute_tag(datagram, key, expected);
    return crypto_verify_16(u8(expected.data()), u8(datagram.data() + k_tag_offset)) == 0;
}

std::uint32_t first_sequence() noexcept {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    return static_cast<std::uint32_t>(ms);
}

} // namespace gno::proto::v1
