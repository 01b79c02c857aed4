#pragma once
// The computer keyboard as a music keyboard, in a terminal.
//
// Raw mode (no line buffering, no echo; the terminal is restored by the destructor). Rows:
// `a s d f g h j k l ;` = white keys from middle C, `w e t y u o p` = black keys, `z`/`x` =
// octave down/up, `1` toggles the solo request, `q` quits (Ctrl-C too, via SIGINT).
// Terminals send no key-up, so a key is released ~150 ms after its last (autorepeat) character.
// Thread: the input thread.

#include "gno/client/key_source.hpp"

#include <atomic>
#include <cstdint>
#include <optional>

namespace gno::client {

inline constexpr std::int64_t k_keyboard_release_ns = 150'000'000;

/// MIDI key for a character at an octave shift (in octaves), or nullopt if it plays nothing.
std::optional<std::uint8_t> keyboard_key_for(char c, int octave_shift) noexcept;

class terminal_keyboard {
public:
    /// Start-up: enters raw mode on stdin. Throws std::runtime_error if stdin is not a tty.
    terminal_keyboard();
    ~terminal_keyboard();
    terminal_keyboard(const terminal_keyboard&) = delete;
    terminal_keyboard& operator=(const terminal_keyboard&) = delete;

    /// Plays until `q`, Ctrl-C or `stop`; releases every held key before returning.
    /// `solo` is the solo request's state at the start (--solo); `1` toggles it.
    void run(key_sink& sink, const std::atomic<bool>& stop, std::uint8_t velocity,
             bool solo = false);

private:
    struct saved_termios;
    saved_termios* saved_ = nullptr;
};

} // namespace gno::client
