#include <algorithm>
#include <cmath>
#include <gno/test/analysis.hpp>
#include <numbers>

namespace gno::test {
namespace {

double mean_square(std::span<const float> x) {
    if (x.empty())
        return 0.0;
    double sum = 0.0;
    for (float v : x)
        sum += static_cast<double>(v) * v;
    return sum / static_cast<double>(x.size());
}

double power_to_db(double power) {
    // Anything this small is silence for a float signal; clamping keeps results comparable.
    constexpr double k_min_power = 1e-20;
    return power <= k_min_power ? k_silence_dbfs : 10.0 * std::log10(power);
}

std::size_t samples_for(double seconds, int sample_rate) {
    const double n = std::round(seconds * sample_rate);
    return n < 1.0 ? 1 : static_cast<std::size_t>(n);
}

// YIN's absolute threshold: the first dip of the normalised difference below it is the
// period. 0.1 is the value from de Cheveigné & Kawahara (2002).
constexpr double k_yin_threshold = 0.1;
// Without a dip below the threshold the best dip is used, but only if it is this clear;
// noise hovers around 1.
constexpr double k_yin_accept = 0.5;

} // namespace

double rms_dbfs(std::span<const float> samples) {
    return power_to_db(mean_square(samples));
}

std::vector<double> rms_envelope_dbfs(std::span<const float> mono, int sample_rate,
                                      double window_s) {
    std::vector<double> out;
    if (sample_rate <= 0 || window_s <= 0.0)
        return out;
    const std::size_t w = samples_for(window_s, sample_rate);
    for (std::size_t start = 0; start < mono.size(); start += w)
        out.push_back(rms_dbfs(mono.subspan(start, std::min(w, mono.size() - start))));
    return out;
}

std::span<const float> slice_seconds(std::span<const float> mono, int sample_rate, double start_s,
                                     double end_s) {
    const auto to_index = [&](double t) {
        const double i = std::round(t * sample_rate);
        if (!(i > 0.0))
            return std::size_t{0};
        return std::min(mono.size(), static_cast<std::size_t>(std::min(i, 1e18)));
    };
    const std::size_t a = to_index(start_s);
    const std::size_t b = std::max(a, to_index(end_s));
    return mono.subspan(a, b - a);
}

namespace {

// Zero-phase 8th-order low-pass (a 4th-order Butterworth run forward and backward).
std::vector<float> low_pass(std::span<const float> x, int sample_rate, double cutoff_hz) {
    std::vector<double> y(x.begin(), x.end());
    const double w0 = 2.0 * std::numbers::pi * cutoff_hz / sample_rate;
    for (const double q : {0.54119610, 1.30656296}) { // Butterworth pole pairs
        const double alpha = std::sin(w0) / (2.0 * q);
        const double a0 = 1.0 + alpha;
        const double b0 = (1.0 - std::cos(w0)) / 2.0 / a0;
        const double b1 = (1.0 - std::cos(w0)) / a0;
        const double a1 = -2.0 * std::cos(w0) / a0;
        const double a2 = (1.0 - alpha) / a0;
        for (int pass = 0; pass < 2; ++pass) {
            double x1 = 0.0, x2 = 0.0, y1 = 0.0, y2 = 0.0;
            for (double& v : y) {
                const double out = b0 * v + b1 * x1 + b0 * x2 - a1 * y1 - a2 * y2;
                x2 = x1;
                x1 = v;
                y2 = y1;
                y1 = out;
                v = out;
            }
            std::reverse(y.begin(), y.end());
        }
    }
    return {y.begin(), y.end()};
}

std::optional<double> yin_pitch_hz(std::span<const float> mono, int sample_rate, double fmin_hz,
                                   double fmax_hz) {
    if (sample_rate <= 0 || !(fmin_hz > 0.0) || !(fmax_hz > fmin_hz))
        return std::nullopt;
    const auto tau_min =
        std::max<std::size_t>(2, static_cast<std::size_t>(std::floor(sample_rate / fmax_hz)));
    const auto tau_max = static_cast<std::size_t>(std::ceil(sample_rate / fmin_hz)) + 1;
    if (mono.size() < 2 * tau_max + 2 || tau_min >= tau_max)
        return std::nullopt;
    // The integration window: long enough to average out noise, capped so that a long
    // recording costs a bounded amount of work.
    const std::size_t window =
        std::min(mono.size() - tau_max - 1, static_cast<std::size_t>(sample_rate / 2));

    // Difference function d(tau) = sum (x[j] - x[j+tau])^2 and YIN's cumulative mean
    // normalised form d'(tau) = d(tau) * tau / sum_{k<=tau} d(k), which removes the dip at
    // tau = 0 and makes a single threshold meaningful across levels.
    std::vector<double> diff_fn(tau_max + 2, 0.0);
    std::vector<double> cmnd(tau_max + 2, 1.0);
    double running = 0.0;
    for (std::size_t tau = 1; tau <= tau_max + 1; ++tau) {
        double d = 0.0;
        for (std::size_t j = 0; j < window; ++j) {
            const double diff = static_cast<double>(mono[j]) - mono[j + tau];
            d += diff * diff;
        }
        diff_fn[tau] = d;
        running += d;
        cmnd[tau] = running > 0.0 ? d * static_cast<double>(tau) / running : 1.0;
    }
    if (running <= 0.0)
        return std::nullopt; // silence (or DC)

    std::size_t best = 0;
    for (std::size_t tau = tau_min; tau <= tau_max; ++tau) {
        if (cmnd[tau] < k_yin_threshold) {
            // Walk down to the bottom of this dip.
            while (tau + 1 <= tau_max && cmnd[tau + 1] < cmnd[tau])
                ++tau;
            best = tau;
            break;
        }
    }
    if (best == 0) {
        best = tau_min;
        for (std::size_t tau = tau_min + 1; tau <= tau_max; ++tau)
            if (cmnd[tau] < cmnd[best])
                best = tau;
        if (cmnd[best] > k_yin_accept)
            return std::nullopt;
    }
    // A minimum on the edge of the search range is the range's fault, not a period.
    if (best == tau_min && cmnd[best - 1] < cmnd[best])
        return std::nullopt;
    if (best == tau_max && cmnd[best + 1] < cmnd[best])
        return std::nullopt;

    // d' chose the dip; its exact place comes from d itself. The normalisation in d' tilts
    // a dip that does not reach zero (a decaying, slightly inharmonic piano tone) towards
    // shorter periods, which read about 1 % sharp.
    while (best > tau_min && diff_fn[best - 1] < diff_fn[best])
        --best;
    while (best < tau_max && diff_fn[best + 1] < diff_fn[best])
        ++best;
    // Parabolic interpolation through the dip and its neighbours for sub-sample precision.
    const double a = diff_fn[best - 1];
    const double b = diff_fn[best];
    const double c = diff_fn[best + 1];
    const double denom = a - 2.0 * b + c;
    double shift = denom > 0.0 ? 0.5 * (a - c) / denom : 0.0;
    shift = std::clamp(shift, -0.5, 0.5);
    const double period = static_cast<double>(best) + shift;
    const double f = sample_rate / period;
    if (f < fmin_hz * 0.97 || f > fmax_hz * 1.03)
        return std::nullopt;
    return f;
}

} // namespace

std::optional<double> estimate_pitch_hz(std::span<const float> mono, int sample_rate,
                                        double fmin_hz, double fmax_hz) {
    const auto coarse = yin_pitch_hz(mono, sample_rate, fmin_hz, fmax_hz);
    // Pass one is robust against octave errors but follows whatever partials carry the
    // energy; a piano's upper partials are stretched and pull it about 1 % sharp. Pass two
    // keeps the lowest three harmonics (where stretching is under 0.1 %) and looks only
    // within a semitone of pass one.
    constexpr double k_keep_harmonics = 3.0;
    constexpr double k_semitone = 1.0595;
    if (!coarse || k_keep_harmonics * *coarse > 0.4 * sample_rate)
        return coarse;
    const auto filtered = low_pass(mono, sample_rate, k_keep_harmonics * *coarse);
    const auto fine =
        yin_pitch_hz(filtered, sample_rate, *coarse / k_semitone, *coarse * k_semitone);
    return fine ? fine : coarse;
}

double tone_amplitude(std::span<const float> mono, int sample_rate, double freq_hz) {
    if (mono.size() < 2 || sample_rate <= 0)
        return 0.0;
    // Goertzel over a Hann window: the window keeps a strong tone elsewhere from leaking into
    // the frequency asked about. Complex form so any frequency works, not only bin centres.
    const double n = static_cast<double>(mono.size());
    const double w = 2.0 * std::numbers::pi * freq_hz / sample_rate;
    const double coeff = 2.0 * std::cos(w);
    double s1 = 0.0;
    double s2 = 0.0;
    double window_sum = 0.0;
    for (std::size_t i = 0; i < mono.size(); ++i) {
        const double hann =
            0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / (n - 1.0));
        window_sum += hann;
        const double s0 = hann * mono[i] + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    const double re = s1 - s2 * std::cos(w);
    const double im = s2 * std::sin(w);
    return window_sum > 0.0 ? 2.0 * std::hypot(re, im) / window_sum : 0.0;
}

double tone_level_db(std::span<const float> mono, int sample_rate, double freq_hz,
                     double search_hz) {
    const double total = mean_square(mono);
    if (total <= 1e-20 || sample_rate <= 0)
        return k_silence_dbfs;
    double amplitude = tone_amplitude(mono, sample_rate, freq_hz);
    if (search_hz > 0.0) {
        // Step at a quarter of the frequency resolution so the Hann main lobe is sampled
        // near its top wherever the peak lies.
        const double resolution = sample_rate / static_cast<double>(mono.size());
        const double step = resolution / 4.0;
        for (double f = freq_hz - search_hz; f <= freq_hz + search_hz; f += step)
            if (f > 0.0)
                amplitude = std::max(amplitude, tone_amplitude(mono, sample_rate, f));
    }
    // A sinusoid of amplitude A has power A^2 / 2.
    return power_to_db(amplitude * amplitude / 2.0) - power_to_db(total);
}

std::vector<double> detect_onsets(std::span<const float> mono, int sample_rate,
                                  const onset_params& params) {
    std::vector<double> onsets;
    if (sample_rate <= 0 || mono.empty())
        return onsets;
    const std::size_t w = samples_for(params.window_s, sample_rate);
    const std::size_t hop = samples_for(params.hop_s, sample_rate);
    if (mono.size() < w)
        return onsets;
    const std::size_t frames = (mono.size() - w) / hop + 1;

    // Sliding-window RMS envelope: frame i covers [i*hop, i*hop + w).
    std::vector<double> env(frames);
    for (std::size_t i = 0; i < frames; ++i)
        env[i] = rms_dbfs(mono.subspan(i * hop, w));

    const std::size_t lookback =
        std::max<std::size_t>(1, samples_for(params.lookback_s, sample_rate) / hop);
    const std::size_t settle = std::max<std::size_t>(1, 2 * w / hop);
    const double min_gap_samples = params.min_gap_s * sample_rate;
    bool armed = true;
    std::optional<std::size_t> last_onset_sample;
    for (std::size_t i = 0; i < frames; ++i) {
        double recent_min = k_silence_dbfs;
        if (i > 0) {
            recent_min = env[i - 1];
            for (std::size_t k = i - std::min(i, lookback); k < i - 1; ++k)
                recent_min = std::min(recent_min, env[k]);
        }
        const bool rising = env[i] >= params.floor_dbfs && env[i] - recent_min >= params.rise_db;
        if (!rising) {
            armed = true;
            continue;
        }
        if (!armed)
            continue;
        armed = false;

        // Refine: the first 1 ms stretch, from one window before the trigger, whose level is
        // halfway (in dB) from the level before the onset to the level the note settles at
        // (the loudest of the next few windows). Halfway, not the first rise, so that the
        // release of the previous note does not count; a silent baseline is held at 40 dB
        // under the floor so that "halfway" stays inside the note's attack.
        double settled = env[i];
        for (std::size_t k = i; k < std::min(frames, i + settle + 1); ++k)
            settled = std::max(settled, env[k]);
        const double baseline = std::max(recent_min, params.floor_dbfs - 40.0);
        const double crossing = 0.5 * (baseline + settled);
        const double crossing_amplitude = std::pow(10.0, crossing / 20.0);
        const std::size_t micro = std::max<std::size_t>(1, samples_for(0.001, sample_rate));
        const std::size_t micro_hop = std::max<std::size_t>(1, micro / 4);
        const std::size_t begin = i * hop - std::min(i * hop, w);
        const std::size_t end = std::min(mono.size(), i * hop + w + hop);
        std::size_t onset = i * hop + w / 2;
        for (std::size_t s = begin; s + micro <= end; s += micro_hop) {
            if (rms_dbfs(mono.subspan(s, micro)) >= crossing) {
                onset = s;
                // Sharpen to the first sample of that stretch that reaches the level.
                for (std::size_t k = s; k < s + micro; ++k) {
                    if (std::fabs(mono[k]) >= crossing_amplitude) {
                        onset = k;
                        break;
                    }
                }
                break;
            }
        }
        if (last_onset_sample &&
            static_cast<double>(onset - std::min(onset, *last_onset_sample)) < min_gap_samples)
            continue;
        last_onset_sample = onset;
        onsets.push_back(static_cast<double>(onset) / sample_rate);
    }
    return onsets;
}

std::optional<std::size_t> first_sample_above_dbfs(std::span<const float> mono,
                                                   double threshold_dbfs) {
    const double threshold = std::pow(10.0, threshold_dbfs / 20.0);
    for (std::size_t i = 0; i < mono.size(); ++i)
        if (std::fabs(mono[i]) > threshold)
            return i;
    return std::nullopt;
}

std::optional<std::size_t> last_sample_above_dbfs(std::span<const float> mono,
                                                  double threshold_dbfs) {
    const double threshold = std::pow(10.0, threshold_dbfs / 20.0);
    for (std::size_t i = mono.size(); i > 0; --i)
        if (std::fabs(mono[i - 1]) > threshold)
            return i - 1;
    return std::nullopt;
}

std::optional<double> onset_to_decay_s(std::span<const float> mono, int sample_rate, double drop_db,
                                       double window_s) {
    const auto env = rms_envelope_dbfs(mono, sample_rate, window_s);
    if (env.empty())
        return std::nullopt;
    const auto peak = std::max_element(env.begin(), env.end());
    if (*peak <= k_silence_dbfs)
        return std::nullopt;
    const auto onset =
        std::find_if(env.begin(), env.end(), [&](double db) { return db >= *peak - 20.0; });
    const auto decayed =
        std::find_if(peak, env.end(), [&](double db) { return db <= *peak - drop_db; });
    if (decayed == env.end())
        return std::nullopt;
    return static_cast<double>(decayed - onset) *
           static_cast<double>(samples_for(window_s, sample_rate)) / sample_rate;
}

} // namespace gno::test
