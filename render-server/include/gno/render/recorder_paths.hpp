#pragma once
// Where the audience mix is recorded (recorder.hpp); part of the node's configuration.

#include <string>

namespace gno::render {

struct recording_paths {
    std::string opus; // Ogg Opus; empty: none
    std::string wav;  // float WAV of the exact PCM; empty: none
    [[nodiscard]] bool any() const noexcept { return !opus.empty() || !wav.empty(); }
};

} // namespace gno::render
