// A Standard MIDI File writer for the tests: format 0, one track, one tempo.
import {writeFileSync} from 'node:fs';

function vlq(n) {
    const bytes = [n & 0x7f];
    for (n >>= 7; n > 0; n >>= 7)
        bytes.unshift((n & 0x7f) | 0x80);
    return bytes;
}

/// Writes `notes` ([{start_beat, beats, key, velocity}]) at `bpm`, 480 ticks per beat.
export function write_smf(path, notes, {bpm = 120} = {}) {
    const tpq = 480;
    const events = [];
    for (const n of notes) {
        events.push({tick: Math.round(n.start_beat * tpq), bytes: [0x90, n.key, n.velocity ?? 100]});
        events.push({tick: Math.round((n.start_beat + n.beats) * tpq), bytes: [0x80, n.key, 0]});
    }
    // Note-offs before note-ons at the same tick.
    events.sort((a, b) => a.tick - b.tick || (a.bytes[0] === 0x80 ? -1 : 1) - (b.bytes[0] === 0x80 ? -1 : 1));
    const us_per_beat = Math.round(60e6 / bpm);
    const track = [0x00, 0xff, 0x51, 0x03, (us_per_beat >> 16) & 0xff, (us_per_beat >> 8) & 0xff, us_per_beat & 0xff];
    let at = 0;
    for (const e of events) {
        track.push(...vlq(e.tick - at), ...e.bytes);
        at = e.tick;
    }
    track.push(0x00, 0xff, 0x2f, 0x00);
    const header = Buffer.from([0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, (tpq >> 8) & 0xff, tpq & 0xff]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(track.length);
    writeFileSync(path, Buffer.concat([header, Buffer.from('MTrk', 'ascii'), length, Buffer.from(track)]));
}
