#pragma once
// Reading what our processes print: numbers from flat JSON objects, lines from log files.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace gno::test {

/// The number after `"key":` in a JSON text (our summaries and logs are flat objects).
[[nodiscard]] std::optional<double> json_number(const std::string& json, const std::string& key);

/// Waits until `file` contains a match of `pattern`; returns its first capture group (or the
/// whole match when there is none), or nullopt on timeout.
[[nodiscard]] std::optional<std::string>
wait_for_match(const std::filesystem::path& file, const std::string& pattern,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));

} // namespace gno::test
