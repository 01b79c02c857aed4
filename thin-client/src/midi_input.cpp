#include "gno/client/midi_input.hpp"

#include "gno/client/steady_time.hpp"

#include <cerrno>
#include <ctime>

namespace gno::client {
namespace {

constexpr std::uint8_t k_cc_all_sound_off = 120;
constexpr std::uint8_t k_cc_all_notes_off = 123;

} // namespace

std::optional<midi_message> parse_midi_message(std::span<const std::uint8_t> bytes) noexcept {
    if (bytes.size() == 2 && (bytes[0] & 0xF0) == 0xC0 && bytes[1] < 0x80) {
        midi_message m;
        m.what = midi_message::kind::program;
        m.channel = static_cast<std::uint8_t>(bytes[0] & 0x0F);
        m.value = bytes[1];
        return m;
    }
    if (bytes.size() != 3 || bytes[0] < 0x80 || bytes[1] >= 0x80 || bytes[2] >= 0x80)
        return std::nullopt;
    midi_message m;
    m.channel = static_cast<std::uint8_t>(bytes[0] & 0x0F);
    switch (bytes[0] & 0xF0) {
    case 0x90:
        if (bytes[2] != 0) {
            m.what = midi_message::kind::note_on;
            m.key = bytes[1];
            m.velocity = bytes[2];
            return m;
        }
        [[fallthrough]]; // velocity 0 is a note-off
    case 0x80:
        m.what = midi_message::kind::note_off;
        m.key = bytes[1];
        return m;
    case 0xB0:
        if (bytes[1] == k_cc_articulation) {
            m.what = midi_message::kind::articulation;
            m.value = bytes[2];
            return m;
        }
        if (bytes[1] != k_cc_all_notes_off && bytes[1] != k_cc_all_sound_off)
            return std::nullopt;
        m.what = midi_message::kind::all_notes_off;
        return m;
    default:
        return std::nullopt;
    }
}

void midi_input::receive(std::span<const std::uint8_t> bytes, std::int64_t local_ns) noexcept {
    const auto message = parse_midi_message(bytes);
    if (!message) {
        counters_.ignored.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const bool queued = ring_.try_push([&](midi_event& slot) {
        slot.local_ns = local_ns;
        slot.message = *message;
    });
    (queued ? counters_.received : counters_.dropped).fetch_add(1, std::memory_order_relaxed);
    if (queued)
        sem_post(&ready_);
}

midi_input::midi_input() {
    sem_init(&ready_, 0, 0);
}

midi_input::~midi_input() {
    sem_destroy(&ready_);
}

void midi_input::wait(std::chrono::milliseconds timeout) noexcept {
    timespec until{};
    clock_gettime(CLOCK_MONOTONIC, &until);
    const auto ns = static_cast<long long>(until.tv_nsec) +
                    std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    until.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
    until.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    while (sem_clockwait(&ready_, CLOCK_MONOTONIC, &until) != 0 && errno == EINTR) {
    }
}

std::optional<midi_event> midi_input::next() noexcept {
    const midi_event* e = ring_.front();
    if (e == nullptr)
        return std::nullopt;
    const midi_event out = *e;
    ring_.pop();
    return out;
}

void midi_keys::apply(const midi_event& event, key_sink& sink) {
    const auto& m = event.message;
    switch (m.what) {
    case midi_message::kind::note_on:
        held_.set(m.key);
        sink.key_down(m.key, m.velocity, event.local_ns);
        break;
    case midi_message::kind::note_off:
        if (held_.test(m.key)) {
            held_.reset(m.key);
            sink.key_up(m.key, event.local_ns);
        }
        break;
    case midi_message::kind::all_notes_off:
        release_all(sink, event.local_ns);
        break;
    case midi_message::kind::program:
        sink.program_change(m.value, m.channel == k_percussion_channel ? k_percussion_bank : 0);
        break;
    case midi_message::kind::articulation:
        sink.articulation_change(m.value >= 64 ? articulation::short_notes
                                               : articulation::sustained);
        break;
    }
}

void midi_keys::release_all(key_sink& sink, std::int64_t local_ns) {
    for (std::size_t k = 0; k < held_.size(); ++k) {
        if (held_.test(k))
            sink.key_up(static_cast<std::uint8_t>(k), local_ns);
    }
    held_.reset();
}

midi_forwarder::midi_forwarder(midi_input& input, key_sink& sink) : input_(input), sink_(sink) {
    thread_ = std::thread([this] { run(); });
}

midi_forwarder::~midi_forwarder() {
    stop();
}

void midi_forwarder::stop() {
    if (!thread_.joinable())
        return;
    stop_.store(true);
    input_.wake();
    thread_.join();
    keys_.release_all(sink_, steady_now_ns());
}

void midi_forwarder::run() {
    while (!stop_.load(std::memory_order_relaxed)) {
        input_.wait(k_wait);
        while (const auto e = input_.next())
            keys_.apply(*e, sink_);
    }
    while (const auto e = input_.next()) // what arrived before the stop
        keys_.apply(*e, sink_);
}

} // namespace gno::client
