#pragma once
// A performer's own instrument (README "Your own instrument"): the SF2 the instrument library
// built from their upload, loaded by FluidSynth off the render thread into a synthesiser of its
// own that never renders - it only owns the samples. A voice bank plays its preset (bank 0,
// program 0) on the performer's lanes (voice_bank::install) without ever loading anything.
//
// Destroying it may block: FluidSynth's voices keep a reference to the samples they played even
// after they stop, until FluidSynth reuses them for other notes (or its synthesiser is deleted),
// and the samples cannot be freed before. So the destructor asks FluidSynth to unload them as
// soon as they are free (fluid_synth_sfunload, which retries on its own timer thread) and waits
// for that. Never played: it returns at once.
//
// Thread: load and destroy on any thread that is not real-time (and may wait), and destroy only
// once no voice bank selects it (a bank hands back what it let go of through the instrument
// library's ring). preset(): any thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

struct _fluid_hashtable_t;
struct _fluid_synth_t;
struct _fluid_preset_t;

namespace gno::render {

class user_instrument {
public:
    /// Loads the SF2 at `path` (kept, and removed with the instrument). Returns nullptr and
    /// says why in `error` when FluidSynth cannot load it or it has no preset 0:0.
    /// `live_bytes` counts `bytes` while the instrument exists (the node's budget).
    [[nodiscard]] static std::unique_ptr<user_instrument>
    load(std::uint32_t session, const std::filesystem::path& path, std::size_t bytes,
         std::shared_ptr<std::atomic<std::size_t>> live_bytes, std::string& error);
    ~user_instrument();
    user_instrument(const user_instrument&) = delete;
    user_instrument& operator=(const user_instrument&) = delete;

    /// The preset to select on a channel of any synthesiser.
    [[nodiscard]] _fluid_preset_t* preset() const noexcept { return preset_; }
    [[nodiscard]] std::uint32_t session() const noexcept { return session_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
    user_instrument() = default;

    _fluid_hashtable_t* settings_ = nullptr;
    _fluid_synth_t* owner_ = nullptr; // holds the SoundFont and its samples
    _fluid_preset_t* preset_ = nullptr;
    int sfont_id_ = -1;
    std::uint32_t session_ = 0;
    std::size_t bytes_ = 0;
    std::filesystem::path path_;
    std::shared_ptr<std::atomic<std::size_t>> live_bytes_;
};

} // namespace gno::render
