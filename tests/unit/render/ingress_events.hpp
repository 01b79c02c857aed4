#pragma once
// What the render engine's tests hand it: one ingress event (a join, a key state, a leave),
// pushed into the ring as the network thread would, and the simplest key state in it.

#include "gno/render/frames.hpp"
#include "gno/render/spsc_ring.hpp"

#include <gtest/gtest.h>

namespace gno::render::test {

inline void push_event(spsc_ring<ingress_event>& ring, ingress_event::kind what, int slot,
                       const proto::v1::key_state& s = {}) {
    ingress_event ev;
    ev.what = what;
    ev.slot = static_cast<std::uint16_t>(slot);
    ev.state = s;
    ASSERT_TRUE(ring.try_push(ev)) << "ingress ring full";
}

/// A key state holding one key (velocity 100) on a GM program.
inline proto::v1::key_state hold(int key, int program) {
    proto::v1::key_state s;
    s.program = static_cast<std::uint8_t>(program);
    s.held_count = 1;
    s.held[0] = {static_cast<std::uint8_t>(key), 100, 1, 0};
    return s;
}

} // namespace gno::render::test
