#!/usr/bin/env bash
# The demo performance: one gno-server and eight gno-clients on this machine play the round
# "Frere Jacques" (traditional), four entries two bars apart, in two octaves, each player on
# its own General MIDI instrument. Leaves the audience recording (Ogg Opus) and every
# player's decoded mix (WAV) and the performance log (MIDI files) in out/demo/.
#   deploy/demo.sh [BUILD_DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/build/dev}
server=$bin/render-server/gno-server
client=$bin/thin-client/gno-client
out=$root/out/demo
for exe in "$server" "$client"; do
    [[ -x $exe ]] || { echo "demo: $exe not built; run deploy/setup.sh build" >&2; exit 1; }
done
mkdir -p "$out"
rm -f "$out"/*.wav "$out"/*.json "$out"/*.log "$out"/*.jsonl "$out"/audience.opus
rm -rf "$out/log"

# GM programs (0-based): flute, clarinet, oboe, violin | viola, cello, bassoon, French horn.
programs=(73 71 68 40 41 42 70 60)
names=("flute" "clarinet" "oboe" "violin" "viola" "cello" "bassoon" "French horn")

# The node's UDP secret, shared with these eight clients (they play without joining): each
# derives its session's key from it. Performers on other machines join with a code instead.
secret=$out/udp-secret
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$secret"
chmod 600 "$secret"

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$server" --port "$port" --udp-secret-file "$secret" --record "$out/audience.opus" --stats "$out/server-stats.jsonl" \
    --perf-log "$out/log" >"$out/server.log" 2>&1 &
server_pid=$!
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    kill -INT "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
    grep -q "listening" "$out/server.log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening" "$out/server.log" || { echo "demo: server did not start" >&2; exit 1; }

start_at=$(( $(date +%s%3N) + 1500 ))
echo "demo: gno-server on udp 127.0.0.1:$port; 8 players start together in 1.5 s (about 45 s of music)"
for k in "${!programs[@]}"; do
    "$client" --server "127.0.0.1:$port" --session $((1001 + k)) \
        --udp-secret-file "$secret" --program "${programs[$k]}" \
        --play "round:$k" --tempo 120 --start-at "$start_at" \
        --output "$out/player-$k.wav" --summary "$out/player-$k.json" >"$out/player-$k.log" 2>&1 &
    pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
pids=()
kill -INT "$server_pid"
wait "$server_pid" || status=1
trap - EXIT

echo "demo: players (instrument, then the client's own summary):"
for k in "${!programs[@]}"; do
    printf '  %-12s %s\n' "${names[$k]}" "$(grep '^player ' "$out/player-$k.log" | tail -1)"
done
echo "demo: server: $(grep 'stopped' "$out/server.log" | tail -1)"
echo "demo: audience recording (Ogg Opus): $out/audience.opus  -- play it with: opusdec $out/audience.opus out.wav (or any browser)"
echo "demo: each player's decoded mix: $out/player-N.wav"
echo "demo: the performance log (a MIDI file per player): $out/log  -- re-render it with: $server render $out/log --out again.wav"
if ((status != 0)); then
    echo "demo: a process failed; logs are in $out" >&2
fi
exit $status
