#include "gno/render/render_engine.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace gno::render {
namespace {

constexpr int k_click_samples = 480; // 10 ms
constexpr float k_click_level = 0.25f;

} // namespace

render_engine::render_engine(const server_config& cfg, node_counters& counters,
                             timing_state& timing, spsc_ring<ingress_event>& ingress,
                             spsc_ring<encoded_frame>& egress, spsc_ring<pcm_frame>* recorder,
                             std::int64_t first_sample, spsc_ring<stem_onset>* onsets)
    : cfg_(cfg), counters_(counters), timing_(timing), ingress_(ingress), egress_(egress),
      recorder_(recorder), onsets_(onsets), players_(static_cast<std::size_t>(cfg.max_players)),
      stem_storage_(static_cast<std::size_t>(cfg.max_players) * 2 * k_max_frame_samples),
      orchestra_(k_max_frame_samples),
      audience_(static_cast<std::size_t>(cfg.frame_samples) * k_channels),
      performers_(audience_.size()), click_(static_cast<std::size_t>(cfg.frame_samples)),
      performer_encoder_(opus_stage_config{cfg.sample_rate, k_channels, cfg.frame_samples,
                                           cfg.bitrate, cfg.complexity, 10}),
      solo_queue_(static_cast<std::size_t>(cfg.max_players)) {
    if (cfg.frame_samples < 120 || cfg.frame_samples > k_max_frame_samples ||
        cfg.frame_samples % 120 != 0)
        throw std::runtime_error("frame size must be 2.5, 5, 10 or 20 ms (120..960 samples)");
    const int per_bank =
        std::clamp(cfg.players_per_bank, 1, 256 / std::max(1, cfg.lanes_per_player));
    for (int first = 0; first < cfg.max_players; first += per_bank) {
        const int n = std::min(per_bank, cfg.max_players - first);
        banks_.push_back(std::make_unique<voice_bank>(
            voice_bank_config{cfg.soundfont, n, cfg.lanes_per_player, cfg.polyphony_per_bank,
                              double(cfg.sample_rate)},
            first_sample));
    }
    stem_ptrs_.resize(static_cast<std::size_t>(cfg.max_players) * 2);
    for (std::size_t i = 0; i < stem_ptrs_.size(); ++i)
        stem_ptrs_[i] = stem_storage_.data() + i * k_max_frame_samples;
    bank_events_.resize(static_cast<std::size_t>(per_bank) * 256);
}

void render_engine::schedule(int slot, std::span<const note_event> events,
                             std::int64_t r) noexcept {
    player& p = players_[static_cast<std::size_t>(slot)];
    const std::int64_t advance =
        timing_.players[static_cast<std::size_t>(slot)].advance_ns.load(std::memory_order_relaxed);
    for (const auto& e : events) {
        timed_event te{r, e};
        if (e.what == note_event::kind::note_on || e.what == note_event::kind::note_off) {
            const auto t = schedule_event(cfg_.timing, e.t_sync_ns, e.r_heard, advance, r);
            te.at = t.at;
            using v = event_time::verdict;
            switch (t.what) {
            case v::on_time:
                break;
            case v::late:
                counters_.late_events.fetch_add(1, std::memory_order_relaxed);
                timing_.players[static_cast<std::size_t>(slot)].late_events.fetch_add(
                    1, std::memory_order_relaxed);
                break;
            case v::unstamped:
                counters_.unstamped_events.fetch_add(1, std::memory_order_relaxed);
                break;
            case v::clamped:
                counters_.clamped_events.fetch_add(1, std::memory_order_relaxed);
                break;
            case v::too_far:
                counters_.clamped_events.fetch_add(1, std::memory_order_relaxed);
                if (e.what == note_event::kind::note_on)
                    continue; // never a note scheduled far away
                break;
            }
            const std::size_t key = e.key & 127;
            if (e.what == note_event::kind::note_on) {
                p.on_at[key] = te.at;
                p.on_arrival[key] = r;
            } else if (te.at < p.on_at[key]) {
                // A release must not overtake its note-on (e.g. an unstamped release of a note
                // scheduled ahead): keep the duration seen between their arrivals.
                te.at = p.on_at[key] + std::max<std::int64_t>(0, r - p.on_arrival[key]);
            }
        }
        if (!p.queue.push(te))
            counters_.queue_overflows.fetch_add(1, std::memory_order_relaxed);
    }
}

void render_engine::drain_ingress(std::int64_t r) noexcept {
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
            p.queue.clear();
            p.active = true;
            p.timed_out = false;
            p.solo_requested = false;
            p.last_heard = r;
            p.quiet_samples = 0;
            timing_.players[static_cast<std::size_t>(slot)].late_events.store(0);
            break;
        case ingress_event::kind::key_state: {
            if (!p.active)
                break;
            p.last_heard = r;
            p.timed_out = false;
            const auto n_events = p.keys.apply(ev->state, events_);
            schedule(slot, std::span(events_).first(n_events), r);
            if ((ev->state.flags & proto::v1::k_solo_request) && !p.solo_requested &&
                soloist_ != slot && cfg_.timing.mode == timing_mode::one_cycle &&
                solo_size_ < solo_queue_.size()) {
                solo_queue_[(solo_head_ + solo_size_++) % solo_queue_.size()] = slot;
                p.solo_requested = true;
            }
            break;
        }
        case ingress_event::kind::leave: {
            const auto n_events = p.keys.release_all(events_);
            p.queue.clear();
            schedule(slot, std::span(events_).first(n_events), r);
            p.active = false;
            break;
        }
        }
        ingress_.release();
    }
}

void render_engine::release_silent(std::int64_t r) noexcept {
    const std::int64_t timeout = ns_to_samples(
        std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.silence_timeout).count(),
        cfg_.sample_rate);
    for (std::size_t slot = 0; slot < players_.size(); ++slot) {
        player& p = players_[slot];
        if (!p.active || p.timed_out || r - p.last_heard <= timeout)
            continue;
        // The server never holds a note for a player it has not heard from (DESIGN.md §3):
        // every sounding key is released now. What the player already played and is still
        // scheduled (one-cycle events land a cycle later) keeps its own note-offs and plays.
        const auto n_events = p.keys.release_all(events_);
        schedule(static_cast<int>(slot), std::span(events_).first(n_events), r);
        p.timed_out = true;
        counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
}

void render_engine::update_solo(std::int64_t r) noexcept {
    if (cfg_.timing.mode != timing_mode::one_cycle)
        return;
    const std::int64_t boundary = next_cycle_start(cfg_.timing, r);
    if (boundary < r + cfg_.frame_samples) {
        if (soloist_ >= 0 && solo_end_ <= boundary) {
            players_[static_cast<std::size_t>(soloist_)].solo_requested = false;
            soloist_ = -1;
        }
        if (soloist_ < 0 && solo_size_ > 0) {
            soloist_ = solo_queue_[solo_head_];
            solo_head_ = (solo_head_ + 1) % solo_queue_.size();
            --solo_size_;
            solo_start_ = boundary;
            solo_end_ = boundary + cycle_samples_at(cfg_.timing, boundary);
            counters_.solos.fetch_add(1, std::memory_order_relaxed);
        }
    }
    // Tell players who plays (or will play) the solo, and from which sample.
    if (soloist_ >= 0) {
        timing_.solo_slot.store(soloist_, std::memory_order_relaxed);
        timing_.solo_start.store(solo_start_, std::memory_order_relaxed);
    } else if (solo_size_ > 0) {
        timing_.solo_slot.store(solo_queue_[solo_head_], std::memory_order_relaxed);
        timing_.solo_start.store(boundary, std::memory_order_relaxed);
    } else {
        timing_.solo_slot.store(-1, std::memory_order_relaxed);
        timing_.solo_start.store(-1, std::memory_order_relaxed);
    }
}

void render_engine::render_click(std::int64_t r) noexcept {
    std::fill(click_.begin(), click_.end(), 0.0f);
    const int frames = cfg_.frame_samples;
    for_each_beat(cfg_.timing, r - k_click_samples, r + frames, [&](std::int64_t b, bool downbeat) {
        const double f = downbeat ? 1760.0 : 880.0;
        for (std::int64_t n = std::max<std::int64_t>(0, r - b);
             n < k_click_samples && b + n < r + frames; ++n) {
            const double env = 1.0 - static_cast<double>(n) / k_click_samples;
            click_[static_cast<std::size_t>(b + n - r)] += static_cast<float>(
                k_click_level * env *
                std::sin(2.0 * std::numbers::pi * f * static_cast<double>(n) / cfg_.sample_rate));
        }
    });
}

void render_engine::find_onsets(std::int64_t r) noexcept {
    // An onset: the first sample above -60 dBFS after at least 20 ms below it.
    constexpr float k_threshold = 1e-3f;
    const int quiet_needed = cfg_.sample_rate / 50;
    for (std::size_t slot = 0; slot < players_.size(); ++slot) {
        player& p = players_[slot];
        if (!p.active)
            continue;
        const float* l = stem_ptrs_[2 * slot];
        const float* rr = stem_ptrs_[2 * slot + 1];
        for (int i = 0; i < cfg_.frame_samples; ++i) {
            if (std::abs(l[i]) < k_threshold && std::abs(rr[i]) < k_threshold) {
                ++p.quiet_samples;
                continue;
            }
            if (p.quiet_samples >= quiet_needed)
                onsets_->try_push({static_cast<std::int32_t>(slot), r + i});
            p.quiet_samples = 0;
        }
    }
}

bool render_engine::render_frame(std::int64_t r) noexcept {
    const int frames = cfg_.frame_samples;
    drain_ingress(r);
    release_silent(r);
    update_solo(r);

    // Stems: each bank renders its players' due events sample-accurately.
    int voices = 0;
    const int per_bank = banks_.front()->players();
    for (std::size_t b = 0; b < banks_.size(); ++b) {
        voice_bank& bank = *banks_[b];
        std::size_t n = 0;
        const std::int64_t horizon = r + frames + voice_bank::k_latency;
        for (int i = 0; i < bank.players(); ++i) {
            event_queue& q = players_[b * static_cast<std::size_t>(per_bank) + i].queue;
            while (!q.empty() && n < bank_events_.size()) {
                const bank_event e{q.front().at, i, q.front().ev};
                if (bank.issue_point(e) >= horizon)
                    break;
                bank_events_[n++] = e;
                q.pop();
                if (e.ev.what == note_event::kind::note_on)
                    counters_.note_ons.fetch_add(1, std::memory_order_relaxed);
                else if (e.ev.what == note_event::kind::note_off)
                    counters_.note_offs.fetch_add(1, std::memory_order_relaxed);
            }
        }
        // Insertion sort by issue point (stable, no allocation; a frame holds few events).
        for (std::size_t i = 1; i < n; ++i) {
            const bank_event e = bank_events_[i];
            const std::int64_t key = bank.issue_point(e);
            std::size_t j = i;
            for (; j > 0 && bank.issue_point(bank_events_[j - 1]) > key; --j)
                bank_events_[j] = bank_events_[j - 1];
            bank_events_[j] = e;
        }
        auto ptrs = std::span<float* const>(stem_ptrs_)
                        .subspan(b * static_cast<std::size_t>(per_bank) * 2,
                                 static_cast<std::size_t>(bank.players()) * 2);
        const int imprecise = bank.render(r, frames, std::span(bank_events_).first(n), ptrs);
        if (imprecise > 0)
            counters_.imprecise_onsets.fetch_add(static_cast<std::uint64_t>(imprecise),
                                                 std::memory_order_relaxed);
        voices += bank.active_voices();
    }

    if (onsets_)
        find_onsets(r);

    // Orchestra bus = sum of gain * stem, the soloist's gain switching on the cycle's sample.
    orchestra_.clear(frames);
    int active = 0;
    for (std::size_t slot = 0; slot < players_.size(); ++slot) {
        if (!players_[slot].active)
            continue;
        ++active;
        const float* l = stem_ptrs_[2 * slot];
        const float* rr = stem_ptrs_[2 * slot + 1];
        if (static_cast<int>(slot) == soloist_) {
            // Unity before the solo cycle, the boost inside it, unity after: split at its bounds.
            const auto a = static_cast<int>(std::clamp<std::int64_t>(solo_start_ - r, 0, frames));
            const auto b = static_cast<int>(std::clamp<std::int64_t>(solo_end_ - r, a, frames));
            orchestra_.add(l, rr, 1.0f, a, 0);
            orchestra_.add(l + a, rr + a, cfg_.timing.solo_gain, b - a, a);
            orchestra_.add(l + b, rr + b, 1.0f, frames - b, b);
        } else {
            orchestra_.add(l, rr, 1.0f, frames, 0);
        }
    }
    orchestra_.interleave(cfg_.master_gain, audience_, frames);

    if (recorder_) {
        if (pcm_frame* out = recorder_->claim()) {
            out->render_sample = r;
            out->frame_samples = static_cast<std::uint16_t>(frames);
            std::copy(audience_.begin(), audience_.end(), out->samples.begin());
            recorder_->commit();
        } else {
            counters_.record_overflows.fetch_add(1, std::memory_order_relaxed);
        }
    }

    // Performers hear the audience mix, plus the click on the beat when it is on.
    const bool click = cfg_.timing.click || cfg_.timing.mode == timing_mode::one_cycle;
    click_on_ = click;
    std::span<const float> performer_mix = audience_;
    if (click) {
        render_click(r);
        for (int i = 0; i < frames; ++i) {
            performers_[2 * static_cast<std::size_t>(i)] = soft_limit(audience_[2 * i] + click_[i]);
            performers_[2 * static_cast<std::size_t>(i) + 1] =
                soft_limit(audience_[2 * i + 1] + click_[i]);
        }
        performer_mix = performers_;
    }

    bool sent = false;
    if (active > 0) {
        if (encoded_frame* out = egress_.claim()) {
            const auto n = performer_encoder_.encode(performer_mix, out->bytes);
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
