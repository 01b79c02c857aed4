#include "gno/test/text.hpp"

#include "gno/test/process.hpp"

#include <regex>

namespace gno::test {

std::optional<double> json_number(const std::string& json, const std::string& key) {
    const std::regex re("\"" + key + "\"\\s*:\\s*(-?[0-9.eE+-]+)");
    std::smatch m;
    if (!std::regex_search(json, m, re))
        return std::nullopt;
    return std::stod(m[1].str());
}

std::optional<std::string> wait_for_match(const std::filesystem::path& file,
                                          const std::string& pattern,
                                          std::chrono::milliseconds timeout) {
    const std::regex re(pattern);
    std::optional<std::string> found;
    wait_for(
        [&] {
            std::smatch m;
            const std::string text = read_file(file);
            if (!std::regex_search(text, m, re))
                return false;
            found = m.size() > 1 ? m[1].str() : m[0].str();
            return true;
        },
        timeout, std::chrono::milliseconds(20));
    return found;
}

} // namespace gno::test
