#include "gno/client/terminal_keyboard.hpp"

#include "gno/client/steady_time.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <poll.h>
#include <stdexcept>
#include <termios.h>
#include <unistd.h>

namespace gno::client {

struct terminal_keyboard::saved_termios {
    termios original{};
};

std::optional<std::uint8_t> keyboard_key_for(char c, int octave_shift) noexcept {
    int semitone = -1;
    switch (c) {
    case 'a':
        semitone = 0;
        break;
    case 'w':
        semitone = 1;
        break;
    case 's':
        semitone = 2;
        break;
    case 'e':
        semitone = 3;
        break;
    case 'd':
        semitone = 4;
        break;
    case 'f':
        semitone = 5;
        break;
    case 't':
        semitone = 6;
        break;
    case 'g':
        semitone = 7;
        break;
    case 'y':
        semitone = 8;
        break;
    case 'h':
        semitone = 9;
        break;
    case 'u':
        semitone = 10;
        break;
    case 'j':
        semitone = 11;
        break;
    case 'k':
        semitone = 12;
        break;
    case 'o':
        semitone = 13;
        break;
    case 'l':
        semitone = 14;
        break;
    case 'p':
        semitone = 15;
        break;
    case ';':
        semitone = 16;
        break;
    default:
        return std::nullopt;
    }
    const int key = 60 + 12 * octave_shift + semitone;
    if (key < 0 || key > 127)
        return std::nullopt;
    return static_cast<std::uint8_t>(key);
}

terminal_keyboard::terminal_keyboard() {
    if (!isatty(STDIN_FILENO))
        throw std::runtime_error("--play keyboard needs a terminal on stdin");
    saved_ = new saved_termios;
    if (tcgetattr(STDIN_FILENO, &saved_->original) != 0) {
        delete saved_;
        saved_ = nullptr;
        throw std::runtime_error("cannot read the terminal settings");
    }
    termios raw = saved_->original;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO); // keep ISIG: Ctrl-C raises SIGINT
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
}

terminal_keyboard::~terminal_keyboard() {
    if (saved_ != nullptr)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_->original);
    delete saved_;
}

void terminal_keyboard::run(key_sink& sink, const std::atomic<bool>& stop, std::uint8_t velocity,
                            bool solo) {
    std::fprintf(stderr, "gno-client: keys a s d f g h j k l ; (white) w e t y u o p (black), "
                         "z/x octave down/up, 1 solo request on/off, q quits\n");
    std::array<std::int64_t, 128> last_seen{}; // 0 = not held
    int octave = 0;
    std::int64_t last_one = INT64_MIN / 2; // last time `1` was read
    bool quit = false;
    while (!quit && !stop.load(std::memory_order_relaxed)) {
        pollfd pfd{STDIN_FILENO, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, 10);
        const std::int64_t now = steady_now_ns();
        if (ready > 0) {
            std::array<char, 64> buf{};
            const auto n = ::read(STDIN_FILENO, buf.data(), buf.size());
            if (n == 0) // end of input
                quit = true;
            for (ssize_t i = 0; i < n; ++i) {
                const char c = buf[static_cast<std::size_t>(i)];
                if (c == 'q' || c == 3 /* Ctrl-C if ISIG is off */) {
                    quit = true;
                } else if (c == 'z' || c == 'x') {
                    octave = std::clamp(octave + (c == 'x' ? 1 : -1), -4, 4);
                    std::fprintf(stderr, "\rgno-client: octave %+d   ", octave);
                } else if (c == '1') {
                    // Autorepeat of a held `1` is one press: toggle only after a gap.
                    if (now - last_one >= k_keyboard_release_ns) {
                        solo = !solo;
                        sink.solo_request(solo);
                        std::fprintf(stderr, "\rgno-client: solo request %s   ",
                                     solo ? "on" : "off");
                    }
                    last_one = now;
                } else if (auto key = keyboard_key_for(c, octave)) {
                    if (last_seen[*key] == 0)
                        sink.key_down(*key, velocity, now);
                    last_seen[*key] = now;
                }
            }
        }
        for (std::size_t k = 0; k < last_seen.size(); ++k) {
            if (last_seen[k] != 0 && now - last_seen[k] >= k_keyboard_release_ns) {
                sink.key_up(static_cast<std::uint8_t>(k), last_seen[k] + k_keyboard_release_ns);
                last_seen[k] = 0;
            }
        }
    }
    const std::int64_t now = steady_now_ns();
    for (std::size_t k = 0; k < last_seen.size(); ++k)
        if (last_seen[k] != 0)
            sink.key_up(static_cast<std::uint8_t>(k), now);
}

} // namespace gno::client
