#pragma once
// What crosses between the network, control, render and recorder threads: fixed-size items carried
// by pre-allocated SPSC rings (spsc_ring.hpp).

#include "gno/proto/v1/datagram.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace gno::render {

inline constexpr int k_max_frame_samples = 960; // 20 ms at 48 kHz
inline constexpr int k_channels = 2;

class user_instrument;

/// Network thread -> render thread: a player joined, sent a new key state, left, was granted
/// the next solo by the conductor, or has an instrument of its own to play (or none any more).
struct ingress_event {
    enum class kind : std::uint8_t { join, key_state, leave, solo_grant, instrument };
    kind what = kind::key_state;
    std::uint16_t slot = 0;
    std::int64_t arrival_ns = 0; // server timeline
    proto::v1::key_state state;
    // kind::instrument: the player's own (user_instrument.hpp), owned by the render side from
    // here on; nullptr: back to GM.
    user_instrument* instrument = nullptr;
};

/// Render thread -> network thread: one encoded frame of one distinct mix.
struct encoded_frame {
    std::uint32_t mix_id = 0;
    std::int64_t render_sample = 0;
    std::uint16_t frame_samples = 0;
    std::uint16_t size = 0;
    std::array<std::byte, proto::v1::k_max_opus_bytes> bytes;
};

/// Render thread -> stats writer: a player's stem started sounding at `render_sample`
/// (measurement of alignment, DESIGN.md §4: onsets are found in the rendered stems).
struct stem_onset {
    std::int32_t slot = 0; // a player's; -1 - section: the peers' section bus, as mixed
    std::int64_t render_sample = 0;
};

/// Control thread -> render thread: a block of the conductor's talk-back (DESIGN.md §6), mono
/// at the render rate, to be added to every performer mix from render sample `start_sample` on
/// (never to the audience mix). The samples need not line up with the render frames: the
/// engine places a block on its sample and carries it over frame boundaries. Blocks play in
/// ring order; talkback.hpp slices a talk-back into them.
struct talkback_block {
    std::int64_t start_sample = 0;
    std::uint16_t sample_count = 0; // valid samples, <= k_max_frame_samples
    std::array<float, k_max_frame_samples> samples;
};

/// Render thread -> mesh thread (stem_exchange.hpp): one frame of one of this node's section
/// buses (gain * stem summed, before the master gain), planar.
struct stem_block {
    std::int64_t render_sample = 0;
    std::uint16_t frame_samples = 0;
    std::uint8_t section = 0;
    std::array<float, k_max_frame_samples> left;
    std::array<float, k_max_frame_samples> right;
};

/// Mesh thread -> render thread: a slice of another node's section bus, already placed on this
/// node's timeline (`render_sample` is this node's R of its first sample).
struct stem_slice {
    std::int64_t render_sample = 0;
    std::uint16_t frame_samples = 0; // <= proto::v1::k_max_stem_samples
    std::uint8_t section = 0;
    std::array<float, proto::v1::k_max_stem_samples> left;
    std::array<float, proto::v1::k_max_stem_samples> right;
};

/// Render thread -> recorder thread: one frame of the audience mix, interleaved stereo.
struct pcm_frame {
    std::int64_t render_sample = 0;
    std::uint16_t frame_samples = 0;
    std::array<float, k_max_frame_samples * k_channels> samples;
};

} // namespace gno::render
