// POST /api/instrument on the control plane, with the node behind it a set of recording hooks:
// only a joined performer uploads, for itself; sizes are refused from the header before the body
// is read; the body reaches the node intact on the builder thread while the I/O thread goes on
// serving everyone else; DELETE and leaving take the instrument away.
#include "gno/render/control_plane.hpp"
#include "gno/test/process.hpp"
#include "gno/test/raw_http.hpp"
#include "gno/test/ws_client.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <condition_variable>
#include <gtest/gtest.h>
#include <mutex>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace gno::render;
using namespace std::chrono_literals;
using nlohmann::json;
using client = gno::test::ws_client;
using steady = std::chrono::steady_clock;

namespace {

using answer = gno::test::http_answer;

/// Sends `head` + blank line + `body` and reads until the server closes or `timeout`.
answer exchange(std::uint16_t port, const std::string& head, const std::string& body,
                std::chrono::milliseconds timeout = 5s) {
    return gno::test::http_exchange(port, head, body, timeout);
}

class InstrumentHttp : public ::testing::Test {
protected:
    void SetUp() override {
        control_config cfg;
        cfg.port = 0;
        cfg.max_upload_bytes = 1u << 20;
        cfg.codes = {{control::role::performer, "perf-code", 0, 0},
                     {control::role::conductor, "cond-code", 0, 0}};
        control_hooks h;
        h.mix = [](std::uint32_t, const control::mix_levels&) {
            return true;
        };
        h.instrument_upload = [this](std::uint32_t session, std::string_view type,
                                     std::string_view body) -> control_hooks::instrument_reply {
            std::unique_lock l(mu_);
            uploads_.push_back({session, std::string(type), std::string(body)});
            upload_thread_ = std::this_thread::get_id();
            cv_.wait_for(l, 5s, [this] { return !hold_build_; });
            return {200, R"({"type":"instrument","player":)" + std::to_string(session) + "}"};
        };
        h.instrument_remove = [this](std::uint32_t session) {
            std::lock_guard l(mu_);
            removed_.push_back(session);
        };
        plane_ = std::make_unique<control_plane>(cfg, h);
        plane_->start();
    }
    void TearDown() override {
        release_build();
        plane_.reset();
    }
    void release_build() {
        std::lock_guard l(mu_);
        hold_build_ = false;
        cv_.notify_all();
    }
    static std::string bearer(const json& w) {
        return "Authorization: Bearer " + std::to_string(w["player"].get<std::uint32_t>()) + ":" +
               w["session_key"].get<std::string>() + "\r\n";
    }
    answer post(const std::string& auth, const std::string& body, const std::string& extra = "") {
        return exchange(plane_->port(),
                        "POST /api/instrument HTTP/1.1\r\n" + auth + extra +
                            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n",
                        body);
    }

    struct upload {
        std::uint32_t session;
        std::string type, body;
    };
    std::mutex mu_;
    std::condition_variable cv_;
    bool hold_build_ = false;
    std::vector<upload> uploads_;
    std::vector<std::uint32_t> removed_;
    std::thread::id upload_thread_;
    std::unique_ptr<control_plane> plane_;
};

TEST_F(InstrumentHttp, OnlyAJoinedPerformerUploadsForItself) {
    client perf(plane_->port()), lead(plane_->port());
    const json w = perf.join("perf-code", "performer", "Ann");
    const json c = lead.join("cond-code", "conductor", "Maestro");
    ASSERT_EQ(w["type"], "welcome");
    ASSERT_EQ(c["type"], "welcome");

    const auto none = post("", "x");
    EXPECT_EQ(none.status, 401);
    EXPECT_NE(none.head.find("WWW-Authenticate: Bearer"), std::string::npos) << none.head;
    EXPECT_EQ(json::parse(none.body)["code"], "no_session");
    EXPECT_EQ(post("Authorization: Basic YTpi\r\n", "x").status, 401);
    EXPECT_EQ(post("Authorization: Bearer 12:\r\n", "x").status, 403);
    auto wrong = w;
    wrong["session_key"] = std::string(32, 'f');
    EXPECT_EQ(json::parse(post(bearer(wrong), "x").body)["code"], "bad_session");
    EXPECT_EQ(json::parse(post(bearer(c), "x").body)["code"], "forbidden");
    {
        std::lock_guard l(mu_);
        EXPECT_TRUE(uploads_.empty()) << "a refused upload reached the node";
    }

    const std::string body =
        "--b\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n--b--";
    const auto ok = post(bearer(w), body);
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(json::parse(ok.body)["player"], w["player"]);
    std::lock_guard l(mu_);
    ASSERT_EQ(uploads_.size(), 1u);
    EXPECT_EQ(uploads_[0].session, w["player"].get<std::uint32_t>());
    EXPECT_EQ(uploads_[0].type, "multipart/form-data; boundary=b");
    EXPECT_EQ(uploads_[0].body, body);
    EXPECT_EQ(plane_->counters().refused_uploads, 5u);
    EXPECT_EQ(plane_->counters().uploads, 1u);
}

// Sizes are judged from the header: 2 GB (or more than the node's 1 MiB here) is a 413 at once,
// without the body ever sent; no length at all (chunked) a 411; an upload answered with 100
// Continue when the client asks before sending.
TEST_F(InstrumentHttp, SizesAreRefusedFromTheHeaderAlone) {
    client perf(plane_->port());
    const json w = perf.join("perf-code", "performer", "Ann");
    const auto big = exchange(
        plane_->port(),
        "POST /api/instrument HTTP/1.1\r\n" + bearer(w) + "Content-Length: 2147483648\r\n", "");
    EXPECT_EQ(big.status, 413);
    EXPECT_LT(big.took, 1000ms) << "the refusal waited for the body";
    EXPECT_EQ(json::parse(big.body)["code"], "too_large");
    // Beyond this node's cap (1 MiB) though far below 2 GB.
    const auto over = exchange(
        plane_->port(),
        "POST /api/instrument HTTP/1.1\r\n" + bearer(w) + "Content-Length: 1048577\r\n", "");
    EXPECT_EQ(over.status, 413);
    const auto chunked =
        exchange(plane_->port(),
                 "POST /api/instrument HTTP/1.1\r\n" + bearer(w) + "Transfer-Encoding: chunked\r\n",
                 "3\r\nabc\r\n0\r\n\r\n");
    EXPECT_EQ(chunked.status, 411);
    // Another route never takes a big body either.
    EXPECT_EQ(
        exchange(plane_->port(), "POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n", "").status,
        413);
    const auto cont = post(bearer(w), "--b--", "Expect: 100-continue\r\n");
    EXPECT_EQ(cont.status, 200) << cont.head;
}

// A build that takes its time does not hold up the I/O thread: another performer's messages are
// answered meanwhile, and the build ran on a thread of its own.
TEST_F(InstrumentHttp, ABuildDoesNotHoldUpTheControlPlane) {
    client a(plane_->port()), b(plane_->port());
    const json wa = a.join("perf-code", "performer", "Ann");
    ASSERT_EQ(b.join("perf-code", "performer", "Bob")["type"], "welcome");
    {
        std::lock_guard l(mu_);
        hold_build_ = true;
    }
    std::thread uploader([&] { EXPECT_EQ(post(bearer(wa), "--b--").status, 200); });
    ASSERT_TRUE(gno::test::wait_for(
        [&] {
            std::lock_guard l(mu_);
            return !uploads_.empty();
        },
        3s));
    const auto t0 = steady::now();
    b.send(R"({"type":"mix","own":1})");
    EXPECT_TRUE(b.next_of("mix", 2000ms)) << "the control plane stalled behind a build";
    EXPECT_LT(steady::now() - t0, 500ms);
    release_build();
    uploader.join();
    std::lock_guard l(mu_);
    EXPECT_NE(upload_thread_, std::this_thread::get_id());
}

// DELETE takes the performer's instrument away; so does leaving.
TEST_F(InstrumentHttp, DeleteAndLeavingRemoveTheInstrument) {
    auto perf = std::make_unique<client>(plane_->port());
    const json w = perf->join("perf-code", "performer", "Ann");
    const auto player = w["player"].get<std::uint32_t>();
    const auto d = exchange(plane_->port(), "DELETE /api/instrument HTTP/1.1\r\n" + bearer(w), "");
    EXPECT_EQ(d.status, 200);
    EXPECT_EQ(json::parse(d.body)["state"], "removed");
    perf.reset();
    ASSERT_TRUE(gno::test::wait_for(
        [&] {
            std::lock_guard l(mu_);
            return removed_.size() == 2;
        },
        3s));
    std::lock_guard l(mu_);
    EXPECT_EQ(removed_, (std::vector<std::uint32_t>{player, player}));
}

} // namespace
