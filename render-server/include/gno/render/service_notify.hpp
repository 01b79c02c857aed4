#pragma once
// The service manager's readiness and watchdog protocol (systemd's sd_notify, deploy/systemd):
// datagrams "READY=1", "WATCHDOG=1", "STOPPING=1" to the unix socket named by $NOTIFY_SOCKET.
// Not linked to libsystemd: the protocol is one sendto, and a node outside systemd (a
// container, a test) simply has no socket and sends nothing.
//
// Thread: the control thread (main's loop). Not for the real-time path.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gno::render {

class service_notify {
public:
    /// Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (and $WATCHDOG_PID, which must be ours).
    service_notify();

    /// Sends `state` (e.g. "READY=1"); false when there is no socket or it failed.
    bool send(std::string_view state) const;
    [[nodiscard]] bool active() const noexcept { return !socket_path_.empty(); }
    /// How often the watchdog wants a "WATCHDOG=1": half its timeout; nullopt: no watchdog.
    [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval() const noexcept {
        return watchdog_;
    }

private:
    std::string socket_path_; // '@' first: an abstract socket
    std::optional<std::chrono::microseconds> watchdog_;
};

} // namespace gno::render
