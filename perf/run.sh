#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs the benchmarks; `./build.sh bench` calls it after building. Results go to stdout; copy the tables
# into perf/RESULTS.md with the machine, the date and the command.
#
#   perf/run.sh               micro-benchmarks (BenchmarkDotNet, short job) and the throughput matrix
#   perf/run.sh micro [ARGS]  only BenchmarkDotNet; ARGS go to BenchmarkSwitcher (default: --filter '*' --job short)
#   perf/run.sh e2e           only the end-to-end throughput matrix (10 s per row)
#   perf/run.sh soak          the 60 s zero-allocation run over DPDK net_ring
#   perf/run.sh baseline      the SSH-guard ruleset: the plain C baseline (perf/baseline) next to FastPath
set -euo pipefail
cd "$(dirname "$0")/.."
THROUGHPUT=perf/FastPath.Throughput/bin/Release/net10.0/fastpath-throughput
WHAT=${1:-all}

micro() {
    shift || true
    local args=("$@")
    [ ${#args[@]} -eq 0 ] && args=(--filter '*' --job short)
    (cd perf/FastPath.Benchmarks && dotnet run -c Release --no-build -- "${args[@]}")
}

e2e() {
    echo "### End-to-end throughput ($(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
    "$THROUGHPUT" --header
    for port in memory net_ring net_null; do
        for workers in 1 2; do
            "$THROUGHPUT" --port "$port" --workers "$workers" --duration 10
        done
    done
    for workers in 1 2; do
        "$THROUGHPUT" --port net_ring --workers "$workers" --frame-size 128 --flows 65536 --sources 4096 --ipv6-share 0.3 --vlan-share 0.2 --duration 10
    done
}

soak() {
    "$THROUGHPUT" --header
    "$THROUGHPUT" --port net_ring --workers 1 --warmup 5 --duration 60
}

# The target "within 1.0x of a plain C program doing the same parse + lookup + check": for each mix and worker
# count the C baseline runs, then fastpath-throughput on the same frames, rules and table capacity, so the
# pair is measured seconds apart. Small mix: 256 sources through the kernel's default 100-entry table
# (every packet evicts, nothing is dropped); big mix: 64K sources in a 64K-entry table (nearly all dropped).
baseline() {
    make -s -C perf/baseline
    local rules=perf/ssh-guard-bench.rules c=() fp=()
    echo "### SSH guard: plain C baseline vs FastPath ($(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
    for mix in "1024 256 100" "1048576 65536 65536"; do
        read -r flows sources capacity <<< "$mix"
        for workers in 1 2; do
            c+=("$(build/perf/ssh-guard-baseline --rules "$rules" --workers "$workers" --flows "$flows" --sources "$sources" --capacity "$capacity" --duration 10)")
            fp+=("$("$THROUGHPUT" --port memory --workers "$workers" --protocol tcp --dport 22 --flows "$flows" --sources "$sources" --rules "$rules" --recent-capacity "$capacity" --duration 10)")
        done
    done
    build/perf/ssh-guard-baseline --header
    printf '%s\n' "${c[@]}"
    echo
    "$THROUGHPUT" --header
    printf '%s\n' "${fp[@]}"
    echo
    echo "| flows | workers | C Mpps total | FastPath Mpps total | FastPath / C |"
    echo "|---|---|---|---|---|"
    for i in "${!c[@]}"; do
        awk -F'|' -v fp="${fp[$i]}" '{ split(fp, f, "|"); printf "| %d | %d | %.2f | %.2f | %.2f |\n", $5, $3, $8, f[10], f[10] / $8 }' <<< "${c[$i]}"
    done
}

case "$WHAT" in
    all) micro; e2e ;;
    micro) micro "$@" ;;
    e2e) e2e ;;
    soak) soak ;;
    baseline) baseline ;;
    *) echo "usage: perf/run.sh [all|micro [ARGS]|e2e|soak|baseline]" >&2; exit 2 ;;
esac
