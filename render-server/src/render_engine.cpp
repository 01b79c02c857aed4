#include "gno/render/render_engine.hpp"

#include "gno/render/render_clock.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <thread>

namespace gno::render {
namespace {

constexpr int k_click_samples = 480; // 10 ms

/// Onsets (measurement of alignment): the first sample above -60 dBFS after at least
/// `quiet_needed` samples below it. `quiet` carries the run of quiet samples across frames;
/// `onset(i)` is called with each onset's index in the frame.
template <typename Onset>
void scan_onsets(const float* left, const float* right, int frames, int quiet_needed, int& quiet,
                 Onset&& onset) noexcept {
    constexpr float k_threshold = 1e-3f;
    for (int i = 0; i < frames; ++i) {
        if (std::abs(left[i]) < k_threshold && std::abs(right[i]) < k_threshold) {
            ++quiet;
            continue;
        }
        if (quiet >= quiet_needed)
            onset(i);
        quiet = 0;
    }
}
constexpr float k_click_level = 0.25f;
// Talk-back blocks touched per frame, at most: a frame spans two 20 ms blocks, a few more where a
// talk-back ends and the next begins. A ring of tiny blocks plays slowly rather than loop long.
constexpr int k_max_talkback_passes = 16;
// The short articulation (DESIGN.md §5): staccato. Every note of a player in it ends this long
// after its onset, whatever the key does: long enough for a string's or an organ's attack to
// speak, short enough that a held key does not sustain (the release tail follows).
constexpr std::int64_t k_short_note_ms = 150;

} // namespace

render_engine::render_engine(const server_config& cfg, node_counters& counters,
                             timing_state& timing, spsc_ring<ingress_event>& ingress,
                             spsc_ring<pcm_frame>* recorder, std::int64_t first_sample,
                             spsc_ring<stem_onset>* onsets)
    : cfg_(cfg), counters_(counters), timing_(timing), ingress_(ingress), recorder_(recorder),
      onsets_(onsets),
      period_ns_(std::int64_t{cfg.frame_samples} * 1'000'000'000 / cfg.sample_rate),
      short_note_samples_(std::int64_t{cfg.sample_rate} * k_short_note_ms / 1000),
      crew_(cfg.render_threads > 0
                ? cfg.render_threads
                : std::max(1, static_cast<int>(std::thread::hardware_concurrency())),
            true),
      players_(static_cast<std::size_t>(cfg.max_players)),
      stem_storage_(static_cast<std::size_t>(cfg.max_players) * 2 * k_max_frame_samples),
      buses_(k_max_frame_samples), bus_left_(k_max_frame_samples), bus_right_(k_max_frame_samples),
      audience_(static_cast<std::size_t>(cfg.frame_samples) * k_channels),
      performers_(audience_.size()), click_(static_cast<std::size_t>(cfg.frame_samples)),
      talk_(static_cast<std::size_t>(cfg.frame_samples)),
      solo_stem_(2 * static_cast<std::size_t>(cfg.frame_samples)), complexity_(cfg.complexity),
      solo_queue_(static_cast<std::size_t>(cfg.max_players)),
      log_muted_(static_cast<std::size_t>(cfg.max_players), 0) {
    timing_now_ = cfg.timing;
    timing_.config.store(cfg.timing);
    if (cfg.frame_samples < 120 || cfg.frame_samples > k_max_frame_samples ||
        cfg.frame_samples % 120 != 0)
        throw std::runtime_error("frame size must be 2.5, 5, 10 or 20 ms (120..960 samples)");
    const int per_bank = std::clamp(cfg.players_per_bank, 1,
                                    voice_bank::k_max_lanes / std::max(1, cfg.lanes_per_player));
    for (int first = 0; first < cfg.max_players; first += per_bank) {
        const int n = std::min(per_bank, cfg.max_players - first);
        banks_.push_back(std::make_unique<voice_bank>(
            voice_bank_config{cfg.soundfont, n, cfg.lanes_per_player, cfg.polyphony_per_bank,
                              double(cfg.sample_rate)},
            first_sample));
    }
    bank_voices_.assign(banks_.size(), 0);
    stem_ptrs_.resize(static_cast<std::size_t>(cfg.max_players) * 2);
    for (std::size_t i = 0; i < stem_ptrs_.size(); ++i)
        stem_ptrs_[i] = stem_storage_.data() + i * k_max_frame_samples;
    active_.reserve(static_cast<std::size_t>(cfg.max_players));

    const opus_stage_config enc{cfg.sample_rate, k_channels,     cfg.frame_samples,
                                cfg.bitrate,     cfg.complexity, 10};
    const int n_encoders = cfg.mix == mix_mode::own ? cfg.max_players : 1;
    for (int i = 0; i < n_encoders; ++i)
        encoders_.push_back(std::make_unique<opus_stage>(enc));
    // Every slot starts with the node's own-mix levels; udp_io changes them from here on.
    for (int i = 0; i < cfg.max_players; ++i)
        timing_.players[static_cast<std::size_t>(i)].mix.store(default_mix_profile(cfg));

    // Each member's ring holds a few frames of every mix it may encode.
    const auto ring_size = static_cast<std::size_t>(4 * n_encoders + 16);
    scratch_.resize(static_cast<std::size_t>(crew_.size()));
    for (auto& m : scratch_) {
        egress_rings_.push_back(std::make_unique<spsc_ring<encoded_frame>>(ring_size));
        egress_ptrs_.push_back(egress_rings_.back().get());
        m.events.resize(static_cast<std::size_t>(per_bank) * 256);
        m.onset_start.resize(1024);
        m.mix.resize(audience_.size());
    }
    counters_.opus_complexity.store(static_cast<std::uint32_t>(complexity_));
    counters_.opus_complexity_min.store(static_cast<std::uint32_t>(complexity_));

    if (cfg.mesh.enabled()) {
        const int delay = std::clamp(cfg.mesh.delay_frames, 1, 200);
        const auto depth = static_cast<std::size_t>(delay + 1);
        const auto frames = static_cast<std::size_t>(cfg.frame_samples);
        const auto slots = static_cast<std::size_t>(cfg.max_players);
        mesh_delay_ = std::int64_t{delay} * cfg.frame_samples;
        bus_history_.assign(depth, section_buses(cfg.frame_samples));
        bus_history_r_.assign(depth, -1);
        stem_history_.assign(depth * slots * 2 * frames, 0.0f);
        stem_history_r_.assign(depth * slots, -1);
        // Room for slices up to a second ahead of the frame being mixed.
        remote_ = std::make_unique<remote_stems>(cfg.frame_samples * delay + cfg.sample_rate);
        mesh_buses_ = section_buses(cfg.frame_samples);
        remote_buses_ = section_buses(cfg.frame_samples);
    }
}

std::int64_t render_engine::now_ns() const noexcept {
    return timeline_ != nullptr ? timeline_->now_ns() : monotonic_ns() - epoch_ns_;
}

void render_engine::schedule(int slot, std::span<const note_event> events, std::int64_t r,
                             std::int64_t arrival_ns) noexcept {
    player& p = players_[static_cast<std::size_t>(slot)];
    const std::int64_t advance =
        timing_.players[static_cast<std::size_t>(slot)].advance_ns.load(std::memory_order_relaxed);
    for (const auto& e : events) {
        timed_event te{r, e, arrival_ns};
        if (e.what == note_event::kind::program)
            p.section = section_of(e.bank, e.value);
        if (e.what == note_event::kind::note_on || e.what == note_event::kind::note_off) {
            const auto t = schedule_event(timing_now_, e.t_sync_ns, e.r_heard, advance, r);
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
        journal({.what = log_record::kind::push, .slot = slot, .at = te.at, .ev = e});
        if (!p.queue.push(te)) {
            counters_.queue_overflows.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (e.what == note_event::kind::note_on && p.short_notes) {
            // Short articulation: the note's own note-off, queued and journaled like any event
            // (a re-render plays it too). render_bank drops it if the key was struck again
            // meanwhile; the player's release, earlier or later, is harmless to a key that
            // no longer sounds.
            const timed_event off{
                te.at + short_note_samples_,
                {note_event::kind::note_off, e.key, k_short_note_off, 0, e.t_sync_ns, e.r_heard},
                arrival_ns};
            journal({.what = log_record::kind::push, .slot = slot, .at = off.at, .ev = off.ev});
            if (!p.queue.push(off))
                counters_.queue_overflows.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

void render_engine::join_slot(int slot, std::int64_t r) noexcept {
    player& p = players_[static_cast<std::size_t>(slot)];
    const int per_bank = banks_.front()->players();
    banks_[static_cast<std::size_t>(slot / per_bank)]->reset_player(slot % per_bank);
    p.keys.reset();
    p.queue.clear();
    p.active = true;
    p.timed_out = false;
    p.solo_requested = false;
    p.last_heard = r;
    p.quiet_samples = cfg_.sample_rate; // from silence: a note in its first frame is an onset
    p.section = 0;
    p.short_notes = false;
    p.struck_at.fill(std::numeric_limits<std::int64_t>::min());
    if (cfg_.mix == mix_mode::own)
        encoders_[static_cast<std::size_t>(slot)]->reset();
    timing_.players[static_cast<std::size_t>(slot)].late_events.store(0);
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
        switch (ev->what) {
        case ingress_event::kind::join:
            journal({.what = log_record::kind::join, .slot = slot});
            join_slot(slot, r);
            break;
        case ingress_event::kind::key_state: {
            if (!p.active)
                break;
            p.last_heard = r;
            p.timed_out = false;
            p.short_notes = (ev->state.flags & proto::v1::k_short_articulation) != 0;
            const auto n_events = p.keys.apply(ev->state, events_);
            schedule(slot, std::span(events_).first(n_events), r, ev->arrival_ns);
            if ((ev->state.flags & proto::v1::k_solo_request) && !p.solo_requested &&
                soloist_ != slot && timing_now_.mode == timing_mode::one_cycle &&
                solo_size_ < solo_queue_.size()) {
                solo_queue_[(solo_head_ + solo_size_++) % solo_queue_.size()] = slot;
                p.solo_requested = true;
            }
            break;
        }
        case ingress_event::kind::solo_grant: {
            // The conductor chose this player for the next solo cycle: first in the queue.
            if (!p.active || soloist_ == slot || timing_now_.mode != timing_mode::one_cycle)
                break;
            const std::size_t cap = solo_queue_.size();
            std::size_t kept = 0;
            for (std::size_t i = 0; i < solo_size_; ++i) {
                const int s = solo_queue_[(solo_head_ + i) % cap];
                if (s != slot)
                    solo_queue_[(solo_head_ + kept++) % cap] = s;
            }
            solo_size_ = kept;
            if (solo_size_ < cap) {
                solo_head_ = (solo_head_ + cap - 1) % cap;
                solo_queue_[solo_head_] = slot;
                ++solo_size_;
                p.solo_requested = true;
            }
            break;
        }
        case ingress_event::kind::leave: {
            journal({.what = log_record::kind::leave, .slot = slot});
            const auto n_events = p.keys.release_all(events_);
            p.queue.clear();
            schedule(slot, std::span(events_).first(n_events), r, ev->arrival_ns);
            p.active = false;
            break;
        }
        case ingress_event::kind::instrument: {
            // A performer's own instrument (or back to GM), at this frame boundary: a preset
            // select per lane (voice_bank::install), nothing loaded here.
            const int per_bank = banks_.front()->players();
            banks_[static_cast<std::size_t>(slot / per_bank)]->install(slot % per_bank,
                                                                       ev->instrument);
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
        schedule(static_cast<int>(slot), std::span(events_).first(n_events), r, 0);
        p.timed_out = true;
        counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
}

void render_engine::update_solo(std::int64_t r) noexcept {
    if (timing_now_.mode != timing_mode::one_cycle)
        return;
    const std::int64_t boundary = next_cycle_start(timing_now_, r);
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
            solo_end_ = boundary + cycle_samples_at(timing_now_, boundary);
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
    for_each_beat(timing_now_, r - k_click_samples, r + frames, [&](std::int64_t b, bool downbeat) {
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

void render_engine::mix_talkback(std::int64_t r) noexcept {
    // Each block is placed on its own sample, not on a frame boundary, and carried over frame
    // boundaries (talk_taken_). A block seen after its time plays at once (counted), and the
    // blocks that follow it in the same talk-back play as far behind, so a stream that stalled
    // goes on where it stopped instead of skipping; a block that does not follow on (a new
    // talk-back, or one after a dropped block) is placed on its own time again.
    const int frames = cfg_.frame_samples;
    const float gain = cfg_.talkback_gain;
    bool played = false;
    int pos = 0; // where in this frame the next talk-back sample goes
    for (int pass = 0; pass < k_max_talkback_passes && pos < frames; ++pass) {
        const talkback_block* b = talkback_->front();
        if (!b)
            break;
        const int count = std::min<int>(b->sample_count, k_max_frame_samples);
        if (talk_taken_ == 0) {
            const std::int64_t here = r + pos;
            std::int64_t due = b->start_sample;
            if (b->start_sample == talk_next_)
                due += talk_behind_;
            if (due >= r + frames)
                break; // a later frame's
            if (due >= here) {
                pos = static_cast<int>(due - r);
                talk_behind_ = due - b->start_sample;
            } else {
                talk_behind_ = here - b->start_sample;
                counters_.talkback_late.fetch_add(1, std::memory_order_relaxed);
            }
        }
        const int n = std::min(count - talk_taken_, frames - pos);
        if (n > 0) {
            if (!talk_on_) {
                std::fill(talk_.begin(), talk_.end(), 0.0f);
                talk_on_ = true;
            }
            const float* in = b->samples.data() + talk_taken_;
            float* out = talk_.data() + pos;
            for (int i = 0; i < n; ++i)
                out[i] += gain * in[i];
            played = true;
        }
        talk_taken_ += n;
        pos += n;
        if (talk_taken_ >= count) {
            talk_next_ = b->start_sample + count;
            talkback_->release();
            talk_taken_ = 0;
        }
    }
    if (played)
        counters_.talkback_frames.fetch_add(1, std::memory_order_relaxed);
}

void render_engine::find_onsets(std::int64_t r) noexcept {
    // After at least 20 ms below the threshold.
    const int quiet_needed = cfg_.sample_rate / 50;
    for (std::size_t slot = 0; slot < players_.size(); ++slot) {
        player& p = players_[slot];
        if (!p.active)
            continue;
        scan_onsets(stem_ptrs_[2 * slot], stem_ptrs_[2 * slot + 1], cfg_.frame_samples,
                    quiet_needed, p.quiet_samples, [&](int i) {
                        onsets_->try_push({static_cast<std::int32_t>(slot), r + i});
                    });
    }
}

void render_engine::render_bank(std::size_t b, std::int64_t r, std::int64_t frame_start_ns,
                                member_scratch& m) noexcept {
    const int frames = cfg_.frame_samples;
    voice_bank& bank = *banks_[b];
    bank.set_synth_degrade(synth_degrade_);
    const std::size_t first = b * static_cast<std::size_t>(banks_.front()->players());
    std::size_t n = 0;
    const std::int64_t horizon = r + frames + voice_bank::k_latency;
    for (int i = 0; i < bank.players(); ++i) {
        player& p = players_[first + static_cast<std::size_t>(i)];
        event_queue& q = p.queue;
        while (!q.empty() && n < m.events.size()) {
            const bank_event e{q.front().at, i, q.front().ev};
            if (bank.issue_point(e) >= horizon)
                break;
            const std::size_t key = e.ev.key & 127;
            if (e.ev.what == note_event::kind::note_off && e.ev.value == k_short_note_off &&
                p.struck_at[key] != e.at - short_note_samples_) {
                q.pop(); // a short note's end whose key was struck again since: not that strike's
                continue;
            }
            m.events[n++] = e;
            if (e.ev.what == note_event::kind::note_on) {
                p.struck_at[key] = e.at;
                counters_.note_ons.fetch_add(1, std::memory_order_relaxed);
                // Its onset is in this frame: the server could not have sent it before the
                // key state arrived, nor before the frame's own start.
                if (m.onsets < m.onset_start.size())
                    m.onset_start[m.onsets++] = std::max(q.front().arrival_ns, frame_start_ns);
            } else if (e.ev.what == note_event::kind::note_off) {
                counters_.note_offs.fetch_add(1, std::memory_order_relaxed);
            }
            q.pop();
        }
    }
    // Insertion sort by issue point (stable, no allocation; a frame holds few events).
    for (std::size_t i = 1; i < n; ++i) {
        const bank_event e = m.events[i];
        const std::int64_t key = bank.issue_point(e);
        std::size_t j = i;
        for (; j > 0 && bank.issue_point(m.events[j - 1]) > key; --j)
            m.events[j] = m.events[j - 1];
        m.events[j] = e;
    }
    auto ptrs = std::span<float* const>(stem_ptrs_)
                    .subspan(first * 2, static_cast<std::size_t>(bank.players()) * 2);
    const int imprecise = bank.render(r, frames, std::span(m.events).first(n), ptrs);
    if (imprecise > 0)
        counters_.imprecise_onsets.fetch_add(static_cast<std::uint64_t>(imprecise),
                                             std::memory_order_relaxed);
    bank_voices_[b] = bank.active_voices();
}

void render_engine::sum_buses(std::int64_t r) noexcept {
    // Section buses = sum of gain * stem, the soloist's gain switching on the cycle's sample.
    // One thread, slot order: the sums are the same every run, whoever rendered the stems.
    const int frames = cfg_.frame_samples;
    buses_.clear(frames);
    active_.clear();
    for (std::size_t slot = 0; slot < players_.size(); ++slot) {
        const player& p = players_[slot];
        if (!p.active)
            continue;
        active_.push_back(static_cast<int>(slot));
        float* l = stem_ptrs_[2 * slot];
        float* rr = stem_ptrs_[2 * slot + 1];
        const bool muted = timing_.players[slot].muted.load(std::memory_order_relaxed);
        if (log_ && static_cast<std::uint8_t>(muted) != log_muted_[slot]) {
            log_muted_[slot] = static_cast<std::uint8_t>(muted);
            journal({.what = log_record::kind::mute,
                     .slot = static_cast<std::int32_t>(slot),
                     .value = muted ? 1 : 0});
        }
        if (muted) {
            // Muted by the conductor: a silent stem, so own mixes (which take the stem back out
            // of its bus) stay consistent.
            std::fill(l, l + frames, 0.0f);
            std::fill(rr, rr + frames, 0.0f);
            if (static_cast<int>(slot) == soloist_) // its summed stem is this silence too
                std::fill(solo_stem_.begin(), solo_stem_.end(), 0.0f);
            continue;
        }
        if (static_cast<int>(slot) == soloist_) {
            // Unity before the solo cycle, the boost inside it, unity after: split at its bounds.
            // Kept as summed, so the soloist's own mix takes out what its bus holds.
            const auto a = static_cast<int>(std::clamp<std::int64_t>(solo_start_ - r, 0, frames));
            const auto b = static_cast<int>(std::clamp<std::int64_t>(solo_end_ - r, a, frames));
            const float gain = replaying_ ? replay_solo_gain_ : timing_now_.solo_gain;
            float* sl = solo_stem_.data();
            float* sr = sl + frames;
            for (int i = 0; i < frames; ++i) {
                const float g = i >= a && i < b ? gain : 1.0f;
                sl[i] = g * l[i];
                sr[i] = g * rr[i];
            }
            buses_.add(p.section, sl, sr, 1.0f, frames, 0);
        } else {
            buses_.add(p.section, l, rr, 1.0f, frames, 0);
        }
    }
    mixed_ = &buses_;
    mix_r_ = r;
    if (cfg_.mesh.enabled())
        exchange_stems(r);
    mixed_->sum(bus_left_.data(), bus_right_.data());
    for (int i = 0; i < frames; ++i) {
        audience_[2 * static_cast<std::size_t>(i)] =
            soft_limit(cfg_.master_gain * bus_left_[static_cast<std::size_t>(i)]);
        audience_[2 * static_cast<std::size_t>(i) + 1] =
            soft_limit(cfg_.master_gain * bus_right_[static_cast<std::size_t>(i)]);
    }
}

void render_engine::exchange_stems(std::int64_t r) noexcept {
    const int frames = cfg_.frame_samples;
    const auto frame_size = static_cast<std::size_t>(frames);
    // Out: every section of this node that sounds, for the other nodes.
    if (mesh_out_) {
        for (int s = 0; s < k_sections; ++s) {
            if (!buses_.used(s))
                continue;
            stem_block* b = mesh_out_->claim();
            if (!b) {
                counters_.mesh_outbound_overflows.fetch_add(1, std::memory_order_relaxed);
                break;
            }
            b->render_sample = r;
            b->frame_samples = static_cast<std::uint16_t>(frames);
            b->section = static_cast<std::uint8_t>(s);
            std::copy_n(buses_.left(s), frames, b->left.begin());
            std::copy_n(buses_.right(s), frames, b->right.begin());
            mesh_out_->commit();
        }
    }
    // Kept: this frame's buses and stems, for the mix `delay` frames from now.
    const std::size_t depth = bus_history_.size();
    const std::size_t slots = players_.size();
    section_buses& keep = bus_history_[history_at_];
    keep.clear(frames);
    keep.add(buses_);
    bus_history_r_[history_at_] = r;
    for (const int slot : active_) {
        const auto k = static_cast<std::size_t>(slot);
        float* dst = stem_history_.data() + (history_at_ * slots + k) * 2 * frame_size;
        std::copy_n(summed_stem(k, 0), frames, dst);
        std::copy_n(summed_stem(k, 1), frames, dst + frame_size);
        stem_history_r_[history_at_ * slots + k] = r;
    }
    // In: the other nodes' slices, each already on this node's timeline.
    if (mesh_in_) {
        while (const stem_slice* in = mesh_in_->front()) {
            switch (remote_->add(in->section, in->render_sample, in->left.data(), in->right.data(),
                                 in->frame_samples)) {
            case remote_stems::placed::ok:
                counters_.mesh_stems_mixed.fetch_add(1, std::memory_order_relaxed);
                break;
            case remote_stems::placed::late:
                counters_.mesh_late_stems.fetch_add(1, std::memory_order_relaxed);
                break;
            case remote_stems::placed::early:
                counters_.mesh_early_stems.fetch_add(1, std::memory_order_relaxed);
                break;
            case remote_stems::placed::dropped:
                break;
            }
            mesh_in_->release();
        }
    }
    // The mix: this node's and the other nodes' buses of the frame `delay` frames back, which
    // the oldest history entry holds (unless frames were skipped since).
    history_at_ = (history_at_ + 1) % depth;
    mix_r_ = r - mesh_delay_;
    mesh_buses_.clear(frames);
    if (bus_history_r_[history_at_] == mix_r_)
        mesh_buses_.add(bus_history_[history_at_]);
    remote_buses_.clear(frames);
    remote_->take(mix_r_, remote_buses_);
    mesh_buses_.add(remote_buses_);
    if (onsets_)
        find_remote_onsets();
    mixed_ = &mesh_buses_;
}

void render_engine::find_remote_onsets() noexcept {
    // As find_onsets, on the peers' section buses where they enter the mixes: slot -1 - section.
    const int quiet_needed = cfg_.sample_rate / 50;
    for (int s = 0; s < k_sections; ++s) {
        int& quiet = remote_quiet_[static_cast<std::size_t>(s)];
        if (!remote_buses_.used(s)) {
            quiet += cfg_.frame_samples;
            continue;
        }
        scan_onsets(remote_buses_.left(s), remote_buses_.right(s), cfg_.frame_samples, quiet_needed,
                    quiet, [&](int i) {
                        onsets_->try_push({-1 - s, mix_r_ + i});
                    });
    }
}

const float* render_engine::summed_stem(std::size_t slot, int channel) const noexcept {
    if (static_cast<int>(slot) == soloist_)
        return solo_stem_.data() + channel * cfg_.frame_samples;
    return stem_ptrs_[2 * slot + static_cast<std::size_t>(channel)];
}

const float* render_engine::mixed_stem(int slot, int channel) const noexcept {
    const auto k = static_cast<std::size_t>(slot);
    if (!cfg_.mesh.enabled())
        return summed_stem(k, channel);
    // history_at_ now names the entry the mix was built from (exchange_stems).
    const std::size_t at = history_at_ * players_.size() + k;
    if (stem_history_r_[at] != mix_r_)
        return nullptr;
    const auto frame_size = static_cast<std::size_t>(cfg_.frame_samples);
    return stem_history_.data() + (at * 2 + static_cast<std::size_t>(channel)) * frame_size;
}

bool render_engine::encode_shared(std::int64_t r) noexcept {
    std::span<const float> mix = audience_;
    if (click_on_ || talk_on_) {
        // One mix for everyone: the buses with the click at its full level (no personal levels
        // here), limited once — the audience mix is already limited, and limiting it again
        // would squash the orchestra under the click.
        build_own_mix(*mixed_, mix_profile::uniform(), own_voice{}, cfg_.master_gain,
                      click_on_ ? std::span<const float>(click_) : std::span<const float>(),
                      talk_on_ ? std::span<const float>(talk_) : std::span<const float>(),
                      performers_);
        mix = performers_;
    }
    return publish(*egress_rings_[0], *encoders_[0], mix, 0, r);
}

bool render_engine::publish(spsc_ring<encoded_frame>& ring, opus_stage& encoder,
                            std::span<const float> mix, std::uint32_t mix_id,
                            std::int64_t r) noexcept {
    encoded_frame* out = ring.claim();
    if (!out) {
        counters_.egress_overflows.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    const auto n = encoder.encode(mix, out->bytes);
    if (n == 0)
        return false;
    out->mix_id = mix_id;
    out->render_sample = r;
    out->frame_samples = static_cast<std::uint16_t>(cfg_.frame_samples);
    out->size = static_cast<std::uint16_t>(n);
    ring.commit();
    return true;
}

void render_engine::encode_own(int slot, std::int64_t r, int member) noexcept {
    const auto s = static_cast<std::size_t>(slot);
    const player& p = players_[s];
    member_scratch& m = scratch_[static_cast<std::size_t>(member)];
    own_voice own;
    own.section = p.section;
    own.left = mixed_stem(slot, 0);
    own.right = own.left ? mixed_stem(slot, 1) : nullptr;
    // The performer's levels as they are now: one consistent snapshot per frame (seqlock).
    const mix_profile profile = timing_.players[s].mix.load();
    build_own_mix(*mixed_, profile, own, cfg_.master_gain,
                  click_on_ ? std::span<const float>(click_) : std::span<const float>(),
                  talk_on_ ? std::span<const float>(talk_) : std::span<const float>(), m.mix);
    if (publish(*egress_rings_[static_cast<std::size_t>(member)], *encoders_[s], m.mix,
                static_cast<std::uint32_t>(slot + 1), r))
        m.sent = true;
}

void render_engine::adapt_to_load(std::int64_t took_ns) noexcept {
    // The load is smoothed (about 80 ms): one slow frame on a busy machine is no reason to
    // give up sound for seconds, but a frame near its deadline is, at once. One step at a
    // time, then a pause to see its effect; back up only after a calm second.
    constexpr int k_hold_frames = 20;
    constexpr int k_calm_frames = 200;
    constexpr int k_max_synth_degrade = 3;
    constexpr double k_smoothing = 1.0 / 16;
    constexpr double k_danger = 0.9; // of the period, in one frame
    const double load = static_cast<double>(took_ns) / static_cast<double>(period_ns_);
    load_avg_ += k_smoothing * (load - load_avg_);
    if (hold_frames_ > 0)
        --hold_frames_;
    if (load_avg_ > cfg_.overload_high || load > std::max(k_danger, cfg_.overload_high)) {
        calm_frames_ = 0;
        if (hold_frames_ > 0)
            return;
        if (complexity_ > 0) {
            complexity_ = std::max(0, complexity_ - 2);
        } else if (synth_degrade_ < k_max_synth_degrade) {
            ++synth_degrade_;
        } else {
            return; // nothing left to give up: the late frames are counted
        }
        counters_.degrade_steps.fetch_add(1, std::memory_order_relaxed);
        hold_frames_ = k_hold_frames;
    } else if (load_avg_ < cfg_.overload_low &&
               (complexity_ < cfg_.complexity || synth_degrade_ > 0)) {
        if (++calm_frames_ < k_calm_frames)
            return;
        calm_frames_ = 0;
        if (synth_degrade_ > 0)
            --synth_degrade_; // sound first: voices before encoder quality
        else
            complexity_ = std::min(cfg_.complexity, complexity_ + 2); // the steps it came down
        counters_.recover_steps.fetch_add(1, std::memory_order_relaxed);
    } else {
        calm_frames_ = 0;
        return;
    }
    for (auto& e : encoders_)
        e->set_complexity(complexity_);
    counters_.opus_complexity.store(static_cast<std::uint32_t>(complexity_),
                                    std::memory_order_relaxed);
    if (static_cast<std::uint32_t>(complexity_) <
        counters_.opus_complexity_min.load(std::memory_order_relaxed))
        counters_.opus_complexity_min.store(static_cast<std::uint32_t>(complexity_),
                                            std::memory_order_relaxed);
    counters_.synth_degrade.store(static_cast<std::uint32_t>(synth_degrade_),
                                  std::memory_order_relaxed);
    if (static_cast<std::uint32_t>(synth_degrade_) >
        counters_.synth_degrade_max.load(std::memory_order_relaxed))
        counters_.synth_degrade_max.store(static_cast<std::uint32_t>(synth_degrade_),
                                          std::memory_order_relaxed);
}

void render_engine::journal(log_record rec) noexcept {
    if (!log_)
        return;
    if (log_lost_ > 0) {
        const log_record lost{.what = log_record::kind::lost,
                              .value = static_cast<std::int32_t>(std::min<std::uint64_t>(
                                  log_lost_, std::numeric_limits<std::int32_t>::max())),
                              .seq = log_seq_,
                              .frame = frame_r_};
        if (!log_->try_push(lost)) {
            ++log_lost_;
            return;
        }
        ++log_seq_;
        log_lost_ = 0;
    }
    rec.seq = log_seq_;
    rec.frame = frame_r_;
    rec.ev.t_sync_ns = 0;
    rec.ev.r_heard = 0;
    if (log_->try_push(rec)) {
        ++log_seq_;
    } else {
        ++log_lost_;
        counters_.log_overflows.fetch_add(1, std::memory_order_relaxed);
    }
}

void render_engine::journal_frame(std::int64_t r) noexcept {
    if (log_last_frame_ < 0)
        journal({.what = log_record::kind::start});
    else if (r != log_last_frame_ + cfg_.frame_samples)
        journal({.what = log_record::kind::gap, .at = log_last_frame_}); // skipped after `at`
    log_last_frame_ = r;
    if (synth_degrade_ != log_degrade_) {
        log_degrade_ = synth_degrade_;
        journal({.what = log_record::kind::degrade, .value = synth_degrade_});
    }
}

void render_engine::journal_solo() noexcept {
    if (soloist_ == log_soloist_ && solo_start_ == log_solo_start_ && solo_end_ == log_solo_end_ &&
        (soloist_ < 0 || timing_now_.solo_gain == log_solo_gain_))
        return;
    log_soloist_ = soloist_;
    log_solo_start_ = solo_start_;
    log_solo_end_ = solo_end_;
    log_solo_gain_ = timing_now_.solo_gain;
    journal({.what = log_record::kind::solo,
             .slot = soloist_,
             .at = solo_start_,
             .until = solo_end_,
             .gain = timing_now_.solo_gain});
}

bool render_engine::render_frame(std::int64_t r) noexcept {
    const std::int64_t started = now_ns();
    timing_now_ = timing_.config.load(); // the conductor's latest mode, tempo and start
    frame_r_ = r;
    if (log_)
        journal_frame(r);
    drain_ingress(r);
    release_silent(r);
    update_solo(r);
    if (log_)
        journal_solo();
    const bool sent = render_from_stems(r, started);
    // Measured from the frame's due time when it started later (its thread was kept from the
    // CPU): that time is gone from its budget as surely as time spent rendering. A start far
    // from it is another timeline (offline rendering, a clock that skipped ahead): not counted.
    const std::int64_t due = samples_to_ns(r, cfg_.sample_rate);
    const std::int64_t woke_late = started - due;
    adapt_to_load(now_ns() - (woke_late > 0 && woke_late < 4 * period_ns_ ? due : started));
    return sent;
}

void render_engine::replay_frame(std::int64_t r, std::span<const log_record> records) noexcept {
    const std::int64_t started = now_ns();
    timing_now_ = timing_.config.load();
    frame_r_ = r;
    replaying_ = true;
    for (const log_record& rec : records) {
        const bool slot_ok = rec.slot >= 0 && rec.slot < cfg_.max_players;
        const auto s = static_cast<std::size_t>(rec.slot);
        switch (rec.what) {
        case log_record::kind::join:
            if (slot_ok)
                join_slot(rec.slot, r);
            break;
        case log_record::kind::leave:
            if (slot_ok) {
                players_[s].queue.clear();
                players_[s].active = false;
            }
            break;
        case log_record::kind::push:
            if (slot_ok) {
                player& p = players_[s];
                if (rec.ev.what == note_event::kind::program)
                    p.section = section_of(rec.ev.bank, rec.ev.value);
                if (!p.queue.push({rec.at, rec.ev, 0}))
                    counters_.queue_overflows.fetch_add(1, std::memory_order_relaxed);
            }
            break;
        case log_record::kind::mute:
            if (slot_ok)
                timing_.players[s].muted.store(rec.value != 0, std::memory_order_relaxed);
            break;
        case log_record::kind::solo:
            soloist_ = slot_ok ? rec.slot : -1;
            solo_start_ = rec.at;
            solo_end_ = rec.until;
            replay_solo_gain_ = rec.gain;
            break;
        case log_record::kind::degrade:
            synth_degrade_ = std::clamp(rec.value, 0, 3);
            break;
        case log_record::kind::start:
        case log_record::kind::gap:
        case log_record::kind::lost:
        case log_record::kind::end:
            break;
        }
    }
    render_from_stems(r, started);
}

bool render_engine::render_from_stems(std::int64_t r, std::int64_t started) noexcept {
    const int frames = cfg_.frame_samples;
    const std::int64_t frame_start_ns = samples_to_ns(r, cfg_.sample_rate);

    // Stems: members take banks from a shared counter.
    for (auto& m : scratch_) {
        m.onsets = 0;
        m.sent = false;
    }
    work_items banks(static_cast<int>(banks_.size()));
    auto render_stems = [&](int member) noexcept {
        member_scratch& m = scratch_[static_cast<std::size_t>(member)];
        for (int b; (b = banks.next()) >= 0;)
            render_bank(static_cast<std::size_t>(b), r, frame_start_ns, m);
    };
    crew_.run(render_stems);

    if (onsets_)
        find_onsets(r);
    sum_buses(r);

    if (recorder_) {
        if (pcm_frame* out = recorder_->claim()) {
            out->render_sample = mix_r_;
            out->frame_samples = static_cast<std::uint16_t>(frames);
            std::copy(audience_.begin(), audience_.end(), out->samples.begin());
            recorder_->commit();
        } else {
            counters_.record_overflows.fetch_add(1, std::memory_order_relaxed);
        }
    }
    // The same mix for /listen, only while someone listens (listen_stream.hpp).
    if (listen_ring_ && listen_->wanted()) {
        if (pcm_frame* out = listen_ring_->claim()) {
            out->render_sample = mix_r_;
            out->frame_samples = static_cast<std::uint16_t>(frames);
            std::copy(audience_.begin(), audience_.end(), out->samples.begin());
            listen_ring_->commit();
        } else {
            counters_.listen_overflows.fetch_add(1, std::memory_order_relaxed);
        }
    }

    // What only performers hear, after the audience mix has gone to the recorder: the click on
    // the beat when it is on, and the conductor's talk-back. The talk-back ring is drained even
    // when nobody listens, so its times keep up with the render clock.
    click_on_ = false;
    talk_on_ = false;
    if (timing_now_.click || timing_now_.mode == timing_mode::one_cycle) {
        render_click(mix_r_);
        click_on_ = true;
    }
    if (talkback_)
        mix_talkback(r);

    // Mixes and encodes.
    const std::int64_t encode_started = now_ns();
    bool sent = false;
    std::uint32_t mixes = 0;
    if (!active_.empty() && !replaying_) {
        if (cfg_.mix == mix_mode::shared) {
            sent = encode_shared(mix_r_);
            mixes = 1;
        } else {
            work_items mixes_left(static_cast<int>(active_.size()));
            auto encode_mixes = [&](int member) noexcept {
                for (int i; (i = mixes_left.next()) >= 0;)
                    encode_own(active_[static_cast<std::size_t>(i)], mix_r_, member);
            };
            crew_.run(encode_mixes);
            for (const auto& m : scratch_)
                sent = sent || m.sent;
            mixes = static_cast<std::uint32_t>(active_.size());
        }
    }
    const std::int64_t ready = now_ns();
    counters_.encode_time.add((ready - encode_started) / 1000);
    // With a mesh an onset reaches the mixes the mix delay later than it was rendered.
    const std::int64_t mesh_delay_ns = samples_to_ns(mesh_delay_, cfg_.sample_rate);
    for (const auto& m : scratch_)
        for (std::size_t i = 0; i < m.onsets; ++i)
            counters_.added_latency.add((ready + mesh_delay_ns - m.onset_start[i]) / 1000);

    int voices = 0;
    for (int v : bank_voices_)
        voices += v;
    counters_.voices.store(static_cast<std::uint32_t>(voices), std::memory_order_relaxed);
    std::uint64_t tails = 0;
    for (const auto& bank : banks_)
        tails += bank->tails_ended();
    counters_.tails_ended.store(tails, std::memory_order_relaxed);
    counters_.players.store(static_cast<std::uint32_t>(active_.size()), std::memory_order_relaxed);
    counters_.distinct_mixes.store(mixes, std::memory_order_relaxed);
    // Release: what this frame journaled is visible to whoever sees it rendered (perf_log.cpp).
    counters_.render_sample.store(r, std::memory_order_release);
    counters_.frames.fetch_add(1, std::memory_order_relaxed);
    counters_.block_time.add((ready - started) / 1000);
    return sent;
}

} // namespace gno::render
