// The roster: who has joined, with live link statistics, and what the conductor can do to
// each player (mute, solo, kick).
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {console_join, launch_chromium, open_peer, peer_closed, peer_send, peer_wait, program,
        require_chromium, run, scratch_dir, start_server, stop, watch_errors} from './lib/harness.mjs';

require_chromium();

const conductor_code = 'MAESTRO-roster';
const performer_code = 'PLAYER-roster';
const scratch = scratch_dir('roster');
let server, browser, conductor, performer, welcome, errors, client;

before(async () => {
    server = await start_server({codes: [`conductor:${conductor_code}`, `performer:${performer_code}:40`]});
    browser = await launch_chromium();
    conductor = await (await browser.newContext()).newPage();
    errors = watch_errors(conductor);
    await console_join(conductor, server.base_url, conductor_code);
    await conductor.locator('#console-view').waitFor({state: 'visible'});
    performer = await (await browser.newContext()).newPage();
    welcome = await open_peer(performer, server.base_url, {code: performer_code, role: 'performer', name: 'Clara Schumann'});
    assert.equal(welcome.type, 'welcome');
});

after(async () => {
    if (client)
        await stop(client).catch(() => {});
    await browser?.close();
    await server?.stop();
    scratch.remove();
});

const row_of = (name) => conductor.locator(`[data-testid="roster-row"][data-name="${name}"]`);
const cell = (name, col) => row_of(name).locator(`[data-col="${col}"]`);

test('a joined performer appears with its name, section and program', async () => {
    await row_of('Clara Schumann').waitFor({timeout: 5000});
    assert.equal(await cell('Clara Schumann', 'role').textContent(), 'performer');
    assert.equal(await cell('Clara Schumann', 'section').textContent(), 'strings');
    assert.equal(await cell('Clara Schumann', 'program').textContent(), '40');
    assert.equal(await row_of('Clara Schumann').getAttribute('data-player'), String(welcome.player));
    // The conductor is on the roster too, without a kick button for itself.
    await row_of('Maestro').waitFor();
    assert.equal(await row_of('Maestro').getByTestId('roster-kick').count(), 0);
    await conductor.getByTestId('roster-count').filter({hasText: '1 performer'}).waitFor();
});

test("the performer's link statistics come in once its client plays", async () => {
    // The performer's audio client, on the session its WebSocket was given.
    client = run(program('GNO_CLIENT_EXE'), [
        '--server', `127.0.0.1:${server.udp_port}`, '--session', String(welcome.player),
        '--udp-secret-file', server.udp_secret_file,
        '--program', '40', '--play', 'hold:67:4000', '--output', scratch.path('performer.wav'), '--duration', '30',
    ], {name: 'gno-client'});
    // RTT turns from "no link" into a number of milliseconds.
    await conductor.waitForFunction(() => {
        const row = document.querySelector('[data-testid="roster-row"][data-name="Clara Schumann"]');
        const rtt = row?.querySelector('[data-col="rtt_ms"]').textContent;
        return rtt && /^\d+\.\d$/.test(rtt);
    }, null, {timeout: 10000}).catch(async (e) => {
        throw new Error(`no link statistics within 10 s; the row reads "${await row_of('Clara Schumann').innerText()}"`, {cause: e});
    });
    for (const col of ['loss_up_pct', 'loss_down_pct', 'jitter_ms'])
        assert.match(await cell('Clara Schumann', col).textContent(), /^\d+\.\d$/, col);
    assert.match(await cell('Clara Schumann', 'late_events').textContent(), /^\d+$/);
});

test('mute and unmute from the roster', async () => {
    await row_of('Clara Schumann').getByTestId('roster-mute').click();
    await peer_wait(performer, {type: 'mute', player: welcome.player, muted: true});
    await cell('Clara Schumann', 'muted').filter({hasText: 'muted'}).waitFor();
    await row_of('Clara Schumann').getByTestId('roster-mute').filter({hasText: 'Unmute'}).click();
    await peer_wait(performer, {type: 'mute', player: welcome.player, muted: false});
    await conductor.waitForFunction(() =>
        document.querySelector('[data-testid="roster-row"][data-name="Clara Schumann"] [data-col="muted"]').textContent === '');
});

test('a solo request waits in the queue until the conductor grants it', async () => {
    await peer_send(performer, {type: 'solo_request'});
    const queued = conductor.getByTestId('solo-queue').locator('li', {hasText: 'Clara Schumann'});
    await queued.waitFor({timeout: 5000});
    await queued.getByTestId('solo-grant').click();
    const grant = await peer_wait(performer, {player: welcome.player, type: 'solo_grant'});
    assert.equal(grant.role, 'conductor');
    await conductor.getByTestId('soloist').filter({hasText: 'Clara Schumann'}).waitFor();
    await queued.waitFor({state: 'detached', timeout: 5000});
});

test('a kick needs a second click, then the player is gone', async () => {
    const kick = row_of('Clara Schumann').getByTestId('roster-kick');
    await kick.click();
    await conductor.waitForTimeout(300);
    assert.equal((await peer_closed(performer, 100).catch(() => null)), null, 'one click must not kick');
    await kick.click();
    await peer_wait(performer, {type: 'kick', player: welcome.player});
    await peer_closed(performer);
    await row_of('Clara Schumann').waitFor({state: 'detached', timeout: 5000});
});

test('the talk-back button stays put while twenty performers join', async () => {
    const where = () => conductor.getByTestId('talkback-button').evaluate((b) => {
        const r = b.getBoundingClientRect();
        return {top: r.top + window.scrollY, left: r.left + window.scrollX};
    });
    const before = await where();
    const crowd = await (await browser.newContext()).newPage();
    await crowd.goto(`${server.base_url}/healthz`);
    const welcomed = await crowd.evaluate(async (code) => {
        const joins = [];
        for (let i = 1; i <= 20; ++i) {
            joins.push(new Promise((resolve, reject) => {
                const ws = new WebSocket(`ws://${location.host}/ws`);
                ws.onopen = () => ws.send(JSON.stringify({v: 1, type: 'join', code, role: 'performer', name: `Player ${i}`}));
                ws.onmessage = (e) => resolve(JSON.parse(e.data).type);
                ws.onerror = () => reject(new Error('WebSocket failed'));
            }));
        }
        return Promise.all(joins);
    }, performer_code);
    assert.deepEqual(welcomed, Array(20).fill('welcome'));
    await row_of('Player 20').waitFor({timeout: 5000});
    assert.deepEqual(await where(), before, 'the talk-back button moved as the roster grew');
    // The roster scrolls within its panel: its last row can be brought into view there.
    await row_of('Player 20').scrollIntoViewIfNeeded();
    assert.ok(await row_of('Player 20').isVisible());
    await crowd.close();
});

test('the console page raised no errors', () => {
    assert.deepEqual(errors, []);
});
