#include "gno/render/render_engine.hpp"

#include <algorithm>
#include <stdexcept>

namespace gno::render {

render_engine::render_engine(const server_config& cfg, node_counters& counters,
                             spsc_ring<ingress_event>& ingress, spsc_ring<encoded_frame>& egress,
                             spsc_ring<pcm_frame>* recorder)
    : cfg_(cfg), counters_(counters), ingress_(ingress), egress_(egress), recorder_(recorder),
      players_(static_cast<std::size_t>(cfg.max_players)),
      stem_storage_(static_cast<std::size_t>(cfg.max_players) * 2 * k_max_frame_samples),
      orchestra_(k_max_frame_samples),
      mix_(static_cast<std::size_t>(cfg.frame_samples) * k_channels),
      encoder_(opus_stage_config{cfg.sample_rate, k_channels, cfg.frame_samples, cfg.bitrate,
                                 cfg.complexity, 10}) {
    if (cfg.frame_samples < 120 || cfg.frame_samples > k_max_frame_samples ||
        cfg.frame_samples % 120 != 0)
        throw std::runtime_error("frame size must be 2.5, 5, 10 or 20 ms (120..960 samples)");
    const int per_bank = std::clamp(cfg.players_per_bank, 1, 128);
    for (int first = 0; first < cfg.max_players; first += per_bank) {
        const int n = std::min(per_bank, cfg.max_players - first);
        banks_.push_back(std::make_unique<voice_bank>(
            voice_bank_config{cfg.soundfont, n, cfg.polyphony_per_bank, double(cfg.sample_rate)}));
    }
    stem_ptrs_.resize(static_cast<std::size_t>(cfg.max_players) * 2);
    for (std::size_t i = 0; i < stem_ptrs_.size(); ++i)
        stem_ptrs_[i] = stem_storage_.data() + i * k_max_frame_samples;
}

void render_engine::apply(int slot, std::span<const note_event> events) noexcept {
    const int per_bank = banks_.front()->players();
    voice_bank& bank = *banks_[static_cast<std::size_t>(slot / per_bank)];
    const int ch = slot % per_bank;
    for (const auto& e : events) {
        switch (e.what) {
        case note_event::kind::note_on:
            bank.note_on(ch, e.key, e.value);
            counters_.note_ons.fetch_add(1, std::memory_order_relaxed);
            break;
        case note_event::kind::note_off:
            bank.note_off(ch, e.key);
            counters_.note_offs.fetch_add(1, std::memory_order_relaxed);
            break;
        case note_event::kind::program:
            bank.program(ch, e.bank, e.value);
            break;
        case note_event::kind::control:
            bank.control(ch, e.key, e.value);
            break;
        }
    }
}

void render_engine::drain_ingress(std::int64_t now_ns) noexcept {
    // Bounded: at most what the ring held when we started (the producer may keep adding).
    for (std::size_t n = ingress_.size(); n > 0; --n) {
        const ingress_event* ev = ingress_.front();
        if (!ev)
            break;
        const int slot = ev->slot;
        if (slot < 0 || slot >= cfg_.max_players) {
            ingress_.release();
            continue;
        }
        player& p = players_[static_cast<std::size_t>(slot)];
        const int per_bank = banks_.front()->players();
        switch (ev->what) {
        case ingress_event::kind::join:
            banks_[static_cast<std::size_t>(slot / per_bank)]->reset_player(slot % per_bank);
            p.keys.reset();
            p.active = true;
            p.timed_out = false;
            p.last_heard_ns = now_ns;
            break;
        case ingress_event::kind::key_state: {
            if (!p.active)
                break;
            p.last_heard_ns = now_ns;
            p.timed_out = false;
            const auto n_events = p.keys.apply(ev->state, events_);
            apply(slot, std::span(events_).first(n_events));
            break;
        }
        case ingress_event::kind::leave: {
            const auto n_events = p.keys.release_all(events_);
            apply(slot, std::span(events_).first(n_events));
            p.active = false;
            break;
        }
        }
        ingress_.release();
    }
}

void render_engine::release_silent(std::int64_t now_ns) noexcept {
    const std::int64_t timeout_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.silence_timeout).count();
    for (std::size_t slot = 0; slot < players_.size(); ++slot) {
        player& p = players_[slot];
        if (!p.active || p.timed_out || now_ns - p.last_heard_ns <= timeout_ns)
            continue;
        // The server never holds a note for a player it has not heard from (DESIGN.md §3).
        const auto n_events = p.keys.release_all(events_);
        apply(static_cast<int>(slot), std::span(events_).first(n_events));
        p.timed_out = true;
        counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
}

bool render_engine::render_frame(std::int64_t r, std::int64_t now_ns) noexcept {
    const int frames = cfg_.frame_samples;
    drain_ingress(now_ns);
    release_silent(now_ns);

    // Stems: every bank renders all of its players' stems in one call.
    int voices = 0;
    for (std::size_t b = 0; b < banks_.size(); ++b) {
        const int per_bank = banks_.front()->players();
        auto ptrs = std::span<float* const>(stem_ptrs_)
                        .subspan(b * static_cast<std::size_t>(per_bank) * 2,
                                 static_cast<std::size_t>(banks_[b]->players()) * 2);
        banks_[b]->render(frames, ptrs);
        voices += banks_[b]->active_voices();
    }

    // Orchestra bus = sum of stems; for now every player's mix is the full orchestra, which is
    // also the audience mix: one distinct mix, one encode, one packet shared by all players.
    orchestra_.clear(frames);
    int active = 0;
    for (std::size_t slot = 0; slot < players_.size(); ++slot) {
        if (!players_[slot].active)
            continue;
        ++active;
        orchestra_.add(stem_ptrs_[2 * slot], stem_ptrs_[2 * slot + 1], 1.0f, frames);
    }
    orchestra_.interleave(cfg_.master_gain, mix_, frames);

    if (recorder_) {
        if (pcm_frame* out = recorder_->claim()) {
            out->render_sample = r;
            out->frame_samples = static_cast<std::uint16_t>(frames);
            std::copy(mix_.begin(), mix_.end(), out->samples.begin());
            recorder_->commit();
        } else {
            counters_.record_overflows.fetch_add(1, std::memory_order_relaxed);
        }
    }

    bool sent = false;
    if (active > 0) {
        if (encoded_frame* out = egress_.claim()) {
            const auto n = encoder_.encode(mix_, out->bytes);
            if (n > 0) {
                out->mix_id = 0;
                out->render_sample = r;
                out->frame_samples = static_cast<std::uint16_t>(frames);
                out->size = static_cast<std::uint16_t>(n);
                egress_.commit();
                sent = true;
            }
        } else {
            counters_.egress_overflows.fetch_add(1, std::memory_order_relaxed);
        }
    }
    counters_.voices.store(static_cast<std::uint32_t>(voices), std::memory_order_relaxed);
    counters_.players.store(static_cast<std::uint32_t>(active), std::memory_order_relaxed);
    counters_.render_sample.store(r, std::memory_order_relaxed);
    counters_.frames.fetch_add(1, std::memory_order_relaxed);
    return sent;
}

} // namespace gno::render
