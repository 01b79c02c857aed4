// A real jackd with the dummy driver: starts, is reachable by name, drives a client's
// process callback, and is gone after stop().

#include <atomic>
#include <gno/test/jackd.hpp>
#include <gtest/gtest.h>
#include <jack/jack.h>
#include <thread>

namespace {

using namespace std::chrono_literals;

jack_client_t* open_client(const std::string& server) {
    jack_status_t status{};
    return jack_client_open("gno_probe",
                            static_cast<jack_options_t>(JackServerName | JackNoStartServer),
                            &status, server.c_str());
}

TEST(JackdServer, ClientsFindItThroughTheEnvironment) {
    gno::test::jackd_server jackd;
    EXPECT_FALSE(jackd.name().empty());
    EXPECT_TRUE(jackd.accepting_clients());
    gno::test::temp_dir dir;
    gno::test::child_options o;
    o.env = jackd.client_env();
    o.stdout_file = dir / "ports";
    gno::test::child_process lsp("jack_lsp", {}, o); // no -s: JACK_DEFAULT_SERVER decides
    ASSERT_EQ(lsp.wait_for_exit(5s), 0);
    const auto ports = gno::test::read_file(dir / "ports");
    EXPECT_NE(ports.find("system:playback_1"), std::string::npos) << ports;
    EXPECT_NE(ports.find("system:capture_2"), std::string::npos) << ports;
}

TEST(JackdServer, DummyDriverRunsTheProcessCallback) {
    gno::test::jackd_options options;
    options.period = 128;
    gno::test::jackd_server jackd(options);
    jack_client_t* client = open_client(jackd.name());
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(jack_get_sample_rate(client), 48000u);
    EXPECT_EQ(jack_get_buffer_size(client), 128u);
    std::atomic<std::uint64_t> frames{0};
    jack_set_process_callback(
        client,
        [](jack_nframes_t n, void* arg) {
            static_cast<std::atomic<std::uint64_t>*>(arg)->fetch_add(n);
            return 0;
        },
        &frames);
    ASSERT_EQ(jack_activate(client), 0);
    std::this_thread::sleep_for(500ms);
    jack_deactivate(client);
    jack_client_close(client);
    // 0.5 s at 48 kHz is 24000 frames; the dummy driver's timer is not exact under load.
    EXPECT_GT(frames.load(), 12000u);
    EXPECT_LT(frames.load(), 36000u);
}

TEST(JackdServer, TwoServersSideBySideAndStopIsFinal) {
    gno::test::jackd_server a;
    gno::test::jackd_server b;
    EXPECT_NE(a.name(), b.name());
    EXPECT_TRUE(a.accepting_clients());
    EXPECT_TRUE(b.accepting_clients());
    const int status = a.stop();
    EXPECT_EQ(status, 0) << gno::test::read_file(a.log_path());
    EXPECT_FALSE(a.accepting_clients());
    EXPECT_EQ(open_client(a.name()), nullptr);
    EXPECT_TRUE(b.accepting_clients());
}

} // namespace
