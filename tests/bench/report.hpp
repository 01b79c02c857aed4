#pragma once
// What every benchmark needs to write its one JSON line. Thread: any.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace gno::bench {

/// A number with `precision` significant digits.
inline std::string fmt(double d, int precision = 6) {
    std::ostringstream o;
    o.precision(precision);
    o << d;
    return o.str();
}

/// As fmt, or JSON null.
inline std::string fmt(const std::optional<double>& d, int precision = 6) {
    return d ? fmt(*d, precision) : "null";
}

/// Messages quote other programs' output: nothing in them may end the JSON string early.
inline std::string json_text(const std::string& s) {
    std::string out;
    for (char c : s)
        out += c == '"' || c == '\\' ? '\'' : (static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
    return out;
}

inline std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

/// The nearest-rank q-quantile of v (q in (0, 1]); 0 for no values.
template <typename T>
double percentile(std::vector<T> v, double q) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
    return static_cast<double>(v[std::min(idx, v.size() - 1)]);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace gno::bench
