#pragma once
// Explicit big-endian (network order) readers and writers over spans.
// Thread: any. No allocation, never throws, never touches bytes outside the span.

#include <cstddef>
#include <cstdint>
#include <span>

namespace gno::proto {

/// Writes big-endian integers into a fixed span; once a write does not fit, ok() stays false
/// and nothing more is written.
class byte_writer {
public:
    explicit byte_writer(std::span<std::byte> out) noexcept : out_(out) {}

    void u8(std::uint8_t v) noexcept { put(v, 1); }
    void u16(std::uint16_t v) noexcept { put(v, 2); }
    void u32(std::uint32_t v) noexcept { put(v, 4); }
    void u64(std::uint64_t v) noexcept { put(v, 8); }
    void i64(std::int64_t v) noexcept { put(static_cast<std::uint64_t>(v), 8); }
    void bytes(std::span<const std::byte> b) noexcept {
        if (!ok_ || out_.size() - pos_ < b.size()) {
            ok_ = false;
            return;
        }
        for (std::byte x : b)
            out_[pos_++] = x;
    }

    [[nodiscard]] bool ok() const noexcept { return ok_; }
    [[nodiscard]] std::size_t size() const noexcept { return pos_; }

private:
    void put(std::uint64_t v, std::size_t n) noexcept {
        if (!ok_ || out_.size() - pos_ < n) {
            ok_ = false;
            return;
        }
        for (std::size_t i = 0; i < n; ++i)
            out_[pos_ + i] = static_cast<std::byte>(v >> (8 * (n - 1 - i)));
        pos_ += n;
    }

    std::span<std::byte> out_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

/// Reads big-endian integers from a span; a read past the end yields 0 and clears ok().
class byte_reader {
public:
    explicit byte_reader(std::span<const std::byte> in) noexcept : in_(in) {}

    std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(get(1)); }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(get(2)); }
    std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(get(4)); }
    std::uint64_t u64() noexcept { return get(8); }
    std::int64_t i64() noexcept { return static_cast<std::int64_t>(get(8)); }
    std::span<const std::byte> bytes(std::size_t n) noexcept {
        if (!ok_ || in_.size() - pos_ < n) {
            ok_ = false;
            return {};
        }
        auto s = in_.subspan(pos_, n);
        pos_ += n;
        return s;
    }

    [[nodiscard]] bool ok() const noexcept { return ok_; }
    [[nodiscard]] std::size_t remaining() const noexcept { return ok_ ? in_.size() - pos_ : 0; }

private:
    std::uint64_t get(std::size_t n) noexcept {
        if (!ok_ || in_.size() - pos_ < n) {
            ok_ = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i)
            v = (v << 8) | static_cast<std::uint8_t>(in_[pos_ + i]);
        pos_ += n;
        return v;
    }

    std::span<const std::byte> in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

} // namespace gno::proto
