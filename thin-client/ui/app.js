// The performer's page, served by gno-client on this machine. It talks to the client over
// ws://<this host>/ws (thin-client/include/gno/client/ui_messages.hpp): it sends the keys played
// here, the instrument (program, kit, articulation), chat, the solo request and the mix; it
// receives who we are, the part, a status frame ten times a second (with the instrument in
// force), and the conductor's direction. Plain script, no build step.
'use strict';

const $ = (id) => document.getElementById(id);

// Computer keys by physical position (event.code), as on a piano: the home row is white keys,
// the row above the black ones. Offsets in semitones from the octave's C.
const KEY_MAP = {
    KeyA: 0, KeyW: 1, KeyS: 2, KeyE: 3, KeyD: 4, KeyF: 5, KeyT: 6, KeyG: 7, KeyY: 8, KeyH: 9,
    KeyU: 10, KeyJ: 11, KeyK: 12, KeyO: 13, KeyL: 14, KeyP: 15, Semicolon: 16,
};
const NOTE_NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
const BLACK = new Set([1, 3, 6, 8, 10]);
const FIRST_KEY = 48; // the on-screen keyboard: C3..C6
const LAST_KEY = 84;
const ROLL_PAST_S = 1.0; // the piano-roll shows a second behind "now" and four ahead
const ROLL_AHEAD_S = 4.0;
const FRAME_MS = 5; // one jitter-buffer frame

// The General MIDI programs (0-based, as on the wire), eight to a family.
const GM_FAMILIES = [
    ['Piano', ['Acoustic Grand Piano', 'Bright Acoustic Piano', 'Electric Grand Piano',
        'Honky-tonk Piano', 'Electric Piano 1', 'Electric Piano 2', 'Harpsichord', 'Clavinet']],
    ['Chromatic percussion', ['Celesta', 'Glockenspiel', 'Music Box', 'Vibraphone', 'Marimba',
        'Xylophone', 'Tubular Bells', 'Dulcimer']],
    ['Organ', ['Drawbar Organ', 'Percussive Organ', 'Rock Organ', 'Church Organ', 'Reed Organ',
        'Accordion', 'Harmonica', 'Tango Accordion']],
    ['Guitar', ['Acoustic Guitar (nylon)', 'Acoustic Guitar (steel)', 'Electric Guitar (jazz)',
        'Electric Guitar (clean)', 'Electric Guitar (muted)', 'Overdriven Guitar',
        'Distortion Guitar', 'Guitar Harmonics']],
    ['Bass', ['Acoustic Bass', 'Electric Bass (finger)', 'Electric Bass (pick)', 'Fretless Bass',
        'Slap Bass 1', 'Slap Bass 2', 'Synth Bass 1', 'Synth Bass 2']],
    ['Strings', ['Violin', 'Viola', 'Cello', 'Contrabass', 'Tremolo Strings', 'Pizzicato Strings',
        'Orchestral Harp', 'Timpani']],
    ['Ensemble', ['String Ensemble 1', 'String Ensemble 2', 'Synth Strings 1', 'Synth Strings 2',
        'Choir Aahs', 'Voice Oohs', 'Synth Voice', 'Orchestra Hit']],
    ['Brass', ['Trumpet', 'Trombone', 'Tuba', 'Muted Trumpet', 'French Horn', 'Brass Section',
        'Synth Brass 1', 'Synth Brass 2']],
    ['Reed', ['Soprano Sax', 'Alto Sax', 'Tenor Sax', 'Baritone Sax', 'Oboe', 'English Horn',
        'Bassoon', 'Clarinet']],
    ['Pipe', ['Piccolo', 'Flute', 'Recorder', 'Pan Flute', 'Blown Bottle', 'Shakuhachi', 'Whistle',
        'Ocarina']],
    ['Synth lead', ['Lead 1 (square)', 'Lead 2 (sawtooth)', 'Lead 3 (calliope)', 'Lead 4 (chiff)',
        'Lead 5 (charang)', 'Lead 6 (voice)', 'Lead 7 (fifths)', 'Lead 8 (bass + lead)']],
    ['Synth pad', ['Pad 1 (new age)', 'Pad 2 (warm)', 'Pad 3 (polysynth)', 'Pad 4 (choir)',
        'Pad 5 (bowed)', 'Pad 6 (metallic)', 'Pad 7 (halo)', 'Pad 8 (sweep)']],
    ['Synth effects', ['FX 1 (rain)', 'FX 2 (soundtrack)', 'FX 3 (crystal)', 'FX 4 (atmosphere)',
        'FX 5 (brightness)', 'FX 6 (goblins)', 'FX 7 (echoes)', 'FX 8 (sci-fi)']],
    ['Ethnic', ['Sitar', 'Banjo', 'Shamisen', 'Koto', 'Kalimba', 'Bagpipe', 'Fiddle', 'Shanai']],
    ['Percussive', ['Tinkle Bell', 'Agogo', 'Steel Drums', 'Woodblock', 'Taiko Drum',
        'Melodic Tom', 'Synth Drum', 'Reverse Cymbal']],
    ['Sound effects', ['Guitar Fret Noise', 'Breath Noise', 'Seashore', 'Bird Tweet',
        'Telephone Ring', 'Helicopter', 'Applause', 'Gunshot']],
];
const GM_NAMES = GM_FAMILIES.flatMap(([, names]) => names);
const PERCUSSION_BANK = 128;
// The GM percussion kits (bank 128, GS numbering): the program picks one.
const KITS = [[0, 'Standard'], [8, 'Room'], [16, 'Power'], [24, 'Electronic'], [25, 'TR-808'],
    [32, 'Jazz'], [40, 'Brush'], [48, 'Orchestra']];

const state = {
    ws: null,
    hello: null,
    status: null,
    status_at: 0, // performance.now() when the status arrived
    part: [],
    images: [],
    section: '',
    player: 0,
    octave: 4,
    held_by_code: new Map(), // event.code -> key, so an octave change releases the right key
    held: new Set(),
    next_id: 1,
    pending: new Map(), // key message id -> performance.now() at send
    latencies: [],      // local round trips, ms
    lit: new Set(),
    mix_timer: 0,
    instrument_seen: '', // the last instrument a status reported, as JSON
};

// ---------------------------------------------------------------- the link to gno-client ---

function connect() {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    state.ws = ws;
    ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        on_message(msg);
    };
    ws.onclose = () => {
        state.ws = null;
        release_all_local();
        show_connection('client_lost', 'gno-client is not running here; retrying...');
        setTimeout(connect, 1000);
    };
}

function send(msg) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN)
        state.ws.send(JSON.stringify(msg));
}

function on_message(msg) {
    switch (msg.type) {
    case 'hello': on_hello(msg); break;
    case 'status': on_status(msg); break;
    case 'key_ack': on_key_ack(msg); break;
    case 'note': light(msg.key, msg.down); break;
    default: on_event(msg); break;
    }
}

function on_hello(msg) {
    state.hello = msg;
    state.part = Array.isArray(msg.part) ? msg.part : [];
    state.images = Array.isArray(msg.images) ? msg.images : [];
    state.player = msg.player;
    state.section = msg.section || '';
    $('who').textContent = msg.name || 'Performer';
    $('section').textContent = state.section;
    build_mix_sections(Array.isArray(msg.sections) ? msg.sections : []);
    for (const e of msg.history || [])
        on_event(e);
    fit_roll_range();
    if (msg.joined)
        send({type: 'mix'}); // ask for the levels in force (the answer sets the sliders)
}

function on_event(e) {
    switch (e.type) {
    case 'welcome':
        state.player = e.player;
        state.section = e.section || '';
        $('section').textContent = state.section;
        hide_alert();
        break;
    case 'connection':
        show_connection(e.state, e.message || e.state);
        break;
    case 'chat': add_chat(e.from, e.text); break;
    case 'image': show_image(e); break;
    case 'cue': if (for_us(e.section)) $('cue').textContent = e.text || ''; break;
    case 'piece': $('piece').textContent = e.name ? `\u00b7 ${e.name}` : ''; break;
    case 'timing': break; // the status frames carry the tempo and mode in force
    case 'talkback': $('talkback').hidden = !e.on; break;
    case 'mute':
        if (e.player === state.player)
            e.muted ? show_alert('The conductor has muted you.') : hide_alert();
        break;
    case 'kick':
        if (e.player === state.player)
            show_alert('The conductor has dismissed you from the performance.');
        break;
    case 'solo':
        $('solo-state').textContent = e.player === state.player ? 'The solo is yours next.'
                                                                : `Solo to player ${e.player}.`;
        break;
    case 'mix': on_mix_echo(e); break;
    case 'error': show_alert(e.message || 'error'); break;
    default: break;
    }
}

function for_us(section) {
    return !section || section === 'all' || !state.section || section === state.section;
}

// ----------------------------------------------------------------------------- status ---

function on_status(s) {
    state.status = s;
    state.status_at = performance.now();
    const labels = {
        connected: `Connected \u00b7 player ${s.player}`,
        connecting: 'Connecting to the server...',
        no_audio: `No audio from the server for ${s.outage_s.toFixed(1)} s; reconnecting`,
        reconnecting: 'Control link lost; reconnecting',
        refused: 'The server refused the join code',
        kicked: 'Dismissed by the conductor',
    };
    // A state's event (a refusal with its reason, say) keeps its words until the state moves.
    const current = $('connection').dataset.state;
    if (s.connection !== current || ['connected', 'no_audio', 'connecting'].includes(s.connection))
        show_connection(s.connection, labels[s.connection] || s.connection);
    $('st-rtt').textContent = `${s.rtt_ms.toFixed(1)} ms`;
    const up = s.loss_up_pct === null ? '?' : `${s.loss_up_pct.toFixed(1)} %`;
    $('st-loss').textContent = `${up} / ${s.loss_down_pct.toFixed(1)} %`;
    $('st-jitter').textContent =
        `${s.jitter_depth} frames (${s.jitter_depth * FRAME_MS} ms), target ${s.jitter_target}`;
    $('st-offset').textContent = s.clock_offset_ms === null ? 'not synchronised'
                                                            : `${s.clock_offset_ms.toFixed(2)} ms`;
    $('st-late').textContent = String(s.late_events);
    $('st-advance').textContent = `${s.advance_ms.toFixed(1)} ms`;
    $('mode').textContent = s.mode ? `\u00b7 ${s.mode.replace('_', '-')} \u00b7 ${s.tempo_bpm.toFixed(1)} BPM` : '';
    $('solo').setAttribute('aria-pressed', String(s.solo_request));
    if (s.soloing)
        $('solo-state').textContent = 'You have the solo.';
    show_instrument(s.instrument);
}

function show_connection(kind, text) {
    const c = $('connection');
    c.dataset.state = kind;
    c.textContent = text;
    // A refused join code can be replaced here, without restarting gno-client.
    $('join-form').hidden = kind !== 'refused';
    if (kind === 'refused')
        $('join-reason').textContent = text;
}

function show_alert(text) {
    $('alert').textContent = text;
    $('alert').hidden = false;
}

function hide_alert() {
    $('alert').hidden = true;
}

// ---------------------------------------------------------------- score and beat clock ---

/// The score position now (seconds from the piece's first beat), extrapolated from the latest
/// status at one second per second; null before a piece start is announced.
function score_position() {
    const s = state.status;
    if (!s || s.score_s === null)
        return null;
    return s.score_s + (performance.now() - state.status_at) / 1000;
}

/// Beats since the cycle origin, extrapolated the same way; null without a score clock.
function cycle_beat() {
    const s = state.status;
    if (!s || s.cycle_beat === null || !(s.tempo_bpm > 0))
        return null;
    const beats = s.cycle_beat + (performance.now() - state.status_at) / 1000 * s.tempo_bpm / 60;
    return s.cycle_beats > 0 ? beats % s.cycle_beats : beats;
}

let roll_low = 55;
let roll_high = 79;

function fit_roll_range() {
    if (state.part.length === 0)
        return;
    let lo = 127;
    let hi = 0;
    for (const [, , key] of state.part) {
        lo = Math.min(lo, key);
        hi = Math.max(hi, key);
    }
    roll_low = Math.max(0, lo - 2);
    roll_high = Math.min(127, Math.max(hi + 2, roll_low + 12));
}

function draw() {
    const canvas = $('roll');
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
    }
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, w, h);
    const pos = score_position();
    canvas.dataset.position = pos === null ? '' : pos.toFixed(4);
    const now_x = w * ROLL_PAST_S / (ROLL_PAST_S + ROLL_AHEAD_S);
    const px_per_s = w / (ROLL_PAST_S + ROLL_AHEAD_S);
    const rows = roll_high - roll_low + 1;
    const row_h = h / rows;
    // Black-key rows shaded, as on a piano-roll.
    g.fillStyle = '#efece4';
    for (let k = roll_low; k <= roll_high; ++k)
        if (BLACK.has(k % 12))
            g.fillRect(0, h - (k - roll_low + 1) * row_h, w, row_h);
    const s = state.status;
    if (pos !== null && s && s.tempo_bpm > 0) {
        const beat_s = 60 / s.tempo_bpm;
        const first = Math.ceil((pos - ROLL_PAST_S) / beat_s);
        const last = Math.floor((pos + ROLL_AHEAD_S) / beat_s);
        for (let b = first; b <= last; ++b) {
            const x = now_x + (b * beat_s - pos) * px_per_s;
            const bar = s.cycle_beats > 0 && ((b % s.cycle_beats) + s.cycle_beats) % s.cycle_beats === 0;
            g.fillStyle = bar ? '#9aa7b5' : '#d9d4c7';
            g.fillRect(Math.round(x), 0, bar ? 2 : 1, h);
        }
        for (const [start, length, key] of state.part) {
            if (start + length < pos - ROLL_PAST_S || start > pos + ROLL_AHEAD_S)
                continue;
            const x = now_x + (start - pos) * px_per_s;
            const y = h - (key - roll_low + 1) * row_h;
            const sounding = start <= pos && pos < start + length;
            g.fillStyle = sounding ? '#a33a2b' : (start + length < pos ? '#9fb3c8' : '#2f5d8a');
            g.fillRect(x, y + 1, Math.max(2, length * px_per_s), Math.max(2, row_h - 2));
        }
    } else {
        g.fillStyle = '#5d6b7a';
        g.font = '14px system-ui, sans-serif';
        g.fillText('Waiting for the conductor to start a piece...', 12, 24);
    }
    g.fillStyle = '#a33a2b';
    g.fillRect(Math.round(now_x) - 1, 0, 2, h);

    $('score-pos').textContent = pos === null ? 'No piece announced yet.'
        : (pos < 0 ? `The piece starts in ${(-pos).toFixed(1)} s.` : `${pos.toFixed(1)} s into the piece`);
    const beat = cycle_beat();
    draw_beat(beat, s ? s.cycle_beats : 0);
    requestAnimationFrame(draw);
}

function draw_beat(beat, cycle_beats) {
    const dots = $('beat-dots');
    const n = Math.min(Math.max(cycle_beats, 1), 32);
    if (dots.childElementCount !== n) {
        dots.textContent = '';
        for (let i = 0; i < n; ++i)
            dots.appendChild(document.createElement('span'));
    }
    if (beat === null) {
        $('beat').textContent = '\u2013';
        return;
    }
    const whole = Math.floor(beat);
    $('beat').textContent = String(whole + 1);
    dots.dataset.beat = String(whole);
    [...dots.children].forEach((d, i) => {
        d.classList.toggle('now', i === whole % n);
        d.classList.toggle('downbeat', i === 0);
    });
}

// ------------------------------------------------------------------------------ keys ---

function note_name(key) {
    return `${NOTE_NAMES[key % 12]}${Math.floor(key / 12) - 1}`;
}

function press(key) {
    if (key < 0 || key > 127 || state.held.has(key))
        return;
    state.held.add(key);
    const id = state.next_id++;
    state.pending.set(id, performance.now());
    send({type: 'key', key, down: true, velocity: Number($('velocity').value), id});
    light(key, true);
}

function release(key) {
    if (!state.held.delete(key))
        return;
    const id = state.next_id++;
    state.pending.set(id, performance.now());
    send({type: 'key', key, down: false, id});
    light(key, false);
}

function release_all_local() {
    for (const key of [...state.held])
        light(key, false);
    state.held.clear();
    state.held_by_code.clear();
}

function release_all() {
    release_all_local();
    send({type: 'release_all'});
}

function on_key_ack(msg) {
    const sent = state.pending.get(msg.id);
    if (sent === undefined)
        return;
    state.pending.delete(msg.id);
    state.latencies.push(performance.now() - sent);
    if (state.latencies.length > 500)
        state.latencies.shift();
    const l = key_latency();
    $('key-latency').textContent =
        `${(l.p50_ms / 2).toFixed(2)} ms one way (median of ${l.count}; round trip p99 ${l.p99_ms.toFixed(2)} ms)`;
}

/// Round trips of key messages to gno-client and back (ms): the page's added latency is half.
function key_latency() {
    const xs = [...state.latencies].sort((a, b) => a - b);
    const q = (p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : null);
    return {count: xs.length, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: xs.length ? xs[xs.length - 1] : null};
}

function light(key, down) {
    const el = document.querySelector(`#keyboard [data-key="${Number(key)}"]`);
    if (el)
        el.classList.toggle('down', Boolean(down));
    down ? state.lit.add(key) : state.lit.delete(key);
}

function build_keyboard() {
    const kb = $('keyboard');
    const whites = [];
    for (let k = FIRST_KEY; k <= LAST_KEY; ++k)
        if (!BLACK.has(k % 12))
            whites.push(k);
    const white_w = 100 / whites.length;
    let wi = 0;
    for (let k = FIRST_KEY; k <= LAST_KEY; ++k) {
        const el = document.createElement('div');
        el.dataset.key = String(k);
        el.setAttribute('data-testid', `key-${k}`);
        el.setAttribute('role', 'button');
        el.setAttribute('aria-label', note_name(k));
        if (BLACK.has(k % 12)) {
            el.className = 'black';
            el.style.left = `${wi * white_w - white_w * 0.3}%`;
            el.style.width = `${white_w * 0.6}%`;
        } else {
            el.className = 'white';
            el.style.left = `${wi * white_w}%`;
            el.style.width = `${white_w}%`;
            if (k % 12 === 0) {
                const label = document.createElement('span');
                label.className = 'label';
                label.textContent = note_name(k);
                el.appendChild(label);
            }
            ++wi;
        }
        el.addEventListener('pointerdown', (ev) => {
            ev.preventDefault();
            el.setPointerCapture(ev.pointerId);
            press(k);
        });
        const up = () => release(k);
        el.addEventListener('pointerup', up);
        el.addEventListener('pointercancel', up);
        kb.appendChild(el);
    }
}

function typing(ev) {
    const t = ev.target;
    return t && (t.tagName === 'INPUT' && t.type !== 'range' || t.tagName === 'TEXTAREA');
}

function on_keydown(ev) {
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey)
        return;
    if (ev.code === 'KeyZ' || ev.code === 'KeyX') {
        if (!ev.repeat)
            state.octave = Math.min(8, Math.max(0, state.octave + (ev.code === 'KeyX' ? 1 : -1)));
        $('octave').textContent = `C${state.octave}`;
        ev.preventDefault();
        return;
    }
    if (!(ev.code in KEY_MAP))
        return;
    ev.preventDefault();
    if (ev.repeat || state.held_by_code.has(ev.code))
        return;
    const key = 12 * (state.octave + 1) + KEY_MAP[ev.code];
    state.held_by_code.set(ev.code, key);
    press(key);
}

function on_keyup(ev) {
    const key = state.held_by_code.get(ev.code);
    if (key === undefined)
        return;
    state.held_by_code.delete(ev.code);
    release(key);
}

// ----------------------------------------------------------------- direction and chat ---

function show_image(e) {
    if (!for_us(e.section) || !state.images.includes(e.image))
        return;
    const img = $('image');
    img.src = `images/${e.image}.svg`;
    img.alt = e.image;
    img.dataset.image = e.image;
    img.hidden = false;
    $('image-name').textContent = e.image;
}

function add_chat(from, text) {
    const li = document.createElement('li');
    const who = document.createElement('span');
    who.className = 'from';
    who.textContent = from || '?';
    li.appendChild(who);
    li.appendChild(document.createTextNode(text || ''));
    const log = $('chat-log');
    log.appendChild(li);
    while (log.childElementCount > 200)
        log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
}

// ------------------------------------------------------------------------- instrument ---

function kit_name(program) {
    const kit = KITS.find(([p]) => p === program);
    return kit ? kit[1] : `Kit ${program}`;
}

function build_instrument_panel() {
    const programs = $('program');
    GM_FAMILIES.forEach(([family, names], f) => {
        const group = document.createElement('optgroup');
        group.label = family;
        names.forEach((name, i) => {
            const option = document.createElement('option');
            option.value = String(8 * f + i);
            option.textContent = name;
            group.appendChild(option);
        });
        programs.appendChild(group);
    });
    for (const [program] of KITS)
        add_kit_option(program);
    programs.addEventListener('change', () =>
        send({type: 'program', program: Number(programs.value), kit: false}));
    $('kit').addEventListener('change', () =>
        send({type: 'program', program: Number($('kit').value), kit: true}));
    $('drum-kit').addEventListener('click', () => {
        const kit = $('drum-kit').getAttribute('aria-pressed') !== 'true';
        show_kit_controls(kit);
        send({type: 'program', program: Number(kit ? $('kit').value : programs.value), kit});
    });
    for (const [id, articulation] of [['art-sustained', 'sustained'], ['art-short', 'short']])
        $(id).addEventListener('click', () => {
            show_articulation(articulation);
            send({type: 'articulation', articulation});
        });
}

function add_kit_option(program) {
    const kits = $('kit');
    if ([...kits.options].some((o) => Number(o.value) === program))
        return;
    const option = document.createElement('option');
    option.value = String(program);
    option.textContent = kit_name(program);
    kits.appendChild(option);
}

function show_kit_controls(kit) {
    $('drum-kit').setAttribute('aria-pressed', String(kit));
    $('program-label').hidden = kit;
    $('kit-label').hidden = !kit;
}

function show_articulation(articulation) {
    $('art-sustained').setAttribute('aria-pressed', String(articulation !== 'short'));
    $('art-short').setAttribute('aria-pressed', String(articulation === 'short'));
}

/// The instrument gno-client says is in force (whatever chose it: this page, MIDI or its
/// options). The controls follow it when it changes, so they never claim what is not sent.
function show_instrument(inst) {
    const line = $('instrument-state');
    if (!inst) {
        line.textContent = '\u2013';
        return;
    }
    const name = inst.kit ? `${kit_name(inst.program)} drum kit` :
        `${GM_NAMES[inst.program] || 'program'} (program ${inst.program}, bank ${inst.bank})`;
    line.textContent = `${name} \u00b7 ${inst.articulation}`;
    line.dataset.program = String(inst.program);
    line.dataset.bank = String(inst.bank);
    line.dataset.kit = String(Boolean(inst.kit));
    line.dataset.articulation = inst.articulation;
    const seen = JSON.stringify(inst);
    if (seen === state.instrument_seen)
        return;
    state.instrument_seen = seen;
    show_kit_controls(Boolean(inst.kit));
    if (inst.kit) {
        add_kit_option(inst.program);
        $('kit').value = String(inst.program);
    } else if (inst.bank === 0) {
        $('program').value = String(inst.program);
    }
    show_articulation(inst.articulation);
}

// -------------------------------------------------------------------------------- mix ---

function build_mix_sections(sections) {
    const box = $('mix-sections');
    box.textContent = '';
    for (const name of sections) {
        const label = document.createElement('label');
        label.textContent = name;
        const input = document.createElement('input');
        input.type = 'range';
        input.min = '0';
        input.max = '2';
        input.step = '0.05';
        input.value = '1';
        input.dataset.section = name;
        input.setAttribute('data-testid', `mix-section-${name}`);
        input.addEventListener('input', queue_mix);
        label.appendChild(input);
        box.appendChild(label);
    }
}

function queue_mix() {
    $('mix-own-value').textContent = Number($('mix-own').value).toFixed(2);
    $('mix-click-value').textContent = Number($('mix-click').value).toFixed(2);
    clearTimeout(state.mix_timer);
    state.mix_timer = setTimeout(send_mix, 100); // a dragged slider sends at most 10 a second
}

function send_mix() {
    const sections = {};
    for (const input of document.querySelectorAll('#mix-sections input'))
        sections[input.dataset.section] = Number(input.value);
    send({type: 'mix', own: Number($('mix-own').value), click: Number($('mix-click').value), sections});
    $('mix-state').textContent = 'Sent...';
}

/// The server's answer to a mix: every level as it now has them.
function on_mix_echo(e) {
    if (typeof e.own === 'number')
        $('mix-own').value = String(e.own);
    if (typeof e.click === 'number')
        $('mix-click').value = String(e.click);
    for (const input of document.querySelectorAll('#mix-sections input'))
        if (e.sections && typeof e.sections[input.dataset.section] === 'number')
            input.value = String(e.sections[input.dataset.section]);
    $('mix-own-value').textContent = Number($('mix-own').value).toFixed(2);
    $('mix-click-value').textContent = Number($('mix-click').value).toFixed(2);
    const state = $('mix-state');
    state.dataset.applied = String(Boolean(e.applied));
    state.textContent = e.applied ? 'Applied to your mix.'
        : 'Kept, but not heard: this node sends everyone one shared mix.';
}

// ------------------------------------------------------------------------------ start ---

function start() {
    build_keyboard();
    build_instrument_panel();
    window.addEventListener('keydown', on_keydown);
    window.addEventListener('keyup', on_keyup);
    // Keys held when the page loses focus would never see their key-up.
    window.addEventListener('blur', release_all);
    document.addEventListener('visibilitychange', () => { if (document.hidden) release_all(); });
    $('chat-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const text = $('chat-text').value.trim();
        if (!text)
            return;
        send({type: 'chat', text});
        $('chat-text').value = '';
    });
    $('join-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        send({type: 'join', code: $('join-code').value.trim()});
        $('join-code').value = '';
    });
    $('solo').addEventListener('click', () => {
        const on = $('solo').getAttribute('aria-pressed') !== 'true';
        $('solo').setAttribute('aria-pressed', String(on));
        send({type: 'solo', on});
    });
    $('mix-own').addEventListener('input', queue_mix);
    $('mix-click').addEventListener('input', queue_mix);
    connect();
    requestAnimationFrame(draw);
}

// For people and tests: where the score is, how long keys take to reach gno-client.
window.gno = {score_position, cycle_beat, key_latency, state};

start();
