#include "gno/client/control_link.hpp"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <gno/proto/v1/control.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace gno::client {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
namespace control = proto::v1::control;

namespace {

constexpr std::size_t k_max_field = 1024; // longer server strings are cut (one log line each)
constexpr auto k_connect_timeout = std::chrono::seconds(3);
constexpr auto k_idle_timeout = std::chrono::seconds(10); // with keep-alive pings at half
constexpr auto k_stop_grace = std::chrono::milliseconds(500);

void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
}

// Field readers: absent or null leaves `out` alone; present with the wrong type fails.
struct reader {
    const json& obj;
    bool ok = true;

    const json* find(const char* key) const {
        const auto it = obj.find(key);
        return it == obj.end() || it->is_null() ? nullptr : &*it;
    }
    void str(const char* key, std::string& out) {
        if (const json* v = find(key)) {
            if (!v->is_string()) {
                ok = false;
                return;
            }
            out = v->get_ref<const std::string&>().substr(0, k_max_field);
        }
    }
    void num(const char* key, double& out) {
        if (const json* v = find(key)) {
            if (!v->is_number()) {
                ok = false;
                return;
            }
            out = v->get<double>();
        }
    }
    void integer(const char* key, std::int64_t& out) {
        if (const json* v = find(key)) {
            if (!v->is_number_integer()) {
                ok = false;
                return;
            }
            out = v->get<std::int64_t>();
        }
    }
    template <typename T>
    void bounded(const char* key, T& out, std::int64_t lo, std::int64_t hi) {
        std::int64_t v = out;
        integer(key, v);
        if (v < lo || v > hi) {
            ok = false;
            return;
        }
        out = static_cast<T>(v);
    }
    void boolean(const char* key, bool& out) {
        if (const json* v = find(key)) {
            if (!v->is_boolean()) {
                ok = false;
                return;
            }
            out = v->get<bool>();
        }
    }
};

std::optional<control_event> parse_object(const json& j) {
    using kind = control_event::kind;
    if (!j.is_object())
        return std::nullopt;
    control_event e;
    reader r{j};
    r.str("type", e.type);
    if (!r.ok || e.type.empty())
        return std::nullopt;
    r.str("name", e.from_name);
    r.bounded("player", e.player, 0, 0xFFFFFFFFLL);
    if (e.type == "welcome") {
        e.what = kind::welcome;
        r.str("session_key", e.session_key);
        r.bounded("udp_port", e.udp_port, 0, 65535);
        r.str("section", e.section);
        r.str("mode", e.mode);
        r.num("tempo_bpm", e.tempo_bpm);
        r.bounded("cycle_beats", e.cycle_beats, 0, 1 << 16);
        e.name = e.from_name;
        if (e.player == 0) // the one field the client cannot do without
            return std::nullopt;
    } else if (e.type == "error") {
        e.what = kind::error;
        r.str("code", e.code);
        r.str("message", e.message);
        if (e.code.empty())
            return std::nullopt;
    } else if (e.type == "chat") {
        e.what = kind::chat;
        r.str("text", e.text);
    } else if (e.type == "image") {
        e.what = kind::image;
        r.str("section", e.section);
        r.str("image", e.image);
        if (e.image.empty())
            return std::nullopt;
    } else if (e.type == "cue") {
        e.what = kind::cue;
        r.str("section", e.section);
        double intensity = -1;
        std::string reg, point;
        r.num("intensity", intensity);
        r.str("register", reg);
        r.str("point", point);
        char buf[48];
        if (intensity >= 0) {
            std::snprintf(buf, sizeof buf, "intensity %.2f", intensity);
            e.text = buf;
        }
        if (!reg.empty())
            e.text += (e.text.empty() ? "" : " ") + std::string("register ") + reg;
        if (!point.empty())
            e.text += (e.text.empty() ? "" : " ") + std::string("point ") + point;
    } else if (e.type == "piece") {
        e.what = kind::piece;
        e.name = e.from_name;
        r.integer("start_ns", e.start_ns);
        r.integer("start_sample", e.start_sample);
    } else if (e.type == "timing") {
        e.what = kind::timing;
        r.str("mode", e.mode);
        r.num("tempo_bpm", e.tempo_bpm);
        r.bounded("cycle_beats", e.cycle_beats, 0, 1 << 16);
    } else if (e.type == "mute") {
        e.what = kind::mute;
        r.boolean("muted", e.muted);
    } else if (e.type == "kick" || e.type == "kicked") {
        e.what = kind::kick;
    } else if (e.type == "talkback") {
        e.what = kind::talkback;
        std::string state;
        r.str("state", state);
        e.muted = state != "on";
    } else if (e.type == "solo") {
        e.what = kind::solo;
    } else if (e.type == "solo_grant") { // the broadcast of a grant names the soloist
        e.what = kind::solo;
    } else if (e.type == "mix") {
        e.what = kind::mix;
        r.num("own", e.levels.own);
        r.num("click", e.levels.click);
        r.str("mix_mode", e.mode);
        r.boolean("applied", e.applied);
        if (const json* sections = r.find("sections")) {
            if (!sections->is_object())
                return std::nullopt;
            for (const auto& [name, level] : sections->items()) {
                const auto idx = control::parse_section(name);
                if (!idx || *idx < 0)
                    continue; // a section this client does not know yet
                if (!level.is_number())
                    return std::nullopt;
                e.levels.sections[static_cast<std::size_t>(*idx)] = level.get<double>();
            }
        }
    } else if (e.type == "link") {
        e.what = kind::link;
        r.num("rtt_ms", e.link.rtt_ms);
        r.num("min_rtt_ms", e.link.min_rtt_ms);
        r.num("jitter_ms", e.link.jitter_ms);
        r.num("loss_up_pct", e.link.loss_up_pct);
        r.num("loss_down_pct", e.link.loss_down_pct);
        r.bounded("late_events", e.link.late_events, 0, 0xFFFFFFFFLL);
        r.boolean("udp", e.link.udp);
    } else {
        e.what = kind::other;
    }
    if (!r.ok)
        return std::nullopt;
    return e;
}

// One line: server text may hold newlines or escapes; they become spaces.
std::string clean(std::string_view s) {
    std::string out(s.substr(0, k_max_field));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
            c = ' ';
    return out;
}

} // namespace

std::optional<control_event> parse_server_message(std::string_view text) noexcept {
    if (text.size() > control::k_max_text_frame || !control::within_depth(text))
        return std::nullopt;
    try {
        const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded())
            return std::nullopt;
        return parse_object(j);
    } catch (...) { // allocation failure only: the readers check every type first
        return std::nullopt;
    }
}

std::string describe(const control_event& e) {
    using kind = control_event::kind;
    char num[96];
    switch (e.what) {
    case kind::welcome:
        std::snprintf(num, sizeof num, "joined as player %u", e.player);
        return std::string(num) + " (section " + clean(e.section) + ", mode " + clean(e.mode) + ")";
    case kind::refused:
        return "the server refused the join code: " + clean(e.message) + " (" + clean(e.code) + ")";
    case kind::disconnected:
        return "control link lost (" + clean(e.message) + "); reconnecting";
    case kind::moved:
        return "moving to " + clean(e.message) + ", as the directory says";
    case kind::chat:
        return "chat " + clean(e.from_name) + ": " + clean(e.text);
    case kind::image:
        return "image " + clean(e.section) + " " + clean(e.image);
    case kind::cue:
        return "cue " + clean(e.section) + (e.text.empty() ? "" : " ") + clean(e.text);
    case kind::piece:
        std::snprintf(num, sizeof num, " starts at server time %lld ns (render sample %lld)",
                      static_cast<long long>(e.start_ns), static_cast<long long>(e.start_sample));
        return "piece " + (e.name.empty() ? std::string("(untitled)") : clean(e.name)) + num;
    case kind::timing: {
        std::string s = "timing";
        if (!e.mode.empty())
            s += " mode " + clean(e.mode);
        if (e.tempo_bpm > 0) {
            std::snprintf(num, sizeof num, " tempo %.1f", e.tempo_bpm);
            s += num;
        }
        if (e.cycle_beats > 0)
            s += " cycle " + std::to_string(e.cycle_beats);
        return s;
    }
    case kind::mute:
        return e.muted ? "muted by the conductor" : "unmuted by the conductor";
    case kind::kick:
        return "kicked by the conductor (player " + std::to_string(e.player) + ")";
    case kind::talkback:
        return e.muted ? "talk-back off" : "talk-back on";
    case kind::solo:
        return "solo to player " + std::to_string(e.player);
    case kind::error:
        return "server error " + clean(e.code) + ": " + clean(e.message);
    case kind::mix: {
        std::snprintf(num, sizeof num, "mix own %.2f click %.2f", e.levels.own, e.levels.click);
        std::string s = num;
        for (std::size_t i = 0; i < e.levels.sections.size(); ++i)
            if (e.levels.sections[i] != 1.0) {
                std::snprintf(num, sizeof num, " %.2f", e.levels.sections[i]);
                s += " " + std::string(control::section_names[i]) + num;
            }
        if (!e.applied)
            s += " (not heard: the node runs one shared mix)";
        return s;
    }
    case kind::link: // every second: for the page, not the log
    case kind::other:
        break;
    }
    return {};
}

std::string encode_join(const control_config& c) {
    return json{{"type", "join"},      {"v", control::k_version}, {"code", c.code},
                {"role", "performer"}, {"name", c.name},          {"program", c.program},
                {"bank", c.bank}}
        .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string encode_chat(std::string_view text) {
    return json{{"type", "chat"}, {"v", control::k_version}, {"text", std::string(text)}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
}

std::string encode_solo_request() {
    return R"({"type":"solo_request","v":1})";
}

std::string encode_mix(std::optional<double> own, std::optional<double> click,
                       const section_levels& sections) {
    json j{{"type", "mix"}, {"v", control::k_version}};
    if (own)
        j["own"] = *own;
    if (click)
        j["click"] = *click;
    if (!sections.empty()) {
        json s = json::object();
        for (const auto& [name, level] : sections)
            s[name] = level;
        j["sections"] = std::move(s);
    }
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------------
// The link: one thread runs io_; everything below `impl` and `connection` runs on it, except
// the event queue (mutex + condition variable, shared with the consumer).

struct control_link::impl {
    class connection;

    explicit impl(control_config c)
        : config_(std::move(c)), work_(net::make_work_guard(io_)), retry_(io_), grace_(io_) {}

    // --- any thread ---

    void push(control_event e) {
        {
            std::lock_guard lock(mu_);
            if (events_.size() >= k_max_events) {
                events_.pop_front(); // the consumer is stuck: keep the latest
                bump(counters_.events_dropped);
            }
            events_.push_back(std::move(e));
        }
        cv_.notify_one();
    }

    // --- link thread ---

    void do_connect();
    void on_message(connection& c, std::string_view text);
    void on_lost(const connection& c, const std::string& why);
    void send(std::string text);

    void schedule_retry() {
        retry_.expires_after(backoff_);
        backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(k_max_backoff));
        retry_.async_wait([this](beast::error_code ec) {
            if (!ec && !stopping_ && !final_)
                do_connect();
        });
    }

    control_config config_;
    net::io_context io_; // before everything its handlers reference, destroyed after them
    net::executor_work_guard<net::io_context::executor_type> work_;
    net::steady_timer retry_;
    net::steady_timer grace_; // bounds stop(): a dead server must not hold the client's exit
    std::shared_ptr<connection> current_;
    std::chrono::milliseconds backoff_ = k_first_backoff;
    bool stopping_ = false, final_ = false;
    bool relocating_ = false; // a joined connection was lost and no welcome since
    std::uint32_t player_ = 0;
    control_counters counters_;
    std::thread thread_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<control_event> events_;
};

// One WebSocket connection attempt, Beast's advanced-client shape: do_x/on_x pairs, one write
// in flight with a bounded queue behind it. Owned by its pending handlers and by impl::current_.
class control_link::impl::connection : public std::enable_shared_from_this<connection> {
public:
    connection(impl& owner) : owner_(owner), resolver_(owner.io_), ws_(owner.io_) {}

    void run() {
        resolver_.async_resolve(owner_.config_.host, std::to_string(owner_.config_.port),
                                beast::bind_front_handler(&connection::on_resolve, self()));
    }

    void send(std::string text) {
        if (queue_.size() >= k_max_writes) {
            bump(owner_.counters_.sends_dropped);
            return;
        }
        queue_.push_back(std::move(text));
        if (queue_.size() == 1)
            do_write();
    }

    void close() {
        if (done_)
            return;
        done_ = true;
        ws_.async_close(websocket::close_code::normal, [s = self()](beast::error_code) {
            if (s->owner_.stopping_)
                s->owner_.grace_.cancel(); // closed politely: no need to wait out the grace
        });
    }

    bool joined = false;

private:
    std::shared_ptr<connection> self() { return shared_from_this(); }

    void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
        if (ec)
            return fail("resolve", ec);
        beast::get_lowest_layer(ws_).expires_after(k_connect_timeout);
        beast::get_lowest_layer(ws_).async_connect(
            results, beast::bind_front_handler(&connection::on_connect, self()));
    }

    void on_connect(beast::error_code ec, const tcp::endpoint& ep) {
        if (ec)
            return fail("connect", ec);
        beast::get_lowest_layer(ws_).expires_never(); // the websocket's own timeouts from here
        websocket::stream_base::timeout t{};
        t.handshake_timeout = k_connect_timeout;
        t.idle_timeout = k_idle_timeout;
        t.keep_alive_pings = true;
        ws_.set_option(t);
        ws_.read_message_max(control::k_max_binary_frame);
        ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "gno-client");
        }));
        const std::string host = owner_.config_.host + ':' + std::to_string(ep.port());
        ws_.async_handshake(host, "/ws",
                            beast::bind_front_handler(&connection::on_handshake, self()));
    }

    void on_handshake(beast::error_code ec) {
        if (ec)
            return fail("handshake", ec);
        bump(owner_.counters_.connects);
        send(encode_join(owner_.config_));
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, beast::bind_front_handler(&connection::on_read, self()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec)
            return fail("read", ec);
        if (ws_.got_text()) {
            const auto data = buffer_.cdata();
            owner_.on_message(*this,
                              std::string_view(static_cast<const char*>(data.data()), data.size()));
        } // binary frames (media) are not for performers yet
        buffer_.consume(buffer_.size());
        if (!done_)
            do_read();
    }

    void do_write() {
        ws_.text(true);
        ws_.async_write(net::buffer(queue_.front()),
                        beast::bind_front_handler(&connection::on_write, self()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec)
            return fail("write", ec);
        queue_.pop_front();
        if (!queue_.empty())
            do_write();
    }

    // The one place a connection ends: the owner decides whether to come back.
    void fail(const char* what, beast::error_code ec) {
        if (reported_)
            return;
        reported_ = true;
        done_ = true;
        beast::get_lowest_layer(ws_).close();
        std::string why = what;
        why += ": ";
        why += ec == websocket::error::closed ? std::string("closed by the server") : ec.message();
        owner_.on_lost(*this, why);
    }

    impl& owner_;
    tcp::resolver resolver_;
    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::deque<std::string> queue_;
    bool done_ = false, reported_ = false;
};

void control_link::impl::do_connect() {
    if (relocating_ && config_.relocate) {
        if (auto t = config_.relocate()) {
            config_.host = std::move(t->host);
            config_.port = t->port;
            config_.code = std::move(t->code);
            control_event e;
            e.what = control_event::kind::moved;
            e.type = "moved";
            e.message = std::move(t->note);
            push(std::move(e));
        }
        if (stopping_)
            return;
    }
    current_ = std::make_shared<connection>(*this);
    current_->run();
}

void control_link::impl::on_message(connection& c, std::string_view text) {
    using kind = control_event::kind;
    auto e = parse_server_message(text);
    if (!e) {
        bump(counters_.malformed);
        return;
    }
    bump(counters_.messages);
    if (!c.joined) {
        if (e->what == kind::welcome) {
            c.joined = true;
            backoff_ = k_first_backoff;
            player_ = e->player;
            relocating_ = false;
            e->host = config_.host;
            bump(counters_.welcomes);
            push(std::move(*e));
        } else if (e->what == kind::error) {
            // The server closes after refusing a join; asking again would be refused again.
            final_ = true;
            e->what = kind::refused;
            push(std::move(*e));
            c.close();
        } else {
            bump(counters_.malformed); // nothing but welcome or error comes before joining
        }
        return;
    }
    if (e->what == kind::kick && (e->player == player_ || e->player == 0))
        final_ = true; // kicked: coming back by ourselves would undo the conductor's decision
    push(std::move(*e));
}

void control_link::impl::on_lost(const connection& c, const std::string& why) {
    if (current_.get() != &c)
        return;
    const bool joined = c.joined;
    current_.reset();
    if (stopping_ || final_)
        return;
    if (joined) {
        relocating_ = true; // the node may be gone: ask where to go before coming back
        control_event e;
        e.what = control_event::kind::disconnected;
        e.type = "disconnected";
        e.message = why;
        push(std::move(e));
    }
    schedule_retry();
}

void control_link::impl::send(std::string text) {
    if (!current_ || !current_->joined) {
        bump(counters_.sends_dropped);
        return;
    }
    current_->send(std::move(text));
}

control_link::control_link(control_config config)
    : impl_(std::make_shared<impl>(std::move(config))) {}

control_link::~control_link() {
    stop();
}

void control_link::start() {
    impl* p = impl_.get();
    if (p->thread_.joinable())
        return;
    net::post(p->io_, [p] { p->do_connect(); });
    p->thread_ = std::thread([p] { p->io_.run(); });
}

void control_link::stop() {
    impl* p = impl_.get();
    if (!p->thread_.joinable())
        return;
    // A polite close, bounded by grace_: whichever ends first stops the loop.
    net::post(p->io_, [p] {
        p->stopping_ = true;
        p->retry_.cancel();
        p->work_.reset();
        p->grace_.expires_after(k_stop_grace);
        p->grace_.async_wait([p](beast::error_code) { p->io_.stop(); });
        if (p->current_ && p->current_->joined)
            p->current_->close();
        else
            p->grace_.cancel();
    });
    p->thread_.join();
}

std::optional<control_event> control_link::wait_event(std::chrono::milliseconds timeout) {
    impl* p = impl_.get();
    std::unique_lock lock(p->mu_);
    if (!p->cv_.wait_for(lock, timeout, [p] { return !p->events_.empty(); }))
        return std::nullopt;
    auto e = std::move(p->events_.front());
    p->events_.pop_front();
    return e;
}

void control_link::send_chat(std::string_view text) {
    impl* p = impl_.get();
    net::post(p->io_, [p, t = encode_chat(text)]() mutable { p->send(std::move(t)); });
}

void control_link::send_solo_request() {
    impl* p = impl_.get();
    net::post(p->io_, [p] { p->send(encode_solo_request()); });
}

void control_link::send_mix(std::optional<double> own, std::optional<double> click,
                            const section_levels& sections) {
    impl* p = impl_.get();
    net::post(p->io_,
              [p, t = encode_mix(own, click, sections)]() mutable { p->send(std::move(t)); });
}

const control_counters& control_link::counters() const noexcept {
    return impl_->counters_;
}

} // namespace gno::client
