// The conductor's console: one WebSocket to the node's /ws, speaking the control protocol
// documented at the top of proto/include/gno/proto/v1/control.hpp. Plain DOM code, no build
// step, nothing fetched from elsewhere. Whatever the server sends is shown with textContent,
// never parsed as HTML: names and chat come from other people.
'use strict';

(() => {
    const k_version = 1;
    const k_max_chat_bytes = 500;
    const k_max_chat_lines = 200;
    const k_error_show_ms = 8000;
    const k_kick_confirm_ms = 3000;
    const k_max_buffered_bytes = 1 << 20; // talk-back frames waiting in the socket

    const $ = (id) => document.getElementById(id);
    const el = (tag, props = {}, ...children) => {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(props)) {
            if (k === 'dataset')
                Object.assign(e.dataset, v);
            else if (k in e)
                e[k] = v;
            else
                e.setAttribute(k, v);
        }
        e.append(...children);
        return e;
    };
    const utf8_bytes = (s) => new TextEncoder().encode(s).length;

    // What the console knows; the server is the source of truth for all of it.
    const state = {
        ws: null,
        me: null,           // the welcome
        clock_offset_ns: 0, // server time - local time, from the welcome
        players: new Map(), // player id -> last roster entry
        rows: new Map(),    // player id -> <tr>
        soloist: null,
        images: new Map(),  // section -> image shown there
        piece: null,        // {name, start_local_ms}
    };

    // ---- the connection ------------------------------------------------------------------

    function send(message) {
        if (!state.ws || state.ws.readyState !== WebSocket.OPEN)
            return false;
        state.ws.send(JSON.stringify({v: k_version, ...message}));
        return true;
    }

    function set_connection(text, kind) {
        const c = $('connection');
        c.textContent = text;
        c.dataset.kind = kind;
    }

    function join(code, name) {
        const login_error = $('login-error');
        login_error.hidden = true;
        const button = document.querySelector('[data-testid="join-button"]');
        button.disabled = true;
        set_connection('Connecting...', 'pending');

        const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
        const ws = new WebSocket(`${scheme}://${location.host}/ws`);
        ws.binaryType = 'arraybuffer';
        state.ws = ws;
        let refused = null;

        ws.onopen = () => {
            const hello = {type: 'join', code, role: 'conductor'};
            if (name)
                hello.name = name;
            ws.send(JSON.stringify({v: k_version, ...hello}));
        };
        ws.onmessage = (e) => {
            if (typeof e.data !== 'string')
                return;
            let m;
            try {
                m = JSON.parse(e.data);
            } catch {
                return;
            }
            if (!state.me) {
                if (m.type === 'welcome')
                    return on_welcome(m);
                if (m.type === 'error')
                    refused = m;
                return;
            }
            on_message(m);
        };
        ws.onclose = (e) => {
            if (state.ws !== ws)
                return;
            const was_joined = state.me !== null;
            state.ws = null;
            state.me = null;
            talkback.shut('disconnected');
            button.disabled = false;
            $('console-view').hidden = true;
            $('login-view').hidden = false;
            let why;
            if (refused)
                why = refused.message || refused.code;
            else if (was_joined)
                why = `Disconnected from the server${e.reason ? ': ' + e.reason : ''}. Join again.`;
            else
                why = 'Could not reach the server.';
            login_error.textContent = why;
            login_error.dataset.code = refused ? refused.code : 'closed';
            login_error.hidden = false;
            set_connection(was_joined ? 'Disconnected' : 'Not connected', 'down');
        };
    }

    function on_welcome(w) {
        state.me = w;
        state.clock_offset_ns = Number(w.server_time_ns) - performance.now() * 1e6;
        $('login-view').hidden = true;
        $('console-view').hidden = false;
        set_connection(`${w.name} \u00b7 conductor \u00b7 ${w.mode} \u00b7 ${w.tempo_bpm} BPM`, 'up');

        const picker = $('section-picker');
        picker.replaceChildren(el('option', {value: 'all', textContent: 'all sections'}));
        for (const s of w.sections || [])
            picker.append(el('option', {value: s, textContent: s}));

        const palette = $('image-palette');
        palette.replaceChildren();
        for (const name of w.images || []) {
            palette.append(el('button', {
                type: 'button',
                className: 'image',
                title: `Show "${name}" to the section`,
                dataset: {image: name, testid: `image-${name}`},
                'aria-pressed': 'false',
            }, el('img', {src: `images/${name}.svg`, alt: ''}), el('span', {textContent: name})));
        }
        state.images.clear();
        show_images_for_section();

        $('timing-mode').value = w.mode || 'live';
        $('timing-tempo').value = w.tempo_bpm;
        $('timing-cycle').value = w.cycle_beats;
        $('chat-log').replaceChildren();
        state.players.clear();
        for (const row of state.rows.values())
            row.remove();
        state.rows.clear();
    }

    // ---- messages from the server --------------------------------------------------------

    function on_message(m) {
        switch (m.type) {
        case 'roster':
            return on_roster(m);
        case 'chat':
            return add_chat(m);
        case 'image':
            state.images.set(m.section, m.image);
            $('image-status').textContent = `${m.section}: showing "${m.image}"`;
            return show_images_for_section();
        case 'cue':
            return ($('cue-status').textContent = `Cued ${m.section}: ${describe_cue(m)}`);
        case 'piece':
            state.piece = {name: m.name, start_local_ms: (Number(m.start_ns) - state.clock_offset_ns) / 1e6};
            return show_piece();
        case 'timing':
            $('timing-status').textContent = `Now ${describe_timing(m)}`;
            if (m.mode)
                $('timing-mode').value = m.mode;
            if (m.tempo_bpm)
                $('timing-tempo').value = m.tempo_bpm;
            if (m.cycle_beats)
                $('timing-cycle').value = m.cycle_beats;
            return;
        case 'solo':
        case 'solo_grant':
            state.soloist = m.player;
            return show_solos(null);
        case 'mute': {
            const p = state.players.get(m.player);
            if (p) {
                p.muted = m.muted;
                update_row(p);
            }
            return;
        }
        case 'error':
            talkback.on_server_error(m);
            return show_error(m);
        case 'kicked':
        case 'kick':
            return show_error({code: 'kicked', message: 'This console was dismissed by the server.'});
        default:
            return; // newer messages than this page knows are ignored
        }
    }

    let error_timer = 0;
    function show_error(m) {
        const banner = $('server-error');
        banner.textContent = `${m.message || 'refused'} (${m.code})`;
        banner.dataset.code = m.code;
        banner.hidden = false;
        clearTimeout(error_timer);
        error_timer = setTimeout(() => (banner.hidden = true), k_error_show_ms);
    }

    // ---- roster -------------------------------------------------------------------------

    const roster_columns = [
        ['name', (p) => p.name],
        ['role', (p) => p.role],
        ['section', (p) => (p.role === 'performer' ? p.section : '\u2014')],
        ['program', (p) => (p.role === 'performer' ? p.program : '\u2014')],
        ['rtt_ms', (p) => link_figure(p, p.rtt_ms, 1)],
        ['loss_up_pct', (p) => link_figure(p, p.loss_up_pct, 1)],
        ['loss_down_pct', (p) => link_figure(p, p.loss_down_pct, 1)],
        ['jitter_ms', (p) => link_figure(p, p.jitter_ms, 1)],
        ['late_events', (p) => (p.role === 'performer' ? String(p.late_events) : '\u2014')],
        ['muted', (p) => (p.muted ? 'muted' : '')],
    ];
    // Link figures mean something only once the player's UDP key states arrive.
    function link_figure(p, value, digits) {
        if (p.role !== 'performer')
            return '\u2014';
        return p.udp ? Number(value).toFixed(digits) : 'no link';
    }

    function on_roster(m) {
        const seen = new Set();
        for (const p of m.players || []) {
            seen.add(p.player);
            state.players.set(p.player, p);
            update_row(p);
        }
        for (const [id, row] of state.rows) {
            if (!seen.has(id)) {
                row.remove();
                state.rows.delete(id);
                state.players.delete(id);
            }
        }
        sort_rows();
        const performers = [...state.players.values()].filter((p) => p.role === 'performer').length;
        $('roster-count').textContent = `${performers} performer${performers === 1 ? '' : 's'}, ${state.players.size} joined`;
        $('roster-empty').hidden = state.players.size > 0;
        state.soloist = m.soloist ?? null;
        show_solos(m.solo_queue || []);
    }

    // Leads first, then the orchestra section by section (in the server's order), by name.
    // Rows move only when the order changes, so a button being clicked stays put.
    function sort_rows() {
        const sections = state.me?.sections || [];
        const rank = (p) => (p.role === 'performer' ? 1 + sections.indexOf(p.section) : 0);
        const order = [...state.players.values()]
            .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name) || a.player - b.player)
            .map((p) => state.rows.get(p.player));
        const body = $('roster-body');
        if (order.some((row, i) => body.children[i] !== row))
            body.append(...order);
    }

    function update_row(p) {
        let row = state.rows.get(p.player);
        if (!row) {
            row = make_row(p);
            state.rows.set(p.player, row);
            $('roster-body').append(row);
        }
        row.dataset.name = p.name;
        row.dataset.section = p.section;
        row.classList.toggle('muted-player', !!p.muted);
        row.classList.toggle('no-link', p.role === 'performer' && !p.udp);
        row.classList.toggle('soloist', state.soloist === p.player);
        for (const [key, text] of roster_columns) {
            const cell = row.querySelector(`[data-col="${key}"]`);
            const value = String(text(p));
            if (cell.textContent !== value)
                cell.textContent = value;
        }
        const mute = row.querySelector('[data-action="mute"]');
        if (mute) {
            mute.textContent = p.muted ? 'Unmute' : 'Mute';
            mute.setAttribute('aria-pressed', p.muted ? 'true' : 'false');
        }
    }

    function make_row(p) {
        const row = el('tr', {dataset: {player: String(p.player), testid: 'roster-row'}});
        for (const [key] of roster_columns)
            row.append(el('td', {dataset: {col: key}}));
        const actions = el('div', {className: 'actions'});
        const mine = state.me && p.player === state.me.player;
        if (p.role === 'performer') {
            actions.append(
                el('button', {type: 'button', textContent: 'Mute', dataset: {action: 'mute', testid: 'roster-mute'},
                              title: 'Silence this player in every mix'}),
                el('button', {type: 'button', textContent: 'Solo', dataset: {action: 'solo', testid: 'roster-solo'},
                              title: 'Grant this player the solo'}));
        }
        if (!mine)
            actions.append(el('button', {type: 'button', textContent: 'Kick', className: 'danger',
                                         dataset: {action: 'kick', testid: 'roster-kick'},
                                         title: 'Remove from the performance (asks to confirm)'}));
        row.append(el('td', {}, actions));
        return row;
    }

    // One listener for every roster button: rows come and go every second.
    function on_roster_click(e) {
        const button = e.target.closest('button[data-action]');
        if (!button)
            return;
        const player = Number(button.closest('tr').dataset.player);
        const p = state.players.get(player);
        if (!p)
            return;
        switch (button.dataset.action) {
        case 'mute':
            return send({type: 'mute', player, muted: !p.muted});
        case 'solo':
            return send({type: 'solo_grant', player});
        case 'kick':
            // Two clicks: a kick cannot be undone.
            if (button.dataset.armed !== 'true') {
                button.dataset.armed = 'true';
                button.textContent = `Kick ${p.name}?`;
                setTimeout(() => {
                    button.dataset.armed = 'false';
                    button.textContent = 'Kick';
                }, k_kick_confirm_ms);
                return;
            }
            return send({type: 'kick', player});
        }
    }

    function player_name(id) {
        const p = state.players.get(id);
        return p ? p.name : `player ${id}`;
    }

    // ---- solos --------------------------------------------------------------------------

    function show_solos(queue) {
        $('soloist').textContent = state.soloist ? player_name(state.soloist) : 'none';
        for (const [id, row] of state.rows)
            row.classList.toggle('soloist', state.soloist === id);
        if (!queue)
            return;
        const list = $('solo-queue');
        list.replaceChildren(...queue.map((id) => el('li', {dataset: {player: String(id)}},
            el('span', {textContent: player_name(id)}),
            el('button', {type: 'button', textContent: 'Grant', dataset: {testid: 'solo-grant'},
                          onclick: () => send({type: 'solo_grant', player: id})}))));
        $('solo-empty').hidden = queue.length > 0;
    }

    // ---- images and cues ----------------------------------------------------------------

    const picked_section = () => $('section-picker').value;

    function show_images_for_section() {
        const shown = state.images.get(picked_section()) ?? state.images.get('all');
        for (const b of $('image-palette').querySelectorAll('button[data-image]'))
            b.setAttribute('aria-pressed', b.dataset.image === shown ? 'true' : 'false');
    }

    function describe_cue(m) {
        const parts = [];
        if (m.intensity !== undefined)
            parts.push(`intensity ${Number(m.intensity).toFixed(2)}`);
        if (m.register)
            parts.push(`register ${m.register}`);
        if (m.point)
            parts.push(`time point "${m.point}"`);
        return parts.join(', ');
    }

    function describe_timing(m) {
        const parts = [];
        if (m.mode)
            parts.push(m.mode);
        if (m.tempo_bpm)
            parts.push(`${m.tempo_bpm} BPM`);
        if (m.cycle_beats)
            parts.push(`${m.cycle_beats}-beat cycle`);
        return parts.join(', ');
    }

    function cue(fields) {
        send({type: 'cue', section: picked_section(), ...fields});
    }

    // ---- piece --------------------------------------------------------------------------

    function show_piece() {
        const p = state.piece;
        if (!p)
            return;
        const left = (p.start_local_ms - performance.now()) / 1000;
        const title = p.name ? `"${p.name}"` : 'The piece';
        $('piece-status').textContent = left > 0 ? `${title} starts in ${left.toFixed(0)} s`
                                                 : `${title} started ${(-left).toFixed(0)} s ago`;
    }

    // ---- chat ---------------------------------------------------------------------------

    function add_chat(m) {
        const log = $('chat-log');
        const at = new Date().toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
        log.append(el('li', {dataset: {role: m.role || '', from: String(m.from ?? '')}},
            el('time', {textContent: at}),
            el('strong', {textContent: `${m.name || 'someone'}`}),
            el('span', {className: 'role', textContent: m.role ? ` (${m.role})` : ''}),
            el('span', {className: 'text', textContent: m.text})));
        while (log.children.length > k_max_chat_lines)
            log.firstElementChild.remove();
        log.scrollTop = log.scrollHeight;
    }

    // ---- talk-back ----------------------------------------------------------------------
    // Press: open the microphone (once), send talkback_begin, then 20 ms binary frames from
    // the worklet. Release: the worklet flushes its partial chunk, then talkback_end.

    const talkback = {
        phase: 'idle', // idle | starting | on-air | stopping
        released: false,
        ctx: null,
        node: null,
        stream: null,

        say(text, kind = '') {
            const s = $('talkback-state');
            s.textContent = text;
            s.dataset.kind = kind;
            const b = $('talkback-button');
            b.setAttribute('aria-pressed', this.phase === 'idle' ? 'false' : 'true');
            b.classList.toggle('on-air', this.phase === 'on-air');
        },

        async open_microphone() {
            if (this.node)
                return;
            if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia)
                throw new Error('the browser allows the microphone only on https or at localhost/127.0.0.1');
            // In the gesture, before any await: browsers start audio only from a user action.
            this.ctx ??= new AudioContext({sampleRate: 48000, latencyHint: 'interactive'});
            const resumed = this.ctx.resume();
            const stream = await navigator.mediaDevices.getUserMedia({
                audio: {channelCount: 1, echoCancellation: false, noiseSuppression: false,
                        autoGainControl: false},
            });
            this.stream = stream; // closed by close_audio() should the rest fail
            await resumed;
            await this.ctx.audioWorklet.addModule('talkback-worklet.js');
            const node = new AudioWorkletNode(this.ctx, 'gno-talkback-capture',
                                              {numberOfInputs: 1, numberOfOutputs: 0});
            node.port.onmessage = (e) => this.on_worklet(e.data);
            this.ctx.createMediaStreamSource(stream).connect(node);
            this.node = node;
        },

        async press() {
            if (this.phase !== 'idle' || !state.me)
                return;
            this.released = false;
            this.phase = 'starting';
            this.say('opening the microphone...', 'pending');
            try {
                await this.open_microphone();
            } catch (err) {
                this.close_audio();
                this.phase = 'idle';
                return this.say(`microphone unavailable: ${err.message || err.name}`, 'error');
            }
            if (this.released) { // let go before the microphone was open
                this.phase = 'idle';
                return this.say('idle (hold the button while speaking)');
            }
            const delay_s = Number($('talkback-delay').value) || 0;
            const begin = {type: 'talkback_begin'};
            if (delay_s > 0)
                begin.at_ms = Math.round(Math.min(delay_s, 600) * 1000);
            if (!send(begin)) {
                this.phase = 'idle';
                return this.say('not connected', 'error');
            }
            this.phase = 'on-air';
            this.node.port.postMessage({record: true});
            this.say(delay_s > 0 ? `on air: performers hear it in ${delay_s} s` : 'on air', 'on');
        },

        release() {
            this.released = true;
            if (this.phase !== 'on-air')
                return;
            this.phase = 'stopping';
            this.node.port.postMessage({record: false}); // answered by {flushed: true}
            this.say('finishing...', 'pending');
        },

        on_worklet(m) {
            if (m.pcm) {
                $('talkback-level').value = m.peak;
                if ((this.phase === 'on-air' || this.phase === 'stopping') && state.ws) {
                    if (state.ws.bufferedAmount > k_max_buffered_bytes)
                        return this.say('network too slow: talk-back is breaking up', 'error');
                    state.ws.send(m.pcm);
                }
                return;
            }
            if (m.flushed && this.phase === 'stopping') {
                send({type: 'talkback_end'});
                this.phase = 'idle';
                $('talkback-level').value = 0;
                this.say('idle');
            }
        },

        // The server refused the take (another conductor talking, or no talk-back here).
        on_server_error(m) {
            if (this.phase === 'idle' || !['refused', 'busy', 'bad_state', 'bad_frame'].includes(m.code))
                return;
            this.node?.port.postMessage({record: false});
            this.phase = 'idle';
            this.say(`refused: ${m.message}`, 'error');
        },

        close_audio() {
            this.node?.port.postMessage({record: false});
            for (const track of this.stream?.getTracks() ?? [])
                track.stop();
            this.ctx?.close();
            this.node = null;
            this.stream = null;
            this.ctx = null;
        },

        // The connection is gone: stop, and let the microphone go.
        shut(why) {
            this.close_audio();
            this.phase = 'idle';
            this.say(why);
        },
    };

    function wire_talkback_button() {
        const b = $('talkback-button');
        b.addEventListener('pointerdown', (e) => {
            if (e.button !== 0)
                return;
            b.setPointerCapture(e.pointerId);
            talkback.press();
        });
        for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture'])
            b.addEventListener(ev, () => talkback.release());
        b.addEventListener('keydown', (e) => {
            if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
                e.preventDefault();
                talkback.press();
            }
        });
        b.addEventListener('keyup', (e) => {
            if (e.key === ' ' || e.key === 'Enter')
                talkback.release();
        });
        b.addEventListener('contextmenu', (e) => e.preventDefault()); // long touch
        window.addEventListener('blur', () => talkback.release());
    }

    // ---- wiring -------------------------------------------------------------------------

    function wire() {
        $('login-form').addEventListener('submit', (e) => {
            e.preventDefault();
            join($('join-code').value.trim(), $('join-name').value.trim());
        });

        $('section-picker').addEventListener('change', show_images_for_section);
        $('image-palette').addEventListener('click', (e) => {
            const b = e.target.closest('button[data-image]');
            if (b)
                send({type: 'image', section: picked_section(), image: b.dataset.image});
        });

        const intensity = $('cue-intensity');
        intensity.addEventListener('input', () => ($('cue-intensity-value').value = Number(intensity.value).toFixed(2)));
        $('cue-intensity-send').addEventListener('click', () => cue({intensity: Number(intensity.value)}));
        for (const b of document.querySelectorAll('button[data-register]'))
            b.addEventListener('click', () => cue({register: b.dataset.register}));
        for (const b of document.querySelectorAll('button[data-point]'))
            b.addEventListener('click', () => cue({point: b.dataset.point}));
        $('cue-point-form').addEventListener('submit', (e) => {
            e.preventDefault();
            const label = $('cue-point-custom').value.trim();
            if (label)
                cue({point: label});
        });

        $('piece-form').addEventListener('submit', (e) => {
            e.preventDefault();
            const seconds = Math.min(Math.max(Number($('piece-start-in').value) || 0, 0), 600);
            const piece = {type: 'piece', start_in_ms: Math.round(seconds * 1000)};
            const name = $('piece-name').value.trim();
            if (name)
                piece.name = name;
            send(piece);
        });
        $('timing-form').addEventListener('submit', (e) => {
            e.preventDefault();
            send({type: 'timing', mode: $('timing-mode').value,
                  tempo_bpm: Number($('timing-tempo').value),
                  cycle_beats: Math.round(Number($('timing-cycle').value))});
        });

        $('roster-body').addEventListener('click', on_roster_click);

        $('chat-form').addEventListener('submit', (e) => {
            e.preventDefault();
            const input = $('chat-input');
            const text = input.value.trim();
            if (!text)
                return;
            if (utf8_bytes(text) > k_max_chat_bytes)
                return show_error({code: 'too_long', message: `A message may be at most ${k_max_chat_bytes} bytes.`});
            if (send({type: 'chat', text}))
                input.value = '';
        });

        wire_talkback_button();
        setInterval(show_piece, 1000);
    }

    wire();
})();
