#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# FastPath build: installs what is missing on a Debian machine, builds the native DPDK shim and the .NET
# solution, and optionally runs the sample job, the tests or the benchmarks.
#
#   ./build.sh            install missing packages, build everything (Release)
#   ./build.sh sample     ... then forward the bundled sample capture (the main job)
#   ./build.sh test       ... then run the whole test suite
#   ./build.sh bench      ... then run the benchmarks (perf/run.sh; numbers go to perf/RESULTS.md)
set -euo pipefail

cd "$(dirname "$0")"
ROOT=$(pwd)
ACTION=${1:-build}
CONFIG=Release
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '==> %s\n' "$*"; }

# Debian packages: the C toolchain and DPDK for the shim; iproute2 and iptables (iptables-legacy) for the
# namespace and kernel differential tests; python3 (Debian's, at /usr/bin) drives them; scapy and tcpdump
# make and read captures; conntrack, conntrackd and nfct (its own package on Debian 12) for the cttimeout
# differential tests.
PACKAGES=(gcc make pkg-config libdpdk-dev dpdk libpcap-dev iproute2 iptables python3 python3-scapy tcpdump
    conntrack conntrackd nfct)

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo=sudo
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    if ! command -v dotnet >/dev/null; then
        echo "build.sh: the .NET SDK (10.0) is not on PATH; install it first" >&2
        exit 1
    fi
}

build_native() {
    log "building native/libfp_shim.so against DPDK $(pkg-config --modversion libdpdk)"
    mkdir -p build/native
    # shellcheck disable=SC2046
    gcc -O2 -g -fPIC -shared -Wall -Wextra -Werror -o build/native/libfp_shim.so native/fp_shim.c \
        $(pkg-config --cflags --libs libdpdk)
}

build_managed() {
    log "building FastPath.sln ($CONFIG)"
    dotnet build FastPath.sln -c "$CONFIG" -nologo -v quiet
}

run_sample() {
    mkdir -p out
    log "forwarding samples/mixed.pcap -> out/mixed-forwarded.pcap"
    dotnet "src/FastPath.Daemon/bin/$CONFIG/net10.0/fastpath.dll" run --config samples/offline.conf
}

run_tests() {
    log "running the test suite"
    local logfile
    logfile=$(mktemp)
    set +e
    # One assembly at a time: the live tests run their own pinned workers, and the worker threads of the
    # dataplane tests next to them on a two-core machine slowed their control calls by seconds.
    dotnet test FastPath.sln -c "$CONFIG" --no-build -nologo -m:1 2>&1 | tee "$logfile"
    local status=${PIPESTATUS[0]}
    set -e
    # One closing line for every test assembly together.
    awk '/(Passed|Failed)! *- *Failed:/ {
            gsub(/,/, ""); for (i = 1; i <= NF; i++) {
                if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
         END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$logfile"
    rm -f "$logfile"
    return "$status"
}

run_bench() {
    log "running benchmarks"
    bash perf/run.sh
}

install_missing
build_native
build_managed
case "$ACTION" in
    build) ;;
    sample) run_sample ;;
    test) run_tests ;;
    bench) run_bench ;;
    *) echo "usage: ./build.sh [build|sample|test|bench]" >&2; exit 2 ;;
esac
