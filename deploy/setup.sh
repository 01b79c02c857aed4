#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (README): installs what is missing, builds,
# then runs the demo performance or the whole test suite.
#   deploy/setup.sh demo    install + build + demo performance (default)
#   deploy/setup.sh test    install + build + every test (what .ci/run calls)
#   deploy/setup.sh build   install + build only
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
what=${1:-demo}
# ccache keys on paths relative to the checkout: a fresh clone elsewhere hits the same cache.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1

packages=(
    cmake ninja-build pkg-config ccache g++ clang libclang-rt-14-dev
    libopus-dev libopusenc-dev opus-tools libboost-dev
    # jackd2 and its dev package in the same transaction as libfluidsynth-dev, which would
    # otherwise pull in the JACK1 dev package.
    jackd2 libjack-jackd2-dev libfluidsynth-dev fluid-soundfont-gm
    libgtest-dev python3 nlohmann-json3-dev
    # The UDP channel's authentication tags and key derivation (DESIGN.md §8).
    libsodium-dev
    # Browser tests (tests/browser): Debian's Chromium driven by playwright-core from npm, and
    # promtool (package prometheus) to check /metrics.
    chromium nodejs prometheus
    # Deploy checks (tests/deploy): systemd-analyze verify and systemd-sysusers, which Debian's
    # container images leave out.
    systemd
)

sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm comes with NodeSource's nodejs package; Debian ships it as a package of its own.
if ! command -v npm >/dev/null; then
    echo "setup: installing npm"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
# The browser tests' one npm dependency, playwright-core, exactly as locked. It never downloads
# a browser (the tests drive /usr/bin/chromium); refreshed when the lockfile is newer.
browser_tests=tests/browser
if [[ ! -f $browser_tests/node_modules/.package-lock.json ||
      $browser_tests/package-lock.json -nt $browser_tests/node_modules/.package-lock.json ]]; then
    echo "setup: npm ci in $browser_tests"
    (cd "$browser_tests" &&
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
# The deploy checks' npm dependencies (the Kubernetes and Prometheus Operator schemas, a YAML
# parser), exactly as locked, the same way.
deploy_tests=tests/deploy
if [[ ! -f $deploy_tests/node_modules/.package-lock.json ||
      $deploy_tests/package-lock.json -nt $deploy_tests/node_modules/.package-lock.json ]]; then
    echo "setup: npm ci in $deploy_tests"
    (cd "$deploy_tests" && npm ci --no-audit --no-fund --loglevel=error)
fi

jobs=$(nproc)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
build() { # preset; quiet unless something is wrong
    if [[ ! -f build/$1/build.ninja ]] && ! cmake --preset "$1" >"$log" 2>&1; then
        cat "$log"
        return 1
    fi
    if ! cmake --build --preset "$1" -j "$jobs" >"$log" 2>&1; then
        cat "$log"
        return 1
    fi
    grep -E 'warning:' "$log" || true
}

case "$what" in
build)
    build dev
    ;;
demo)
    build dev
    exec "$root/deploy/demo.sh" "$root/build/dev"
    ;;
test)
    build dev
    echo "== tests (dev build: unit, end-to-end with jackd, FluidSynth, Opus, UDP proxy)"
    ctest --preset dev -j "$jobs" --timeout 300
    echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    build asan
    ctest --preset asan -j "$jobs" --timeout 300
    echo "== unit tests under ThreadSanitizer"
    # The tsan build preset builds the unit tests only; tests/tsan.supp says what it ignores.
    build tsan
    ctest --preset tsan -j "$jobs" --timeout 300
    build fuzz
    # Every parser of untrusted or user input: datagrams, SMF, control JSON, instrument
    # uploads, and both programs' command lines.
    for target in datagram smf control instrument_upload server_options client_options; do
        echo "== fuzzer gno_fuzz_$target (libFuzzer, ${GNO_FUZZ_SECONDS:-60} s)"
        corpus=$(mktemp -d)
        # The committed seeds are read only; what the run discovers goes to a scratch folder.
        if ! build/fuzz/tests/fuzz/gno_fuzz_$target -max_total_time="${GNO_FUZZ_SECONDS:-60}" \
            -print_final_stats=1 "$corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
            tail -40 "$log"
            echo "fuzz: gno_fuzz_$target failed; the crashing input is in $(pwd)/crash-*"
            rm -rf "$corpus"
            exit 1
        fi
        rm -rf "$corpus"
        grep -E '^stat::(number_of_executed_units|new_units_added)' "$log"
    done
    ;;
*)
    echo "usage: deploy/setup.sh [demo|test|build]" >&2
    exit 2
    ;;
esac
