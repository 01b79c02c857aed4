#include "gno/render/listen_stream.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <opus/opusenc.h>
#include <stdexcept>

namespace gno::render {

// The subscribers, shared with every subscription so a handle may outlive the stream.
struct listen_stream::hub {
    std::mutex mu; // held to copy or change the list, never while a sink runs
    std::vector<std::shared_ptr<const sink>> sinks;
    std::vector<page> headers;
    std::shared_ptr<std::atomic<std::uint32_t>> listeners;
};

namespace {

// Pages at most this many samples apart (100 ms at 48 kHz): a listener hears the mix soon
// after it is played, and joins within a tenth of a second.
constexpr int k_muxing_delay_samples = 4800;

} // namespace

listen_stream::listen_stream(int sample_rate, int bitrate, spsc_ring<pcm_frame>& ring)
    : ring_(ring), hub_(std::make_shared<hub>()),
      listeners_(std::make_shared<std::atomic<std::uint32_t>>(0)) {
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
    hub_->listeners = listeners_;
    OggOpusComments* comments = ope_comments_create();
    ope_comments_add(comments, "TITLE", "Global Net Orchestra audience mix (live)");
    ope_comments_add(comments, "ENCODER", "gno-server");
    int err = 0;
    enc_ = ope_encoder_create_pull(comments, sample_rate, k_channels, 0, &err);
    ope_comments_destroy(comments);
    if (!enc_ || err != OPE_OK)
        throw std::runtime_error(std::string("cannot start the /listen encoder (") +
                                 ope_strerror(err) + "); run with --no-listen-stream");
    ope_encoder_ctl(enc_, OPUS_SET_BITRATE(bitrate));
    ope_encoder_ctl(enc_, OPE_SET_MUXING_DELAY(k_muxing_delay_samples));
    // libopusenc holds up to 2 s back by default (for chaining decisions we never make).
    ope_encoder_ctl(enc_, OPE_SET_DECISION_DELAY(0));
    ope_encoder_flush_header(enc_);
    // Before any audio, the pages there are are the headers: every listener starts with them.
    unsigned char* data = nullptr;
    opus_int32 len = 0;
    while (ope_encoder_get_page(enc_, &data, &len, 1) == 1)
        hub_->headers.push_back(std::make_shared<const std::string>(
            reinterpret_cast<const char*>(data), static_cast<std::size_t>(len)));
    if (hub_->headers.empty())
        throw std::runtime_error(
            "the /listen encoder made no Ogg header; run with --no-listen-stream");
    thread_ = std::thread([this] { run(); });
}

listen_stream::~listen_stream() {
    stop();
}

void listen_stream::stop() {
    if (!enc_)
        return;
    stopping_.store(true, std::memory_order_release);
    if (thread_.joinable())
        thread_.join();
    ope_encoder_destroy(enc_);
    enc_ = nullptr;
}

std::shared_ptr<void> listen_stream::subscribe(sink s, std::vector<page>& headers) {
    auto entry = std::make_shared<const sink>(std::move(s));
    {
        std::lock_guard lock(hub_->mu);
        headers = hub_->headers;
        hub_->sinks.push_back(entry);
    }
    listeners_->fetch_add(1, std::memory_order_relaxed);
    // The handle: its destruction takes the sink off the list (on whichever thread drops it).
    auto h = hub_;
    const sink* key = entry.get();
    return std::shared_ptr<void>(nullptr, [h, key](void*) {
        {
            std::lock_guard lock(h->mu);
            std::erase_if(h->sinks, [key](const auto& e) { return e.get() == key; });
        }
        h->listeners->fetch_sub(1, std::memory_order_relaxed);
    });
}

listen_stream::stats listen_stream::counters() const noexcept {
    stats s;
    s.listeners = listeners_->load(std::memory_order_relaxed);
    s.dropped = dropped_.load(std::memory_order_relaxed);
    s.pages = pages_.load(std::memory_order_relaxed);
    s.bytes = bytes_.load(std::memory_order_relaxed);
    return s;
}

void listen_stream::publish_pages() {
    unsigned char* data = nullptr;
    opus_int32 len = 0;
    std::vector<std::shared_ptr<const sink>> to;
    while (ope_encoder_get_page(enc_, &data, &len, 0) == 1) {
        auto p = std::make_shared<const std::string>(reinterpret_cast<const char*>(data),
                                                     static_cast<std::size_t>(len));
        pages_.fetch_add(1, std::memory_order_relaxed);
        bytes_.fetch_add(static_cast<std::uint64_t>(len), std::memory_order_relaxed);
        {
            std::lock_guard lock(hub_->mu);
            to = hub_->sinks;
        }
        for (const auto& s : to)
            (*s)(p);
    }
}

void listen_stream::drain() {
    const pcm_frame* frame = nullptr;
    while ((frame = ring_.front()) != nullptr) {
        ope_encoder_write_float(enc_, frame->samples.data(), frame->frame_samples);
        ring_.release();
        publish_pages();
    }
}

void listen_stream::run() {
    while (!stopping_.load(std::memory_order_acquire)) {
        drain();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

} // namespace gno::render
