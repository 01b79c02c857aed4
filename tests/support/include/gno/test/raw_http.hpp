#pragma once
// HTTP by hand on 127.0.0.1, for tests that must send exactly what they say (a lying
// Content-Length, a body cut short, none at all) and see how the server answers.
// Thread: any (no shared state).

#include <chrono>
#include <cstdint>
#include <string>

namespace gno::test {

/// A connected TCP socket to 127.0.0.1:`port`, or -1; `rcvbuf` > 0 sets SO_RCVBUF first.
[[nodiscard]] int connect_local(std::uint16_t port, int rcvbuf = 0);

struct http_answer {
    int status = 0;   // of the last status line (a 100 Continue may come first); 0: none
    std::string head; // everything before the blank line that ends the last answer's headers
    std::string body;
    std::chrono::milliseconds took{0};
};

/// Sends `head` (request line and headers, without Host, Connection or the blank line), then
/// `body`, and reads the answer until the server closes (Connection: close) or `timeout`.
/// A server that refuses early and closes is read, not reported as a send error.
[[nodiscard]] http_answer
http_exchange(std::uint16_t port, const std::string& head, const std::string& body,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

} // namespace gno::test
