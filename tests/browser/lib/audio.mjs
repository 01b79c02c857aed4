// WAV files and pitch analysis for the talk-back test: audio is checked by analysing it.
import {readFileSync, writeFileSync} from 'node:fs';

/// Writes a mono 16-bit PCM WAV of a sine tone.
export function write_tone_wav(path, {frequency, seconds, rate = 48000, amplitude = 0.5}) {
    const n = Math.round(seconds * rate);
    const data = Buffer.alloc(n * 2);
    for (let i = 0; i < n; ++i)
        data.writeInt16LE(Math.round(amplitude * 32767 * Math.sin(2 * Math.PI * frequency * i / rate)), i * 2);
    const header = Buffer.alloc(44);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(36 + data.length, 4);
    header.write('WAVE', 8, 'ascii');
    header.write('fmt ', 12, 'ascii');
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20); // PCM
    header.writeUInt16LE(1, 22); // mono
    header.writeUInt32LE(rate, 24);
    header.writeUInt32LE(rate * 2, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36, 'ascii');
    header.writeUInt32LE(data.length, 40);
    writeFileSync(path, Buffer.concat([header, data]));
}

/// Reads a PCM (16/24/32-bit) or float (32-bit) WAV; returns {rate, samples}: the mean of its
/// channels as a Float32Array in -1..1.
export function read_wav(path) {
    const b = readFileSync(path);
    if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE')
        throw new Error(`${path} is not a WAV file`);
    let fmt = null;
    let data = null;
    for (let at = 12; at + 8 <= b.length;) {
        const id = b.toString('ascii', at, at + 4);
        let size = b.readUInt32LE(at + 4);
        const body = at + 8;
        // A WAV written while recording may carry a placeholder size for its data.
        if (id === 'data' && (size === 0 || size === 0xffffffff || body + size > b.length))
            size = b.length - body;
        if (id === 'fmt ') {
            fmt = {
                format: b.readUInt16LE(body),
                channels: b.readUInt16LE(body + 2),
                rate: b.readUInt32LE(body + 4),
                bits: b.readUInt16LE(body + 14),
            };
            if (fmt.format === 0xfffe && size >= 26) // WAVE_FORMAT_EXTENSIBLE: the sub-format
                fmt.format = b.readUInt16LE(body + 24);
        } else if (id === 'data') {
            data = b.subarray(body, body + size);
        }
        at = body + size + (size & 1);
    }
    if (!fmt || !data)
        throw new Error(`${path}: no fmt or data chunk`);
    const width = fmt.bits / 8;
    const frames = Math.floor(data.length / (width * fmt.channels));
    const samples = new Float32Array(frames);
    const read = fmt.format === 3 ? (o) => data.readFloatLE(o)
               : fmt.bits === 16 ? (o) => data.readInt16LE(o) / 32768
               : fmt.bits === 24 ? (o) => data.readIntLE(o, 3) / 8388608
               : fmt.bits === 32 ? (o) => data.readInt32LE(o) / 2147483648
               : null;
    if (!read)
        throw new Error(`${path}: unsupported WAV format ${fmt.format}/${fmt.bits} bits`);
    for (let i = 0; i < frames; ++i) {
        let sum = 0;
        for (let c = 0; c < fmt.channels; ++c)
            sum += read((i * fmt.channels + c) * width);
        samples[i] = sum / fmt.channels;
    }
    return {rate: fmt.rate, samples};
}

/// Amplitude of the `frequency` component of x[start, start+n), by a Hann-windowed Goertzel
/// filter, scaled so that a full-scale sine of that frequency gives ~1.
export function tone_amplitude(x, start, n, frequency, rate) {
    const w = 2 * Math.PI * frequency / rate;
    const coeff = 2 * Math.cos(w);
    let s1 = 0, s2 = 0, gain = 0;
    for (let i = 0; i < n; ++i) {
        const hann = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / (n - 1));
        gain += hann;
        const s0 = x[start + i] * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    return 2 * Math.sqrt(Math.max(power, 0)) / gain;
}

/// RMS of x[start, start+n).
export function rms(x, start, n) {
    let sum = 0;
    for (let i = start; i < start + n; ++i)
        sum += x[i] * x[i];
    return Math.sqrt(sum / n);
}

/// Cuts the signal into windows of `window_s` and measures each: {t, rms, [label]: amplitude}
/// for every named frequency.
export function analyse(wav, frequencies, window_s = 0.1) {
    const n = Math.round(window_s * wav.rate);
    const out = [];
    for (let start = 0; start + n <= wav.samples.length; start += n) {
        const row = {t: start / wav.rate, rms: rms(wav.samples, start, n)};
        for (const [label, f] of Object.entries(frequencies))
            row[label] = tone_amplitude(wav.samples, start, n, f, wav.rate);
        out.push(row);
    }
    return out;
}

export const midi_hz = (key) => 440 * 2 ** ((key - 69) / 12);
export const db = (x) => (x > 0 ? 20 * Math.log10(x) : -Infinity);
