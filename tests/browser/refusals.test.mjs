// Roles are enforced (DESIGN.md section 8): the console refuses a code of another role or no
// valid code at all, showing the server's reason; a performer may not direct the orchestra.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {console_join, launch_chromium, open_peer, peer_send, peer_wait, require_chromium,
        start_server, watch_errors} from './lib/harness.mjs';

require_chromium();

const conductor_code = 'MAESTRO-refusals';
const performer_code = 'PLAYER-refusals';
let server, browser;

before(async () => {
    server = await start_server({codes: [`conductor:${conductor_code}`, `performer:${performer_code}`]});
    browser = await launch_chromium();
});

after(async () => {
    await browser?.close();
    await server?.stop();
});

async function refused_login(code) {
    const page = await (await browser.newContext()).newPage();
    const errors = watch_errors(page);
    await console_join(page, server.base_url, code);
    const error = page.getByTestId('login-error');
    await error.waitFor({state: 'visible'});
    // The console never showed itself, and holds no roster.
    assert.equal(await page.locator('#console-view').isVisible(), false);
    assert.equal(await page.getByTestId('roster-row').count(), 0);
    // Still no roster a while later: the server closed the connection.
    await page.waitForTimeout(1500);
    assert.equal(await page.getByTestId('roster-row').count(), 0);
    assert.equal(await page.locator('#console-view').isVisible(), false);
    // A refused WebSocket is no page error; the server's reason is shown instead.
    assert.deepEqual(errors.filter((e) => !/WebSocket/.test(e)), []);
    return {text: await error.textContent(), code: await error.getAttribute('data-code'), page};
}

test("a performer's code on the console is refused with the server's reason", async () => {
    const {text, code} = await refused_login(performer_code);
    assert.equal(code, 'wrong_role');
    assert.match(text, /admits a performer, not a conductor/);
});

test('a code the node does not know is refused', async () => {
    const {text, code, page} = await refused_login('NOT-A-CODE');
    assert.equal(code, 'bad_code');
    assert.match(text, /not valid/);
    // The right code then works from the same page.
    await page.getByTestId('join-code').fill(conductor_code);
    await page.getByTestId('join-button').click();
    await page.locator('#console-view').waitFor({state: 'visible'});
    assert.equal(await page.getByTestId('login-error').isVisible(), false);
});

test('a performer may not cue, show images or talk back', async () => {
    const performer = await (await browser.newContext()).newPage();
    const welcome = await open_peer(performer, server.base_url, {code: performer_code, role: 'performer', name: 'Cheeky'});
    assert.equal(welcome.type, 'welcome');

    await peer_send(performer, {type: 'cue', section: 'all', intensity: 1});
    const cue = await peer_wait(performer, {type: 'error', code: 'forbidden'});
    assert.match(cue.message, /performer may not send cue/);

    await peer_send(performer, {type: 'image', section: 'all', image: 'silence'});
    await peer_wait(performer, {type: 'error', code: 'forbidden', message: 'a performer may not send image'});

    await peer_send(performer, {type: 'talkback_begin'});
    await peer_wait(performer, {type: 'error', code: 'forbidden', message: 'a performer may not send talkback_begin'});

    // The connection stays open for what a performer may do.
    await peer_send(performer, {type: 'chat', text: 'sorry'});
    await peer_wait(performer, {type: 'chat', text: 'sorry'});
});

test('a socket that claims the conductor role with a performer code is refused and closed', async () => {
    const page = await (await browser.newContext()).newPage();
    const answer = await open_peer(page, server.base_url, {code: performer_code, role: 'conductor'});
    assert.equal(answer.type, 'error');
    assert.equal(answer.code, 'wrong_role');
    const closed = await page.waitForFunction(() => window.gno.closed, null, {timeout: 5000});
    assert.ok(await closed.jsonValue());
});
