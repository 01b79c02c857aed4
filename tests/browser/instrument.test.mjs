// The performer's instrument panel (issue 7), on gno-client's own page: the drum kit and the
// articulation chosen there reach the server (the client's status echoes what its key states
// carry, and the page shows it), and what is heard proves it: a snare on the GM kit is a short
// percussive hit, a held organ note in the short articulation decays while the key is down, the
// same note sustained lasts until its release (decay measured in the client's decoded output).
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {after, before, test} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';

import {db, read_wav, rms} from './lib/audio.mjs';
import {launch_chromium, require_chromium, scratch_dir, start_client, start_server,
        watch_errors} from './lib/harness.mjs';

require_chromium();

const performer_code = 'PLAYER-instrument';
const scratch = scratch_dir('instrument');
const wav = scratch.path('heard.wav');
const status = scratch.path('status.jsonl');
let server, client, browser, page, errors;

before(async () => {
    server = await start_server({codes: [`performer:${performer_code}`]});
    client = await start_client(server, [
        '--join-code', performer_code, '--name', 'Drums', '--program', '19', '--play', 'midi',
        '--output', wav, '--duration', '300', '--ui-port', '0', '--status', status]);
    browser = await launch_chromium();
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

/// The instrument in the client's latest --status line: what its key states carry now.
function client_status() {
    const lines = readFileSync(status, 'utf8').trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]);
    return {program: last.program, bank: last.bank, articulation: last.articulation};
}

/// Waits (up to 2 s: the status file is written every 100 ms) for the client's key states to
/// carry `want`; fails with what they carry.
async function client_sends(want) {
    const deadline = Date.now() + 2000;
    for (;;) {
        const got = client_status();
        if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline)
            return assert.deepEqual(got, want);
        await sleep(50);
    }
}

function in_force(fields) {
    const attrs = Object.entries(fields).map(([k, v]) => `[data-${k}="${v}"]`).join('');
    return page.locator(`[data-testid="instrument-state"]${attrs}`).waitFor({timeout: 5000});
}

/// Holds a computer key for `ms`, then leaves `gap_ms` for the sound to end.
async function hold(code, ms = 1500, gap_ms = 1500) {
    await page.keyboard.down(code);
    await sleep(ms);
    await page.keyboard.up(code);
    await sleep(gap_ms);
}

test('the panel lists the GM programs and shows the instrument the client sends', async () => {
    await in_force({program: 19, bank: 0, kit: false, articulation: 'sustained'});
    assert.match(await page.getByTestId('instrument-state').textContent(), /Church Organ/);
    assert.equal(await page.getByTestId('program').inputValue(), '19');
    assert.equal(await page.locator('#program optgroup').count(), 16);
    assert.equal(await page.locator('#program option').count(), 128);
    assert.equal(await page.locator('#program option[value="48"]').textContent(), 'String Ensemble 1');
    assert.equal(await page.getByTestId('drum-kit').getAttribute('aria-pressed'), 'false');
    assert.ok(await page.getByTestId('kit').isHidden());
});

test('the drum kit chosen on the page is in force: the client echoes bank 128', async () => {
    await page.getByTestId('drum-kit').click();
    await in_force({program: 0, bank: 128, kit: true});
    assert.match(await page.getByTestId('instrument-state').textContent(), /Standard drum kit/);
    assert.ok(await page.getByTestId('kit').isVisible());
    assert.ok(await page.getByTestId('program').isHidden());
    await client_sends({program: 0, bank: 128, articulation: 'sustained'});
    // The snare: two octaves down from C4, D is key 38 on the GM kit.
    await page.keyboard.press('KeyZ');
    await page.keyboard.press('KeyZ');
    assert.equal(await page.getByTestId('octave').textContent(), 'C2');
    await hold('KeyD');
});

test('back to an organ in the short articulation, then sustained', async () => {
    await page.getByTestId('drum-kit').click();
    await in_force({program: 19, bank: 0, kit: false});
    await page.getByTestId('program').selectOption('16'); // drawbar organ: no decay of its own
    await in_force({program: 16, bank: 0});
    await page.getByTestId('articulation-short').click();
    await in_force({program: 16, articulation: 'short'});
    assert.equal(await page.getByTestId('articulation-short').getAttribute('aria-pressed'), 'true');
    await client_sends({program: 16, bank: 0, articulation: 'short'});
    await hold('KeyA'); // C2, held 1.5 s
    await page.getByTestId('articulation-sustained').click();
    await in_force({program: 16, articulation: 'sustained'});
    await hold('KeyA');
});

test('junk instrument messages are answered with errors and change nothing', async () => {
    const answers = await page.evaluate(async () => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        const got = [];
        ws.onmessage = (e) => got.push(JSON.parse(e.data));
        await new Promise((r) => (ws.onopen = r));
        for (const junk of ['{"type":"program","program":128}', '{"type":"program","program":"5"}',
                            '{"type":"program","program":5,"kit":"yes"}',
                            '{"type":"articulation","articulation":"legato"}',
                            '{"type":"articulation"}'])
            ws.send(junk);
        await new Promise((r) => setTimeout(r, 500));
        ws.close();
        return got.filter((m) => m.type === 'error').map((m) => m.message);
    });
    assert.equal(answers.length, 5, `one error per junk message: ${JSON.stringify(answers)}`);
    await sleep(300);
    await in_force({program: 16, bank: 0, articulation: 'sustained'});
    await client_sends({program: 16, bank: 0, articulation: 'sustained'});
    assert.deepEqual(errors, []);
});

/// The sounds of a recording: runs of 5 ms windows above -65 dBFS, split by 400 ms of quiet;
/// for each, the seconds from its onset (first window within 20 dB of its peak) to 40 dB below
/// its peak (null: it never got there).
function sounds(heard) {
    const n = Math.round(0.005 * heard.rate);
    const env = [];
    for (let s = 0; s + n <= heard.samples.length; s += n)
        env.push(db(rms(heard.samples, s, n)));
    const runs = [];
    let quiet = Infinity;
    env.forEach((level, i) => {
        if (level > -65) {
            if (quiet >= 80)
                runs.push({from: i, to: i});
            runs[runs.length - 1].to = i;
            quiet = 0;
        } else {
            ++quiet;
        }
    });
    return runs.map(({from}, r) => {
        // Up to the next sound: the decay goes below the threshold that found this one.
        const w = env.slice(from, r + 1 < runs.length ? runs[r + 1].from : env.length);
        const peak = Math.max(...w);
        const top = w.indexOf(peak);
        const onset = w.findIndex((x) => x >= peak - 20);
        const decayed = w.findIndex((x, i) => i > top && x <= peak - 40);
        return {at_s: from * 0.005, peak_dbfs: peak,
                decay_s: decayed < 0 ? null : (decayed - onset) * 0.005};
    });
}

test('heard: the snare is a short hit, the short organ decays while held, the sustained does not', async () => {
    await client.stop();
    const found = sounds(read_wav(wav));
    console.log('sounds in the client\'s output:', JSON.stringify(found));
    assert.equal(found.length, 3, 'snare, short organ, sustained organ');
    const [snare, short_organ, sustained] = found;
    for (const s of found)
        assert.ok(s.peak_dbfs > -40, `a sound at ${s.at_s} s peaks at ${s.peak_dbfs} dBFS`);
    assert.ok(snare.decay_s !== null && snare.decay_s < 0.6,
              `the snare (key held 1.5 s) takes ${snare.decay_s} s to fall 40 dB`);
    assert.ok(short_organ.decay_s !== null && short_organ.decay_s < 0.6,
              `the short organ note (key held 1.5 s) takes ${short_organ.decay_s} s to fall 40 dB`);
    assert.ok(sustained.decay_s === null || sustained.decay_s > 1.3,
              `the sustained organ note falls 40 dB after ${sustained.decay_s} s (held 1.5 s)`);
});
