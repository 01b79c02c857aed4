// Talk-back end to end: the conductor holds the console's button while Chromium's fake
// microphone plays a 660 Hz tone; a performer's real client writes the mix it heard, and the
// server records the audience mix. By pitch analysis the tone is in the performer's mix, for
// as long as the button was held (and, for a take "played at +N s", N s later), and nowhere in
// the audience mix, which still carries the performer's note.
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {after, before, test} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';

import {analyse, db, midi_hz, read_wav, write_tone_wav} from './lib/audio.mjs';
import {console_join, launch_chromium, program, require_chromium, run, scratch_dir, start_server,
        stop, watch_errors, within} from './lib/harness.mjs';

require_chromium();

const k_tone_hz = 660;
const k_key = 60; // the performer's note: C4, 261.6 Hz; no harmonic of it is near 660 Hz
const k_first_take_ms = 2000;
const k_second_take_ms = 1000;
const k_second_take_delay_s = 1.5;
const k_window_s = 0.05;
const k_heard = 0.05;      // a 660 Hz amplitude the performer plainly hears (-26 dBFS)
const k_audience_max = 0.003; // -50 dBFS: what may leak into the audience mix (Opus noise)

const scratch = scratch_dir('talkback');
let server, browser, conductor, client, errors;
const takes = []; // {on_air_ms, released_ms, delay_s} on the wall clock
let client_started_ms = 0;

async function api_status() {
    try {
        return await (await fetch(`${server.base_url}/api/status`)).json();
    } catch {
        return {};
    }
}

before(async () => {
    write_tone_wav(scratch.path('tone.wav'), {frequency: k_tone_hz, seconds: 4, amplitude: 0.5});
    server = await start_server({
        codes: ['conductor:MAESTRO-talkback', 'performer:PLAYER-talkback'],
        args: ['--record', scratch.path('audience.opus')],
        cwd: scratch.dir,
    });
    browser = await launch_chromium({fake_audio: scratch.path('tone.wav')});
    conductor = await (await browser.newContext()).newPage();
    errors = watch_errors(conductor);
    await console_join(conductor, server.base_url, 'MAESTRO-talkback');
    await conductor.locator('#console-view').waitFor({state: 'visible'});

    // The performer: a real client holding a note the whole time, writing what it hears.
    client_started_ms = Date.now();
    client = run(program('GNO_CLIENT_EXE'), [
        '--server', `127.0.0.1:${server.udp_port}`, '--udp-secret-file', server.udp_secret_file, '--program', '0',
        '--play', `hold:${k_key}:11000`, '--output', scratch.path('performer.wav'), '--duration', '12',
    ], {name: 'gno-client'});
    // Playing once the node has the player and sends it audio.
    const t0 = Date.now();
    while (!((await api_status()).players >= 1)) {
        if (Date.now() - t0 > 5000)
            throw new Error(`the client never reached the node:\n${client.out.stderr}`);
        await sleep(100);
    }
    await sleep(1000);
});

after(async () => {
    if (client)
        await stop(client).catch(() => {});
    await browser?.close();
    await server?.stop().catch(() => {});
    scratch.remove();
});

// Holds the talk-back button with the mouse for `hold_ms` once the console is on air.
async function take(hold_ms, delay_s = 0) {
    await conductor.getByTestId('talkback-delay').fill(String(delay_s));
    const state = conductor.getByTestId('talkback-state');
    // The roster above the button grows and reflows as players and link figures arrive: a
    // press can land where the button was a moment ago. As a person would, press again when
    // the first press did nothing at all (the state still "idle").
    for (let attempt = 1; ; ++attempt) {
        await conductor.getByTestId('talkback-button').hover(); // scrolled into view, pointer on it
        await conductor.mouse.down();
        const went = await conductor.waitForFunction(
            () => !/^idle$/.test(document.querySelector('[data-testid="talkback-state"]').textContent),
            null, {timeout: 1000, polling: 10}).then(() => true, () => false);
        if (went)
            break;
        await conductor.mouse.up();
        if (attempt === 3)
            throw new Error(`the console did not go on air after ${attempt} presses: "${await state.textContent()}"`);
    }
    await conductor.waitForFunction(() => /^on air/.test(document.querySelector('[data-testid="talkback-state"]').textContent),
                                    null, {timeout: 5000, polling: 10})
        .catch(async () => {
            throw new Error(`the console did not go on air: "${await state.textContent()}"`);
        });
    const on_air_ms = Date.now();
    await sleep(hold_ms);
    await conductor.mouse.up();
    const released_ms = Date.now();
    await conductor.waitForFunction(() => !/^(on air|finishing)/.test(document.querySelector('[data-testid="talkback-state"]').textContent),
                                    null, {timeout: 3000, polling: 10});
    const after_release = await state.textContent();
    assert.equal(after_release, 'idle', `talk-back: "${after_release}"; ${await conductor.getByTestId('server-error').textContent()}`);
    takes.push({on_air_ms, released_ms, delay_s});
    // The server took the take: no refusal on the console, and PCM arrived.
    assert.equal(await conductor.getByTestId('server-error').isVisible(), false,
                 await conductor.getByTestId('server-error').textContent());
}

test('holding the button puts the console on air, releasing ends the take', async () => {
    const before_status = await api_status();
    await take(k_first_take_ms);
    assert.equal(await conductor.getByTestId('talkback-button').getAttribute('aria-pressed'), 'false');
    // The console sent about as much PCM as the button was held (48 kHz mono).
    const status = await api_status();
    const frames = (status.talkback_frames ?? 0) - (before_status.talkback_frames ?? 0);
    assert.ok(frames > 0, `the server mixed no talk-back frames: ${JSON.stringify(status)}`);
});

test(`a take can be played at +${k_second_take_delay_s} s`, async () => {
    await sleep(1500);
    await take(k_second_take_ms, k_second_take_delay_s);
    await sleep(k_second_take_delay_s * 1000 + 500); // let it play before the client stops
});

// ---- analysis, once the client and the server have finished their files -------------------

let performer, audience;

async function finish_recordings() {
    if (performer)
        return;
    const code = await within(client.exited, 20000);
    assert.equal(code, 0, `gno-client: ${code}\n${client.out.stderr}`);
    client = null;
    const status = await api_status();
    assert.equal(await server.stop(), 0, server.proc.out.stderr);
    const dec = spawnSync('opusdec', ['--quiet', '--rate', '48000', scratch.path('audience.opus'), scratch.path('audience.wav')],
                          {encoding: 'utf8'});
    assert.equal(dec.status, 0, `opusdec: ${dec.stderr}`);
    const freqs = {tone: k_tone_hz, note: midi_hz(k_key)};
    performer = {wav: read_wav(scratch.path('performer.wav')), status};
    performer.windows = analyse(performer.wav, freqs, k_window_s);
    audience = {wav: read_wav(scratch.path('audience.wav'))};
    audience.windows = analyse(audience.wav, freqs, k_window_s);
}

// Runs of windows where the tone is plainly heard (one quiet window inside a run is bridged).
function tone_segments(windows) {
    const segments = [];
    let current = null, gap = 0;
    for (const w of windows) {
        if (w.tone >= k_heard) {
            if (!current) {
                current = {start: w.t, end: w.t + k_window_s, peak: 0};
                segments.push(current);
            }
            current.end = w.t + k_window_s;
            current.peak = Math.max(current.peak, w.tone);
            gap = 0;
        } else if (current && ++gap > 1) {
            current = null;
        }
    }
    return segments.filter((s) => s.end - s.start >= 0.2);
}

const describe = (windows) => windows.filter((_, i) => i % 4 === 0)
    .map((w) => `${w.t.toFixed(2)}s rms ${db(w.rms).toFixed(0)} tone ${db(w.tone).toFixed(0)} note ${db(w.note).toFixed(0)} dB`).join('\n');

test("the performer's mix carries the tone for as long as each take", async (t) => {
    await finish_recordings();
    const segments = tone_segments(performer.windows);
    t.diagnostic(`heard ${segments.map((s) => `${s.start.toFixed(2)}..${s.end.toFixed(2)} s at ${db(s.peak).toFixed(1)} dBFS`).join(', ')}; ` +
                 `held ${takes.map((k) => ((k.released_ms - k.on_air_ms) / 1000).toFixed(2)).join(', ')} s`);
    const why = `segments ${JSON.stringify(segments)}; takes ${JSON.stringify(takes)}; server ${JSON.stringify(performer.status)}\n${describe(performer.windows)}`;
    assert.equal(segments.length, 2, `expected two talk-back takes in the performer's mix: ${why}`);
    const [first, second] = segments;
    const held = takes.map((t) => (t.released_ms - t.on_air_ms) / 1000);
    assert.ok(Math.abs(first.end - first.start - held[0]) < 0.35, `first take ${first.end - first.start} s, held ${held[0]} s: ${why}`);
    assert.ok(Math.abs(second.end - second.start - held[1]) < 0.35, `second take ${second.end - second.start} s, held ${held[1]} s: ${why}`);
    // The performer's own note is in the mix too, so the file is the real mix, not a copy.
    assert.ok(Math.max(...performer.windows.map((w) => w.note)) > 0.01, `no note in the performer's mix: ${why}`);
});

test(`the delayed take starts ${k_second_take_delay_s} s after it was pressed`, async (t) => {
    await finish_recordings();
    const segments = tone_segments(performer.windows);
    assert.equal(segments.length, 2);
    // Relative timing only: the WAV's and the wall clock's origins differ.
    const heard_apart = segments[1].start - segments[0].start;
    const pressed_apart = (takes[1].on_air_ms - takes[0].on_air_ms) / 1000 + k_second_take_delay_s;
    t.diagnostic(`heard ${heard_apart.toFixed(2)} s apart, expected ${pressed_apart.toFixed(2)} s`);
    assert.ok(Math.abs(heard_apart - pressed_apart) < 0.3,
              `takes heard ${heard_apart.toFixed(2)} s apart; pressed ${pressed_apart.toFixed(2)} s apart with the delay`);
});

test('the audience mix has the note and no talk-back', async (t) => {
    await finish_recordings();
    const loudest_tone = Math.max(...audience.windows.map((w) => w.tone));
    const loudest_note = Math.max(...audience.windows.map((w) => w.note));
    t.diagnostic(`audience: 660 Hz at most ${db(loudest_tone).toFixed(1)} dBFS, note at most ${db(loudest_note).toFixed(1)} dBFS`);
    const why = describe(audience.windows);
    assert.ok(loudest_note > 0.01, `the audience recording has no note (${db(loudest_note).toFixed(1)} dB): ${why}`);
    assert.ok(loudest_tone < k_audience_max,
              `660 Hz in the audience mix at ${db(loudest_tone).toFixed(1)} dBFS: ${why}`);
});

test('the console page raised no errors', () => {
    assert.deepEqual(errors, []);
});
