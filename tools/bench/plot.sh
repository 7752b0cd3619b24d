#!/usr/bin/env bash
# tools/bench/plot.sh: draws a file of `paylinkctl bench` JSON lines (tools/bench/sweep.sh writes
# one) as a PNG: throughput (left axis) and p99 latency (right axis) against max_in_flight K on a
# log-scale x axis.
#
#   tools/bench/plot.sh IN.jsonl [OUT.png]       (default OUT: IN with .png)
#
# Closed-loop runs with K >= 1 are drawn (an open-loop run, --rate, or K = 0, "all at once", has
# no place on this axis); several runs at one K are drawn as their median. Installs gnuplot-nox
# with apt-get when gnuplot is missing, as tools/dev installs its packages.
set -euo pipefail

die() {
    printf 'plot: error: %s\n' "$*" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    die "usage: tools/bench/plot.sh IN.jsonl [OUT.png]"
fi
IN=$1
OUT=${2:-${IN%.jsonl}.png}
[ -r "$IN" ] || die "cannot read $IN"
command -v jq >/dev/null 2>&1 || die "jq is missing"

if ! command -v gnuplot >/dev/null 2>&1; then
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    printf 'plot: installing gnuplot-nox\n' >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox
fi

data=$(mktemp)
trap 'rm -f "$data"' EXIT
# K, throughput, p99: the median of the runs at each K, in K order.
jq -rs '
    def median: sort | .[(length - 1) / 2 | floor];
    [.[] | objects | select((.rate // 0) == 0 and (.max_in_flight // 0) >= 1)]
    | group_by(.max_in_flight)[]
    | [.[0].max_in_flight, (map(.throughput) | median), (map(.p99_ms) | median)]
    | @tsv' "$IN" >"$data"
[ -s "$data" ] || die "no closed-loop run with max_in_flight >= 1 in $IN"
title=$(jq -rs '[.[] | objects][0] | "paylink-\(.worker // "auth"), simulator latency \(
    if (.sim_latency_ms // -1) < 0 then "as it was" else "\(.sim_latency_ms) ms" end), \(
    .replicas // 1) replica(s)"' "$IN")

gnuplot <<GNUPLOT
set terminal pngcairo size 1000,600 font "sans,10" noenhanced
set output "$OUT"
set title "$title"
set logscale x 2
set xlabel "max_in_flight K (requests outstanding)"
set ylabel "throughput (replies/s)"
set y2label "p99 latency (ms)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid xtics ytics
set key top left
plot "$data" using 1:2 with linespoints lw 2 pt 7 axes x1y1 title "throughput", \
     "$data" using 1:3 with linespoints lw 2 pt 5 axes x1y2 title "p99"
GNUPLOT
printf 'plot: %s\n' "$OUT" >&2
