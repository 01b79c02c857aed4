// Chat round-trips between the console and a performer, both ways, shown in the console.
import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {console_join, launch_chromium, open_peer, peer_send, peer_wait, require_chromium,
        start_server, watch_errors} from './lib/harness.mjs';

require_chromium();

const conductor_code = 'MAESTRO-chat';
const performer_code = 'PLAYER-chat';
let server, browser, conductor, performer, errors;

before(async () => {
    server = await start_server({codes: [`conductor:${conductor_code}`, `performer:${performer_code}`]});
    browser = await launch_chromium();
    performer = await (await browser.newContext()).newPage();
    const welcome = await open_peer(performer, server.base_url, {code: performer_code, role: 'performer', name: 'Oboe', program: 68});
    assert.equal(welcome.type, 'welcome');
    conductor = await (await browser.newContext()).newPage();
    errors = watch_errors(conductor);
    await console_join(conductor, server.base_url, conductor_code, 'Maestro');
    await conductor.locator('#console-view').waitFor({state: 'visible'});
});

after(async () => {
    await browser?.close();
    await server?.stop();
});

const chat_line = (text) => conductor.getByTestId('chat-log').locator('li', {hasText: text});

test('the conductor writes, the performer reads', async () => {
    await conductor.getByTestId('chat-input').fill('Strings, breathe before B.');
    await conductor.getByTestId('chat-send').click();
    const got = await peer_wait(performer, {type: 'chat', text: 'Strings, breathe before B.'});
    assert.equal(got.name, 'Maestro');
    assert.equal(got.role, 'conductor');
    // The console shows its own message once the server has sent it round.
    await chat_line('Strings, breathe before B.').waitFor();
    assert.equal(await conductor.getByTestId('chat-input').inputValue(), '');
});

test('the performer writes, the console shows it with the name', async () => {
    // Text that would be markup if the console used innerHTML.
    const text = 'Ready <b>when</b> you are & "listening"';
    await peer_send(performer, {type: 'chat', text});
    const line = chat_line('when</b> you are');
    await line.waitFor();
    assert.match(await line.textContent(), /Oboe/);
    assert.match(await line.textContent(), /performer/);
    assert.equal(await line.locator('b').count(), 0);
});

test('an over-long message is stopped in the page, not sent', async () => {
    await conductor.getByTestId('chat-input').evaluate((i) => {
        i.removeAttribute('maxlength');
        i.value = '\u00e9'.repeat(300); // 600 bytes of UTF-8, 300 characters
    });
    await conductor.getByTestId('chat-send').click();
    await conductor.getByTestId('server-error').filter({hasText: '500 bytes'}).waitFor();
});

test('the console page raised no errors', () => {
    assert.deepEqual(errors, []);
});
