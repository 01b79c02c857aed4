#pragma once
// Counting every allocation in a test process, to prove a real-time path allocates nothing
// (STYLE.md). A test executable links gno::test_alloc_counter, which replaces malloc and its
// family (free included: freeing can take the allocator's lock too) with counting wrappers
// around glibc's own, so everything is seen: ours, libstdc++'s, FluidSynth's, libopus's. The
// count runs only while armed, on every thread. Under a sanitizer (which owns malloc) the hook
// is off and `alloc_hook_active()` says so: such tests skip.
#include <atomic>
#include <cstdint>

namespace gno::test {

extern std::atomic<bool> g_alloc_armed;
extern std::atomic<std::uint64_t> g_allocations;

/// False under ASan/TSan: nothing is counted.
[[nodiscard]] bool alloc_hook_active() noexcept;

} // namespace gno::test
