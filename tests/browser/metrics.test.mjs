// /metrics is valid Prometheus text format: Debian's promtool (package prometheus) checks it,
// lint included, while players are connected, and the ops endpoints answer.
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {after, before, test} from 'node:test';

import {program, run, scratch_dir, start_server, stop} from './lib/harness.mjs';

const promtool = process.env.GNO_PROMTOOL || '/usr/bin/promtool';
const scratch = scratch_dir('metrics');
let server, client;

before(async () => {
    assert.ok(existsSync(promtool), `promtool not found at ${promtool}: install Debian's prometheus package (deploy/setup.sh does)`);
    server = await start_server({codes: ['conductor:MAESTRO-metrics', 'performer:PLAYER-metrics']});
    // A performer playing, so the node has players, packets and voices to report.
    client = run(program('GNO_CLIENT_EXE'), [
        '--server', `127.0.0.1:${server.udp_port}`, '--udp-secret-file', server.udp_secret_file,
        '--play', 'hold:60:2000', '--output', scratch.path('performer.wav'),
        '--duration', '20',
    ], {name: 'gno-client'});
    await new Promise((r) => setTimeout(r, 2500));
});

after(async () => {
    if (client)
        await stop(client).catch(() => {});
    await server?.stop();
    scratch.remove();
});

async function get(path) {
    const res = await fetch(`${server.base_url}${path}`);
    return {status: res.status, type: res.headers.get('content-type'), body: await res.text()};
}

test('/metrics passes promtool check metrics', async () => {
    const m = await get('/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain; version=0\.0\.4/);
    assert.match(m.body, /^gno_players \d+$/m);
    // Every kind of rejected input is counted (the trust issue); the playing performer's
    // datagrams are keyed, so none of them has a bad tag.
    for (const name of ['gno_bad_packets_total', 'gno_bad_tags_total', 'gno_unadmitted_total', 'gno_stale_packets_total',
        'gno_replayed_packets_total', 'gno_unanswered_pings_total', 'gno_source_limited_total',
        'gno_rate_limited_total', 'gno_rejected_players_total', 'gno_rebinds_total',
        'gno_control_refused_joins_total', 'gno_control_code_full_total',
        'gno_control_bad_messages_total', 'gno_control_rate_limited_total'])
        assert.match(m.body, new RegExp(`^${name} \\d+$`, 'm'), name);
    assert.match(m.body, /^gno_bad_tags_total 0$/m);
    const check = spawnSync(promtool, ['check', 'metrics'], {input: m.body, encoding: 'utf8'});
    assert.equal(check.status, 0, `promtool check metrics failed (exit ${check.status}):\n${check.stdout}${check.stderr}`);
});

test('/healthz and /api/status answer', async () => {
    const h = await get('/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.body.trim(), 'ok');
    const s = await get('/api/status');
    assert.equal(s.status, 200);
    assert.match(s.type, /application\/json/);
    assert.equal(typeof JSON.parse(s.body), 'object');
});
