#pragma once
// A WebSocket client for tests of the control plane (Boost.Beast, blocking with deadlines):
// joins, sends text or binary frames, and reads JSON messages without losing one to a
// timeout. Thread: one test thread per client.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gno::test {

namespace ws_detail {
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

class ws_client {
public:
    explicit ws_client(std::uint16_t port) : ws_(ioc_) {
        beast::get_lowest_layer(ws_).connect(
            tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
        ws_.handshake("127.0.0.1", "/ws");
    }
    void send(const std::string& text) {
        ws_.text(true);
        ws_.write(net::buffer(text));
    }
    /// Like send, but a connection the server has already closed is not an error.
    bool try_send(const std::string& text) {
        beast::error_code ec;
        ws_.text(true);
        ws_.write(net::buffer(text), ec);
        return !ec;
    }
    void send_binary(const std::vector<std::uint8_t>& bytes) {
        ws_.binary(true);
        ws_.write(net::buffer(bytes));
    }
    /// The next message, or nullopt when the server closed the connection or time ran out
    /// (a read still under way is kept for the next call, so a timeout loses nothing).
    std::optional<json> next(std::chrono::milliseconds timeout = 3000ms) {
        if (closed_)
            return std::nullopt;
        if (!reading_) {
            reading_ = true;
            done_ = false;
            ws_.async_read(buf_, [this](beast::error_code ec, std::size_t) {
                done_ = true;
                ec_ = ec;
            });
        }
        ioc_.restart();
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (!done_ && std::chrono::steady_clock::now() < until)
            ioc_.run_one_until(until);
        if (!done_)
            return std::nullopt;
        reading_ = false;
        if (ec_) {
            closed_ = true;
            close_reason_ = static_cast<websocket::close_code>(ws_.reason().code);
            return std::nullopt;
        }
        auto m = json::parse(beast::buffers_to_string(buf_.data()));
        buf_.consume(buf_.size());
        return m;
    }
    /// Reads until a message of `type` arrives (others are skipped).
    std::optional<json> next_of(std::string_view type, std::chrono::milliseconds timeout = 3000ms) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now()));
            if (!m)
                return std::nullopt;
            if ((*m)["type"] == type)
                return m;
        }
        return std::nullopt;
    }
    json join(const std::string& code, const std::string& role_name, const std::string& name,
              int program = 0) {
        send(json{{"type", "join"},
                  {"code", code},
                  {"role", role_name},
                  {"name", name},
                  {"program", program}}
                 .dump());
        auto w = next();
        return w ? *w : json{};
    }
    [[nodiscard]] bool closed() const { return closed_; }
    [[nodiscard]] websocket::close_code close_reason() const { return close_reason_; }

private:
    net::io_context ioc_;
    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buf_;
    bool reading_ = false, done_ = false, closed_ = false;
    beast::error_code ec_;
    websocket::close_code close_reason_ = websocket::close_code::none;
};

} // namespace ws_detail

using ws_detail::ws_client;

} // namespace gno::test
