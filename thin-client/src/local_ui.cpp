#include "gno/client/local_ui.hpp"

#include "gno/client/ui_assets.hpp"
#include "gno/client/ui_messages.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <thread>
#include <unordered_set>

namespace gno::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto k_status_period = std::chrono::milliseconds(100);
constexpr auto k_http_timeout = std::chrono::seconds(30);
constexpr std::size_t k_max_request_body = 8 * 1024;
constexpr std::size_t k_max_chat_history = 50;
constexpr std::uint64_t k_refusals_before_close = 200;

void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
}

bool is_loopback(const net::ip::address& a) {
    return a.is_loopback();
}

} // namespace

class ui_ws_session;

struct local_ui::impl : std::enable_shared_from_this<local_ui::impl> {
    impl(ui_config c, ui_hooks h) : cfg(std::move(c)), hooks(std::move(h)) {}

    ui_config cfg;
    ui_hooks hooks;
    ui_counters counters;
    std::optional<net::io_context> ioc{std::in_place, 1};
    std::optional<tcp::acceptor> acceptor;
    std::optional<net::steady_timer> status_timer;
    std::thread thread;
    std::uint16_t bound_port = 0;
    bool started = false;
    bool stopped = false;

    // UI thread only.
    std::unordered_set<ui_ws_session*> pages;
    std::deque<std::pair<std::string, std::string>> kept; // (history key, frame)

    void listen();
    void do_accept();
    void do_status();
    void send_all(const std::shared_ptr<const std::string>& frame);
    void keep(std::string key, const std::string& frame);
    [[nodiscard]] std::vector<std::string> history() const;
    /// Host (and Origin, when present) name this server on a loopback name.
    [[nodiscard]] bool same_origin(std::string_view host, std::string_view origin) const;
};

/// One page's WebSocket. UI thread only.
class ui_ws_session : public std::enable_shared_from_this<ui_ws_session> {
public:
    ui_ws_session(tcp::socket&& socket, std::shared_ptr<local_ui::impl> ui)
        : ws_(std::move(socket)), ui_(std::move(ui)) {}

    ~ui_ws_session() { ui_->pages.erase(this); }

    void run(http::request<http::string_body> req) {
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.read_message_max(k_max_page_message);
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "gno-client"); }));
        ws_.async_accept(req,
                         beast::bind_front_handler(&ui_ws_session::on_accept, shared_from_this()));
    }

    void send(std::shared_ptr<const std::string> frame) {
        if (closing_)
            return;
        if (queue_.size() >= local_ui::k_max_queued) {
            // A page that stops reading is cut off rather than allowed to grow memory.
            bump(ui_->counters.dropped_pages);
            close();
            return;
        }
        queue_.push_back(std::move(frame));
        if (queue_.size() == 1)
            do_write();
    }

    void close() {
        if (closing_)
            return;
        closing_ = true;
        queue_.clear();
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

private:
    void on_accept(beast::error_code ec) {
        if (ec)
            return;
        bump(ui_->counters.pages);
        ui_->pages.insert(this);
        window_start_ = std::chrono::steady_clock::now();
        if (ui_->hooks.hello)
            send(std::make_shared<const std::string>(ui_->hooks.hello(ui_->history())));
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_,
                       beast::bind_front_handler(&ui_ws_session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) {
            // Closed, or too long a frame (Beast answers 1009): a key held in this page has
            // nobody left to release it.
            if (ui_->hooks.release_all)
                ui_->hooks.release_all();
            return;
        }
        const std::string text = beast::buffers_to_string(buffer_.data());
        buffer_.consume(buffer_.size());
        if (!ws_.got_text())
            refuse("binary frames are not understood");
        else if (!within_rate())
            refuse("too many messages; at most 400 a second");
        else
            dispatch(parse_page_message(text));
        if (refusals_ >= k_refusals_before_close) {
            close();
            return;
        }
        do_read();
    }

    bool within_rate() {
        const auto now = std::chrono::steady_clock::now();
        if (now - window_start_ >= std::chrono::seconds(1)) {
            window_start_ = now;
            window_count_ = 0;
        }
        return ++window_count_ <= local_ui::k_max_messages_per_s;
    }

    void refuse(std::string_view why) {
        bump(ui_->counters.refused);
        ++refusals_;
        send(std::make_shared<const std::string>(error_json(why)));
    }

    void dispatch(const page_message& msg) {
        const auto& h = ui_->hooks;
        if (const auto* e = std::get_if<page_error>(&msg)) {
            refuse(e->message);
            return;
        }
        bump(ui_->counters.messages);
        if (const auto* k = std::get_if<page_key>(&msg)) {
            if (h.key)
                h.key(*k);
            if (k->id)
                send(std::make_shared<const std::string>(key_ack_json(*k->id)));
        } else if (const auto* c = std::get_if<page_chat>(&msg)) {
            if (h.chat)
                h.chat(c->text);
        } else if (const auto* s = std::get_if<page_solo>(&msg)) {
            if (h.solo)
                h.solo(s->on);
        } else if (const auto* m = std::get_if<page_mix>(&msg)) {
            if (h.mix)
                h.mix(*m);
        } else if (std::holds_alternative<page_release_all>(msg)) {
            if (h.release_all)
                h.release_all();
        } else if (const auto* j = std::get_if<page_join>(&msg)) {
            if (h.join)
                h.join(j->code);
        } else if (const auto* p = std::get_if<page_program>(&msg)) {
            if (h.program)
                h.program(*p);
        } else if (const auto* a = std::get_if<page_articulation>(&msg)) {
            if (h.articulation)
                h.articulation(*a);
        }
    }

    void do_write() {
        ws_.text(true);
        ws_.async_write(net::buffer(*queue_.front()),
                        beast::bind_front_handler(&ui_ws_session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec) {
            close();
            return;
        }
        if (!queue_.empty())
            queue_.pop_front();
        if (!queue_.empty())
            do_write();
    }

    websocket::stream<beast::tcp_stream> ws_;
    std::shared_ptr<local_ui::impl> ui_;
    beast::flat_buffer buffer_;
    std::deque<std::shared_ptr<const std::string>> queue_;
    bool closing_ = false;
    std::chrono::steady_clock::time_point window_start_{};
    int window_count_ = 0;
    std::uint64_t refusals_ = 0;
};

/// Plain HTTP: the page's files, or the upgrade to /ws. UI thread only.
class ui_http_session : public std::enable_shared_from_this<ui_http_session> {
public:
    ui_http_session(tcp::socket&& socket, std::shared_ptr<local_ui::impl> ui)
        : stream_(std::move(socket)), ui_(std::move(ui)) {}

    void run() { do_read(); }

private:
    void do_read() {
        parser_.emplace();
        parser_->body_limit(k_max_request_body);
        stream_.expires_after(k_http_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&ui_http_session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec)
            return; // closed, timed out or a malformed request: nothing to answer
        bump(ui_->counters.http_requests);
        auto& req = parser_->get();
        const std::string_view host(req[http::field::host].data(), req[http::field::host].size());
        const std::string_view origin(req[http::field::origin].data(),
                                      req[http::field::origin].size());
        if (!ui_->same_origin(host, origin)) {
            bump(ui_->counters.forbidden);
            return reply(http::status::forbidden, "text/plain; charset=utf-8",
                         "gno-client serves its page to this machine only (Host or Origin "
                         "is not this server)\n");
        }
        if (websocket::is_upgrade(req)) {
            if (req.target() != "/ws")
                return reply(http::status::not_found, "text/plain", "not found\n");
            if (ui_->pages.size() >= local_ui::k_max_pages) {
                bump(ui_->counters.forbidden);
                return reply(http::status::service_unavailable, "text/plain; charset=utf-8",
                             "too many pages open; close one\n");
            }
            stream_.expires_never();
            std::make_shared<ui_ws_session>(stream_.release_socket(), ui_)->run(parser_->release());
            return;
        }
        if (req.method() != http::verb::get && req.method() != http::verb::head)
            return reply(http::status::method_not_allowed, "text/plain", "GET only\n");
        std::string_view target(req.target().data(), req.target().size());
        target = target.substr(0, target.find('?'));
        std::string_view file = target.substr(target.empty() ? 0 : 1);
        if (file.empty())
            file = "index.html";
        for (const auto& asset : ui_assets())
            if (asset.path == file)
                return reply(http::status::ok, asset.content_type, std::string(asset.body));
        reply(http::status::not_found, "text/plain", "not found\n");
    }

    void reply(http::status status, std::string_view type, std::string body) {
        auto res =
            std::make_shared<http::response<http::string_body>>(status, parser_->get().version());
        res->set(http::field::server, "gno-client");
        res->set(http::field::content_type, beast::string_view(type.data(), type.size()));
        res->set(http::field::cache_control, "no-store");
        res->keep_alive(parser_->get().keep_alive());
        res->body() = std::move(body);
        res->prepare_payload();
        if (parser_->get().method() == http::verb::head)
            res->body().clear();
        http::async_write(
            stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                if (ec || res->need_eof()) {
                    beast::error_code ignored;
                    self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                    return;
                }
                self->do_read();
            });
    }

    beast::tcp_stream stream_;
    std::shared_ptr<local_ui::impl> ui_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
};

void local_ui::impl::listen() {
    beast::error_code ec;
    const auto address = net::ip::make_address(cfg.address, ec);
    if (ec || !is_loopback(address))
        throw local_ui_error("the web UI serves loopback only; '" + cfg.address +
                             "' is not a loopback address (use 127.0.0.1 or ::1)");
    acceptor.emplace(*ioc);
    const auto try_bind = [&](std::uint16_t port) {
        beast::error_code e;
        acceptor->close(e);
        const tcp::endpoint ep(address, port);
        acceptor->open(ep.protocol(), e);
        if (!e)
            acceptor->set_option(net::socket_base::reuse_address(true), e);
        if (!e)
            acceptor->bind(ep, e);
        if (!e)
            acceptor->listen(net::socket_base::max_listen_connections, e);
        return e;
    };
    auto e = try_bind(cfg.port);
    if (e && cfg.port != 0 && cfg.fallback_to_any_port)
        e = try_bind(0); // the URL printed at start says where the page is

    if (e)
        throw local_ui_error("cannot serve the web UI on " + cfg.address + ":" +
                             std::to_string(cfg.port) + ": " + e.message() +
                             "; pass --ui-port N (0 = any) or --no-ui");
    bound_port = acceptor->local_endpoint().port();
    status_timer.emplace(*ioc);
}

void local_ui::impl::do_accept() {
    acceptor->async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
        if (ec == net::error::operation_aborted || !self->acceptor || !self->acceptor->is_open())
            return;
        if (!ec) {
            // Key frames are tiny: without this, Nagle's algorithm holds acks for tens of ms.
            beast::error_code ignored;
            s.set_option(tcp::no_delay(true), ignored);
            std::make_shared<ui_http_session>(std::move(s), self)->run();
        }
        self->do_accept();
    });
}

void local_ui::impl::do_status() {
    status_timer->expires_after(k_status_period);
    status_timer->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec)
            return;
        // No page open, no work: the UI costs nothing while it is closed.
        if (!self->pages.empty() && self->hooks.status)
            self->send_all(std::make_shared<const std::string>(self->hooks.status()));
        self->do_status();
    });
}

void local_ui::impl::send_all(const std::shared_ptr<const std::string>& frame) {
    // A send may close a page; closing only shuts the socket, so the set stays valid here.
    for (auto* p : pages)
        p->send(frame);
}

void local_ui::impl::keep(std::string key, const std::string& frame) {
    if (key == "chat") {
        std::size_t chats = 0;
        for (const auto& [k, f] : kept)
            chats += k == "chat";
        if (chats >= k_max_chat_history)
            for (auto it = kept.begin(); it != kept.end(); ++it)
                if (it->first == "chat") {
                    kept.erase(it);
                    break;
                }
    } else {
        std::erase_if(kept, [&](const auto& kf) { return kf.first == key; });
    }
    kept.emplace_back(std::move(key), frame);
}

std::vector<std::string> local_ui::impl::history() const {
    std::vector<std::string> out;
    out.reserve(kept.size());
    for (const auto& [k, f] : kept)
        out.push_back(f);
    return out;
}

bool local_ui::impl::same_origin(std::string_view host, std::string_view origin) const {
    const std::string port = ":" + std::to_string(bound_port);
    // A loopback name, with our port or none (a rebinding attacker's page would carry its own
    // host name here).
    const auto ours = [&](std::string_view h) {
        for (const char* name : {"127.0.0.1", "localhost", "[::1]"})
            if (h == name || h == std::string(name) + port)
                return true;
        return false;
    };
    if (!ours(host))
        return false;
    if (origin.empty()) // not a browser (a test tool, curl): Host alone decides
        return true;
    constexpr std::string_view scheme = "http://";
    return origin.starts_with(scheme) && ours(origin.substr(scheme.size()));
}

local_ui::local_ui(ui_config config, ui_hooks hooks)
    : impl_(std::make_shared<impl>(std::move(config), std::move(hooks))) {}

local_ui::~local_ui() {
    stop();
}

void local_ui::start() {
    impl_->listen();
    impl_->started = true;
    impl_->do_accept();
    impl_->do_status();
    impl_->thread = std::thread([p = impl_.get()] { p->ioc->run(); });
}

void local_ui::stop() {
    if (!impl_->started || impl_->stopped)
        return;
    impl_->stopped = true;
    impl_->ioc->stop();
    impl_->thread.join();
    // Destroying the io_context destroys the pending handlers and with them the sessions.
    impl_->status_timer.reset();
    impl_->acceptor.reset();
    impl_->ioc.reset();
}

std::uint16_t local_ui::port() const noexcept {
    return impl_->bound_port;
}

std::string local_ui::url() const {
    const bool v6 = impl_->cfg.address.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + impl_->cfg.address + "]" : impl_->cfg.address) + ":" +
           std::to_string(impl_->bound_port) + "/";
}

void local_ui::broadcast(std::string frame, std::string history_key) {
    if (frame.empty() || !impl_->started || impl_->stopped)
        return;
    net::post(*impl_->ioc,
              [self = impl_, frame = std::move(frame), key = std::move(history_key)]() mutable {
                  if (!key.empty())
                      self->keep(std::move(key), frame);
                  self->send_all(std::make_shared<const std::string>(std::move(frame)));
              });
}

const ui_counters& local_ui::counters() const noexcept {
    return impl_->counters;
}

} // namespace gno::client
