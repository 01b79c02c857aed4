#pragma once
// What the node reports (DESIGN.md §7): the real-time, network and control sides only
// increment; anybody reads. Relaxed atomics: each counter is independent.

#include "gno/render/duration_histogram.hpp"

#include <atomic>
#include <cstdint>

namespace gno::render {

struct node_counters {
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
    // network thread
    std::atomic<std::uint64_t> packets_in{0};
    std::atomic<std::uint64_t> packets_out{0};
    std::atomic<std::uint64_t> bytes_out{0};
    std::atomic<std::uint64_t> bad_packets{0}; // undecodable or foreign datagrams
    std::atomic<std::uint64_t> bad_tags{0};    // forged, tag-less or keyed for another session
    std::atomic<std::uint64_t> unadmitted{0};  // for a session no performer holds
    // Key states with a sequence not newer than one already applied (duplicated, reordered
    // or replayed).
    std::atomic<std::uint64_t> stale_packets{0};
    std::atomic<std::uint64_t> replayed_packets{0}; // pings already answered
    std::atomic<std::uint64_t> unanswered_pings{0}; // valid, but no slot or not its address
    std::atomic<std::uint64_t> source_limited{0};   // over one source address's rate, dropped
    std::atomic<std::uint64_t> rebinds{0};          // a player's address followed (NAT re-bind)
    std::atomic<std::uint64_t> rate_limited{0};     // key states above a player's rate, dropped
    std::atomic<std::uint64_t> rejected_players{0}; // no free slot, or dismissed
    std::atomic<std::uint64_t> send_errors{0};
    std::atomic<std::uint64_t> ingress_overflows{0};
    std::atomic<std::uint64_t> pings{0};
    // mesh thread (stem_exchange.hpp)
    std::atomic<std::uint64_t> mesh_datagrams_out{0};
    std::atomic<std::uint64_t> mesh_bytes_out{0};
    std::atomic<std::uint64_t> mesh_datagrams_in{0};
    std::atomic<std::uint64_t> mesh_bad_packets{0}; // undecodable, unknown node or bad tag
    std::atomic<std::uint64_t> mesh_unsynced{0}; // stems from a peer whose clock is not known yet
    std::atomic<std::uint64_t> mesh_inbound_overflows{0};
    // render thread, stems across nodes
    std::atomic<std::uint64_t> mesh_outbound_overflows{0};
    std::atomic<std::uint64_t> mesh_late_stems{0};  // arrived after their frame was mixed
    std::atomic<std::uint64_t> mesh_early_stems{0}; // too far ahead of this node's timeline
    std::atomic<std::uint64_t> mesh_stems_mixed{0}; // remote slices placed in a mix
    // render thread
    std::atomic<std::uint64_t> frames{0};
    std::atomic<std::uint64_t> late_frames{0};
    // Late frames whose render thread started more than a quarter period after the frame was
    // due: the machine (scheduler, hypervisor, another frame overrunning) held it, not only the
    // frame's own work.
    std::atomic<std::uint64_t> late_starts{0};
    std::atomic<std::uint64_t> skipped_frames{0};
    std::atomic<std::uint64_t> note_ons{0};
    std::atomic<std::uint64_t> note_offs{0};
    std::atomic<std::uint64_t> timeouts{0};         // players whose notes were released for silence
    std::atomic<std::uint64_t> late_events{0};      // arrived after their render time
    std::atomic<std::uint64_t> unstamped_events{0}; // lacked the stamp their mode needs
    std::atomic<std::uint64_t> clamped_events{0};   // absurd stamps, clamped or dropped
    std::atomic<std::uint64_t> imprecise_onsets{0}; // not placed on their exact sample
    std::atomic<std::uint64_t> tails_ended{0};      // released notes' tails ended (voice_bank.hpp)
    std::atomic<std::uint64_t> queue_overflows{0};
    std::atomic<std::uint64_t> solos{0};
    std::atomic<std::uint64_t> egress_overflows{0};
    std::atomic<std::uint64_t> record_overflows{0};
    std::atomic<std::uint64_t> log_overflows{0};    // performance log records lost
    std::atomic<std::uint64_t> listen_overflows{0}; // /listen frames dropped: the ring was full
    std::atomic<std::uint64_t> talkback_frames{0};  // frames whose performer mixes carried it
    // Talk-back blocks that could not start on their sample (they came too late, or a stream
    // fell further behind after a stall): each is played at once instead.
    std::atomic<std::uint64_t> talkback_late{0};
    std::atomic<std::uint64_t> block_time_max_us{0};
    // JACK (--jack): periods the JACK server reported late or missed, whoever made them so.
    std::atomic<std::uint64_t> xruns{0};
    std::atomic<std::uint64_t> degrade_steps{0}; // overload: one step down (complexity, voices)
    std::atomic<std::uint64_t> recover_steps{0}; // and back up
    std::atomic<std::uint32_t> distinct_mixes{0};
    std::atomic<std::uint32_t> opus_complexity{0};
    std::atomic<std::uint32_t> opus_complexity_min{99};
    std::atomic<std::uint32_t> synth_degrade_max{0};
    std::atomic<std::uint32_t> synth_degrade{0}; // overload: voice_bank::set_synth_degrade
    duration_histogram block_time;               // a frame's whole render path
    duration_histogram encode_time;              // a frame's mix and encode stage
    duration_histogram added_latency; // key state arrival (or its frame's start, if later) ->
                                      // the frame with its onset encoded
    std::atomic<std::int64_t> render_sample{0}; // R at the start of the last rendered frame
    std::atomic<std::uint32_t> voices{0};
    std::atomic<std::uint32_t> players{0};
    // control thread (talkback_feed)
    std::atomic<std::uint64_t> talkback_overflows{0}; // blocks dropped: the ring was full
    std::atomic<std::uint64_t> talkback_truncated{0}; // samples beyond a talk-back's bound
    // recorder thread
    std::atomic<std::uint64_t> recorded_samples{0};
};

} // namespace gno::render
