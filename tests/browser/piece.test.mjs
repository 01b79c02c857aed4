// Piece and timing controls (DESIGN.md section 4): the console announces a start "in N s" and
// a mode/tempo/cycle change; every performer hears of both, at the server's time.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {console_join, explained, launch_chromium, open_peer, peer_wait, require_chromium,
        start_server, watch_errors} from './lib/harness.mjs';

require_chromium();

let server, browser, conductor, performer, welcome, welcome_ms, errors;

before(async () => {
    server = await start_server({codes: ['conductor:MAESTRO-piece', 'performer:PLAYER-piece']});
    browser = await launch_chromium();
    performer = await (await browser.newContext()).newPage();
    welcome = await open_peer(performer, server.base_url, {code: 'PLAYER-piece', role: 'performer', name: 'Cello', program: 42});
    welcome_ms = Date.now();
    assert.equal(welcome.type, 'welcome');
    conductor = await (await browser.newContext()).newPage();
    errors = watch_errors(conductor);
    await console_join(conductor, server.base_url, 'MAESTRO-piece');
    await conductor.locator('#console-view').waitFor({state: 'visible'});
});

after(async () => {
    await browser?.close();
    await server?.stop();
});

test('a piece announced to start in 5 s reaches the performers with its server time', async () => {
    await conductor.getByTestId('piece-name').fill('Nocturne');
    await conductor.getByTestId('piece-start-in').fill('5');
    const sent_ms = Date.now();
    await conductor.getByTestId('piece-start').click();
    const piece = await explained(conductor, () => peer_wait(performer, {type: 'piece', name: 'Nocturne'}));
    // start_ns is on the server's timeline, about 5 s after now (the welcome's server time
    // plus the time since it).
    const now_server_ns = welcome.server_time_ns + (Date.now() - welcome_ms) * 1e6;
    const ahead_s = (piece.start_ns - now_server_ns) / 1e9;
    assert.ok(ahead_s > 3.5 && ahead_s <= 5.2, `the piece starts ${ahead_s} s ahead`);
    assert.ok(Number.isInteger(piece.start_sample) && piece.start_sample > 0);
    await conductor.getByTestId('piece-status').filter({hasText: /Nocturne.*starts in [345] s/}).waitFor();
    assert.ok(Date.now() - sent_ms < 3000);
});

test('a timing change reaches the performers and the console', async () => {
    await conductor.getByTestId('timing-mode').selectOption('one-cycle');
    await conductor.getByTestId('timing-tempo').fill('90');
    await conductor.getByTestId('timing-cycle').fill('8');
    await conductor.getByTestId('timing-apply').click();
    await explained(conductor, () => peer_wait(performer, {type: 'timing', mode: 'one-cycle', tempo_bpm: 90, cycle_beats: 8}));
    await conductor.getByTestId('timing-status').filter({hasText: 'one-cycle, 90 BPM, 8-beat cycle'}).waitFor();
});

test('the console page raised no errors', () => {
    assert.deepEqual(errors, []);
});
