#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs the benchmarks; `./build.sh bench` calls it after building. Results go to stdout; copy the tables
# into perf/RESULTS.md with the machine, the date and the command.
#
#   perf/run.sh               micro-benchmarks (BenchmarkDotNet, short job) and the throughput matrix
#   perf/run.sh micro [ARGS]  only BenchmarkDotNet; ARGS go to BenchmarkSwitcher (default: --filter '*' --job short)
#   perf/run.sh e2e           only the end-to-end throughput matrix ($DURATION s per row, default 10)
#   perf/run.sh soak          the 60 s zero-allocation run over DPDK net_ring
#   perf/run.sh baseline      the SSH-guard ruleset: the plain C baseline (perf/baseline) next to FastPath
#   perf/run.sh conntrack     the SSH guard behind conntrack (perf/conntrack-bench.rules, both directions of every
#                             flow): the C baseline next to FastPath, then FastPath on the 1M-flow mix with and
#                             without the management thread's sweep request every 100 ms
#
# Micro-benchmarks of one suite: `perf/run.sh micro --filter '*FlowTable*' --job short` (connection lookup,
# tracking, churn and the sweep per slot). DURATION=SECONDS shortens the end-to-end rows (default 10); WARMUP=SECONDS
# sets the unmeasured start of the baseline and conntrack rows (default 2, and 6 for conntrack, whose first pass
# over the 1M-flow mix opens 1M connections).
set -euo pipefail
cd "$(dirname "$0")/.."
THROUGHPUT=perf/FastPath.Throughput/bin/Release/net10.0/fastpath-throughput
WHAT=${1:-all}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-}

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
            "$THROUGHPUT" --port "$port" --workers "$workers" --duration "$DURATION"
        done
    done
    for workers in 1 2; do
        "$THROUGHPUT" --port net_ring --workers "$workers" --frame-size 128 --flows 65536 --sources 4096 --ipv6-share 0.3 --vlan-share 0.2 --duration "$DURATION"
    done
}

soak() {
    "$THROUGHPUT" --header
    "$THROUGHPUT" --port net_ring --workers 1 --warmup 5 --duration 60
}

# The target "within 1.0x of a plain C program doing the same job": for each mix ("flows sources recent-capacity
# conntrack-max") and worker count the C baseline runs, then fastpath-throughput on the same frames, rules and
# table capacities, so the pair is measured seconds apart. Arguments: title, rules, directions (1 or 2), mixes.
compare() {
    local title=$1 rules=$2 directions=$3 c=() fp=()
    shift 3
    make -s -C perf/baseline
    echo "### $title: plain C baseline vs FastPath ($(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
    for mix in "$@"; do
        read -r flows sources capacity ctmax <<< "$mix"
        for workers in 1 2; do
            c+=("$(build/perf/ssh-guard-baseline --rules "$rules" --workers "$workers" --flows "$flows" --sources "$sources" --capacity "$capacity" \
                --directions "$directions" --conntrack-max "$ctmax" --warmup "${WARMUP:-2}" --duration "$DURATION")")
            fp+=("$("$THROUGHPUT" --port memory --workers "$workers" --protocol tcp --dport 22 --flows "$flows" --sources "$sources" --rules "$rules" \
                --recent-capacity "$capacity" --directions "$directions" --conntrack-max "$ctmax" --warmup "${WARMUP:-2}" --duration "$DURATION")")
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

# Small mix: 256 sources through the kernel's default 100-entry table (every packet evicts, nothing is dropped);
# big mix: 64K sources in a 64K-entry table (nearly all dropped).
baseline() {
    compare "SSH guard" perf/ssh-guard-bench.rules 1 "1024 256 100 1048576" "1048576 65536 65536 1048576"
}

# Four flows per source, so the recent limiter lets every connection in (its fourth --set is the last before
# --update would match) and, once each flow has been seen both ways, every packet is ESTABLISHED: the rows
# measure tracking, not the limiter. Both programs track the TCP windows on every packet (tcp_in_window, as the
# kernel): the flows are picked up mid-stream from ACK segments, so both sides are liberal and nothing is INVALID,
# and after a flow's first segment every one goes through the whole window update. The 1M-flow table holds 2M
# connections (half full), as the sweep rows.
conntrack() {
    local rules=perf/conntrack-bench.rules big="--flows 1048576 --sources 262144 --recent-capacity 65536 --conntrack-max 2097152"
    local WARMUP=${WARMUP:-6}
    compare "SSH guard with conntrack" "$rules" 2 "1024 256 100 65536" "1048576 262144 65536 2097152"
    echo
    echo "### The sweep's effect: management asks every worker for a pass over its connections every 100 ms"
    "$THROUGHPUT" --header
    for workers in 1 2; do
        for sweep in 0 100; do
            # shellcheck disable=SC2086 # $big is a list of options
            "$THROUGHPUT" --port memory --workers "$workers" --protocol tcp --dport 22 --rules "$rules" --directions 2 $big \
                --sweep-ms "$sweep" --warmup "$WARMUP" --duration "$DURATION"
        done
    done
}

case "$WHAT" in
    all) micro; e2e ;;
    micro) micro "$@" ;;
    e2e) e2e ;;
    soak) soak ;;
    baseline) baseline ;;
    conntrack) conntrack ;;
    *) echo "usage: perf/run.sh [all|micro [ARGS]|e2e|soak|baseline|conntrack]" >&2; exit 2 ;;
esac
