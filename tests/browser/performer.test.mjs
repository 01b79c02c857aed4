// The performer's page, served by gno-client on this machine: keys pressed in the page are
// heard in the client's decoded output (pitch checked), the piano-roll scrolls at the player's
// score time (checked against the server's clock), the conductor's chat and image appear, and
// junk from a page changes nothing.
import assert from 'node:assert/strict';
import {request} from 'node:http';
import {after, before, test} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';

import {analyse, db, midi_hz, read_wav} from './lib/audio.mjs';
import {launch_chromium, open_peer, peer_send, peer_wait, require_chromium, scratch_dir,
        start_client, start_server, watch_errors} from './lib/harness.mjs';
import {write_smf} from './lib/smf.mjs';

require_chromium();

const conductor_code = 'MAESTRO-performer';
const performer_code = 'PLAYER-performer';
const scratch = scratch_dir('performer');
const wav = scratch.path('heard.wav');
const part_mid = scratch.path('part.mid');
// The part on the piano-roll: four beats of C major at 120 BPM, from the piece's first beat.
const part = [60, 64, 67, 72].map((key, i) => ({start_beat: i, beats: 1, key}));
let server, client, browser, page, conductor, conductor_welcome, welcome_ms, errors;
const pressed = []; // {key, from, to} in ms of Date.now(), for the analysis

before(async () => {
    write_smf(part_mid, part, {bpm: 120});
    server = await start_server({codes: [`conductor:${conductor_code}`, `performer:${performer_code}`]});
    // Program 19 (church organ) sustains while held, so "heard while held" is a clean test.
    client = await start_client(server, [
        '--join-code', performer_code, '--name', 'Viola', '--program', '19', '--play', 'midi',
        '--output', wav, '--duration', '300', '--ui-port', '0', '--score', `smf:${part_mid}`]);
    browser = await launch_chromium();
    conductor = await (await browser.newContext()).newPage();
    conductor_welcome = await open_peer(conductor, server.base_url, {code: conductor_code, role: 'conductor', name: 'Maestro'});
    welcome_ms = await conductor.evaluate(() => window.gno.received_at[0]);
    assert.equal(conductor_welcome.type, 'welcome');
    page = await (await browser.newContext()).newPage();
    errors = watch_errors(page);
    await page.goto(client.url);
    await page.locator('[data-testid="connection"][data-state="connected"]').waitFor({timeout: 10000});
});

after(async () => {
    await browser?.close();
    await client?.stop();
    await server?.stop();
    scratch.remove();
});

/// The server's render-timeline time now, from the conductor's welcome (same machine).
function server_now_ns() {
    return conductor_welcome.server_time_ns + (Date.now() - welcome_ms) * 1e6;
}

test('the page shows the performer, the section and a live link status', async () => {
    await page.getByTestId('who').filter({hasText: 'Viola'}).waitFor();
    await page.getByTestId('section').filter({hasText: /\w+/}).waitFor();
    const rtt = await page.getByTestId('st-rtt').textContent();
    assert.match(rtt, /^\d+\.\d ms$/);
    assert.match(await page.getByTestId('st-jitter').textContent(), /frames/);
    // Loss both ways: the uplink figure comes from the node (its link message every second).
    await page.getByTestId('st-loss').filter({hasText: /^\d+\.\d % \/ \d+\.\d %$/}).waitFor({timeout: 5000});
    // The part from --score is on the piano-roll.
    assert.equal(await page.evaluate(() => window.gno.state.part.length), part.length);
});

test('keys pressed in the page are played (heard in the decoded mix after the test)', async () => {
    await sleep(1000); // a quiet second to compare with
    // The computer keyboard: A is C of the current octave (C4 = 60).
    let from = Date.now();
    await page.keyboard.down('KeyA');
    await sleep(1500);
    await page.keyboard.up('KeyA');
    pressed.push({key: 60, from, to: Date.now()});
    await sleep(1500);
    // The on-screen keyboard, with the mouse: A4 = 69.
    const a4 = page.getByTestId('key-69');
    await a4.hover();
    from = Date.now();
    await page.mouse.down();
    await page.locator('[data-testid="key-69"].down').waitFor();
    await sleep(1500);
    await page.mouse.up();
    pressed.push({key: 69, from, to: Date.now()});
    await page.locator('[data-testid="key-69"]:not(.down)').waitFor();
    await page.waitForFunction(() => window.gno.key_latency().count >= 4, null, {timeout: 5000});
    const latency = await page.evaluate(() => window.gno.key_latency());
    console.log(`key messages to gno-client: round trip p50 ${latency.p50_ms?.toFixed(2)} ms, ` +
                `p99 ${latency.p99_ms?.toFixed(2)} ms over ${latency.count}`);
    assert.ok(latency.count >= 4, 'every key message is acknowledged');
    assert.ok(latency.p50_ms < 50, `a key takes ${latency.p50_ms} ms to gno-client and back`);
    await sleep(2000); // the release tail, then silence
});

test('chat and an image from the conductor appear; the page chats back', async () => {
    await peer_send(conductor, {type: 'chat', text: 'Watch the swell at bar 5'});
    await page.getByTestId('chat-log').filter({hasText: 'Watch the swell at bar 5'}).waitFor();
    await peer_send(conductor, {type: 'image', section: 'all', image: 'swell'});
    await page.locator('[data-testid="image"][data-image="swell"]').waitFor();
    assert.equal(await page.getByTestId('image-name').textContent(), 'swell');
    // The image is the console's own drawing, served by the client.
    const loaded = await page.evaluate(() => document.getElementById('image').naturalWidth > 0);
    assert.ok(loaded, 'the image loads');
    await page.getByTestId('chat-text').fill('Ready when you are');
    await page.getByTestId('chat-send').click();
    const chat = await peer_wait(conductor, {type: 'chat', text: 'Ready when you are'});
    assert.equal(chat.name, 'Viola');
});

test('the mix sliders reach the server, which answers with the levels in force', async () => {
    await page.getByTestId('mix-own').fill('1');
    await page.getByText('Sections', {exact: true}).click(); // unfold the per-section sliders
    await page.getByTestId('mix-section-strings').fill('0.5');
    // This node runs one shared mix: it keeps the levels and says they are not heard.
    await page.locator('[data-testid="mix-state"][data-applied="false"]').waitFor({timeout: 5000});
    assert.match(await page.getByTestId('mix-state').textContent(), /not heard/);
    assert.equal(await page.getByTestId('mix-own').inputValue(), '1');
    assert.equal(await page.getByTestId('mix-section-strings').inputValue(), '0.5');
});

/// Samples the page's score position and what the server's clock says it should be:
/// score = server now + the player's advance - piece start (the status carries the advance).
async function score_error(piece) {
    const before_ms = Date.now();
    const got = await page.evaluate(() => ({
        pos: window.gno.score_position(),
        advance_ms: window.gno.state.status.advance_ms,
        mode: window.gno.state.status.mode,
    }));
    const after_ms = Date.now();
    const now_ns = server_now_ns() - (after_ms - before_ms) / 2 * 1e6;
    const expected = (now_ns - piece.start_ns) / 1e9 + got.advance_ms / 1000;
    return {...got, expected, error: got.pos - expected};
}

test('the piano-roll scrolls at the player\'s score time, in live and time-advanced modes', async () => {
    await peer_send(conductor, {type: 'piece', name: 'Etude', start_in_ms: 1000});
    const piece = await peer_wait(conductor, {type: 'piece', name: 'Etude'});
    await page.getByTestId('piece').filter({hasText: 'Etude'}).waitFor();
    await page.waitForFunction(() => window.gno.score_position() !== null, null, {timeout: 5000});
    const samples = [];
    for (let i = 0; i < 5; ++i) {
        samples.push({...(await score_error(piece)), at: Date.now()});
        await sleep(500);
    }
    for (const s of samples)
        assert.ok(Math.abs(s.error) < 0.1, `live: the page is at ${s.pos} s, the clock says ${s.expected} s`);
    const rate = (samples[4].pos - samples[0].pos) / ((samples[4].at - samples[0].at) / 1000);
    assert.ok(rate > 0.95 && rate < 1.05, `the score moves ${rate} s per second`);
    // The canvas was drawn at that position within the last animation frames.
    const drawn = await page.evaluate(() => Number(document.getElementById('roll').dataset.position) -
                                            window.gno.score_position());
    assert.ok(Math.abs(drawn) < 0.1, `the canvas lags the score by ${-drawn} s`);

    await peer_send(conductor, {type: 'timing', mode: 'time-advanced'});
    await peer_wait(conductor, {type: 'timing', mode: 'time-advanced'});
    await page.waitForFunction(() => window.gno.state.status?.mode === 'time_advanced', null, {timeout: 5000});
    await sleep(500);
    for (let i = 0; i < 3; ++i) {
        const s = await score_error(piece);
        assert.equal(s.mode, 'time_advanced');
        assert.ok(Math.abs(s.error) < 0.1,
                  `time-advanced: the page is at ${s.pos} s, the clock says ${s.expected} s (advance ${s.advance_ms} ms)`);
        await sleep(300);
    }
    // The beat indicator counts with it.
    const beat = Number(await page.getByTestId('beat').textContent());
    assert.ok(beat >= 1 && beat <= 16, `beat ${beat}`);
});

test('junk from a page is answered with errors and changes nothing', async () => {
    const answers = await page.evaluate(async () => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        const got = [];
        ws.onmessage = (e) => got.push(JSON.parse(e.data));
        await new Promise((r) => (ws.onopen = r));
        for (const junk of ['{', '[]', '{"type":"key","key":200,"down":true}', '{"type":"nope"}',
                            '{"type":"chat","text":""}', '{"type":"mix","own":7}',
                            '{"type":"key","key":60}'])
            ws.send(junk);
        ws.send(new Uint8Array([1, 2, 3]));
        await new Promise((r) => setTimeout(r, 500));
        ws.close();
        return got.filter((m) => m.type === 'error').map((m) => m.message);
    });
    assert.equal(answers.length, 8, `one error per junk message: ${JSON.stringify(answers)}`);
    assert.ok(answers.some((m) => /0-127/.test(m)));
    // An oversized frame closes that socket only.
    const closed = await page.evaluate(async () => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        await new Promise((r) => (ws.onopen = r));
        ws.send(JSON.stringify({type: 'chat', text: 'x'.repeat(10000)}));
        return new Promise((r) => (ws.onclose = (e) => r(e.code)));
    });
    // 1009 (too big); or 1006 when the close races the rest of the frame still being sent.
    assert.ok([1006, 1009].includes(closed), `closed with ${closed}`);
    // The performer's own page is still live.
    const t = await page.evaluate(() => window.gno.state.status_at);
    await page.waitForFunction((t0) => window.gno.state.status_at > t0, t, {timeout: 2000});
    assert.equal(await page.getByTestId('connection').getAttribute('data-state'), 'connected');
    assert.deepEqual(errors, []);
});

test('a WebSocket from another origin is refused (no web site can play this instrument)', async () => {
    const {port} = new URL(client.url);
    const status = await new Promise((resolve, reject) => {
        const req = request({host: '127.0.0.1', port, path: '/ws', headers: {
            Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
            'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Origin: 'http://example.com'}});
        req.on('response', (res) => resolve(res.statusCode));
        req.on('upgrade', () => resolve(101));
        req.on('error', reject);
        req.end();
    });
    assert.equal(status, 403);
});

test('what the page played is in the client\'s decoded output, at its pitch, then silence', async () => {
    await client.stop();
    const heard = read_wav(wav);
    const rows = analyse(heard, {c4: midi_hz(60), a4: midi_hz(69)}, 0.1);
    // A window "has" a pitch when its bin is above -55 dBFS and above the other pitch's (the
    // organ's detuned pipes beat, so its fundamental dips well below its peak level).
    const loud = (label, other) => rows.filter((r) => db(r[label]) > -55 && r[label] > 4 * r[other]);
    const c4 = loud('c4', 'a4');
    const a4 = loud('a4', 'c4');
    assert.ok(c4.length >= 8, `C4 (from the computer keyboard) heard in ${c4.length} windows`);
    assert.ok(a4.length >= 8, `A4 (from the clicked key) heard in ${a4.length} windows`);
    // In the order played, each at its own pitch.
    const c4_at = c4[0].t;
    const a4_at = a4[0].t;
    assert.ok(a4_at - c4_at > 2.0 && a4_at - c4_at < 4.5, `A4 ${a4_at} s after C4 ${c4_at} s`);
    // While C4 is held it dominates A4: compared over the whole hold (the organ's detuned
    // pipes beat, so a single 100 ms window can dip at the fundamental).
    const while_c4 = rows.filter((r) => r.t > c4_at + 0.2 && r.t < c4_at + 1.2);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const c4_level = mean(while_c4.map((r) => r.c4));
    const a4_level = mean(while_c4.map((r) => r.a4));
    assert.ok(c4_level > 5 * a4_level, `while C4 is held: C4 ${c4_level}, A4 ${a4_level}`);
    // Silence after the release: the organ stops within a second.
    const after_a4 = a4[a4.length - 1].t;
    const tail = rows.filter((r) => r.t > after_a4 + 1.0 && r.t < after_a4 + 2.0);
    assert.ok(tail.length > 0);
    for (const r of tail)
        assert.ok(db(r.rms) < -50, `silence ${r.t} s: ${db(r.rms)} dBFS`);
});

test('a refused join code shows on the page, and another one typed there joins', async () => {
    const wrong = await start_client(server, [
        '--join-code', 'NOT-THE-CODE', '--name', 'Cello', '--play', 'midi', '--output',
        scratch.path('cello.wav'), '--duration', '60', '--ui-port', '0']);
    try {
        const cello = await (await browser.newContext()).newPage();
        await cello.goto(wrong.url);
        await cello.locator('[data-testid="connection"][data-state="refused"]').waitFor({timeout: 10000});
        assert.match(await cello.getByTestId('join-reason').textContent(), /refused the join code/);
        assert.match(wrong.proc.out.stderr, /the server refused the join code/);
        assert.match(wrong.proc.out.stdout, /type another join code on the page/);
        await cello.getByTestId('join-code').fill(performer_code);
        await cello.getByTestId('join-button').click();
        await cello.locator('[data-testid="connection"][data-state="connected"]').waitFor({timeout: 10000});
        assert.ok(await cello.getByTestId('join-form').isHidden());
        await cello.getByTestId('section').filter({hasText: /\w+/}).waitFor();
        assert.match(wrong.proc.out.stdout, /joined as player/);
    } finally {
        await wrong.stop();
    }
});
