#!/usr/bin/env bash
# Checks of deploy/ (CTest label "deploy"; also by hand):
#   tests/deploy/check.sh [GNO_SERVER]   GNO_SERVER: a built gno-server (default: build/dev's)
#  - the Kubernetes manifests against the API's schemas, and broken copies refused
#    (validate_k8s.mjs; needs `npm ci` here, which deploy/setup.sh runs);
#  - the systemd unit with systemd-analyze verify, and misspelt copies refused;
#  - the sysusers file, applied to a scratch root by systemd-sysusers.
# systemd-analyze and systemd-sysusers report what they ignore (an unknown directive, a bad
# value, a malformed line) but still exit 0: any diagnostic counts as a failure here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
server=${1:-${GNO_SERVER_EXE:-$repo/build/dev/render-server/gno-server}}
unit=$repo/deploy/systemd/gno-server.service
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

for tool in node systemd-analyze systemd-sysusers; do
    command -v "$tool" >/dev/null || { echo "check.sh: $tool is missing (deploy/setup.sh installs it)" >&2; exit 2; }
done
[[ -x $server ]] || { echo "check.sh: no gno-server at $server; build it or pass its path" >&2; exit 2; }

echo "== Kubernetes manifests (deploy/k8s)"
node "$here/validate_k8s.mjs" --self-check || fail "deploy/k8s"

# The same manifests with one broken on disk: the command itself must fail and name the file.
mkdir "$scratch/k8s"
cp "$repo"/deploy/k8s/*.yaml "$scratch/k8s/"
sed -i 's/containerPort: 47080/containerPort: "47080"/' "$scratch/k8s/statefulset.yaml"
if out=$(node "$here/validate_k8s.mjs" "$scratch/k8s" 2>&1); then
    fail "a manifest with a quoted port number was accepted"
elif ! grep -q 'statefulset.yaml: StatefulSet gno-render: /spec/template/spec/containers/0/ports/2/containerPort must be integer' <<<"$out"; then
    fail "a quoted port number was refused without naming the file and field: $out"
else
    echo "refused on disk: $(head -1 <<<"$out")"
fi

# The pods' launcher script, run as each of the three pods with the ConfigMap's values and a
# stand-in gno-server-rt that writes down its arguments: node id, peers and the node's own
# options (GNO_NODE_<id>_ARGS) must come out as the operations section says.
echo "== Render pods' launcher (statefulset.yaml with configmap.yaml)"
mkdir "$scratch/launch" "$scratch/bin"
node "$here/launcher.mjs" "$repo/deploy/k8s" "$scratch/launch" || fail "the launcher could not be read"
cat >"$scratch/bin/gno-server-rt" <<'EOS'
#!/bin/sh
printf '%s\n' "$@" >"$GNO_TEST_ARGS"
EOS
chmod +x "$scratch/bin/gno-server-rt"
sections=("1,2,3,4,5,15,17" "6,7" "8,9,10,11,12,13,14,16")
for ordinal in 0 1 2; do
    args=$scratch/launch/args-$ordinal
    (cd "$scratch/launch" && env -i PATH="$scratch/bin:/usr/bin:/bin" HOSTNAME="gno-render-$ordinal" \
        GNO_JOIN_ARGS="--join-code performer:abc" GNO_TEST_ARGS="$args" \
        /bin/sh -c '. ./env.sh && . ./start.sh') || fail "pod $ordinal: the launcher failed"
    got=$(tr '\n' ' ' <"$args" 2>/dev/null || true)
    want_peers=""
    for other in 0 1 2; do
        [[ $other == "$ordinal" ]] ||
            want_peers+="--peer $((other + 1))@gno-render-$other.gno-render.gno.svc.cluster.local:47100 "
    done
    for want in "--node-id $((ordinal + 1)) " "$want_peers" "--sections ${sections[$ordinal]} " \
        "--max-players 256 " "--join-code performer:abc "; do
        [[ $got == *"$want"* ]] || fail "pod $ordinal: launched without '$want': $got"
    done
done
[[ $failed == 0 ]] && echo "pods 0-2 launch as nodes 1-3, each with its peers and its sections"

# systemd-analyze verify wants the ExecStart program to exist: the built one stands in for
# /usr/local/bin/gno-server. The file keeps its name, which verify reads as the unit's.
verify() { # unit file; prints diagnostics, true only when there are none
    local out
    if ! out=$(systemd-analyze verify "$1" 2>&1) || [[ -n $out ]]; then
        echo "$out"
        return 1
    fi
}
echo "== systemd unit (deploy/systemd/gno-server.service)"
grep -q '^ExecStart=/usr/local/bin/gno-server ' "$unit" || fail "ExecStart no longer starts /usr/local/bin/gno-server"
mkdir "$scratch/good" "$scratch/typo" "$scratch/value"
sed "s#^ExecStart=/usr/local/bin/gno-server #ExecStart=$server #" "$unit" >"$scratch/good/gno-server.service"
if out=$(verify "$scratch/good/gno-server.service"); then
    echo "systemd-analyze verify: no diagnostics"
else
    fail "systemd-analyze verify: $out"
fi
sed 's/^WatchdogSec=/WatchdogSecs=/' "$scratch/good/gno-server.service" >"$scratch/typo/gno-server.service"
sed 's/^LimitRTPRIO=.*/LimitRTPRIO=high/' "$scratch/good/gno-server.service" >"$scratch/value/gno-server.service"
for broken in typo value; do
    if out=$(verify "$scratch/$broken/gno-server.service"); then
        fail "a unit with a $broken was accepted"
    else
        echo "refused ($broken): $out"
    fi
done

echo "== sysusers (deploy/systemd/gno.conf)"
mkdir -p "$scratch/root/etc/sysusers.d"
cp "$repo/deploy/systemd/gno.conf" "$scratch/root/etc/sysusers.d/"
out=$(systemd-sysusers --root="$scratch/root" 2>&1) || fail "systemd-sysusers: $out"
if grep -v '^Creating ' <<<"$out" | grep -q .; then
    fail "systemd-sysusers: $out"
elif ! grep -q '^gno:x:[0-9]*:[0-9]*:[^:]*:/var/lib/gno:/usr/sbin/nologin$' "$scratch/root/etc/passwd"; then
    fail "systemd-sysusers made no gno account with home /var/lib/gno"
else
    grep '^gno:' "$scratch/root/etc/passwd"
fi

((failed == 0)) && echo "deploy checks passed"
exit "$failed"
