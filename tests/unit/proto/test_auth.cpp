#include "gno/proto/v1/auth.hpp"
#include "gno/proto/v1/datagram.hpp"

#include <gtest/gtest.h>

namespace v1 = gno::proto::v1;

namespace {

v1::master_secret test_secret() {
    return *v1::parse_master_secret(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
}

std::vector<std::byte> key_state_datagram(std::uint32_t session, std::uint32_t seq) {
    v1::header h;
    h.session_id = session;
    h.sequence = seq;
    h.timestamp_ns = 123456789;
    v1::key_state ks;
    ks.held_count = 1;
    ks.held[0] = {60, 100, 5, 6};
    std::vector<std::byte> buf(v1::k_max_datagram);
    std::error_code ec;
    buf.resize(v1::encode(h, ks, buf, ec));
    EXPECT_FALSE(ec);
    return buf;
}

} // namespace

TEST(Auth, SealedDatagramVerifiesAndStillDecodes) {
    ASSERT_TRUE(v1::crypto_ready());
    const auto key = v1::derive_session_key(test_secret(), 42);
    auto d = key_state_datagram(42, 7);
    v1::seal(d, key);
    EXPECT_TRUE(v1::verify(d, key));
    v1::header h;
    v1::key_state ks;
    ASSERT_FALSE(v1::decode(d, h, ks));
    EXPECT_NE(h.tag, v1::tag_bytes{}); // the tag travels in the header
    EXPECT_EQ(ks.held_count, 1);
}

TEST(Auth, AnyChangedBitOrWrongKeyFails) {
    const auto key = v1::derive_session_key(test_secret(), 42);
    auto d = key_state_datagram(42, 7);
    v1::seal(d, key);
    for (std::size_t i = 0; i < d.size(); ++i) {
        auto forged = d;
        forged[i] ^= std::byte{0x01};
        EXPECT_FALSE(v1::verify(forged, key)) << "byte " << i;
    }
    EXPECT_FALSE(v1::verify(d, v1::derive_session_key(test_secret(), 43)));
    auto untagged = key_state_datagram(42, 7);
    EXPECT_FALSE(v1::verify(untagged, key)); // a zero tag is no tag
    EXPECT_FALSE(v1::verify(std::span(d).first(v1::k_header_size - 1), key));
}

TEST(Auth, KeysDifferPerSessionAndSecretAndAreStable) {
    const auto a = v1::derive_session_key(test_secret(), 1);
    EXPECT_EQ(a, v1::derive_session_key(test_secret(), 1));
    EXPECT_NE(a, v1::derive_session_key(test_secret(), 2));
    EXPECT_NE(a, v1::derive_session_key(v1::random_master_secret(), 1));
    EXPECT_NE(v1::random_master_secret(), v1::random_master_secret());
}

TEST(Auth, HexParsing) {
    EXPECT_TRUE(v1::parse_master_secret(std::string(64, 'a') + "\n"));
    EXPECT_FALSE(v1::parse_master_secret(std::string(63, 'a')));
    EXPECT_FALSE(v1::parse_master_secret(std::string(62, 'a') + "zz"));
    const auto k = v1::parse_session_key("00ff00ff00ff00ff00ff00ff00ff00fF");
    ASSERT_TRUE(k);
    EXPECT_EQ(v1::to_hex(*k), "00ff00ff00ff00ff00ff00ff00ff00ff");
    std::string error;
    EXPECT_FALSE(v1::read_master_secret("/nonexistent/secret", error));
    EXPECT_NE(error.find("cannot read"), std::string::npos);
}

TEST(Auth, ReplayWindowAcceptsEachSequenceOnce) {
    v1::replay_window w;
    EXPECT_TRUE(w.accept(100));
    EXPECT_FALSE(w.accept(100)); // replay
    EXPECT_TRUE(w.accept(98));   // late but new
    EXPECT_FALSE(w.accept(98));
    EXPECT_TRUE(w.accept(164));
    EXPECT_FALSE(w.accept(100)); // fell out of the window
    EXPECT_TRUE(w.accept(101));
    EXPECT_TRUE(w.accept(0xFFFFFFF0u + 300)); // far ahead (wraps) is new
    EXPECT_FALSE(w.accept(164));
}

TEST(Auth, FirstSequenceFollowsTheClock) {
    const auto a = v1::first_sequence();
    const auto b = v1::first_sequence();
    EXPECT_GE(static_cast<std::int32_t>(b - a), 0);
}
