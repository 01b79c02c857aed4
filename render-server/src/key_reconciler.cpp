#include "gno/render/key_reconciler.hpp"

namespace gno::render {

std::size_t key_reconciler::apply(const proto::v1::key_state& s,
                                  std::span<note_event> out) noexcept {
    std::size_t n = 0;
    auto emit = [&](note_event e) {
        if (n < out.size())
            out[n++] = e;
    };
    if (s.program != program_ || s.bank != bank_) {
        program_ = s.program;
        bank_ = s.bank;
        emit({note_event::kind::program, 0, s.program, s.bank});
    }
    if (s.expression != expression_) {
        expression_ = s.expression;
        emit({note_event::kind::control, 11, s.expression, 0});
    }

    std::array<bool, 128> held{};
    for (const auto& k : s.held_keys())
        held[k.key] = true;
    // The release stamps of recently released keys, for the note-offs they cause.
    auto release_of = [&](int key) {
        note_event e{note_event::kind::note_off, static_cast<std::uint8_t>(key), 0, 0, 0, 0};
        for (const auto& r : s.released_keys()) {
            if (r.key == key && r.t_sync_ns >= onset_[key]) {
                e.t_sync_ns = r.t_sync_ns;
                e.r_heard = r.r_heard;
            }
        }
        return e;
    };
    // Releases first, so a key that moved from one note to another never doubles a voice.
    for (int key = 0; key < 128; ++key) {
        if (sounding_[key] && !held[key]) {
            sounding_[key] = false;
            --sounding_count_;
            emit(release_of(key));
        }
    }
    for (const auto& k : s.held_keys()) {
        if (sounding_[k.key] && onset_[k.key] == k.t_sync_ns)
            continue;         // the same key-down we already play
        if (sounding_[k.key]) // re-struck between two states: end the old note first
            emit(release_of(k.key));
        else
            ++sounding_count_;
        sounding_[k.key] = true;
        onset_[k.key] = k.t_sync_ns;
        emit({note_event::kind::note_on, k.key, k.velocity, 0, k.t_sync_ns, k.r_heard});
    }
    // Pedal after the notes: a release and a pedal-down in one state keep the note ringing
    // only if the pedal was already down, as on a real instrument.
    if (s.sustain != sustain_) {
        sustain_ = s.sustain;
        emit({note_event::kind::control, 64, s.sustain, 0});
    }
    return n;
}

std::size_t key_reconciler::release_all(std::span<note_event> out) noexcept {
    std::size_t n = 0;
    for (int key = 0; key < 128; ++key) {
        if (sounding_[key]) {
            sounding_[key] = false;
            if (n < out.size())
                out[n++] = {note_event::kind::note_off, static_cast<std::uint8_t>(key), 0, 0};
        }
    }
    sounding_count_ = 0;
    if (sustain_ != 0 && n < out.size()) {
        sustain_ = 0;
        out[n++] = {note_event::kind::control, 64, 0, 0};
    }
    return n;
}

} // namespace gno::render
