#pragma once
// The random part of the impairment proxy, kept free of sockets and clocks so that a seed
// gives the same fate to the same packet sequence and the statistics can be unit-tested.
// Thread: an impairment_model is used by one thread (the proxy's single io thread).

#include <array>
#include <chrono>
#include <cstdint>
#include <random>

namespace gno::impair {

/// What happens to datagrams travelling one way (client->server or server->client).
struct impairment_params {
    double delay_ms = 0.0;    // fixed one-way delay
    double jitter_ms = 0.0;   // uniform in [-jitter, +jitter] added to the delay (floored at 0)
    bool keep_order = false;  // jitter never lets a packet overtake an earlier one
    double loss = 0.0;        // drop probability (in the Gilbert-Elliott "good" state)
    double duplicate = 0.0;   // probability that a second copy is sent
    double reorder = 0.0;     // probability that a copy is held back an extra reorder_ms
    double reorder_ms = 10.0; // (held copies may overtake nothing but are overtaken)
    // Gilbert-Elliott burst loss: per-packet chance to enter the bad state, to leave it, and
    // the drop probability while in it. burst_enter = 0 disables it.
    double burst_enter = 0.0;
    double burst_exit = 0.5;
    double burst_loss = 1.0;

    /// True if packets can pass straight through (no delay, no randomness at all).
    [[nodiscard]] bool transparent() const noexcept {
        return delay_ms == 0.0 && jitter_ms == 0.0 && loss == 0.0 && duplicate == 0.0 &&
               reorder == 0.0 && burst_enter == 0.0;
    }
};

/// One copy of a packet to be sent after `delay`; `held_back` marks a deliberate reorder.
struct copy_plan {
    std::chrono::microseconds delay{0};
    bool held_back = false;
};

/// The fate of one packet: dropped, or one or two copies.
struct packet_plan {
    bool dropped = false;
    bool burst = false; // dropped while in the Gilbert-Elliott bad state
    int copies = 0;
    std::array<copy_plan, 2> copy{};
};

class impairment_model {
public:
    impairment_model(const impairment_params& params, std::uint64_t seed)
        : params_(params), rng_(seed) {}

    /// Decides the next packet's fate; draws a fixed number of random values per decision so
    /// the sequence depends only on the seed and the number of packets.
    packet_plan next();

    [[nodiscard]] const impairment_params& params() const noexcept { return params_; }

private:
    double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

    impairment_params params_;
    std::mt19937_64 rng_;
    bool bad_state_ = false;
};

} // namespace gno::impair
