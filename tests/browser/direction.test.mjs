// The conductor directs a section from the console: a musical-language image and cues reach
// the performers of that section (their WebSockets), and only them.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {console_join, launch_chromium, open_peer, peer_messages, peer_wait, require_chromium,
        start_server, watch_errors} from './lib/harness.mjs';

require_chromium();

const conductor_code = 'MAESTRO-direction';
const performer_code = 'PLAYER-direction';
let server, browser, conductor, strings, piano, errors;

before(async () => {
    server = await start_server({codes: [`conductor:${conductor_code}`, `performer:${performer_code}`]});
    browser = await launch_chromium();
    // Performers in their own context, as on their own machines.
    const players = await browser.newContext();
    strings = await players.newPage();
    piano = await players.newPage();
    const violin = await open_peer(strings, server.base_url, {code: performer_code, role: 'performer', name: 'Violin', program: 40});
    assert.equal(violin.type, 'welcome');
    assert.equal(violin.section, 'strings');
    const pianist = await open_peer(piano, server.base_url, {code: performer_code, role: 'performer', name: 'Piano', program: 0});
    assert.equal(pianist.section, 'piano');

    conductor = await (await browser.newContext()).newPage();
    errors = watch_errors(conductor);
    await console_join(conductor, server.base_url, conductor_code);
    await conductor.locator('#console-view').waitFor({state: 'visible'});
});

after(async () => {
    await browser?.close();
    await server?.stop();
});

test('the palette shows one drawing per musical-language image', async () => {
    const names = await conductor.getByTestId('image-palette').locator('button[data-image]')
        .evaluateAll((bs) => bs.map((b) => b.dataset.image));
    assert.deepEqual(names, ['sustain', 'pulse', 'swell', 'fade', 'pointillism', 'tremolo', 'glissando', 'silence']);
    // Every drawing is served by the node and loads (no external URL anywhere).
    const loaded = await conductor.getByTestId('image-palette').locator('img')
        .evaluateAll((imgs) => Promise.all(imgs.map((img) => img.decode().then(() => img.naturalWidth > 0, () => false))));
    assert.deepEqual(loaded, names.map(() => true));
    const sections = await conductor.getByTestId('section-picker').locator('option')
        .evaluateAll((os) => os.map((o) => o.value));
    assert.equal(sections.length, 18);
    assert.equal(sections[0], 'all');
    assert.ok(sections.includes('strings') && sections.includes('drums'));
});

test('an image selected for a section reaches its performers only', async () => {
    await conductor.getByTestId('section-picker').selectOption('strings');
    await conductor.getByTestId('image-swell').click();
    const got = await peer_wait(strings, {type: 'image', section: 'strings', image: 'swell'});
    assert.equal(got.role, 'conductor');
    // The console marks what the section now sees, from the server's echo.
    await conductor.locator('[data-testid="image-swell"][aria-pressed="true"]').waitFor();
    await conductor.getByTestId('image-status').filter({hasText: 'swell'}).waitFor();
});

test('cues reach the picked section with their values', async () => {
    await conductor.getByTestId('cue-intensity').fill('0.8');
    await conductor.getByTestId('cue-intensity-send').click();
    const intensity = await peer_wait(strings, {type: 'cue', section: 'strings', intensity: 0.8});
    assert.equal(intensity.register, undefined);

    await conductor.getByTestId('cue-register-high').click();
    await peer_wait(strings, {type: 'cue', section: 'strings', register: 'high'});

    await conductor.getByTestId('cue-point-fermata').click();
    await peer_wait(strings, {type: 'cue', section: 'strings', point: 'fermata'});

    await conductor.getByTestId('cue-point-custom').fill('bar 32');
    await conductor.getByTestId('cue-point-custom-send').click();
    await peer_wait(strings, {type: 'cue', section: 'strings', point: 'bar 32'});
    await conductor.getByTestId('cue-status').filter({hasText: 'bar 32'}).waitFor();
});

test('a performer in another section gets nothing meant for the strings', async () => {
    // A cue to everyone, sent after the strings' messages: once the piano has it, it would
    // have had the earlier ones too (one connection delivers in order).
    await conductor.getByTestId('section-picker').selectOption('all');
    await conductor.getByTestId('cue-point-A').click();
    await peer_wait(piano, {type: 'cue', section: 'all', point: 'A'});
    await peer_wait(strings, {type: 'cue', section: 'all', point: 'A'});
    const leaked = (await peer_messages(piano)).filter((m) => m.section === 'strings');
    assert.deepEqual(leaked, []);

    await conductor.getByTestId('image-silence').click();
    await peer_wait(piano, {type: 'image', section: 'all', image: 'silence'});
    await peer_wait(strings, {type: 'image', section: 'all', image: 'silence'});
});

test('the console page raised no errors', () => {
    assert.deepEqual(errors, []);
});
