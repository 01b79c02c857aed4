#pragma once
// The venue's sound card (DESIGN.md §6, §7), through JACK: the audience mix on the ports
// audience_left/audience_right and, with stems, each section bus on sectionN_left/right
// (N = 1..k_sections, the GM families of mixer.hpp, then the drums). The node becomes a JACK
// client, and its process callback is the node's render clock: it renders engine frames
// through a period_adapter until it holds the period and plays that. The server timeline
// becomes the card's frame clock: now = (JACK frame - the frame at start) / rate, so the
// render sample a period plays from is its start on the timeline, and clients that sync to
// the server follow the card, drift included.
//
// Thread: construct, start, deactivate and close on a control thread; now_ns from any thread;
// the render function runs on JACK's process thread.

#include "gno/render/config.hpp"
#include "gno/render/counters.hpp"
#include "gno/render/period_adapter.hpp"
#include "gno/render/server_timeline.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

struct _jack_client;
struct _jack_port;

namespace gno::render {

/// A start-up failure the venue engineer can fix (no JACK server, another sample rate, a
/// client name in use): gno-server exits with status 2, as gno-client does.
class venue_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class venue_output final : public server_timeline {
public:
    /// JACK process thread, realtime-safe: renders the frame at render sample `r` into
    /// `channels` (audience left, right, then each section's left, right with stems), each
    /// frame_samples long.
    using render_fn = void (*)(void* context, std::int64_t r,
                               std::span<float* const> channels) noexcept;

    /// Opens the JACK client (never starting a server) and registers its ports; the timeline
    /// starts here. Throws venue_error.
    venue_output(const venue_config& cfg, int sample_rate, int frame_samples,
                 node_counters& counters);
    ~venue_output() override;
    venue_output(const venue_output&) = delete;
    venue_output& operator=(const venue_output&) = delete;

    /// Activates the client: from now on the process callback renders with render(context,
    /// ...). Connects the audience ports unless told not to; a connection that fails is a
    /// warning (warning()), not an error. Throws venue_error if JACK refuses to activate.
    void start(render_fn render, void* context);
    /// No process callback runs after this returns (idempotent).
    void deactivate() noexcept;
    /// Deactivates and closes the client; the timeline runs on from the steady clock.
    /// Idempotent. Nobody may read now_ns() while it runs.
    void close() noexcept;

    [[nodiscard]] std::int64_t now_ns() const noexcept override;
    [[nodiscard]] std::int64_t epoch_ns() const noexcept override { return epoch_ns_; }

    /// Any thread: the JACK server has shut down or thrown the client out.
    [[nodiscard]] bool server_gone() const noexcept {
        return gone_.load(std::memory_order_acquire);
    }
    /// Any thread: why, once server_gone().
    [[nodiscard]] std::string gone_reason() const;
    /// What went wrong at start that the node can run with (a failed connection); empty if
    /// nothing. Control thread, after start().
    [[nodiscard]] const std::string& warning() const noexcept { return warning_; }
    /// The JACK server runs its process threads with real-time scheduling.
    [[nodiscard]] bool realtime() const noexcept;
    [[nodiscard]] const std::string& client_name() const noexcept { return name_; }
    /// JACK's period in samples, now.
    [[nodiscard]] int period() const noexcept;

private:
    static int process(std::uint32_t n, void* arg) noexcept;
    static int on_xrun(void* arg) noexcept;
    static void on_shutdown(int code, const char* reason, void* arg) noexcept;
    /// Frames since the start from a JACK frame time (unwrapped: 32 bits wrap after a day).
    [[nodiscard]] std::int64_t elapsed(std::uint32_t frame) const noexcept;
    void connect_audience();
    void fail(const std::string& what);

    static constexpr int k_max_period = 8192; // jack2's largest buffer size

    venue_config cfg_;
    int rate_;
    int frame_samples_;
    node_counters& counters_;
    std::string name_;
    _jack_client* client_ = nullptr;
    std::vector<_jack_port*> ports_; // audience L, R, then section L, R
    std::vector<float*> buffers_;    // this period's port buffers (process thread)
    period_adapter adapter_;
    render_fn render_ = nullptr;
    void* context_ = nullptr;
    std::uint32_t frame0_ = 0;                  // the JACK frame at timeline 0
    std::atomic<std::int64_t> last_elapsed_{0}; // frames at the last period's start: unwraps
    std::atomic<std::uint32_t> last_period_{0}; // its length; 0 before the first
    std::int64_t epoch_ns_ = 0;
    bool active_ = false;
    // After close: the timeline continues as monotonic + offset (published by closed_).
    std::atomic<bool> closed_{false};
    std::int64_t closed_offset_ns_ = 0;
    std::atomic<bool> gone_{false};
    std::array<char, 256> gone_reason_{}; // written before gone_ is set
    std::string warning_;
    static_assert(std::atomic<std::int64_t>::is_always_lock_free);
};

} // namespace gno::render
