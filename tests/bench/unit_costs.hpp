#pragma once
// What one unit of the render server's per-frame work costs on this machine, measured in this
// process with the server's own library parts (gno::render): a FluidSynth voice, an Opus
// stream, a datagram sent with sendmmsg, a player's mix-minus. `gno-bench scale` turns them
// into a ceiling (how many players the cores could carry if nothing but this work ran) and
// compares the measured server with it.
// Thread: any; each call builds its own state and blocks for a second or two.

#include <filesystem>
#include <string>
#include <vector>

namespace gno::bench {

struct unit_cost_params {
    std::filesystem::path soundfont;
    int frame_samples = 240; // 5 ms at 48 kHz, as the server runs
    int bitrate = 64000;
    int complexity = 5; // the Opus complexity the scale run configures
};

struct unit_costs {
    double synth_us_per_voice_frame = 0;      // FluidSynth, per active voice per frame
    double synth_voices = 0;                  // mean active voices while that was measured
    double encode_us_per_stream_frame = 0;    // Opus, one stereo frame at `encode_complexity`
    int encode_complexity = 0;                // the configured complexity: used for the ceiling
    double encode_us_per_stream_frame_c0 = 0; // the same at complexity 0 (overload floor)
    double send_us_per_datagram = 0;          // sendmmsg, 64 datagrams of 100 bytes per call
    double mix_us_per_player_frame = 0;       // one player's stereo mix-minus frame
};

/// A bank of 32 players on a realistic spread of GM melodic programs, each re-striking a
/// three-note chord every half second (so attacks, sustains and release tails all sound);
/// returns microseconds per active voice per frame and the mean number of voices. Fills
/// `mix_out` (if not null) with the bank's stereo mix, interleaved, one frame after another:
/// real music for the encoder to work on. Throws std::runtime_error if the soundfont fails.
double measure_synth(const unit_cost_params& p, double& mean_voices, std::vector<float>* mix_out);

/// One Opus stream (stereo, p.frame_samples, p.bitrate) at `complexity`, encoding `music`
/// (interleaved frames); microseconds per frame.
double measure_encode(const unit_cost_params& p, int complexity, const std::vector<float>& music);

/// sendmmsg batches of 64 datagrams of 100 bytes (an audio frame: 40-byte header + Opus) to
/// eight loopback sockets, drained between batches outside the timing; microseconds per
/// datagram. Throws std::system_error if the sockets cannot be made.
double measure_send();

/// A player's own mix: 8 section buses weighted by the player's levels, minus the player's
/// own stem, soft-limited and interleaved, for one frame; microseconds per player. A
/// self-contained loop for now (the engine's per-player mix function is to replace it).
double measure_mix_minus(const unit_cost_params& p);

/// All of the above.
unit_costs measure_unit_costs(const unit_cost_params& p);

} // namespace gno::bench
