#pragma once
// The machine's own floor under the render node's frame loop: the node's render clock and
// work crew (real-time priority where allowed) with no audio at all, only a fixed amount of
// arithmetic per frame shared out as the render shares its banks and mixes. A frame of this
// loop is late for the machine's reasons alone (a virtual CPU taken away by its host, other
// processes, interrupts), so its late frames are the least any render of that block time can
// expect here: what `gno-bench scale`'s late frames are read against.

#include <string>

namespace gno::bench {

struct floor_params {
    double work_us = 1000; // arithmetic per frame per thread, in microseconds of one core
    double seconds = 60;
    int threads = 0; // 0: the cores this process may use
    int frame_samples = 240;
};

struct floor_result {
    double work_us = 0;
    int threads = 0;
    bool realtime = false;
    double seconds = 0;
    double frames = 0;
    double late_frames = 0;
    double skipped_frames = 0;
    double block_time_p50_us = 0;
    double block_time_p99_us = 0;
    double block_time_max_us = 0;
    double wake_late_p99_us = 0; // frame start after its due time
    double wake_late_max_us = 0;
    std::string json() const;
};

/// Runs the loop for p.seconds; throws std::runtime_error if it cannot start.
floor_result run_floor(const floor_params& p);

} // namespace gno::bench
