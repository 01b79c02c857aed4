#pragma once
// Reading what our processes print (numbers from flat JSON objects, lines from log files) and
// what our tools are given (whole numbers and decimals on their command lines).

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace gno::test {

/// `s` as a finite decimal number, all of it, or nullopt.
[[nodiscard]] inline std::optional<double> parse_double(std::string_view s) {
    double v = 0.0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v))
        return std::nullopt;
    return v;
}

/// `s` as a whole number of type Int, all of it and in range, or nullopt.
template <typename Int>
[[nodiscard]] std::optional<Int> parse_int(std::string_view s) {
    Int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size())
        return std::nullopt;
    return v;
}

/// The number after `"key":` in a JSON text (our summaries and logs are flat objects).
[[nodiscard]] std::optional<double> json_number(const std::string& json, const std::string& key);

/// Waits until `file` contains a match of `pattern`; returns its first capture group (or the
/// whole match when there is none), or nullopt on timeout.
[[nodiscard]] std::optional<std::string>
wait_for_match(const std::filesystem::path& file, const std::string& pattern,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));

} // namespace gno::test
