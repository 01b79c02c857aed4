// The directory (directory.hpp): which node a performer is sent to, the join tokens it hands
// out, and both over real control planes on loopback — a code checked on one node, a token
// taken by another, and everything a token must not do (another node's, expired, forged).
#include "gno/render/control_plane.hpp"
#include "gno/render/directory.hpp"
#include "gno/test/raw_http.hpp"
#include "gno/test/ws_client.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace gno::render;
using nlohmann::json;
using client = gno::test::ws_client;
namespace v1 = gno::proto::v1;

namespace {

constexpr int k_strings = 5; // GM programs 40..47
constexpr int k_brass = 7;

directory_node node(std::uint32_t id, std::uint32_t sections, int players, int max = 100) {
    directory_node n;
    n.node_id = id;
    n.host = "10.0.0." + std::to_string(id);
    n.udp_port = 47000;
    n.control_port = 47080;
    n.sections = sections;
    n.players = players;
    n.max_players = max;
    n.up = n.known = true;
    return n;
}

v1::session_key key_of(std::uint8_t fill) {
    v1::master_secret m{};
    m.fill(std::byte{fill});
    return token_key(m);
}

} // namespace

TEST(Directory, SendsAPerformerToTheLeastFullNodeServingItsSection) {
    std::vector<directory_node> nodes{node(1, 1u << k_brass, 10), node(2, 1u << k_strings, 60),
                                      node(3, 1u << k_strings, 20)};
    EXPECT_EQ(choose_node(nodes, k_strings), 2u); // node 3: 20 of 100
    EXPECT_EQ(choose_node(nodes, k_brass), 0u);
    // Full, down, draining, never heard of, or without a host: passed over.
    nodes[2].players = 100;
    EXPECT_EQ(choose_node(nodes, k_strings), 1u);
    nodes[1].up = false;
    // Nobody serving the strings is left: the least full node of any section takes them.
    EXPECT_EQ(choose_node(nodes, k_strings), 0u);
    nodes[0].draining = true;
    EXPECT_FALSE(choose_node(nodes, k_strings));
    nodes[0].draining = false;
    nodes[0].known = false;
    EXPECT_FALSE(choose_node(nodes, k_strings));
    nodes[0].known = true;
    nodes[0].host.clear();
    EXPECT_FALSE(choose_node(nodes, k_strings));
}

TEST(Directory, AvoidsTheNodeAClientJustLostUnlessItIsTheOnlyOne) {
    std::vector<directory_node> nodes{node(1, 0, 50), node(2, 1u << k_strings, 0), node(3, 0, 10)};
    EXPECT_EQ(choose_node(nodes, k_strings), 1u);
    EXPECT_EQ(choose_node(nodes, k_strings, 2), 2u); // node 3, the least full of the rest
    nodes[0].up = nodes[2].up = false;
    EXPECT_EQ(choose_node(nodes, k_strings, 2), 1u);
    // Equally full: the lowest id.
    std::vector<directory_node> tie{node(4, 0, 5), node(3, 0, 5)};
    EXPECT_EQ(choose_node(tie, k_strings), 1u);
}

TEST(Directory, TokensCarryTheirClaimsAndAnyChangeOrOtherKeyBreaksThem) {
    join_token t;
    t.node_id = 3;
    t.expires_unix_s = 1'900'000'000;
    t.program = 41;
    t.bank = 0;
    t.code = hash_code("violins");
    const auto text = make_token(t, key_of(1));
    EXPECT_TRUE(looks_like_token(text));
    EXPECT_LE(text.size(), 128u); // fits a join message's code
    const auto got = read_token(text, key_of(1));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->node_id, 3u);
    EXPECT_EQ(got->expires_unix_s, 1'900'000'000);
    EXPECT_EQ(got->program, 41);
    EXPECT_EQ(got->code, hash_code("violins"));
    EXPECT_NE(got->code, hash_code("violas"));
    EXPECT_FALSE(read_token(text, key_of(2)));
    for (std::size_t i = k_token_prefix.size(); i < text.size(); ++i) {
        auto bad = text;
        bad[i] = bad[i] == '0' ? '1' : '0';
        EXPECT_FALSE(read_token(bad, key_of(1))) << i;
    }
    EXPECT_FALSE(read_token(text.substr(0, text.size() - 2), key_of(1)));
    EXPECT_FALSE(read_token("violins", key_of(1)));
}

TEST(Directory, AcceptsOnlyItsOwnUnexpiredTokens) {
    const directory d3(3, key_of(1), [] { return std::vector<directory_node>{}; });
    join_token t;
    t.node_id = 3;
    t.expires_unix_s = 1000;
    std::string why;
    EXPECT_TRUE(d3.accept_token(make_token(t, key_of(1)), 990, why));
    EXPECT_FALSE(d3.accept_token(make_token(t, key_of(1)), 1001, why));
    EXPECT_NE(why.find("expired"), std::string::npos);
    t.node_id = 2;
    EXPECT_FALSE(d3.accept_token(make_token(t, key_of(1)), 990, why));
    EXPECT_NE(why.find("for node 2"), std::string::npos);
    t.node_id = 3;
    EXPECT_FALSE(d3.accept_token(make_token(t, key_of(9)), 990, why));
    EXPECT_NE(why.find("not one the mesh"), std::string::npos);
    t.expires_unix_s = 990 + 10 * k_token_lifetime_s; // beyond any lifetime a directory gives
    EXPECT_FALSE(d3.accept_token(make_token(t, key_of(1)), 990, why));
}

namespace {

/// Two control planes of one mesh: node 1 answers the directory (it has the codes), node 3
/// has no performer code of its own and admits whom node 1's directory sends it.
class DirectoryOverHttp : public ::testing::Test {
protected:
    void SetUp() override {
        nodes_ = {node(1, 1u << k_brass, 5), node(3, 1u << k_strings, 1)};
        nodes_[0].host = nodes_[1].host = "127.0.0.1";
        auto list = [this] {
            std::lock_guard l(mu_);
            return nodes_;
        };
        dir1_ = std::make_unique<directory>(1, key_of(1), list);
        dir3_ = std::make_unique<directory>(3, key_of(1), list);
        control_config c1;
        c1.port = 0;
        c1.codes = {parse_join_code("performer:violins::2"), parse_join_code("conductor:baton")};
        control_hooks h1;
        h1.dir = dir1_.get();
        node1_ = std::make_unique<control_plane>(c1, h1);
        node1_->start();
        control_config c3;
        c3.port = 0;
        c3.codes = {parse_join_code("conductor:baton")};
        control_hooks h3;
        h3.dir = dir3_.get();
        h3.admit = [this](std::uint32_t, std::span<const std::uint8_t, 16>, int bank, int program) {
            std::lock_guard l(mu_);
            admitted_.emplace_back(bank, program);
        };
        node3_ = std::make_unique<control_plane>(c3, h3);
        node3_->start();
    }

    gno::test::http_answer post(std::uint16_t port, const std::string& body) {
        return gno::test::http_exchange(port,
                                        "POST /api/directory HTTP/1.1\r\nContent-Type: "
                                        "application/json\r\nContent-Length: " +
                                            std::to_string(body.size()) + "\r\n",
                                        body);
    }

    std::mutex mu_;
    std::vector<directory_node> nodes_;
    std::vector<std::pair<int, int>> admitted_;
    std::unique_ptr<directory> dir1_, dir3_;
    std::unique_ptr<control_plane> node1_, node3_;
};

} // namespace

TEST_F(DirectoryOverHttp, ACodeCheckedOnOneNodeGetsATokenTheServingNodeTakes) {
    const auto listed =
        gno::test::http_exchange(node1_->port(), "GET /api/directory HTTP/1.1\r\n", "");
    ASSERT_EQ(listed.status, 200) << listed.body;
    const auto nodes = json::parse(listed.body);
    EXPECT_EQ(nodes["node"], 1);
    ASSERT_EQ(nodes["nodes"].size(), 2u);
    EXPECT_EQ(nodes["nodes"][1]["sections"], json::array({"strings"}));
    EXPECT_EQ(listed.body.find("violins"), std::string::npos); // no secrets in the list

    const auto a = post(node1_->port(), R"({"code":"violins","program":41})");
    ASSERT_EQ(a.status, 200) << a.body;
    const auto placed = json::parse(a.body);
    EXPECT_EQ(placed["node"], 3);
    EXPECT_EQ(placed["section"], "strings");
    EXPECT_EQ(placed["host"], "127.0.0.1");
    EXPECT_EQ(placed["directories"].back(), "127.0.0.1:47080");
    const auto token = placed["token"].get<std::string>();
    ASSERT_TRUE(looks_like_token(token));

    // Node 3 takes the token as a performer code though it has no such code of its own.
    client p(node3_->port());
    const json w = p.join(token, "performer", "Ann", 41);
    ASSERT_EQ(w["type"], "welcome") << w.dump();
    EXPECT_EQ(w["section"], "strings");
    {
        std::lock_guard l(mu_);
        ASSERT_EQ(admitted_.size(), 1u);
        EXPECT_EQ(admitted_[0], std::make_pair(0, 41));
    }
    // Node 1 does not: the token names node 3.
    client q(node1_->port());
    const json e = q.join(token, "performer", "Ann", 41);
    EXPECT_EQ(e["code"], "bad_token");
    EXPECT_NE(e["message"].get<std::string>().find("for node 3"), std::string::npos);
}

TEST_F(DirectoryOverHttp, BadRequestsAreRefusedWithReasonsAndChangeNothing) {
    const auto port = node1_->port();
    auto status_code = [&](const std::string& body) {
        const auto a = post(port, body);
        const auto j = json::parse(a.body, nullptr, false);
        return std::make_pair(a.status, j.is_object() ? j.value("code", "") : std::string());
    };
    EXPECT_EQ(status_code(R"({"code":"cellos"})"), std::make_pair(403, std::string("bad_code")));
    EXPECT_EQ(status_code(R"({"code":"baton"})"), std::make_pair(403, std::string("wrong_role")));
    EXPECT_EQ(status_code("not json"), std::make_pair(400, std::string("bad_request")));
    EXPECT_EQ(status_code(R"({"code":"violins","program":300})"),
              std::make_pair(400, std::string("bad_request")));
    EXPECT_EQ(status_code(R"({"code":"violins","bank":7})"),
              std::make_pair(400, std::string("bad_request")));
    EXPECT_EQ(status_code(R"({"code":42})"), std::make_pair(400, std::string("bad_request")));
    // Nobody is up with room: 503, and a reason.
    {
        std::lock_guard l(mu_);
        for (auto& n : nodes_)
            n.players = n.max_players;
    }
    EXPECT_EQ(status_code(R"({"code":"violins"})").first, 503);
    // A node with no mesh has no directory.
    control_config c;
    c.port = 0;
    control_plane alone(c, control_hooks{});
    alone.start();
    EXPECT_EQ(gno::test::http_exchange(alone.port(), "GET /api/directory HTTP/1.1\r\n", "").status,
              404);
    // A forged token is refused as a join, and counted.
    client p(node3_->port());
    std::string forged = "gno1-";
    forged.append(76, '0');
    EXPECT_EQ(p.join(forged, "performer", "X")["code"], "bad_token");
    EXPECT_EQ(node3_->counters().refused_joins, 1u);
    std::lock_guard l(mu_);
    EXPECT_TRUE(admitted_.empty());
}

// A directory asked with wrong codes from one address holds it off (429), as joins do, and
// the node's own joins count with it: node 1 allows 20 wrong codes a minute.
TEST_F(DirectoryOverHttp, WrongCodesFromOneAddressAreHeldOff) {
    for (int i = 0; i < 19; ++i)
        ASSERT_EQ(post(node1_->port(), R"({"code":"guess)" + std::to_string(i) + R"("})").status,
                  403)
            << i;
    client p(node1_->port());
    EXPECT_EQ(p.join("guess", "performer", "X")["code"], "bad_code"); // the 20th
    const auto held = post(node1_->port(), R"({"code":"violins","program":41})");
    EXPECT_EQ(held.status, 429) << held.body;
    EXPECT_EQ(json::parse(held.body)["code"], "too_many_attempts");
    EXPECT_EQ(node1_->counters().code_lockouts, 1u);
    // Node 3 has its own count.
    client q(node3_->port());
    EXPECT_EQ(q.join("guess", "performer", "Y")["code"], "bad_code");
}

// A genuine token that is late or for another node is refused, but is no guess: the address
// is not held off for it (a forged one counts, as a wrong code does).
TEST_F(DirectoryOverHttp, AGenuineTokenForAnotherNodeIsNotCountedAsAGuess) {
    const auto for_node1 =
        json::parse(post(node1_->port(), R"({"code":"violins","program":56})").body);
    ASSERT_EQ(for_node1["node"], 1);
    for (int i = 0; i < 25; ++i) {
        client c(node3_->port());
        ASSERT_EQ(c.join(for_node1["token"].get<std::string>(), "performer", "X", 56)["code"],
                  "bad_token")
            << i;
    }
    const auto for_node3 =
        json::parse(post(node1_->port(), R"({"code":"violins","program":41})").body);
    ASSERT_EQ(for_node3["node"], 3);
    client p(node3_->port());
    EXPECT_EQ(p.join(for_node3["token"].get<std::string>(), "performer", "Ann", 41)["type"],
              "welcome");
    EXPECT_EQ(node3_->counters().code_lockouts, 0u);
}

TEST_F(DirectoryOverHttp, ATokenForACodeTheNodeHasCountsAgainstItsMax) {
    // Node 1 serves the brass and has the code "violins" with at most 2 at once.
    for (int i = 0; i < 2; ++i) {
        const auto a = post(node1_->port(), R"({"code":"violins","program":56})");
        ASSERT_EQ(a.status, 200) << a.body;
        ASSERT_EQ(json::parse(a.body)["node"], 1);
    }
    const auto token =
        json::parse(post(node1_->port(), R"({"code":"violins","program":56})").body)["token"]
            .get<std::string>();
    client a(node1_->port()), b(node1_->port()), c(node1_->port());
    EXPECT_EQ(a.join(token, "performer", "A", 56)["type"], "welcome");
    EXPECT_EQ(b.join("violins", "performer", "B", 56)["type"], "welcome");
    EXPECT_EQ(c.join(token, "performer", "C", 56)["code"], "code_full");
}
