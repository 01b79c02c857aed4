#pragma once
// Wrong join codes from one address (DESIGN.md §8): a join, a directory request or a join token
// whose code is not valid here counts against the address it came from (an IPv6 address by its
// /64, what one host is usually given); after `failures` within `window`, that address's code
// checks are refused until the window it began ends. A performer who mistypes a few times is
// not held up; guessing a code from one address gets `failures` tries a window.
// Bounded: at most `max_addresses` are remembered; when all are in a live window, new ones are
// not tracked (an attacker with that many addresses is beyond a per-address limit anyway).
// Thread: any (one mutex, held for a map lookup; never on the render path).

#include <array>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>

namespace gno::render {

class code_guard {
public:
    struct limits {
        int failures = 20; // 0: no limit
        std::chrono::seconds window{60};
        std::size_t max_addresses = 4096;
    };
    explicit code_guard(limits l) : limits_(l) {}

    /// Whether a code from `from` may be checked at `now_ns` (a steady clock).
    [[nodiscard]] bool allowed(const boost::asio::ip::address& from, std::int64_t now_ns);
    /// A wrong code from `from`.
    void failed(const boost::asio::ip::address& from, std::int64_t now_ns);

private:
    using key = std::array<unsigned char, 16>;
    struct entry {
        std::int64_t window_start = 0;
        int failures = 0;
    };
    static key key_of(const boost::asio::ip::address& a) noexcept;
    [[nodiscard]] bool live(const entry& e, std::int64_t now_ns) const noexcept;

    limits limits_;
    std::mutex mu_;
    std::map<key, entry> seen_;
};

} // namespace gno::render
