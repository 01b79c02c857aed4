#include "gno/render/network_stats_log.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace gno::render {

namespace {

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double ratio(double num, double den) {
    return den > 0.0 ? num / den : 0.0;
}

// A JSON object written field by field; numbers in fixed notation, so a reader never meets
// an exponent, and never NaN or infinity (the callers' ratios guard their denominators).
class json_line {
public:
    explicit json_line(const char* type) {
        out_ = "{\"type\":\"";
        out_ += type;
        out_ += '"';
    }
    json_line& num(const char* key, double v, int decimals = 3) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
        return raw(key, buf);
    }
    json_line& num(const char* key, std::int64_t v) { return raw(key, std::to_string(v)); }
    json_line& num(const char* key, std::uint64_t v) { return raw(key, std::to_string(v)); }
    json_line& num(const char* key, int v) { return raw(key, std::to_string(v)); }
    json_line& num(const char* key, std::uint32_t v) { return raw(key, std::to_string(v)); }
    json_line& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
    /// `v` when `known`, else null.
    json_line& maybe(const char* key, bool known, double v) {
        return known ? num(key, v) : raw(key, "null");
    }
    std::string done() {
        out_ += '}';
        return std::move(out_);
    }

private:
    json_line& raw(const char* key, const std::string& v) {
        out_ += ",\"";
        out_ += key;
        out_ += "\":";
        out_ += v;
        return *this;
    }
    std::string out_;
};

double seconds(std::int64_t ns) {
    return static_cast<double>(ns) / 1e9;
}

} // namespace

// --- player_window_stats ---

void player_window_stats::add(const player_link_window& w) {
    if (intervals == 0) {
        slot = w.slot;
        session_id = w.session_id;
        first_ns = w.start_ns;
    }
    ++intervals;
    first_ns = std::min(first_ns, w.start_ns);
    last_ns = std::max(last_ns, w.end_ns);
    joined = joined || w.joined;
    left = left || w.left;
    jitter_sum_us += w.jitter_us;
    jitter_max_us = std::max(jitter_max_us, w.jitter_us);
    if (w.rtt_reports > 0)
        rtt_min_us = rtt_reports == 0 ? w.rtt_min_us : std::min(rtt_min_us, w.rtt_min_us);
    link_counts::add(w);
}

double player_window_stats::jitter_mean_us() const noexcept {
    return ratio(jitter_sum_us, intervals);
}

// --- session_summary ---

void session_summary::add(const player_window_stats& w) {
    ++player_windows;
    if (w.rtt_reports > 0) {
        ++windows_with_rtt;
        rtt_window_min_sum_us += w.rtt_min_us;
    }
    if (w.disconnected_ns > 0)
        ++windows_disconnected;
    jitter_sum_us += w.jitter_mean_us();
    link_counts::add(w);
}

double session_summary::rtt_min_mean_us() const noexcept {
    return ratio(rtt_window_min_sum_us, static_cast<double>(windows_with_rtt));
}

double session_summary::jitter_mean_us() const noexcept {
    return ratio(jitter_sum_us, static_cast<double>(player_windows));
}

double session_summary::disconnect_probability() const noexcept {
    return ratio(static_cast<double>(windows_disconnected), static_cast<double>(player_windows));
}

// --- link_aggregator ---

link_aggregator::link_aggregator(std::int64_t window_ns) : window_ns_(window_ns) {}

std::vector<player_window_stats> link_aggregator::close_open() {
    std::vector<player_window_stats> out;
    out.reserve(open_.size());
    for (auto& [key, w] : open_) {
        summary_.add(w);
        out.push_back(w);
    }
    open_.clear();
    have_open_ = false;
    return out;
}

std::vector<player_window_stats> link_aggregator::add(const link_report& report) {
    std::vector<player_window_stats> done;
    summary_.server_ns = std::max(summary_.server_ns, report.server_ns);
    if (report.players.empty())
        return done;
    // The whole report goes to one window: the one holding the midpoint of its longest
    // interval (a player who joined late has a shorter one).
    std::int64_t start = report.server_ns;
    for (const auto& w : report.players)
        start = std::min(start, w.start_ns);
    const std::int64_t mid = start + (report.server_ns - start) / 2;
    const std::int64_t index = mid >= 0 ? mid / window_ns_ : -1;
    if (have_open_ && index > open_index_)
        done = close_open();
    if (!have_open_) {
        have_open_ = true;
        open_index_ = index;
    }
    // A report of an already closed window (a clock oddity) joins the open one.
    for (const auto& w : report.players) {
        auto [it, fresh] = open_.try_emplace({w.slot, w.session_id});
        if (fresh) {
            it->second.window_start_ns = open_index_ * window_ns_;
            it->second.window_end_ns = (open_index_ + 1) * window_ns_;
        }
        it->second.add(w);
        sessions_.insert(w.session_id);
    }
    summary_.players = static_cast<int>(sessions_.size());
    return done;
}

std::vector<player_window_stats> link_aggregator::close() {
    return close_open();
}

// --- JSON lines ---

std::string player_window_json(const player_window_stats& w, std::int64_t unix_ms) {
    const bool rtt = w.rtt_reports > 0;
    return json_line("player_window")
        .num("server_s", seconds(w.last_ns))
        .num("unix_ms", unix_ms)
        .num("window_start_s", seconds(w.window_start_ns))
        .num("seconds", seconds(w.last_ns - w.first_ns))
        .num("session", w.session_id)
        .num("slot", w.slot)
        .boolean("joined", w.joined)
        .boolean("left", w.left)
        .num("key_states", w.key_states)
        .num("uplink_expected", w.expected)
        .num("uplink_lost", w.lost())
        .num("uplink_loss_pct", w.uplink_loss_pct())
        .num("duplicates", w.duplicates)
        .num("reordered", w.reordered)
        .num("downlink_loss_pct", w.downlink_loss_pct())
        .num("loss_reports", w.loss_reports)
        .maybe("rtt_mean_ms", rtt, w.rtt_mean_us() / 1e3)
        .maybe("rtt_min_ms", rtt, static_cast<double>(w.rtt_min_us) / 1e3)
        .num("rtt_reports", w.rtt_reports)
        .num("jitter_ms", w.jitter_mean_us() / 1e3)
        .num("jitter_max_ms", w.jitter_max_us / 1e3)
        .num("disconnected_ms", static_cast<double>(w.disconnected_ns) / 1e6)
        .num("late_events", w.late_events)
        .done();
}

std::string summary_json(const session_summary& s, std::int64_t unix_ms) {
    const bool rtt = s.rtt_reports > 0;
    return json_line("summary")
        .num("server_s", seconds(s.server_ns))
        .num("unix_ms", unix_ms)
        .num("players", s.players)
        .num("player_windows", s.player_windows)
        .maybe("rtt_mean_ms", rtt, s.rtt_mean_us() / 1e3)
        .maybe("rtt_min_mean_ms", rtt, s.rtt_min_mean_us() / 1e3)
        .num("jitter_mean_ms", s.jitter_mean_us() / 1e3)
        .num("uplink_loss_pct", s.uplink_loss_pct())
        .num("downlink_loss_pct", s.downlink_loss_pct())
        .num("disconnect_probability", s.disconnect_probability(), 4)
        .num("windows_disconnected", s.windows_disconnected)
        .num("disconnected_s", seconds(s.disconnected_ns))
        .num("key_states", s.key_states)
        .num("uplink_expected", s.expected)
        .num("uplink_lost", s.expected - s.received)
        .num("duplicates", s.duplicates)
        .num("reordered", s.reordered)
        .num("rtt_reports", s.rtt_reports)
        .num("loss_reports", s.loss_reports)
        .num("late_events", s.late_events)
        .done();
}

// --- network_stats_log ---

network_stats_log::network_stats_log(const std::filesystem::path& path, std::int64_t window_ns)
    : aggregator_(window_ns) {
    if (path.empty())
        return;
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr)
        throw std::runtime_error("cannot write network statistics log " + path.string() + " (" +
                                 std::strerror(errno) +
                                 "); check that its directory exists and is writable, or pass "
                                 "another --net-stats FILE");
    logging_ = true;
    writer_ = std::thread([this] { run_writer(); });
}

network_stats_log::~network_stats_log() {
    finish();
}

void network_stats_log::submit(link_report report) {
    std::lock_guard lock(mutex_);
    if (finishing_ || !logging_) {
        latest_ = std::move(report);
        return;
    }
    latest_ = report;
    if (queue_.size() >= k_max_queued) {
        queue_.pop_front();
        ++dropped_;
    }
    queue_.push_back(std::move(report));
    wake_.notify_one();
}

link_report network_stats_log::latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
}

std::uint64_t network_stats_log::dropped_reports() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

void network_stats_log::finish() {
    {
        std::lock_guard lock(mutex_);
        if (finished_)
            return;
        finished_ = true;
        finishing_ = true;
    }
    wake_.notify_one();
    if (writer_.joinable())
        writer_.join();
    if (file_ != nullptr) {
        std::fclose(file_);
        file_ = nullptr;
    }
}

void network_stats_log::write_lines(const std::vector<player_window_stats>& windows) {
    if (windows.empty())
        return;
    const std::int64_t now = unix_ms_now();
    for (const auto& w : windows) {
        const std::string line = player_window_json(w, now);
        std::fputs(line.c_str(), file_);
        std::fputc('\n', file_);
    }
    // One flush per batch: a crash loses at most the window being filled.
    std::fflush(file_);
}

void network_stats_log::run_writer() {
    std::deque<link_report> batch;
    for (;;) {
        bool last = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return finishing_ || !queue_.empty(); });
            batch.swap(queue_);
            last = finishing_;
        }
        for (const auto& report : batch)
            write_lines(aggregator_.add(report));
        batch.clear();
        if (last)
            break;
    }
    write_lines(aggregator_.close());
    const std::string line = summary_json(aggregator_.summary(), unix_ms_now());
    std::fputs(line.c_str(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
}

} // namespace gno::render
