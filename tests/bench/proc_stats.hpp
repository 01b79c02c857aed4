#pragma once
// What a benchmark reads about another process from /proc (Linux). Thread: any.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace gno::bench {

/// The fields after the command name of a /proc .../stat line (field 3, the state, first):
/// the name may hold spaces and parentheses, so they are counted after the last ')'. Empty
/// when the file cannot be read (the process or thread has ended).
[[nodiscard]] std::vector<std::string> stat_fields(const std::filesystem::path& stat);

/// utime + stime of a process or thread, in seconds (clock ticks: the kernel's sampled split).
/// `stat` is its /proc .../stat file.
[[nodiscard]] std::optional<double> tick_cpu_seconds(const std::filesystem::path& stat);

/// The number after "KEY:" on a line of a /proc status file ("Threads:  8", "VmHWM:  6892 kB").
[[nodiscard]] std::optional<double> status_value(const std::string& line, std::string_view key);

/// A number from /proc/PID/status, e.g. "VmHWM:" (peak resident set, KiB) or "Threads:".
[[nodiscard]] std::optional<double> status_number(pid_t pid, std::string_view key);

/// "/proc/PID/stat".
[[nodiscard]] std::filesystem::path stat_path(pid_t pid);

/// A UDP port free on 127.0.0.1 right now (the kernel's pick), for a mesh port its peers must
/// know before the node starts.
[[nodiscard]] std::uint16_t free_udp_port();

/// CPUs this process may run on.
[[nodiscard]] int available_cores();

} // namespace gno::bench
