// Talk-back capture, on the browser's audio rendering thread (an AudioWorklet).
// Turns the microphone into what the server takes (proto/.../control.hpp): 48 kHz mono
// signed 16-bit little-endian PCM, in chunks of 20 ms posted to the page, which sends each
// one as a binary WebSocket frame. The console asks for a 48 kHz AudioContext; should a
// browser run another rate, the samples are resampled here (linear, good enough for speech).
//
// Messages from the page: {record: true} starts a take, {record: false} ends it: the partial
// chunk is posted, then {flushed: true}, so nothing said before the release is lost.
// Messages to the page: {pcm: ArrayBuffer, peak: 0..1} per chunk, and {flushed: true}.

const k_out_rate = 48000;
const k_chunk_samples = 960; // 20 ms: small enough to start at once, few frames per second

class talkback_capture extends AudioWorkletProcessor {
    constructor() {
        super();
        this.recording = false;
        this.step = sampleRate / k_out_rate; // input samples per output sample
        this.t = 0;                          // next output position, in this block's samples
        this.last = 0;                       // previous block's last sample (interpolation)
        this.new_chunk();
        this.port.onmessage = (e) => {
            if (e.data.record === true) {
                this.recording = true;
                this.new_chunk();
            } else if (e.data.record === false) {
                if (this.recording && this.fill > 0)
                    this.post_chunk();
                this.recording = false;
                this.port.postMessage({flushed: true});
            }
        };
    }

    new_chunk() {
        this.buffer = new ArrayBuffer(k_chunk_samples * 2);
        this.view = new DataView(this.buffer);
        this.fill = 0;
        this.peak = 0;
    }

    post_chunk() {
        const pcm = this.fill === k_chunk_samples ? this.buffer : this.buffer.slice(0, this.fill * 2);
        this.port.postMessage({pcm, peak: this.peak}, [pcm]);
        this.new_chunk();
    }

    push(v) {
        const s = v > 1 ? 1 : v < -1 ? -1 : v;
        const a = s < 0 ? -s : s;
        if (a > this.peak)
            this.peak = a;
        this.view.setInt16(this.fill * 2, Math.round(s < 0 ? s * 32768 : s * 32767), true);
        if (++this.fill === k_chunk_samples)
            this.post_chunk();
    }

    process(inputs) {
        const channels = inputs[0];
        if (!this.recording || !channels || channels.length === 0)
            return true;
        const n = channels[0].length;
        // Mono: the mean of the microphone's channels.
        const x = channels.length === 1 ? channels[0] : new Float32Array(n);
        if (channels.length > 1) {
            for (const ch of channels)
                for (let i = 0; i < n; ++i)
                    x[i] += ch[i] / channels.length;
        }
        if (this.step === 1) {
            for (let i = 0; i < n; ++i)
                this.push(x[i]);
            return true;
        }
        // Linear resampling; position -1 is the previous block's last sample.
        let t = this.t;
        while (t <= n - 1) {
            const i = Math.floor(t);
            const f = t - i;
            const a = i < 0 ? this.last : x[i];
            const b = i + 1 < n ? x[i + 1] : a;
            this.push(a + (b - a) * f);
            t += this.step;
        }
        this.t = t - n;
        this.last = x[n - 1];
        return true;
    }
}

registerProcessor('gno-talkback-capture', talkback_capture);
