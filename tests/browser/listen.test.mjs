// The listener page (issue 7): headless Chromium opens /listen/ and its <audio> element plays
// the live Ogg Opus stream of the audience mix for more than 10 s, with no error.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {launch_chromium, program, require_chromium, run, scratch_dir, start_server, stop,
        watch_errors} from './lib/harness.mjs';

require_chromium();

const scratch = scratch_dir('listen');
let server, client, browser;

before(async () => {
    server = await start_server({codes: ['conductor:MAESTRO-listen', 'performer:PLAYER-listen']});
    // A performer holding a note, so the stream carries music (a silent one would play too).
    client = run(program('GNO_CLIENT_EXE'), [
        '--server', `127.0.0.1:${server.udp_port}`, '--udp-secret-file', server.udp_secret_file,
        '--play', 'hold:69:15000',
        '--output', scratch.path('performer.wav'), '--duration', '20',
    ], {name: 'gno-client'});
    browser = await launch_chromium();
});

after(async () => {
    await browser?.close();
    if (client)
        await stop(client).catch(() => {});
    await server?.stop();
    scratch.remove();
});

async function metric(name) {
    const body = await (await fetch(`${server.base_url}/metrics`)).text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
    return m ? Number(m[1]) : undefined;
}

test('the listener page plays the live stream for 10 s without an error', async () => {
    const page = await browser.newPage();
    const errors = watch_errors(page);
    await page.goto(`${server.base_url}/listen/`);
    const audio = page.locator('audio');
    assert.equal(await audio.getAttribute('src'), '/listen');
    // Playing: currentTime has started to move.
    await page.waitForFunction(() => document.querySelector('audio').currentTime > 0.2, null, {timeout: 10000});
    assert.equal(await metric('gno_listeners'), 1);
    const start = await page.evaluate(() => document.querySelector('audio').currentTime);
    const t0 = Date.now();
    const samples = [];
    while (Date.now() - t0 < 11000) {
        await new Promise((r) => setTimeout(r, 1000));
        samples.push(await page.evaluate(() => {
            const a = document.querySelector('audio');
            return {t: a.currentTime, error: a.error ? a.error.code : null, paused: a.paused};
        }));
    }
    const last = samples.at(-1);
    const advanced = last.t - start;
    for (const s of samples)
        assert.equal(s.error, null, `audio.error: ${JSON.stringify(samples)}`);
    assert.equal(last.paused, false);
    assert.ok(advanced >= 10, `currentTime advanced ${advanced.toFixed(2)} s in 11 s: ${JSON.stringify(samples)}`);
    assert.match(await page.locator('#status').textContent(), /playing/);
    assert.deepEqual(errors, []);
    await page.close();
    // The listener left: the node stops encoding for it.
    for (let i = 0; i < 20 && (await metric('gno_listeners')) !== 0; ++i)
        await new Promise((r) => setTimeout(r, 100));
    assert.equal(await metric('gno_listeners'), 0);
    assert.equal(await metric('gno_listeners_dropped_total'), 0);
});
