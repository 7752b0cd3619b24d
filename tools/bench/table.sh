#!/usr/bin/env bash
# tools/bench/table.sh: the README's before/after table from tools/bench/series.sh's lines: for
# each step measured on both sides (warm-up runs left out), throughput, p50, p99, the CPU a
# reply of the worker, PostgreSQL, the simulator, the broker and the benchmark, and the worker's
# RSS, each as "before → after (after ÷ before)"; the auth step adds the sequential baseline and
# the speed-up. Markdown on stdout.
#
#   tools/bench/table.sh FILE [--before NAME] [--after NAME]
#
#   FILE            series.sh's lines (both sides in one file, or cat two files into it)
#   --before NAME   the side compared against (before)
#   --after NAME    the side compared (after)
#
# A step measured more than once on a side is taken at its last run. Exit status 2 when the
# file holds no step measured on both sides.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FILE='' BEFORE=before AFTER=after

PROG=table
# shellcheck source=tools/bench/lib.sh
. "$ROOT/tools/bench/lib.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --before) BEFORE=${2:?--before needs a side} && shift 2 ;;
    --after) AFTER=${2:?--after needs a side} && shift 2 ;;
    -h | --help)
        sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) FILE=$1 && shift ;;
    esac
done
[ -n "$FILE" ] || die "which file? (see --help)"
[ -r "$FILE" ] || die "cannot read $FILE"

jq -rs --arg b "$BEFORE" --arg a "$AFTER" '
  def num: if type == "number" then . else null end;
  def fmt: if . == null then "–"
           elif . >= 1000 then (. | round | tostring | (if length > 3 then .[:-3] + "," + .[-3:] else . end))
           elif . >= 100 then (. | round | tostring)
           else ((. * 10 | round) / 10 | tostring) end;
  def ratio($x; $y): if ($x | num) == null or ($y | num) == null or $x == 0 then "" else
      " (" + (($y / $x * 100 | round) / 100 | tostring) + "×)" end;
  def pair($x; $y): ($x | fmt) + " → " + ($y | fmt) + ratio($x; $y);
  def mb: if (. | num) == null then null else . / 1024 end;
  (map(select(.step != "warm")) | group_by(.step)
    | map({step: .[0].step,
           b: (map(select(.side == $b)) | last | .bench),
           a: (map(select(.side == $a)) | last | .bench)})
    | map(select(.b != null and .a != null))) as $rows
  | if ($rows | length) == 0 then error("no step measured on both sides (\($b), \($a))") else . end
  | (["| step | requests | throughput /s | p50 ms | p99 ms | worker µs | PostgreSQL µs | simulator µs | broker µs | benchmark µs | worker RSS MB |",
       "|---|---|---|---|---|---|---|---|---|---|---|"]
     + ($rows | sort_by(.step as $s | (["auth", "deposit", "reversal", "svc", "auth-e"] | index($s)) // 99)
        | map(.b as $x | .a as $y
          | "| \(.step) | \($y.replies | fmt) | \(pair($x.throughput; $y.throughput)) | "
            + "\(pair($x.p50_ms; $y.p50_ms)) | \(pair($x.p99_ms; $y.p99_ms)) | "
            + "\(pair($x.worker_cpu_us_per_tx; $y.worker_cpu_us_per_tx)) | "
            + "\(pair($x.db_cpu_us_per_tx; $y.db_cpu_us_per_tx)) | "
            + "\(pair($x.sim_cpu_us_per_tx; $y.sim_cpu_us_per_tx)) | "
            + "\(pair($x.broker_cpu_us_per_tx; $y.broker_cpu_us_per_tx)) | "
            + "\(pair($x.bench_cpu_us_per_tx; $y.bench_cpu_us_per_tx)) | "
            + "\(pair($x.max_rss_kb | mb; $y.max_rss_kb | mb)) |"))
     + ($rows | map(select(.step == "auth" and .a.speedup != null)) | map(.b as $x | .a as $y
          | "",
            "Sequential baseline (K = 1): \(pair($x.baseline_throughput; $y.baseline_throughput)) /s; "
            + "speed-up \(pair($x.speedup; $y.speedup)).")))
  | .[]
' "$FILE" || exit 2
