#pragma once
// Following a file another process appends lines to (a server's --stats file). Thread: one.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gno::bench {

// The complete lines a process has appended to a file since the last call.
class line_tail {
public:
    explicit line_tail(std::filesystem::path path) : path_(std::move(path)) {}

    std::vector<std::string> poll() {
        std::vector<std::string> lines;
        std::ifstream in(path_, std::ios::binary);
        if (!in)
            return lines;
        in.seekg(static_cast<std::streamoff>(offset_));
        std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::size_t start = 0;
        for (std::size_t nl; (nl = chunk.find('\n', start)) != std::string::npos; start = nl + 1)
            lines.push_back(chunk.substr(start, nl - start));
        offset_ += start; // a partly written line is read again next time
        return lines;
    }

    /// Skips what is there and waits for the next line, so that what is read right after it
    /// (CPU time) belongs to the same moment; nullopt on timeout.
    std::optional<std::string> next(std::chrono::milliseconds timeout,
                                    std::vector<std::string>* skipped = nullptr) {
        auto old = poll();
        if (skipped)
            skipped->insert(skipped->end(), old.begin(), old.end());
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto fresh = poll();
            if (!fresh.empty()) {
                if (skipped)
                    skipped->insert(skipped->end(), fresh.begin(), fresh.end() - 1);
                return fresh.back();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return std::nullopt;
    }

private:
    std::filesystem::path path_;
    std::size_t offset_ = 0;
};

} // namespace gno::bench
