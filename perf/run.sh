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

case "$WHAT" in
    all) micro; e2e ;;
    micro) micro "$@" ;;
    e2e) e2e ;;
    soak) soak ;;
    *) echo "usage: perf/run.sh [all|micro [ARGS]|e2e|soak]" >&2; exit 2 ;;
esac
