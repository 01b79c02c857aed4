#pragma once
// Node configuration: parsed once at start-up, then read-only.

#include "gno/render/timing.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace gno::render {

struct server_config {
    std::string listen_address = "127.0.0.1";
    std::uint16_t port = 47000;
    std::string soundfont;   // empty: the build's default GM soundfont
    int sample_rate = 48000; // the render timeline's rate; fixed by the protocol
    int frame_samples = 240; // 5 ms; 120 (2.5 ms) .. 960 (20 ms)
    int max_players = 64;
    int players_per_bank = 32; // players sharing one FluidSynth instance
    int polyphony_per_bank = 512;
    int bitrate = 64000;
    int complexity = 5;
    float master_gain = 0.7f;
    std::chrono::milliseconds silence_timeout{1000}; // release a silent player's notes
    std::chrono::milliseconds audio_timeout{3000};   // stop streaming to a silent player
    std::chrono::milliseconds expire_timeout{30000}; // free a silent player's slot
    int lanes_per_player = 4; // onset phases one player can sound at once (voice_bank.hpp)
    timing_config timing;     // mode, U, tempo, cycle, piece start, click
    std::chrono::milliseconds advance_margin{10}; // A_i = p99 uplink delay + this + one frame
    std::string record_path; // Ogg Opus recording of the audience mix; empty: none
    std::string stats_path;
    std::string onset_log_path; // JSON lines of per-player stem onsets (measurement)  // JSON lines
                                // of counters every 250 ms; empty: none
};

} // namespace gno::render
