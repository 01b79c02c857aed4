#pragma once
// What the render engine's tests hand it: one ingress event (a join, a key state, a leave),
// pushed into the ring as the network thread would.

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

} // namespace gno::render::test
