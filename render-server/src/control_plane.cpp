#include "gno/render/control_plane.hpp"

#include "gno/render/code_guard.hpp"
#include "gno/render/console_assets.hpp"
#include "gno/render/directory.hpp"
#include "gno/render/listen_stream.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <chrono>
#include <deque>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace gno::render {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using control::role;

namespace {

constexpr auto k_http_timeout = std::chrono::seconds(30);
constexpr std::size_t k_http_body_limit = 16 * 1024;
constexpr std::size_t k_http_header_limit = 8 * 1024;
// An instrument upload may take this long to arrive (32 MiB at about 2 Mbit/s).
constexpr auto k_upload_timeout = std::chrono::seconds(150);
// After refusing a body it never read, the node reads and drops this much (or for this long)
// before it closes, so the client sees the refusal instead of a reset connection.
constexpr std::size_t k_linger_bytes = 1u << 20;
constexpr auto k_linger_time = std::chrono::seconds(2);
// A peer that keeps sending what is refused is cut off rather than answered forever.
constexpr std::uint64_t k_max_refusals = 200;

/// Messages per second with a burst, per connection (a refusal is answered, not queued).
struct token_bucket {
    double rate, burst, tokens;
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    token_bucket(double r, double b) : rate(r), burst(b), tokens(b) {}
    bool take() {
        const auto now = std::chrono::steady_clock::now();
        tokens = std::min(burst, tokens + std::chrono::duration<double>(now - last).count() * rate);
        last = now;
        if (tokens < 1.0)
            return false;
        tokens -= 1.0;
        return true;
    }
};

// Ignores what happens on every close: aborted operations and closed streams are no news.
void fail(beast::error_code ec, const char* what) {
    if (ec == net::error::operation_aborted || ec == websocket::error::closed ||
        ec == net::error::eof || ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::broken_pipe ||
        ec == net::error::bad_descriptor)
        return;
    std::cerr << "gno-server: control: " << what << ": " << ec.message() << "\n";
}

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

// Constant time in the code's length, so a wrong code says nothing of the right one.
std::int64_t unix_now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool same_code(std::string_view a, std::string_view b) {
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |=
            static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    return diff == 0;
}

class ws_session;

} // namespace

struct control_plane::impl : std::enable_shared_from_this<control_plane::impl> {
    control_config cfg;
    control_hooks hooks;
    // Optional so stop() can destroy them in order: the acceptor and timer first, then the
    // io_context, whose destruction destroys the handlers still pending and with them the
    // sessions (which hold this impl: without it they would keep each other alive).
    std::optional<net::io_context> ioc;
    std::optional<tcp::acceptor> acceptor;
    std::optional<net::steady_timer> roster_timer;
    std::vector<std::thread> threads;
    std::uint16_t bound_port = 0;
    bool stopped = false;

    // Counters (any thread).
    std::atomic<std::uint64_t> connections{0}, joined{0}, refused_joins{0}, bad_messages{0},
        rate_limited{0}, slow_readers_dropped{0}, messages_in{0}, talkback_samples{0}, uploads{0},
        refused_uploads{0}, code_full{0}, code_lockouts{0};
    std::atomic<std::uint32_t> open_connections{0};
    code_guard guard; // wrong codes per address
    /// Whether a code from `from` may be checked now; counts a lockout when not.
    /// (An address that could not be read - the peer has gone - is neither held nor counted.)
    bool code_allowed(const std::optional<net::ip::address>& from) {
        if (!from || guard.allowed(*from, steady_ns()))
            return true;
        refused_joins.fetch_add(1);
        code_lockouts.fetch_add(1);
        return false;
    }
    void code_failed(const std::optional<net::ip::address>& from) {
        if (from)
            guard.failed(*from, steady_ns());
    }
    static std::int64_t steady_ns() {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    std::atomic<int> uploads_in_flight{0}; // being read or built
    // Instrument builds: slow work off the I/O threads, one at a time; stopped and joined in
    // stop() before the io_context goes (a finished build posts its reply to it).
    std::optional<net::thread_pool> builder;

    // The room: who is joined. Held only to copy or update, never across I/O.
    struct member {
        std::weak_ptr<ws_session> session;
        std::uint32_t player = 0;
        role who = role::performer;
        std::string name;
        int bank = 0, program = 0, section = -1;
        bool muted = false;
        std::string key; // the session key in hex: a performer's credential over HTTP
    };
    std::mutex room_mu;
    std::unordered_map<std::uint32_t, member> members; // by player id
    std::vector<int> joined_by_code;                   // members in, by index in cfg.codes
    std::unordered_map<std::uint32_t, bool> muted;     // by player id (outlives a connection)
    std::vector<std::uint32_t> solo_queue;
    std::optional<std::uint32_t> soloist;
    std::uint32_t talker = 0; // the conductor holding talk-back, 0 none
    std::mt19937_64 ids{std::random_device{}()};
    std::random_device key_source;

    impl(control_config c, control_hooks h)
        : cfg(std::move(c)), hooks(std::move(h)),
          guard(code_guard::limits{cfg.code_failures, cfg.code_failure_window, 4096}) {
        joined_by_code.assign(cfg.codes.size(), 0);
        ioc.emplace(std::max(1, cfg.threads));
        acceptor.emplace(net::make_strand(*ioc));
        roster_timer.emplace(*ioc);
        builder.emplace(1);
    }

    /// Who an HTTP request speaks for: "Authorization: Bearer PLAYER:SESSION_KEY", a joined
    /// performer's id and the key its welcome gave it. status 401 without credentials, 403 with
    /// ones that are not a performer's.
    struct http_identity {
        int status = 200;
        std::string code, message;
        std::uint32_t player = 0;
    };
    http_identity performer_of(std::string_view authorization);

    /// The code `text` names (constant-time per code), and its index in cfg.codes.
    const join_code* find_code(std::string_view text, std::size_t& index) const;

    void listen();
    void do_accept();
    void do_roster();
    /// The roster to the leads and each performer's own `link`, from one snapshot.
    void send_rosters();
    void send_to(const std::vector<std::shared_ptr<ws_session>>& to,
                 std::shared_ptr<const std::string> msg);
    std::vector<std::shared_ptr<ws_session>> sessions_where(const auto& pred);
    /// Tells every performer that talk-back is on or off (their page shows it).
    void tell_talkback(bool on);
    /// The node's link rows (hooks.links), sorted by session id; empty without the hook.
    std::vector<player_link_view> link_rows();
    std::string roster_json() { return roster_json(link_rows()); }
    std::string roster_json(const std::vector<player_link_view>& links);
};

namespace {

using impl_ptr = std::shared_ptr<control_plane::impl>;

// One WebSocket connection: reads frames one at a time and answers on its own strand.
class ws_session : public std::enable_shared_from_this<ws_session> {
public:
    ws_session(tcp::socket&& socket, impl_ptr node)
        : ws_(std::move(socket)), node_(std::move(node)),
          msgs_(node_->cfg.messages_per_second, node_->cfg.message_burst),
          chats_(node_->cfg.chats_per_second, node_->cfg.chat_burst) {}

    ~ws_session() {
        node_->open_connections.fetch_sub(1);
        leave();
    }

    void run(http::request<http::string_body> req) {
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "gno-server"); }));
        ws_.read_message_max(control::k_max_binary_frame);
        ws_.async_accept(req,
                         beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
    }

    /// Any thread: queues a text message for this peer.
    void send(std::shared_ptr<const std::string> msg) {
        net::post(ws_.get_executor(), [self = shared_from_this(), msg = std::move(msg)]() mutable {
            self->on_send(std::move(msg));
        });
    }
    /// Any thread: sends a last message, then closes (what is sent after it is dropped).
    void send_and_close(std::shared_ptr<const std::string> msg) {
        net::post(ws_.get_executor(), [self = shared_from_this(), msg = std::move(msg)]() mutable {
            self->on_send(std::move(msg));
            self->close_after_write_ = true;
        });
    }

    [[nodiscard]] bool joined() const { return player_ != 0; }
    [[nodiscard]] role who() const { return role_; }
    [[nodiscard]] int section() const { return section_; }
    [[nodiscard]] std::uint32_t player() const { return player_; }

private:
    void on_accept(beast::error_code ec) {
        if (ec)
            return fail(ec, "accept");
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_,
                       beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == websocket::error::message_too_big) {
            // Beast has already failed the stream with close code 1009 (message too big):
            // that code is the peer's error message.
            node_->bad_messages.fetch_add(1);
            return;
        }
        if (ec)
            return fail(ec, "read");
        node_->messages_in.fetch_add(1);
        const auto data = buffer_.cdata();
        const std::string_view text(static_cast<const char*>(data.data()), data.size());
        if (ws_.got_binary())
            on_binary(text);
        else
            on_text(text);
        buffer_.consume(buffer_.size());
        if (!closing_)
            do_read();
    }

    void on_binary(std::string_view bytes) {
        if (!joined())
            return refuse_and_close("join_first", "send join first");
        if (role_ != role::conductor || !talking_)
            return refuse("bad_frame", "binary frames carry talk-back, after talkback_begin");
        if (bytes.size() % 2 != 0)
            return refuse("bad_frame", "talk-back is 16-bit PCM: an even number of bytes");
        std::array<std::int16_t, control::k_max_binary_frame / 2> pcm;
        const std::size_t n = bytes.size() / 2;
        for (std::size_t i = 0; i < n; ++i)
            pcm[i] = static_cast<std::int16_t>(
                static_cast<std::uint16_t>(static_cast<std::uint8_t>(bytes[2 * i]) |
                                           (static_cast<std::uint8_t>(bytes[2 * i + 1]) << 8)));
        node_->talkback_samples.fetch_add(n);
        if (node_->hooks.talkback_pcm)
            node_->hooks.talkback_pcm(std::span<const std::int16_t>(pcm.data(), n));
    }

    void on_text(std::string_view text) {
        auto parsed = control::parse(text);
        if (!parsed.message) {
            node_->bad_messages.fetch_add(1);
            if (!joined())
                return refuse_and_close(parsed.error.code, parsed.error.message);
            return refuse(parsed.error.code, parsed.error.message);
        }
        const control::client_message& m = *parsed.message;
        if (!joined()) {
            if (const auto* j = std::get_if<control::join>(&m))
                return on_join(*j);
            return refuse_and_close("join_first", "send join first");
        }
        if (!msgs_.take()) {
            node_->rate_limited.fetch_add(1);
            return refuse("rate_limited", "too many messages; slow down");
        }
        if (std::holds_alternative<control::join>(m))
            return refuse("already_joined", "this connection has joined already");
        if (!control::allowed(m, role_))
            return refuse("forbidden", "a " + std::string(control::role_name(role_)) +
                                           " may not send " + std::string(control::type_name(m)));
        on_message(m);
    }

    void on_join(const control::join& j) {
        beast::error_code ec;
        const auto endpoint = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
        const auto from = ec ? std::nullopt : std::optional(endpoint.address());
        if (!node_->code_allowed(from))
            return refuse_and_close(
                "too_many_attempts",
                "too many wrong codes from this address; try again in a minute");
        std::size_t code_index = 0;
        const join_code* code = node_->find_code(j.code, code_index);
        join_code placed; // a performer the mesh's directory sent here, with no code of ours
        if (!code && node_->hooks.dir && looks_like_token(j.code)) {
            std::string why;
            const auto t = node_->hooks.dir->accept_token(j.code, unix_now_s(), why);
            if (!t) {
                node_->refused_joins.fetch_add(1);
                if (!node_->hooks.dir->genuine(j.code))
                    node_->code_failed(from); // forged: a guess (expired or elsewhere: late)
                return refuse_and_close("bad_token", why);
            }
            // Counted against our code it was given for, when we have it (its MAX holds here).
            for (std::size_t i = 0; i < node_->cfg.codes.size() && !code; ++i)
                if (hash_code(node_->cfg.codes[i].code) == t->code) {
                    code = &node_->cfg.codes[i];
                    code_index = i;
                }
            if (!code) {
                placed.program = t->program;
                placed.bank = t->bank;
                code = &placed;
                code_index = k_no_code;
            }
        }
        if (!code) {
            node_->refused_joins.fetch_add(1);
            node_->code_failed(from);
            return refuse_and_close("bad_code", "this join code is not valid here");
        }
        if (j.wanted && *j.wanted != code->who) {
            node_->refused_joins.fetch_add(1);
            return refuse_and_close(
                "wrong_role", "this code admits a " + std::string(control::role_name(code->who)) +
                                  ", not a " + std::string(control::role_name(*j.wanted)));
        }
        const int allowed = members_allowed(*code);
        bool full = false;
        {
            std::lock_guard lock(node_->room_mu);
            // Counted under the room's lock: two joins at once cannot both take the last
            // place. From here the join cannot fail; leave() gives the place back.
            if (code_index != k_no_code) {
                int& in = node_->joined_by_code[code_index];
                full = allowed > 0 && in >= allowed;
                if (!full)
                    ++in;
            }
            if (!full)
                code_index_ = code_index;
        }
        if (full) {
            node_->refused_joins.fetch_add(1);
            node_->code_full.fetch_add(1);
            return refuse_and_close("code_full", "this join code admits at most " +
                                                     std::to_string(allowed) +
                                                     " at once; ask the conductor for another");
        }
        role_ = code->who;
        bank_ = j.bank.value_or(code->bank);
        program_ = j.program.value_or(code->program);
        section_ = role_ == role::performer ? control::section_of(bank_, program_) : -1;
        if (node_->hooks.mix_defaults)
            mix_ = node_->hooks.mix_defaults();
        std::array<std::uint8_t, 16> key{};
        {
            std::lock_guard lock(node_->room_mu);
            do
                player_ = static_cast<std::uint32_t>(node_->ids());
            while (player_ == 0 || node_->members.contains(player_));
            if (node_->hooks.session_key) {
                key = node_->hooks.session_key(player_); // what the node checks tags with
            } else {
                for (std::size_t i = 0; i < key.size(); i += 4) {
                    const auto w = node_->key_source();
                    for (std::size_t b = 0; b < 4; ++b)
                        key[i + b] = static_cast<std::uint8_t>(w >> (8 * b));
                }
            }
            name_ = j.name.empty() ? std::string(control::role_name(role_)) + "-" +
                                         std::to_string(node_->members.size() + 1)
                                   : j.name;
            auto& mem = node_->members[player_];
            mem.session = weak_from_this();
            mem.player = player_;
            mem.who = role_;
            mem.name = name_;
            mem.bank = bank_;
            mem.program = program_;
            mem.section = section_;
            mem.key = hex(key);
        }
        node_->joined.fetch_add(1);
        if (role_ == role::performer && node_->hooks.admit)
            node_->hooks.admit(player_, key, bank_, program_);
        control::welcome w =
            node_->hooks.session_defaults ? node_->hooks.session_defaults() : control::welcome{};
        w.player = player_;
        w.who = role_;
        w.name = name_;
        w.bank = bank_;
        w.program = program_;
        w.session_key = hex(key);
        if (node_->hooks.now_ns)
            w.server_time_ns = node_->hooks.now_ns();
        on_send(std::make_shared<const std::string>(control::encode(w)));
        if (role_ == role::conductor || role_ == role::ops)
            on_send(std::make_shared<const std::string>(node_->roster_json()));
    }

    void on_message(const control::client_message& m);

    void leave() {
        if (!joined())
            return;
        if (role_ == role::performer && node_->hooks.instrument_remove)
            node_->hooks.instrument_remove(player_); // its own instrument goes with it
        if (role_ == role::performer && node_->hooks.release)
            node_->hooks.release(player_); // its session may not start playing again
        if (mix_changed_ && node_->hooks.mix) {
            // The node forgets the levels of a performer who has gone (bounded memory).
            node_->hooks.mix(player_, node_->hooks.mix_defaults ? node_->hooks.mix_defaults()
                                                                : control::mix_levels{});
        }
        std::lock_guard lock(node_->room_mu);
        node_->members.erase(player_);
        if (code_index_ != k_no_code)
            --node_->joined_by_code[code_index_];
        std::erase(node_->solo_queue, player_);
        if (node_->talker == player_) {
            node_->talker = 0;
            if (node_->hooks.talkback_end)
                node_->hooks.talkback_end();
        }
    }

    void refuse(std::string_view code, std::string_view message) {
        if (++refusals_ > k_max_refusals)
            return refuse_and_close("too_many_errors", "too many refused messages");
        on_send(std::make_shared<const std::string>(control::encode_error(code, message)));
    }
    void refuse_and_close(std::string_view code, std::string_view message) {
        close_code_ = websocket::close_code::policy_error;
        send_and_close_now(control::encode_error(code, message));
    }
    void send_and_close_now(std::string msg) {
        closing_ = true;
        on_send(std::make_shared<const std::string>(std::move(msg)));
        close_after_write_ = true;
    }

    void on_send(std::shared_ptr<const std::string> msg) {
        // After the last message nothing more is queued (a `link` racing a kick, say).
        if (dropped_ || close_after_write_)
            return;
        if (queue_.size() >= node_->cfg.max_queued_messages ||
            queued_bytes_ + msg->size() > node_->cfg.max_queued_bytes) {
            // A reader this slow would grow our memory without bound: cut it off.
            node_->slow_readers_dropped.fetch_add(1);
            dropped_ = true;
            beast::error_code ec;
            beast::get_lowest_layer(ws_).socket().close(ec);
            return;
        }
        queued_bytes_ += msg->size();
        queue_.push_back(std::move(msg));
        if (queue_.size() == 1)
            do_write();
    }

    void do_write() {
        ws_.text(true);
        ws_.async_write(net::buffer(*queue_.front()),
                        beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec)
            return fail(ec, "write");
        queued_bytes_ -= queue_.front()->size();
        queue_.pop_front();
        if (!queue_.empty())
            return do_write();
        if (close_after_write_) {
            closing_ = true;
            ws_.async_close(close_code_, [self = shared_from_this()](beast::error_code) {});
        }
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    impl_ptr node_;
    token_bucket msgs_, chats_;
    std::deque<std::shared_ptr<const std::string>> queue_;
    std::size_t queued_bytes_ = 0;
    std::uint64_t refusals_ = 0;
    bool close_after_write_ = false, closing_ = false, dropped_ = false, talking_ = false;
    websocket::close_code close_code_ = websocket::close_code::normal;
    std::uint32_t player_ = 0;
    // The code it joined with (its place in joined_by_code); k_no_code: a directory's token
    // for a code this node does not have.
    static constexpr std::size_t k_no_code = static_cast<std::size_t>(-1);
    std::size_t code_index_ = 0;
    role role_ = role::listener;
    std::string name_;
    int bank_ = 0, program_ = 0, section_ = -1;
    control::mix_levels mix_; // a performer's own mix as the node has it (this strand only)
    bool mix_changed_ = false;
};

void ws_session::on_message(const control::client_message& m) {
    auto& node = *node_;
    auto text = [&](const control::client_message& msg) {
        return std::make_shared<const std::string>(
            control::encode_broadcast(msg, player_, name_, role_));
    };
    auto everyone = [](const ws_session&) {
        return true;
    };
    auto section_and_leads = [](int section) {
        return [section](const ws_session& s) {
            return s.who() != role::performer || section < 0 || s.section() == section;
        };
    };
    auto leads = [](const ws_session& s) {
        return s.who() == role::conductor || s.who() == role::ops;
    };
    std::visit(
        [&](const auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, control::chat>) {
                if (!chats_.take()) {
                    node.rate_limited.fetch_add(1);
                    return refuse("rate_limited", "chat is limited to a message a second");
                }
                node.send_to(node.sessions_where(everyone), text(m));
            } else if constexpr (std::is_same_v<T, control::image> ||
                                 std::is_same_v<T, control::cue>) {
                node.send_to(node.sessions_where(section_and_leads(msg.section)), text(m));
            } else if constexpr (std::is_same_v<T, control::piece>) {
                const auto at = node.hooks.piece_start
                                    ? node.hooks.piece_start(msg.name, msg.start_in_ms)
                                    : control_hooks::piece_time{};
                if (at.sample < 0)
                    return refuse("refused", "this node cannot start a piece now");
                node.send_to(node.sessions_where(everyone),
                             std::make_shared<const std::string>(
                                 control::encode_piece(msg.name, at.ns, at.sample, player_)));
            } else if constexpr (std::is_same_v<T, control::timing>) {
                const std::string why = node.hooks.timing ? node.hooks.timing(msg)
                                                          : std::string("timing is fixed here");
                if (!why.empty())
                    return refuse("refused", why);
                node.send_to(node.sessions_where(everyone), text(m));
            } else if constexpr (std::is_same_v<T, control::solo_request>) {
                {
                    std::lock_guard lock(node.room_mu);
                    if (std::find(node.solo_queue.begin(), node.solo_queue.end(), player_) ==
                        node.solo_queue.end())
                        node.solo_queue.push_back(player_);
                }
                node.send_to(node.sessions_where(leads),
                             std::make_shared<const std::string>(node.roster_json()));
            } else if constexpr (std::is_same_v<T, control::mix>) {
                if (!node.hooks.mix)
                    return refuse("refused", "personal mixes are not available on this node");
                const control::mix_levels next = control::apply(mix_, msg);
                const bool applied = node.hooks.mix(player_, next);
                mix_changed_ = mix_changed_ || next != mix_;
                mix_ = next;
                on_send(std::make_shared<const std::string>(
                    control::encode_mix(mix_, applied ? "own" : "shared", applied)));
            } else if constexpr (std::is_same_v<T, control::solo_grant>) {
                bool known = false;
                {
                    std::lock_guard lock(node.room_mu);
                    known = node.members.contains(msg.player);
                    if (known) {
                        std::erase(node.solo_queue, msg.player);
                        node.soloist = msg.player;
                    }
                }
                if (!known)
                    return refuse("unknown_player", "no such player");
                if (node.hooks.solo_grant)
                    node.hooks.solo_grant(msg.player);
                node.send_to(node.sessions_where(everyone), text(m));
            } else if constexpr (std::is_same_v<T, control::mute>) {
                bool known = false;
                {
                    std::lock_guard lock(node.room_mu);
                    auto it = node.members.find(msg.player);
                    known = it != node.members.end();
                    if (known) {
                        it->second.muted = msg.muted;
                        node.muted[msg.player] = msg.muted;
                    }
                }
                if (!known)
                    return refuse("unknown_player", "no such player");
                if (node.hooks.mute)
                    node.hooks.mute(msg.player, msg.muted);
                node.send_to(node.sessions_where([&](const ws_session& s) {
                    return s.player() == msg.player || s.who() == role::conductor ||
                           s.who() == role::ops;
                }),
                             text(m));
            } else if constexpr (std::is_same_v<T, control::kick>) {
                std::shared_ptr<ws_session> target;
                {
                    std::lock_guard lock(node.room_mu);
                    if (auto it = node.members.find(msg.player); it != node.members.end())
                        target = it->second.session.lock();
                }
                if (!target)
                    return refuse("unknown_player", "no such player");
                if (node.hooks.dismiss)
                    node.hooks.dismiss(msg.player);
                target->send_and_close(text(m));
            } else if constexpr (std::is_same_v<T, control::talkback_begin>) {
                {
                    std::lock_guard lock(node.room_mu);
                    if (node.talker != 0 && node.talker != player_)
                        return refuse("busy", "another conductor is talking");
                    node.talker = player_;
                }
                if (!node.hooks.talkback_begin || !node.hooks.talkback_begin(msg.at_ms)) {
                    std::lock_guard lock(node.room_mu);
                    node.talker = 0;
                    return refuse("refused", "talk-back is not available on this node");
                }
                talking_ = true;
                node.tell_talkback(true);
            } else if constexpr (std::is_same_v<T, control::talkback_end>) {
                if (!talking_)
                    return refuse("bad_state", "talkback_end without talkback_begin");
                talking_ = false;
                {
                    std::lock_guard lock(node.room_mu);
                    node.talker = 0;
                }
                if (node.hooks.talkback_end)
                    node.hooks.talkback_end();
                node.tell_talkback(false);
            }
        },
        m);
}

// Pages a listener may fall behind the live stream before it is dropped: about two seconds at
// listen_stream's page rate (a page per 100 ms at most).
constexpr std::size_t k_listen_queue_pages = 24;
// A listener's kernel send buffer: small, so one that stops reading shows up in its queue
// within seconds instead of hiding behind megabytes of socket buffer.
constexpr int k_listen_send_buffer = 32 * 1024;
// A single write that takes this long means the listener is gone or stuck.
constexpr auto k_listen_write_timeout = std::chrono::seconds(10);

// One /listen connection: the response header, the stream's header pages, then every live
// page until the listener goes away or falls k_listen_queue_pages behind (then it is closed
// and counted). Pages arrive from the encoder thread through net::post onto this strand; one
// write in flight, the queue behind it bounded.
class listen_session : public std::enable_shared_from_this<listen_session> {
public:
    listen_session(beast::tcp_stream&& stream, impl_ptr node, listen_stream& stream_source,
                   unsigned version)
        : stream_(std::move(stream)), node_(std::move(node)), source_(stream_source),
          version_(version) {}

    ~listen_session() { node_->open_connections.fetch_sub(1); }

    /// On the connection's strand: subscribes and starts writing.
    void run() {
        beast::error_code ec;
        stream_.socket().set_option(net::socket_base::send_buffer_size(k_listen_send_buffer), ec);
        stream_.socket().set_option(tcp::no_delay(true), ec);
        std::vector<listen_stream::page> headers;
        std::weak_ptr<listen_session> weak = shared_from_this();
        subscription_ = source_.subscribe(
            [weak](const listen_stream::page& p) {
                if (auto self = weak.lock())
                    net::post(self->stream_.get_executor(), [self, p] { self->on_page(p); });
            },
            headers);
        for (auto& h : headers)
            queue_.push_back(std::move(h));
        // No Content-Length, Connection: close: the body is the stream, until either side stops.
        auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, version_);
        res->set(http::field::server, "gno-server");
        res->set(http::field::content_type, "audio/ogg");
        res->set(http::field::cache_control, "no-store");
        res->keep_alive(false);
        writing_ = true;
        stream_.expires_after(k_listen_write_timeout);
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res](beast::error_code e, std::size_t) {
                              self->on_write(e);
                          });
        do_read();
    }

private:
    // A read always in flight: it keeps the session alive between pages (the sink holds it
    // weakly) and sees the listener hang up. What a listener sends is ignored. On the socket,
    // not the tcp_stream: the stream's timeout is for writes only.
    void do_read() {
        stream_.socket().async_read_some(
            net::buffer(ignored_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
                if (ec)
                    return self->close();
                self->do_read();
            });
    }

    void on_page(const listen_stream::page& p) {
        if (closed_)
            return;
        if (queue_.size() >= k_listen_queue_pages) {
            source_.count_dropped();
            return close();
        }
        queue_.push_back(p);
        if (!writing_)
            do_write();
    }

    void do_write() {
        if (queue_.empty()) {
            writing_ = false;
            return;
        }
        writing_ = true;
        stream_.expires_after(k_listen_write_timeout);
        net::async_write(stream_, net::buffer(*queue_.front()),
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->queue_.pop_front();
                             self->on_write(ec);
                         });
    }

    void on_write(beast::error_code ec) {
        if (ec) {
            fail(ec, "listen write");
            return close();
        }
        if (!closed_)
            do_write();
    }

    void close() {
        if (closed_)
            return;
        closed_ = true;
        subscription_.reset(); // what is queued goes with the session, once its write ends
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.socket().close(ec);
    }

    beast::tcp_stream stream_;
    impl_ptr node_;
    listen_stream& source_;
    unsigned version_;
    std::shared_ptr<void> subscription_;
    std::deque<listen_stream::page> queue_;
    std::array<char, 512> ignored_;
    bool writing_ = false;
    bool closed_ = false;
};

// An HTTP connection: static console pages, health, metrics, status, or an upgrade to /ws.
class http_session : public std::enable_shared_from_this<http_session> {
public:
    http_session(tcp::socket&& socket, impl_ptr node)
        : stream_(std::move(socket)), node_(std::move(node)) {}

    void run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&http_session::do_read, shared_from_this()));
    }

private:
    void do_read() {
        parser_.emplace();
        // The header first: it says which route the request is for, and how big its body is -
        // refused before a byte of it is read when it is more than the route takes (on_header).
        parser_->body_limit(
            std::max<std::uint64_t>(k_http_body_limit, node_->cfg.max_upload_bytes));
        parser_->header_limit(k_http_header_limit);
        stream_.expires_after(k_http_timeout);
        http::async_read_header(
            stream_, buffer_, *parser_,
            beast::bind_front_handler(&http_session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        if (ec == http::error::body_limit)
            return refuse(http::status::payload_too_large, "too_large",
                          "the body is larger than this node takes (" +
                              std::to_string(node_->cfg.max_upload_bytes >> 20) +
                              " MiB); none of it was read");
        if (ec)
            return on_read(ec, 0);
        if (path_of(parser_->get()) == "/api/instrument")
            return on_instrument_header();
        // Every other route takes small bodies only, whatever the header announces.
        if (const auto n = parser_->content_length(); n && *n > k_http_body_limit)
            return refuse(http::status::payload_too_large, "too_large",
                          "this route takes at most " + std::to_string(k_http_body_limit) +
                              " bytes");
        parser_->body_limit(k_http_body_limit);
        if (parser_->is_done())
            return on_read({}, 0);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&http_session::on_read, shared_from_this()));
    }

    static std::string_view path_of(const http::request<http::string_body>& req) {
        const auto raw = req.target();
        std::string_view target(raw.data(), raw.size());
        return target.substr(0, target.find('?'));
    }

    // POST /api/instrument: who, then how big, then (only then) the body; DELETE: back to GM.
    void on_instrument_header() {
        const auto& req = parser_->get();
        auto& node = *node_;
        if (!node.hooks.instrument_upload)
            return refuse(http::status::not_found, "not_found",
                          "this node takes no instrument uploads");
        if (req.method() != http::verb::post && req.method() != http::verb::delete_)
            return refuse(http::status::method_not_allowed, "bad_method",
                          "POST an instrument, or DELETE yours");
        const auto auth = req[http::field::authorization];
        const auto who = node.performer_of(std::string_view(auth.data(), auth.size()));
        if (who.status != 200)
            return refuse(static_cast<http::status>(who.status), who.code, who.message);
        if (req.method() == http::verb::delete_) {
            if (node.hooks.instrument_remove)
                node.hooks.instrument_remove(who.player);
            close_after_reply_ = !parser_->is_done();
            return reply(http::status::ok, "application/json",
                         R"({"type":"instrument","player":)" + std::to_string(who.player) +
                             R"(,"state":"removed"})");
        }
        const auto length = parser_->content_length();
        if (!length)
            return refuse(http::status::length_required, "length_required",
                          "send the upload with a Content-Length (chunked uploads are not taken)");
        if (*length == 0)
            return refuse(http::status::bad_request, "bad_upload",
                          "the upload is empty: send multipart/form-data with a map and WAVs");
        if (node.uploads_in_flight.fetch_add(1) >= node.cfg.max_uploads) {
            node.uploads_in_flight.fetch_sub(1);
            return refuse(http::status::service_unavailable, "busy",
                          "other instruments are being built; try again in a few seconds");
        }
        upload_slot_ = std::shared_ptr<void>(
            nullptr, [n = node_](void*) { n->uploads_in_flight.fetch_sub(1); });
        uploader_ = who.player;
        parser_->body_limit(node.cfg.max_upload_bytes);
        stream_.expires_after(k_upload_timeout);
        if (beast::iequals(req[http::field::expect], "100-continue")) {
            // The client waits for a word before it sends the body: all is well, go on.
            auto go = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                         req.version());
            http::async_write(stream_, *go,
                              [self = shared_from_this(), go](beast::error_code e, std::size_t) {
                                  if (e)
                                      return self->on_upload_body(e, 0);
                                  self->read_upload();
                              });
            return;
        }
        read_upload();
    }

    void read_upload() {
        http::async_read(
            stream_, buffer_, *parser_,
            beast::bind_front_handler(&http_session::on_upload_body, shared_from_this()));
    }

    void on_upload_body(beast::error_code ec, std::size_t) {
        if (ec) {
            upload_slot_.reset();
            node_->refused_uploads.fetch_add(1);
            fail(ec, "instrument upload");
            return close();
        }
        auto& req = parser_->get();
        const auto type = req[http::field::content_type];
        auto job = std::make_shared<std::pair<std::string, std::string>>(
            std::string(type.data(), type.size()), std::move(req.body()));
        node_->uploads.fetch_add(1);
        // Built on the builder thread; the reply comes back to this connection's strand.
        net::post(*node_->builder, [self = shared_from_this(), job, player = uploader_] {
            auto& node = *self->node_;
            control_hooks::instrument_reply r;
            try {
                r = node.hooks.instrument_upload(player, job->first, job->second);
            } catch (const std::exception& e) { // out of memory, say: this upload fails alone
                r = {500, control::encode_error("build_failed", e.what())};
            }
            bool still_here = false;
            {
                std::lock_guard lock(node.room_mu);
                still_here = node.members.contains(player);
            }
            // Left while it was built: what was just installed goes again (in order after it).
            if (!still_here && node.hooks.instrument_remove)
                node.hooks.instrument_remove(player);
            net::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable {
                self->upload_slot_.reset();
                self->reply(static_cast<http::status>(r.status), "application/json",
                            std::move(r.json));
            });
        });
    }

    // A refusal, as JSON; the connection closes after it when the body was not read (then the
    // node lingers a moment, reading and dropping what still comes, before it closes).
    void refuse(http::status status, std::string_view code, const std::string& message) {
        if (path_of(parser_->get()) == "/api/instrument")
            node_->refused_uploads.fetch_add(1);
        close_after_reply_ = !parser_->is_done();
        http::response<http::string_body> res{status, parser_->get().version()};
        res.set(http::field::content_type, "application/json");
        res.set(http::field::cache_control, "no-store");
        if (status == http::status::unauthorized)
            res.set(http::field::www_authenticate, "Bearer");
        res.body() = control::encode_error(code, message);
        send(std::move(res));
    }

    void linger() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.expires_after(k_linger_time);
        drain_ = std::make_unique<std::array<char, 4096>>();
        do_linger();
    }
    void do_linger() {
        stream_.async_read_some(net::buffer(*drain_),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                    self->lingered_ += n;
                                    if (ec || self->lingered_ > k_linger_bytes)
                                        return self->close();
                                    self->do_linger();
                                });
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) {
            if (ec != http::error::end_of_stream)
                fail(ec, "http read");
            return close();
        }
        auto& req = parser_->get();
        if (websocket::is_upgrade(req)) {
            if (req.target() != "/ws")
                return reply(http::status::not_found, "text/plain", "WebSocket is at /ws\n");
            beast::get_lowest_layer(stream_).expires_never();
            node_->open_connections.fetch_add(1);
            std::make_shared<ws_session>(stream_.release_socket(), node_)->run(parser_->release());
            return;
        }
        handle(req);
    }

    void handle(const http::request<http::string_body>& req) {
        if (path_of(req) == "/api/directory")
            return on_directory(req);
        if (req.method() != http::verb::get && req.method() != http::verb::head)
            return reply(http::status::method_not_allowed, "text/plain", "GET or HEAD only\n");
        const auto raw = req.target();
        std::string_view target(raw.data(), raw.size());
        if (auto q = target.find('?'); q != std::string_view::npos)
            target = target.substr(0, q);
        auto& hooks = node_->hooks;
        if (target == "/healthz") {
            const bool ok = !hooks.healthy || hooks.healthy();
            return reply(ok ? http::status::ok : http::status::service_unavailable, "text/plain",
                         ok ? "ok\n" : "not rendering\n");
        }
        if (target == "/metrics")
            return reply(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                         hooks.metrics_text ? hooks.metrics_text() : std::string());
        if (target == "/api/status")
            return reply(http::status::ok, "application/json",
                         hooks.status_json ? hooks.status_json() : std::string("{}"));
        if (target == "/listen" && hooks.listen && req.method() == http::verb::get) {
            // The connection becomes the stream (its count goes with it).
            closed_ = true;
            std::make_shared<listen_session>(std::move(stream_), node_, *hooks.listen,
                                             req.version())
                ->run();
            return;
        }
        if (target == "/listen" && hooks.listen)
            return reply(http::status::ok, "audio/ogg", std::string()); // HEAD
        if (target == "/listen/" && hooks.listen) {
            for (const auto& asset : console_assets())
                if (asset.path == "listen.html")
                    return reply(http::status::ok, asset.content_type, std::string(asset.body));
        }
        if (target == "/" || target == "/console") {
            http::response<http::string_body> res{http::status::found, req.version()};
            res.set(http::field::location, "/console/");
            return send(std::move(res));
        }
        if (target.starts_with("/console/")) {
            std::string_view file = target.substr(9);
            if (file.empty())
                file = "index.html";
            for (const auto& asset : console_assets())
                if (asset.path == file)
                    return reply(http::status::ok, asset.content_type, std::string(asset.body));
        }
        reply(http::status::not_found, "text/plain", "not found\n");
    }

    // GET: the mesh's nodes. POST {"code", "program", "bank", "avoid"}: where a performer
    // with a code valid here is to join, and a token for that node (directory.hpp).
    void on_directory(const http::request<http::string_body>& req) {
        const directory* dir = node_->hooks.dir;
        if (dir == nullptr)
            return refuse(http::status::not_found, "not_found",
                          "this node is not part of a mesh: join it directly");
        if (req.method() == http::verb::get || req.method() == http::verb::head)
            return reply(http::status::ok, "application/json", dir->nodes_json());
        if (req.method() != http::verb::post)
            return refuse(http::status::method_not_allowed, "bad_method",
                          "GET the nodes, or POST a performer's code");
        constexpr const char* k_shape = R"(POST {"code":"...","program":0..127,"bank":0|128,)"
                                        R"("avoid":NODE} (all but the code optional))";
        const auto j = nlohmann::json::parse(req.body(), nullptr, false);
        auto number = [&j](const char* key, int lo, int hi, int fallback) -> std::optional<int> {
            if (!j.contains(key))
                return fallback;
            const auto& v = j[key];
            if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
                return std::nullopt;
            return static_cast<int>(v.get<long long>());
        };
        if (!j.is_object() || !j.contains("code") || !j["code"].is_string() ||
            j["code"].get_ref<const std::string&>().size() > 128)
            return refuse(http::status::bad_request, "bad_request", k_shape);
        const auto& text = j["code"].get_ref<const std::string&>();
        beast::error_code ec;
        const auto endpoint = stream_.socket().remote_endpoint(ec);
        const auto from = ec ? std::nullopt : std::optional(endpoint.address());
        if (!node_->code_allowed(from))
            return refuse(http::status::too_many_requests, "too_many_attempts",
                          "too many wrong codes from this address; try again in a minute");
        std::size_t index = 0;
        const join_code* code = node_->find_code(text, index);
        if (code == nullptr) {
            node_->refused_joins.fetch_add(1);
            node_->code_failed(from);
            return refuse(http::status::forbidden, "bad_code", "this join code is not valid here");
        }
        if (code->who != role::performer)
            return refuse(http::status::forbidden, "wrong_role",
                          "the directory places performers; a " +
                              std::string(control::role_name(code->who)) +
                              " code joins its node directly");
        const auto program = number("program", 0, 127, code->program);
        const auto bank = number("bank", 0, 128, code->bank);
        const auto avoid = number("avoid", 0, 65535, 0);
        if (!program || !bank || (*bank != 0 && *bank != 128) || !avoid)
            return refuse(http::status::bad_request, "bad_request", k_shape);
        const auto p =
            dir->place(text, *program, *bank, static_cast<std::uint32_t>(*avoid), unix_now_s());
        reply(static_cast<http::status>(p.status), "application/json", p.json);
    }

    void reply(http::status status, std::string_view type, std::string body) {
        http::response<http::string_body> res{status, parser_->get().version()};
        res.set(http::field::content_type, beast::string_view(type.data(), type.size()));
        res.set(http::field::cache_control, "no-store");
        res.body() = std::move(body);
        send(std::move(res));
    }

    void send(http::response<http::string_body>&& res) {
        res.set(http::field::server, "gno-server");
        res.keep_alive(parser_->get().keep_alive() && !close_after_reply_);
        res.prepare_payload();
        stream_.expires_after(k_http_timeout);
        if (parser_->get().method() == http::verb::head)
            res.body().clear();
        auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
        response_ = sp;
        http::async_write(stream_, *sp,
                          [self = shared_from_this(), sp](beast::error_code ec, std::size_t) {
                              self->on_write(ec, sp->need_eof());
                          });
    }

    void on_write(beast::error_code ec, bool close_after) {
        response_.reset();
        if (ec)
            return fail(ec, "http write");
        if (close_after_reply_)
            return linger();
        if (close_after)
            return close();
        do_read();
    }

    void close() {
        if (closed_)
            return;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        node_->open_connections.fetch_sub(1);
        closed_ = true;
    }

public:
    ~http_session() {
        // A session upgraded to WebSocket hands its count to the ws_session.
        if (!closed_)
            node_->open_connections.fetch_sub(1);
    }

private:
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    impl_ptr node_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<void> response_;
    bool closed_ = false;
    bool close_after_reply_ = false;    // the request's body was not read: close after the reply
    std::shared_ptr<void> upload_slot_; // held while an upload is read or built
    std::uint32_t uploader_ = 0;
    std::unique_ptr<std::array<char, 4096>> drain_; // lingering only
    std::size_t lingered_ = 0;
};

} // namespace

void control_plane::impl::listen() {
    beast::error_code ec;
    const auto address = net::ip::make_address(cfg.address, ec);
    if (ec)
        throw std::runtime_error("control plane: not an IP address: " + cfg.address);
    const tcp::endpoint ep{address, cfg.port};
    acceptor->open(ep.protocol(), ec);
    if (!ec)
        acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
        acceptor->bind(ep, ec);
    if (!ec)
        acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error("control plane: cannot listen on tcp " + cfg.address + ":" +
                                 std::to_string(cfg.port) + " (" + ec.message() +
                                 "); pass another --control-port, or 0 for any free port");
    bound_port = acceptor->local_endpoint().port();
}

void control_plane::impl::do_accept() {
    acceptor->async_accept(net::make_strand(*ioc), [self = shared_from_this()](beast::error_code ec,
                                                                               tcp::socket socket) {
        if (ec == net::error::operation_aborted)
            return;
        if (!ec) {
            self->connections.fetch_add(1);
            if (self->open_connections.load() >= self->cfg.max_connections) {
                socket.close(ec); // full: refuse at the door, before reading anything
            } else {
                self->open_connections.fetch_add(1);
                std::make_shared<http_session>(std::move(socket), self)->run();
            }
        } else {
            fail(ec, "accept");
        }
        self->do_accept();
    });
}

const join_code* control_plane::impl::find_code(std::string_view text, std::size_t& index) const {
    const join_code* found = nullptr;
    for (std::size_t i = 0; i < cfg.codes.size(); ++i)
        if (same_code(text, cfg.codes[i].code)) {
            found = &cfg.codes[i];
            index = i;
        }
    return found;
}

control_plane::impl::http_identity
control_plane::impl::performer_of(std::string_view authorization) {
    http_identity id;
    auto refuse = [&](int status, const char* code, std::string message) {
        id.status = status;
        id.code = code;
        id.message = std::move(message);
        return id;
    };
    constexpr std::string_view scheme = "bearer ";
    const auto head = authorization.substr(0, scheme.size());
    const bool bearer = authorization.size() > scheme.size() &&
                        beast::iequals(beast::string_view(head.data(), head.size()),
                                       beast::string_view(scheme.data(), scheme.size()));
    if (!bearer)
        return refuse(401, "no_session",
                      "send Authorization: Bearer PLAYER:SESSION_KEY (the player and session_key "
                      "of your welcome)");
    const std::string_view token = authorization.substr(scheme.size());
    const auto colon = token.find(':');
    std::uint32_t player = 0;
    const auto id_text = token.substr(0, colon);
    const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), player);
    if (colon == std::string_view::npos || ec != std::errc{} ||
        end != id_text.data() + id_text.size() || player == 0)
        return refuse(401, "no_session", "the credentials are PLAYER:SESSION_KEY");
    const std::string_view key = token.substr(colon + 1);
    std::lock_guard lock(room_mu);
    const auto it = members.find(player);
    // The same answer for an unknown player and a wrong key: nothing to learn from it.
    if (it == members.end() || !same_code(key, it->second.key))
        return refuse(403, "bad_session", "no joined session has this player id and key");
    if (it->second.who != role::performer)
        return refuse(403, "forbidden", "only a performer plays an instrument of its own");
    id.player = player;
    return id;
}

std::vector<std::shared_ptr<ws_session>> control_plane::impl::sessions_where(const auto& pred) {
    std::vector<std::shared_ptr<ws_session>> out;
    std::lock_guard lock(room_mu);
    out.reserve(members.size());
    for (auto& [id, m] : members)
        if (auto s = m.session.lock(); s && pred(*s))
            out.push_back(std::move(s));
    return out;
}

void control_plane::impl::send_to(const std::vector<std::shared_ptr<ws_session>>& to,
                                  std::shared_ptr<const std::string> msg) {
    for (const auto& s : to)
        s->send(msg);
}

std::vector<player_link_view> control_plane::impl::link_rows() {
    std::vector<player_link_view> links;
    if (hooks.links)
        links = hooks.links();
    std::sort(links.begin(), links.end(),
              [](const auto& a, const auto& b) { return a.session < b.session; });
    return links;
}

namespace {

const player_link_view* find_link(const std::vector<player_link_view>& sorted,
                                  std::uint32_t session) {
    const auto it =
        std::lower_bound(sorted.begin(), sorted.end(), session,
                         [](const player_link_view& l, std::uint32_t s) { return l.session < s; });
    return it != sorted.end() && it->session == session ? &*it : nullptr;
}

// A row's link figures from the node's view of that player, or no UDP and zeros.
void set_link(control::roster_entry& e, const player_link_view* l) {
    e.udp = l != nullptr;
    const player_link_view none;
    const auto& v = l ? *l : none;
    e.rtt_ms = v.rtt_ms;
    e.min_rtt_ms = v.min_rtt_ms;
    e.jitter_ms = v.jitter_ms;
    e.loss_up_pct = v.loss_up_pct;
    e.loss_down_pct = v.loss_down_pct;
    e.late_events = v.late_events;
}

} // namespace

std::string control_plane::impl::roster_json(const std::vector<player_link_view>& links) {
    std::vector<control::roster_entry> rows;
    std::vector<bool> listed(links.size(), false); // rows of a joined member
    std::vector<std::uint32_t> queue;
    std::optional<std::uint32_t> solo;
    {
        std::lock_guard lock(room_mu);
        rows.reserve(members.size() + links.size());
        for (const auto& [id, m] : members) {
            control::roster_entry e;
            e.player = id;
            e.name = m.name;
            e.who = m.who;
            e.section = m.section;
            e.program = m.program;
            e.muted = m.muted;
            const auto* l = find_link(links, id);
            set_link(e, l);
            if (l)
                listed[static_cast<std::size_t>(l - links.data())] = true;
            rows.push_back(std::move(e));
        }
        queue = solo_queue;
        solo = soloist;
    }
    // Players on UDP without a WebSocket (a client of an older kind, or a load generator).
    for (std::size_t i = 0; i < links.size(); ++i) {
        if (listed[i])
            continue;
        control::roster_entry e;
        e.player = links[i].session;
        e.name = "udp-" + std::to_string(links[i].session);
        e.connected = false;
        set_link(e, &links[i]);
        rows.push_back(std::move(e));
    }
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.player < b.player; });
    return control::encode_roster(rows, solo, queue);
}

void control_plane::impl::do_roster() {
    roster_timer->expires_after(std::chrono::seconds(1));
    roster_timer->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec)
            return;
        self->send_rosters();
        self->do_roster();
    });
}

void control_plane::impl::send_rosters() {
    // One pass over the room, one snapshot of the links for the leads' roster and for every
    // performer's own row.
    std::vector<std::shared_ptr<ws_session>> leads;
    std::vector<std::pair<std::uint32_t, std::shared_ptr<ws_session>>> performers;
    {
        std::lock_guard lock(room_mu);
        for (auto& [id, m] : members) {
            auto s = m.who == role::listener ? nullptr : m.session.lock();
            if (!s)
                continue;
            if (m.who == role::performer)
                performers.emplace_back(id, std::move(s));
            else
                leads.push_back(std::move(s));
        }
    }
    // A node without a UDP side (no links hook) has nothing to tell its performers.
    if (!hooks.links)
        performers.clear();
    if (leads.empty() && performers.empty())
        return;
    const auto links = link_rows();
    if (!leads.empty())
        send_to(leads, std::make_shared<const std::string>(roster_json(links)));
    control::roster_entry own;
    for (const auto& [player, session] : performers) {
        set_link(own, find_link(links, player));
        session->send(std::make_shared<const std::string>(control::encode_link(own)));
    }
}

control_plane::control_plane(control_config cfg, control_hooks hooks)
    : impl_(std::make_shared<impl>(std::move(cfg), std::move(hooks))) {
    impl_->listen();
}

control_plane::~control_plane() {
    stop();
}

void control_plane::start() {
    impl_->do_accept();
    impl_->do_roster();
    for (int i = 0; i < std::max(1, impl_->cfg.threads); ++i)
        impl_->threads.emplace_back([p = impl_.get()] { p->ioc->run(); });
}

void control_plane::stop() {
    if (impl_->stopped)
        return;
    impl_->stopped = true;
    impl_->ioc->stop();
    for (auto& t : impl_->threads)
        t.join();
    impl_->threads.clear();
    // A build under way finishes (its reply is queued on the stopped io_context, and dropped
    // with it); those not started are dropped with the connections they hold.
    impl_->builder->stop();
    impl_->builder->join();
    impl_->builder.reset();
    // Destroying the io_context destroys every handler still pending, and with them the
    // sessions; impl_ keeps the shared state alive meanwhile.
    impl_->roster_timer.reset();
    impl_->acceptor.reset();
    impl_->ioc.reset();
}

std::uint16_t control_plane::port() const noexcept {
    return impl_->bound_port;
}

void control_plane::impl::tell_talkback(bool on) {
    send_to(sessions_where([](const ws_session& s) { return s.who() == role::performer; }),
            std::make_shared<const std::string>(on ? R"({"type":"talkback","v":1,"state":"on"})"
                                                   : R"({"type":"talkback","v":1,"state":"off"})"));
}

void control_plane::announce_talkback(bool on) {
    impl_->tell_talkback(on);
}

void control_plane::announce(std::string text) {
    impl_->send_to(impl_->sessions_where([](const ws_session&) { return true; }),
                   std::make_shared<const std::string>(std::move(text)));
}

control_plane::stats control_plane::counters() const noexcept {
    const auto& i = *impl_;
    stats s;
    s.connections = i.connections.load();
    s.joined = i.joined.load();
    s.refused_joins = i.refused_joins.load();
    s.code_lockouts = i.code_lockouts.load();
    s.bad_messages = i.bad_messages.load();
    s.rate_limited = i.rate_limited.load();
    s.slow_readers_dropped = i.slow_readers_dropped.load();
    s.messages_in = i.messages_in.load();
    s.talkback_samples = i.talkback_samples.load();
    s.uploads = i.uploads.load();
    s.refused_uploads = i.refused_uploads.load();
    s.code_full = i.code_full.load();
    s.open_connections = i.open_connections.load();
    return s;
}

} // namespace gno::render
