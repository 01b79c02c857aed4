#pragma once
// The live audience stream behind /listen (DESIGN.md §6): the render thread hands the audience
// mix over an SPSC ring (only while someone listens), this encoder thread encodes it once with
// libopusenc's pull API and fans each Ogg page out to every listener. A listener starts with
// the stream's header pages (OpusHead, OpusTags, kept aside) and continues from the next live
// page, so it joins on a page boundary. What a listener does with a page (queue it, drop
// itself when too far behind) is its own business: the sink must not block.
//
// Cost when nobody listens: the render thread skips the copy (wanted() is false), the encoder
// thread only polls an empty ring.
//
// Thread: construct/stop on a control thread; subscribe and the subscription's release on any
// thread; wanted() is read by the render thread (RT-safe); sinks run on the encoder thread.

#include "gno/render/frames.hpp"
#include "gno/render/spsc_ring.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

struct OggOpusEnc;

namespace gno::render {

class listen_stream {
public:
    using page = std::shared_ptr<const std::string>;
    using sink = std::function<void(const page&)>;

    /// Starts the encoder thread; throws std::runtime_error if libopusenc refuses.
    listen_stream(int sample_rate, int bitrate, spsc_ring<pcm_frame>& ring);
    ~listen_stream();
    listen_stream(const listen_stream&) = delete;
    listen_stream& operator=(const listen_stream&) = delete;

    /// Stops the encoder thread. Idempotent. Subscriptions may outlive it (they go quiet).
    void stop();

    /// Any thread: `headers` receives the header pages; `s` then gets every live page on the
    /// encoder thread until the returned handle is destroyed.
    [[nodiscard]] std::shared_ptr<void> subscribe(sink s, std::vector<page>& headers);

    /// Render thread, RT-safe: whether anyone listens (feed the ring only then).
    [[nodiscard]] bool wanted() const noexcept {
        return listeners_->load(std::memory_order_relaxed) > 0;
    }

    /// Any thread: a listener was dropped for falling behind.
    void count_dropped() noexcept { dropped_.fetch_add(1, std::memory_order_relaxed); }

    struct stats {
        std::uint64_t listeners = 0, dropped = 0, pages = 0, bytes = 0;
    };
    [[nodiscard]] stats counters() const noexcept;

    struct hub;

private:
    void run();
    void drain();
    void publish_pages();

    spsc_ring<pcm_frame>& ring_;
    std::shared_ptr<hub> hub_;
    std::shared_ptr<std::atomic<std::uint32_t>> listeners_;
    std::atomic<std::uint64_t> dropped_{0}, pages_{0}, bytes_{0};
    OggOpusEnc* enc_ = nullptr;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace gno::render
