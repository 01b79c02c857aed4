#pragma once
// Audio analysis for tests: levels, pitch, tone presence and onsets, so end-to-end tests check
// what was heard rather than what was called. All inputs are mono float samples in [-1, 1].
// Thread: any (pure functions). Levels are dBFS with 0 dB = RMS 1.0 (so a full-scale sine
// is -3.01 dBFS); silence is reported as k_silence_dbfs instead of -inf so it compares.

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace gno::test {

/// Level reported for digital silence and empty input.
inline constexpr double k_silence_dbfs = -200.0;

/// RMS level of the samples in dBFS (k_silence_dbfs for empty or all-zero input).
[[nodiscard]] double rms_dbfs(std::span<const float> samples);

/// RMS level of consecutive non-overlapping windows of round(window_s * sample_rate) samples;
/// entry i covers samples [i*w, min((i+1)*w, n)), so a trailing partial window is included.
[[nodiscard]] std::vector<double> rms_envelope_dbfs(std::span<const float> mono, int sample_rate,
                                                    double window_s);

/// Samples from start_s to end_s (clamped to the signal), for analysing one segment.
[[nodiscard]] std::span<const float> slice_seconds(std::span<const float> mono, int sample_rate,
                                                   double start_s, double end_s);

/// Fundamental frequency in [fmin_hz, fmax_hz] by YIN (cumulative mean normalised difference,
/// absolute threshold, parabolic interpolation) over at most the first 0.5 s of the segment
/// (plus one period); nullopt when the segment is too short (< 2 periods of fmin) or aperiodic.
[[nodiscard]] std::optional<double> estimate_pitch_hz(std::span<const float> mono, int sample_rate,
                                                      double fmin_hz, double fmax_hz);

/// Amplitude of the sinusoid at freq_hz (Hann-windowed Goertzel; 1.0 for a full-scale sine).
[[nodiscard]] double tone_amplitude(std::span<const float> mono, int sample_rate, double freq_hz);

/// Power of the strongest sinusoid within freq_hz +- search_hz relative to the segment's mean
/// power, in dB: about 0 when that tone is all there is, -6 when it carries a quarter of the
/// energy, below -40 when absent. k_silence_dbfs for silence.
[[nodiscard]] double tone_level_db(std::span<const float> mono, int sample_rate, double freq_hz,
                                   double search_hz = 0.0);

struct onset_params {
    double window_s = 0.005; // RMS window
    double hop_s = 0.001;    // envelope step, the detector's time resolution before refinement
    // Level above the minimum of the last lookback_s that makes an onset. 10 dB catches a
    // piano note struck while the previous one is still releasing; tremolo and vibrato swing
    // less than that.
    double rise_db = 10.0;
    double lookback_s = 0.05;  // how far back "the recent minimum" looks
    double min_gap_s = 0.05;   // onsets closer than this to the previous one are ignored
    double floor_dbfs = -60.0; // windows quieter than this never start an onset
};

/// Onset times in seconds, ascending. An onset is a window at least rise_db above the recent
/// minimum and above floor_dbfs; the detector re-arms only after the rise condition has been
/// false once (so a sustained note is one onset), and the time is refined to where the level
/// first gets halfway (in dB) from the level before the onset to the note's settled level.
[[nodiscard]] std::vector<double> detect_onsets(std::span<const float> mono, int sample_rate,
                                                const onset_params& params = {});

/// Index of the first sample with |x| above threshold_dbfs (as a peak level), or nullopt.
[[nodiscard]] std::optional<std::size_t> first_sample_above_dbfs(std::span<const float> mono,
                                                                 double threshold_dbfs);

/// Index of the last sample with |x| above threshold_dbfs (as a peak level), or nullopt.
[[nodiscard]] std::optional<std::size_t> last_sample_above_dbfs(std::span<const float> mono,
                                                                double threshold_dbfs);

/// Seconds from a sound's onset to its decay `drop_db` below its peak, on an RMS envelope of
/// window_s windows: the onset is the first window within 20 dB of the loudest, the decay the
/// first window after the loudest at least drop_db below it. nullopt when it never decays that
/// far within the samples (a held note) or there is no sound.
[[nodiscard]] std::optional<double> onset_to_decay_s(std::span<const float> mono, int sample_rate,
                                                     double drop_db = 40.0,
                                                     double window_s = 0.005);

} // namespace gno::test
