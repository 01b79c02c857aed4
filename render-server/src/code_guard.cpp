#include "gno/render/code_guard.hpp"

#include <iterator>

namespace gno::render {

code_guard::key code_guard::key_of(const boost::asio::ip::address& a) noexcept {
    if (a.is_v4())
        return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4()).to_bytes();
    key k = a.to_v6().to_bytes();
    if (!a.to_v6().is_v4_mapped())
        for (std::size_t i = 8; i < k.size(); ++i)
            k[i] = 0; // the /64
    return k;
}

bool code_guard::live(const entry& e, std::int64_t now_ns) const noexcept {
    return now_ns - e.window_start < std::chrono::nanoseconds(limits_.window).count();
}

bool code_guard::allowed(const boost::asio::ip::address& from, std::int64_t now_ns) {
    if (limits_.failures <= 0)
        return true;
    std::lock_guard lock(mu_);
    const auto it = seen_.find(key_of(from));
    return it == seen_.end() || !live(it->second, now_ns) || it->second.failures < limits_.failures;
}

void code_guard::failed(const boost::asio::ip::address& from, std::int64_t now_ns) {
    if (limits_.failures <= 0)
        return;
    std::lock_guard lock(mu_);
    const key k = key_of(from);
    auto it = seen_.find(k);
    if (it == seen_.end()) {
        if (seen_.size() >= limits_.max_addresses)
            std::erase_if(seen_, [&](const auto& kv) { return !live(kv.second, now_ns); });
        if (seen_.size() >= limits_.max_addresses)
            return;
        it = seen_.emplace(k, entry{now_ns, 0}).first;
    } else if (!live(it->second, now_ns)) {
        it->second = entry{now_ns, 0};
    }
    ++it->second.failures;
}

} // namespace gno::render
