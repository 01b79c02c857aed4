#pragma once
// Performers' own instruments (README "Your own instrument"): turns an upload (multipart WAV
// samples and a key map, gno/soundfonts/instrument_upload.hpp) into an SF2 written under the
// node's instrument directory, loads it (user_instrument.hpp), and frees the instruments the
// render thread hands back once their voices are gone.
//
// Lifecycle of an instrument: build() here (the control plane's builder thread) -> udp_io,
// which knows the performer's slot -> the ingress ring -> voice_bank::install on the render
// thread -> retired() ring when the slot goes back to GM -> this library's reaper thread, which
// hands it to an undertaker thread of its own: its samples are freed (and its file removed) once
// FluidSynth has reused the voices that played them - at once if it was never played, within
// the next notes of a busy bank, at the latest when the node stops (user_instrument.hpp).
// Until then it counts against the budget, as the memory it is.
//
// Memory is bounded: every live instrument counts against a budget (uploads beyond it are
// refused), and each upload against a size cap the control plane enforces before reading it.
//
// Thread: construct and destroy on a control thread, after every voice bank and udp_io that may
// hold an instrument is gone; build() on one non-real-time thread at a time; retired()'s
// producer is the render thread.

#include "gno/render/spsc_ring.hpp"
#include "gno/render/user_instrument.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace gno::render {

struct instrument_library_config {
    std::string directory; // empty: a fresh directory under $TMPDIR, removed at exit
    std::size_t budget_bytes = 512u << 20; // all performers' instruments together
    std::size_t retire_capacity = 256;     // instruments in flight back from the render thread
};

class instrument_library {
public:
    /// Creates (or checks) the directory; throws std::runtime_error naming --instrument-dir.
    explicit instrument_library(instrument_library_config cfg);
    ~instrument_library();
    instrument_library(const instrument_library&) = delete;
    instrument_library& operator=(const instrument_library&) = delete;

    /// What an upload came to: an instrument, or the HTTP status and a message for the uploader.
    struct built {
        std::unique_ptr<user_instrument> instrument;
        int status = 200;  // 400 bad upload, 503 over the node's budget, 500 our own failure
        std::string error; // a code: bad_upload, over_budget, build_failed
        std::string message;
        std::string json; // on success: what was built, for the uploader
    };
    /// Builds `session`'s instrument from an upload (Content-Type and body as received).
    [[nodiscard]] built build(std::uint32_t session, std::string_view content_type,
                              std::string_view body);

    /// The ring through which voice banks hand back what they let go of.
    [[nodiscard]] spsc_ring<user_instrument*>& retired() noexcept { return retired_; }
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_; }

    struct stats {
        std::uint64_t built = 0, refused = 0, freed = 0;
        std::size_t live_bytes = 0;
    };
    [[nodiscard]] stats counters() const noexcept;

private:
    void reap(std::stop_token stop);

    instrument_library_config cfg_;
    std::filesystem::path dir_;
    bool made_dir_ = false;
    std::shared_ptr<std::atomic<std::size_t>> live_bytes_;
    spsc_ring<user_instrument*> retired_;
    std::atomic<std::uint64_t> built_{0}, refused_{0}, freed_{0};
    std::uint64_t sequence_ = 0; // build() only
    std::jthread reaper_;        // last: stopped and joined first
};

} // namespace gno::render
