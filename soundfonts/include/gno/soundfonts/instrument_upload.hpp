#pragma once
// A performer's instrument as uploaded (README "Your own instrument"): multipart/form-data, as a
// browser's FormData or `curl -F` sends it, with
//   - a part named "map": JSON
//       {"name": "Bell",                     optional, the preset's name
//        "attack_s": 0.003, "release_s": 0.3, optional, the volume envelope
//        "samples": [{"file": "a.wav", "root": 64, "lo": 0, "hi": 127,
//                     "loop": false, "loop_start": 0, "loop_end": 48000, "tune_cents": 0}]}
//     where `file` names another part (by its filename, or its field name), root is the MIDI
//     key the recording sounds at, lo..hi the keys it plays, loop (optional points in sample
//     frames; without them the whole sample) loops while the key is held;
//   - one part per WAV file (wav_reader.hpp: PCM 16/24-bit or float32, mono or stereo).
// The result is one SF2 preset (bank 0, program 0) with a zone per map entry.
//
// Pure: bytes in memory. Untrusted input never throws: a result or a message saying what to
// fix. Thread: any.

#include "gno/soundfonts/sf2_writer.hpp"
#include "gno/soundfonts/wav_reader.hpp"

#include <string>
#include <string_view>

namespace gno::soundfonts {

struct upload_limits {
    std::size_t max_parts = 65;   // the map and up to 64 files
    std::size_t max_samples = 64; // map entries
    wav_limits wav;
};

struct upload_result {
    sf2_bank bank;     // one preset, bank 0 program 0
    std::string error; // non-empty: what is wrong, for the uploader

    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// Parses an upload. `content_type` is the request's Content-Type header (its boundary);
/// `default_name` names the preset when the map does not.
[[nodiscard]] upload_result parse_instrument_upload(std::string_view content_type,
                                                    std::string_view body,
                                                    const std::string& default_name,
                                                    const upload_limits& limits = {});

/// The boundary parameter of a multipart/form-data Content-Type; empty when it is not one.
[[nodiscard]] std::string multipart_boundary(std::string_view content_type);

} // namespace gno::soundfonts
