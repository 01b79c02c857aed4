#include "gno/test/alloc_counter.hpp"

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GNO_ALLOC_HOOK 0 // the sanitizers own malloc
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GNO_ALLOC_HOOK 0
#else
#define GNO_ALLOC_HOOK 1
#endif
#else
#define GNO_ALLOC_HOOK 1
#endif

namespace gno::test {

std::atomic<bool> g_alloc_armed{false};
std::atomic<std::uint64_t> g_allocations{0};

bool alloc_hook_active() noexcept {
    return GNO_ALLOC_HOOK != 0;
}

} // namespace gno::test

namespace {
inline void count() noexcept {
    if (gno::test::g_alloc_armed.load(std::memory_order_relaxed))
        gno::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

#if GNO_ALLOC_HOOK
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
    count();
    return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) {
    count();
    return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) {
    count();
    return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) {
    count();
    return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
    count();
    return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
    count();
    *out = __libc_memalign(a, n);
    return *out ? 0 : 12; // ENOMEM
}
void free(void* p) {
    count(); // freeing is as forbidden as allocating: it can take the allocator's lock
    __libc_free(p);
}
}
#endif
