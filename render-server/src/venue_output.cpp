#include "gno/render/venue_output.hpp"

#include "gno/render/render_clock.hpp"
#include "gno/render/timing.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <jack/jack.h>

namespace gno::render {
namespace {

// libjack reports a missing server on stderr in several lines; we throw one actionable line.
void jack_quiet(const char*) {}
void jack_to_stderr(const char* msg) {
    std::fprintf(stderr, "gno-server: jack: %s\n", msg);
}

/// Whether a JACK client called `name` exists. jack2 reports a refused exact name only as
/// JackFailure|JackServerError, so a short-lived client of our own asks the server.
bool jack_client_exists(const std::string& name) {
    jack_status_t status{};
    jack_client_t* probe = jack_client_open("gno-server-name-check", JackNoStartServer, &status);
    if (probe == nullptr)
        return false;
    char* uuid = jack_get_uuid_for_client_name(probe, name.c_str());
    const bool exists = uuid != nullptr;
    if (uuid != nullptr)
        jack_free(uuid);
    jack_client_close(probe);
    return exists;
}

} // namespace

venue_output::venue_output(const venue_config& cfg, int sample_rate, int frame_samples,
                           node_counters& counters)
    : cfg_(cfg), rate_(sample_rate), frame_samples_(frame_samples), counters_(counters),
      adapter_(frame_samples, 2 + (cfg.stems ? 2 * k_sections : 0), k_max_period) {
    jack_set_error_function(jack_quiet);
    jack_set_info_function(jack_quiet);
    jack_status_t status{};
    // Exact name: JACK would otherwise rename a second "gno-server" to "gno-server-01", and
    // the venue's patchbay, which connects by name, would reach the first one.
    client_ = jack_client_open(cfg_.client_name.c_str(),
                               static_cast<jack_options_t>(JackNoStartServer | JackUseExactName),
                               &status);
    if (client_ == nullptr) {
        if (status & JackServerFailed)
            throw venue_error("--jack: no JACK server is running; start one (e.g. `jackd -d alsa "
                              "-r 48000`, or `jackd -d dummy -r 48000` without a sound card)");
        if ((status & JackNameNotUnique) || jack_client_exists(cfg_.client_name))
            throw venue_error("--jack: a JACK client named " + cfg_.client_name +
                              " already exists; pass --jack-name OTHER");
        throw venue_error("--jack: cannot open JACK client '" + cfg_.client_name + "' (status 0x" +
                          std::to_string(static_cast<int>(status)) + "); try another --jack-name");
    }
    jack_set_error_function(jack_to_stderr);
    name_ = jack_get_client_name(client_);
    const jack_nframes_t rate = jack_get_sample_rate(client_);
    if (rate != static_cast<jack_nframes_t>(rate_))
        fail("--jack: the JACK server runs at " + std::to_string(rate) +
             " Hz but this node renders at " + std::to_string(rate_) +
             " Hz; restart jackd with -r " + std::to_string(rate_));

    // Terminal outputs: the sound starts here (it is synthesised, not passed through).
    const auto flags = static_cast<unsigned long>(JackPortIsOutput | JackPortIsTerminal);
    auto add_port = [&](const std::string& short_name) {
        jack_port_t* p =
            jack_port_register(client_, short_name.c_str(), JACK_DEFAULT_AUDIO_TYPE, flags, 0);
        if (p == nullptr)
            fail("--jack: cannot register the JACK port " + name_ + ":" + short_name);
        ports_.push_back(p);
    };
    add_port("audience_left");
    add_port("audience_right");
    if (cfg_.stems)
        for (int s = 1; s <= k_sections; ++s) {
            add_port("section" + std::to_string(s) + "_left");
            add_port("section" + std::to_string(s) + "_right");
        }
    buffers_.assign(ports_.size(), nullptr);

    jack_set_process_callback(client_, &venue_output::process, this);
    jack_set_xrun_callback(client_, &venue_output::on_xrun, this);
    jack_on_info_shutdown(
        client_,
        [](jack_status_t code, const char* reason, void* arg) {
            venue_output::on_shutdown(static_cast<int>(code), reason, arg);
        },
        this);

    // Timeline 0 is now: the clients that join from here on sync to this card's clock.
    frame0_ = jack_frame_time(client_);
    epoch_ns_ = monotonic_ns() - now_ns();
}

venue_output::~venue_output() {
    close();
}

void venue_output::fail(const std::string& what) {
    jack_client_close(client_);
    client_ = nullptr;
    closed_.store(true, std::memory_order_release);
    throw venue_error(what);
}

void venue_output::start(render_fn render, void* context) {
    render_ = render;
    context_ = context;
    // Published to the process thread by the activation itself.
    if (jack_activate(client_) != 0)
        throw venue_error("--jack: the JACK server would not activate client " + name_);
    active_ = true;
    if (cfg_.connect)
        connect_audience();
}

void venue_output::connect_audience() {
    // The venue's first two outputs: what an engineer expects from a stereo source that
    // "just plays". Anything else is the patchbay's business (--no-connect).
    const char** found = jack_get_ports(client_, nullptr, JACK_DEFAULT_AUDIO_TYPE,
                                        JackPortIsPhysical | JackPortIsInput);
    std::vector<std::string> playback;
    for (const char** p = found; p != nullptr && *p != nullptr; ++p)
        playback.emplace_back(*p);
    if (found != nullptr)
        jack_free(static_cast<void*>(found));
    if (playback.empty()) {
        warning_ = "no physical JACK playback ports to connect " + name_ +
                   ":audience_left/right to; connect them yourself or pass --no-connect";
        return;
    }
    const std::array<const char*, 2> ours = {"audience_left", "audience_right"};
    for (std::size_t c = 0; c < ours.size(); ++c) {
        const std::string from = name_ + ":" + ours[c];
        const std::string& to = playback[std::min(c, playback.size() - 1)];
        const int rc = jack_connect(client_, from.c_str(), to.c_str());
        if (rc != 0 && rc != EEXIST)
            warning_ = "could not connect " + from + " to " + to +
                       "; connect the audience ports yourself or pass --no-connect";
    }
}

void venue_output::deactivate() noexcept {
    if (client_ == nullptr || !active_)
        return;
    jack_deactivate(client_);
    active_ = false;
}

void venue_output::close() noexcept {
    if (client_ == nullptr)
        return;
    deactivate();
    closed_offset_ns_ = now_ns() - monotonic_ns();
    closed_.store(true, std::memory_order_release);
    jack_client_close(client_);
    client_ = nullptr;
}

std::int64_t venue_output::elapsed(std::uint32_t frame) const noexcept {
    // Relative to the frames at the last period's start, which the process thread keeps
    // current: exact as long as a period runs at least every 12 hours.
    const std::int64_t last = last_elapsed_.load(std::memory_order_relaxed);
    const std::uint32_t expected = frame0_ + static_cast<std::uint32_t>(last);
    return last + static_cast<std::int32_t>(frame - expected);
}

std::int64_t venue_output::now_ns() const noexcept {
    if (closed_.load(std::memory_order_acquire))
        return monotonic_ns() + closed_offset_ns_;
    // JACK's frame clock is a DLL-smoothed estimate of the card's position in whole frames;
    // the microseconds since that frame's estimated time give what lies between two frames.
    const jack_time_t t = jack_get_time();
    const jack_nframes_t f = jack_time_to_frames(client_, t);
    const auto within_us =
        static_cast<std::int64_t>(t) - static_cast<std::int64_t>(jack_frames_to_time(client_, f));
    const std::int64_t estimate = samples_to_ns(elapsed(f), rate_) + within_us * 1000;
    // After the driver stalls, the DLL wanders for seconds (tens of ms either way, backwards
    // too, measured on jackd's dummy driver); the period being played is known exactly, so the
    // estimate is kept within it. Once rendering runs, now is never more than a period off.
    const auto period = last_period_.load(std::memory_order_relaxed);
    if (period == 0)
        return estimate; // before the first period
    const std::int64_t from = samples_to_ns(last_elapsed_.load(std::memory_order_relaxed), rate_);
    return std::clamp(estimate, from, from + samples_to_ns(period, rate_));
}

// JACK process thread. Realtime-safe: the port buffers, the adapter and the engine's frame.
int venue_output::process(std::uint32_t n, void* arg) noexcept {
    auto* self = static_cast<venue_output*>(arg);
    // The period's first sample is render sample `at`: r = now * rate on the card's clock.
    const std::int64_t at =
        std::max<std::int64_t>(0, self->elapsed(jack_last_frame_time(self->client_)));
    self->last_elapsed_.store(at, std::memory_order_relaxed);
    self->last_period_.store(n, std::memory_order_relaxed);
    for (std::size_t c = 0; c < self->ports_.size(); ++c)
        self->buffers_[c] = static_cast<float*>(jack_port_get_buffer(self->ports_[c], n));
    const std::int64_t skipped =
        self->adapter_.pull(self->buffers_, static_cast<int>(n), at,
                            [self](std::int64_t r, std::span<float* const> channels) noexcept {
                                self->render_(self->context_, r, channels);
                            });
    if (skipped > 0)
        self->counters_.skipped_frames.fetch_add(
            static_cast<std::uint64_t>((skipped + self->frame_samples_ - 1) / self->frame_samples_),
            std::memory_order_relaxed);
    return 0;
}

int venue_output::on_xrun(void* arg) noexcept {
    static_cast<venue_output*>(arg)->counters_.xruns.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

void venue_output::on_shutdown(int code, const char* reason, void* arg) noexcept {
    auto* self = static_cast<venue_output*>(arg);
    std::snprintf(self->gone_reason_.data(), self->gone_reason_.size(), "%s (status 0x%x)",
                  reason != nullptr && *reason != '\0' ? reason : "no reason given",
                  static_cast<unsigned>(code));
    self->gone_.store(true, std::memory_order_release);
}

std::string venue_output::gone_reason() const {
    if (!server_gone())
        return {};
    return std::string(gone_reason_.data());
}

bool venue_output::realtime() const noexcept {
    return client_ != nullptr && jack_is_realtime(client_) != 0;
}

int venue_output::period() const noexcept {
    return client_ != nullptr ? static_cast<int>(jack_get_buffer_size(client_)) : 0;
}

} // namespace gno::render
