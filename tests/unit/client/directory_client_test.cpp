// The client's side of the directory (directory_client.hpp): its request, and every answer it
// must not take (a missing port, a bad token, a host too long).
#include <gno/client/directory_client.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <string>

using namespace gno::client;
using nlohmann::json;

TEST(directory_client, request_names_code_instrument_and_the_node_to_avoid) {
    const auto j = json::parse(encode_directory_request({"violins", 41, 0, 3}));
    EXPECT_EQ(j["code"], "violins");
    EXPECT_EQ(j["program"], 41);
    EXPECT_EQ(j["bank"], 0);
    EXPECT_EQ(j["avoid"], 3);
    EXPECT_FALSE(json::parse(encode_directory_request({"violins", 41, 0, 0})).contains("avoid"));
}

TEST(directory_client, reads_a_placement_and_refuses_malformed_ones) {
    const std::string good =
        R"({"node":3,"host":"10.0.0.3","udp_port":47000,"control_port":47080,)"
        R"("section":"strings","token":"gno1-ab","expires_in_s":120,)"
        R"("directories":["10.0.0.1:47080","[::1]:47081","junk","10.0.0.3:47080"]})";
    const auto p = parse_placement(good);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->node, 3u);
    EXPECT_EQ(p->host, "10.0.0.3");
    EXPECT_EQ(p->udp_port, 47000);
    EXPECT_EQ(p->control_port, 47080);
    EXPECT_EQ(p->token, "gno1-ab");
    ASSERT_EQ(p->directories.size(), 3u); // "junk" dropped
    EXPECT_EQ(p->directories[1].host, "::1");
    EXPECT_EQ(p->directories[1].port, 47081);
    auto without = [&](const char* key) {
        auto j = json::parse(good);
        j.erase(key);
        return j.dump();
    };
    for (const char* key : {"node", "host", "udp_port", "control_port", "token"})
        EXPECT_FALSE(parse_placement(without(key))) << key;
    auto j = json::parse(good);
    j["udp_port"] = 70000;
    EXPECT_FALSE(parse_placement(j.dump()));
    j = json::parse(good);
    j["token"] = std::string(200, 'a');
    EXPECT_FALSE(parse_placement(j.dump()));
    EXPECT_FALSE(parse_placement("not json"));
    EXPECT_FALSE(parse_placement("[]"));
}

TEST(directory_client, a_directory_that_does_not_answer_is_an_error_not_a_hang) {
    std::string error;
    bool refused = true;
    // Port 1 on loopback: nothing listens there.
    const auto p = ask_directories({{"127.0.0.1", 1}}, {"violins", 0, 0, 0}, error, refused,
                                   std::chrono::milliseconds(500));
    EXPECT_FALSE(p);
    EXPECT_FALSE(refused);
    EXPECT_NE(error.find("did not answer"), std::string::npos) << error;
}
