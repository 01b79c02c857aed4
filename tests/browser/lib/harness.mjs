// What every browser test needs: our programs (paths from CTest's environment), a gno-server
// started on free ports, Debian's Chromium driven by playwright-core, and WebSocket peers
// (performers) opened inside a page. Nothing here downloads anything.
import {spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

export const chromium_path = process.env.GNO_CHROMIUM || '/usr/bin/chromium';
export const k_skip = 77; // CTest's SKIP_RETURN_CODE

// Chromium is the one thing whose absence skips a test (deploy/setup.sh installs it).
export function require_chromium() {
    if (!existsSync(chromium_path)) {
        console.log(`SKIP: no Chromium at ${chromium_path}; deploy/setup.sh installs it (or set GNO_CHROMIUM)`);
        process.exit(k_skip);
    }
}

// playwright-core comes from `npm ci` in tests/browser; say so rather than fail obscurely.
export async function load_playwright() {
    try {
        return await import('playwright-core');
    } catch (e) {
        throw new Error(`playwright-core is not installed: run "npm ci" in tests/browser (deploy/setup.sh does) (${e.message})`);
    }
}

/// Path of one of our programs from the environment CTest sets (GNO_SERVER_EXE, GNO_CLIENT_EXE).
export function program(variable) {
    const exe = process.env[variable];
    if (!exe || !existsSync(exe))
        throw new Error(`${variable} must name the built program (CTest sets it; got "${exe ?? ''}")`);
    return exe;
}

export function scratch_dir(what) {
    const dir = mkdtempSync(join(tmpdir(), `gno-browser-${what}-`));
    return {
        dir,
        path: (name) => join(dir, name),
        remove: () => {
            if (!process.env.GNO_KEEP_ARTIFACTS)
                rmSync(dir, {recursive: true, force: true});
            else
                console.log(`artifacts kept in ${dir}`);
        },
    };
}

const children = new Set();
process.on('exit', () => {
    for (const c of children)
        c.kill('SIGKILL');
});

/// A child process whose output is kept; `exited` resolves with its exit code (or signal).
export function run(exe, args, {cwd, name = exe} = {}) {
    const child = spawn(exe, args, {cwd, stdio: ['ignore', 'pipe', 'pipe']});
    children.add(child);
    const out = {stdout: '', stderr: ''};
    child.stdout.setEncoding('utf8').on('data', (d) => (out.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (out.stderr += d));
    const exited = new Promise((resolve) => {
        child.on('exit', (code, signal) => {
            children.delete(child);
            resolve(code ?? signal);
        });
        child.on('error', (e) => {
            children.delete(child);
            out.stderr += `\ncould not start ${name}: ${e.message}`;
            resolve(-1);
        });
    });
    return {child, out, exited, name};
}

/// Resolves with `promise`'s value, or 'timeout' after `ms` (a timer that keeps no process alive).
export function within(promise, ms) {
    return Promise.race([promise, sleep(ms, 'timeout', {ref: false})]);
}

/// Stops a child with SIGINT (a clean stop: the server finalises its recording), then SIGKILL.
export async function stop(proc, grace_ms = 10000) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
        return proc.exited;
    proc.child.kill('SIGINT');
    const code = await within(proc.exited, grace_ms);
    if (code !== 'timeout')
        return code;
    proc.child.kill('SIGKILL');
    await proc.exited;
    throw new Error(`${proc.name} did not stop within ${grace_ms} ms of SIGINT`);
}

/// Starts gno-server on free ports with fixed join codes, e.g. codes: ['conductor:MAESTRO-1'].
/// Resolves once it prints its ports: {base_url, control_port, udp_port, udp_secret_file, proc,
/// stop()}. Its UDP secret is in udp_secret_file, for a client that plays without joining.
export async function start_server({codes, args = [], cwd} = {}) {
    const exe = program('GNO_SERVER_EXE');
    const udp_secret_file = join(mkdtempSync(join(tmpdir(), 'gno-secret-')), 'udp-secret');
    writeFileSync(udp_secret_file, randomBytes(32).toString('hex') + '\n', {mode: 0o600});
    const argv = ['--port', '0', '--udp-secret-file', udp_secret_file,
        ...codes.flatMap((c) => ['--join-code', c]), ...args];
    const proc = run(exe, argv, {cwd, name: 'gno-server'});
    const deadline = Date.now() + 20000;
    for (;;) {
        const udp = /listening on udp [\d.]+:(\d+)/.exec(proc.out.stdout);
        const control = /control on tcp [\d.]+:(\d+)/.exec(proc.out.stdout);
        if (udp && control && /conductor's console at/.test(proc.out.stdout)) {
            const control_port = Number(control[1]);
            return {
                proc,
                udp_port: Number(udp[1]),
                udp_secret_file,
                control_port,
                base_url: `http://127.0.0.1:${control_port}`,
                stop: () => stop(proc),
            };
        }
        if (proc.child.exitCode !== null || Date.now() > deadline) {
            proc.child.kill('SIGKILL');
            throw new Error(`gno-server did not start (${argv.join(' ')}):\n${proc.out.stdout}\n${proc.out.stderr}`);
        }
        await sleep(50);
    }
}

/// Starts gno-client against `server` (from start_server) with `args`; resolves once it prints
/// its performer page's URL: {proc, url, stop()}.
export async function start_client(server, args, {cwd} = {}) {
    const exe = program('GNO_CLIENT_EXE');
    const argv = ['--server', `127.0.0.1:${server.udp_port}`, '--control-port', String(server.control_port), ...args];
    const proc = run(exe, argv, {cwd, name: 'gno-client'});
    const deadline = Date.now() + 20000;
    for (;;) {
        const page = /performer page on (http:\/\/\S+)/.exec(proc.out.stdout);
        if (page)
            return {proc, url: page[1], stop: () => stop(proc)};
        if (proc.child.exitCode !== null || Date.now() > deadline) {
            proc.child.kill('SIGKILL');
            throw new Error(`gno-client did not serve its page (${argv.join(' ')}):\n${proc.out.stdout}\n${proc.out.stderr}`);
        }
        await sleep(50);
    }
}

/// Headless Debian Chromium, as root, offline; `fake_audio` names a WAV the fake microphone plays.
export async function launch_chromium({fake_audio} = {}) {
    const {chromium} = await load_playwright();
    const args = [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
    ];
    if (fake_audio) {
        args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
                  `--use-file-for-fake-audio-capture=${fake_audio}`);
    }
    return chromium.launch({executablePath: chromium_path, headless: true, args, timeout: 30000});
}

/// Collects a page's uncaught errors, console errors and requests that leave the node (the
/// console is served whole by the node: the machine running it may be offline).
export function watch_errors(page) {
    const errors = [];
    page.on('request', (r) => {
        const url = new URL(r.url());
        if (!['127.0.0.1', 'localhost'].includes(url.hostname) && !['data:', 'blob:'].includes(url.protocol))
            errors.push(`request to another host: ${r.url()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
        if (m.type() === 'error')
            errors.push(`console: ${m.text()}`);
    });
    return errors;
}

/// Opens the console and joins with `code` as the conductor (the form, as a person would).
export async function console_join(page, base_url, code, name = 'Maestro') {
    await page.goto(`${base_url}/console/`);
    await page.getByTestId('join-code').fill(code);
    await page.getByTestId('join-name').fill(name);
    await page.getByTestId('join-button').click();
}

/// What the console's error banner says, if anything (for a failing test's message).
export async function console_error(page) {
    const banner = page.getByTestId('server-error');
    return (await banner.isVisible()) ? `; the console shows: "${await banner.textContent()}"` : '';
}

/// Runs `action`; if it throws, adds what the console's error banner says to the message.
export async function explained(page, action) {
    try {
        return await action();
    } catch (e) {
        throw new Error(`${e.message}${await console_error(page)}`, {cause: e});
    }
}

// ---- a WebSocket peer inside a page (a performer, say) ------------------------------------

/// Opens a WebSocket from `page` to the node and sends `join`; resolves with the first answer
/// (welcome or error). Every message it receives is kept in window.gno.messages.
export async function open_peer(page, base_url, join) {
    await page.goto(`${base_url}/healthz`);
    return page.evaluate(async (join) => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        ws.binaryType = 'arraybuffer';
        // received_at[i]: Date.now() when messages[i] arrived (to relate server times to ours).
        window.gno = {ws, messages: [], received_at: [], closed: null};
        ws.onmessage = (e) => {
            if (typeof e.data === 'string') {
                window.gno.messages.push(JSON.parse(e.data));
                window.gno.received_at.push(Date.now());
            }
        };
        ws.onclose = (e) => (window.gno.closed = {code: e.code, reason: e.reason});
        await new Promise((resolve, reject) => {
            ws.onopen = resolve;
            ws.onerror = () => reject(new Error('WebSocket failed'));
        });
        ws.send(JSON.stringify({v: 1, type: 'join', ...join}));
        const t0 = Date.now();
        while (window.gno.messages.length === 0) {
            if (Date.now() - t0 > 5000)
                throw new Error('no answer to join');
            await new Promise((r) => setTimeout(r, 20));
        }
        return window.gno.messages[0];
    }, join);
}

export async function peer_send(page, message) {
    await page.evaluate((m) => window.gno.ws.send(JSON.stringify({v: 1, ...m})), message);
}

/// Waits until the peer has a message whose fields include all of `fields`; returns it.
export async function peer_wait(page, fields, timeout = 5000) {
    try {
        const handle = await page.waitForFunction(
            (f) => window.gno.messages.find((m) => Object.entries(f).every(([k, v]) => m[k] === v)),
            fields, {timeout, polling: 20});
        return handle.jsonValue();
    } catch (e) {
        const got = await page.evaluate(() => window.gno.messages.map((m) => JSON.stringify(m)));
        throw new Error(`no message like ${JSON.stringify(fields)} within ${timeout} ms; got:\n  ${got.join('\n  ')}`);
    }
}

export async function peer_messages(page) {
    return page.evaluate(() => window.gno.messages);
}

export async function peer_closed(page, timeout = 5000) {
    const handle = await page.waitForFunction(() => window.gno.closed, null, {timeout, polling: 20});
    return handle.jsonValue();
}
