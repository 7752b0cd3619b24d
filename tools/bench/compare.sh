#!/usr/bin/env bash
# tools/bench/compare.sh: the README's before/after measurement in one command. "Before" is
# another commit (by default 75e24f4, the code issue 12 was filed against), checked out in a git
# worktree of its own; "after" is this checkout. Each side gets a fresh environment (database and
# broker new, started by its own `tools/dev up`), one side after the other on a quiet box, and
# the same series (tools/bench/series.sh) driven by this checkout's benchmark; then the table
# (tools/bench/table.sh). This checkout's own `up` environment is stopped for the while (two
# would share the box) and started again at the end when it was running; its data are not
# touched: "after" runs in an environment of its own under .dev/compare.
#
#   tools/bench/compare.sh [--before COMMIT] [--worktree DIR] [--out FILE] [--keep-data]
#                          [SERIES OPTIONS...]
#
#   --before COMMIT   the commit measured as "before" (75e24f4)
#   --worktree DIR    where its worktree is (made when missing; default .dev/compare/before)
#   --out FILE        series.sh's lines of both sides (default bench-compare.jsonl; emptied
#                     first); the table goes to stdout and FILE.md
#   --keep-data       keep each side's database and broker data after its series (by default
#                     they are removed, ~2 GB a side for the full series; logs stay either way)
#   SERIES OPTIONS    passed to series.sh for both sides (--warm, --requests, --each, ...)
#
# The worktree stays for the next comparison (its build is reused); `git worktree remove
# .dev/compare/before` takes it away.
#
# The full series took 10 minutes on a 2-core box (the README's protocol); `--warm 0 --requests
# 2000 --each 2000` shows the way in three, its figures meaning little. The exit status is 1
# when a run did not get every reply or not every reply was approved (its lines are kept).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BEFORE=75e24f4 WT='' OUT=bench-compare.jsonl KEEP=0
SERIES=()

PROG=compare
# shellcheck source=tools/bench/lib.sh
. "$ROOT/tools/bench/lib.sh"

while [ $# -gt 0 ]; do
    case $1 in
    --before) BEFORE=${2:?--before needs a commit} && shift 2 ;;
    --worktree) WT=${2:?--worktree needs a directory} && shift 2 ;;
    --out) OUT=${2:?--out needs a file} && shift 2 ;;
    --keep-data) KEEP=1 && shift ;;
    -h | --help)
        sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    --side | --side=*) die "--side is compare.sh's to set" ;;
    *)
        SERIES+=("$1")
        shift
        ;;
    esac
done
commit=$(git -C "$ROOT" rev-parse --verify -q "$BEFORE^{commit}") ||
    die "--before: no commit $BEFORE in $ROOT"
WT=${WT:-$ROOT/.dev/compare/before}
# Absolute: each side's tools/dev runs inside its checkout, where a relative DEV_DIR would name
# a directory nested in the worktree (and a PostgreSQL socket path too long to start).
WT=$(realpath -m "$WT")
AFTER_ENV=$ROOT/.dev/compare/after-env
LOGS=$ROOT/.dev/compare/logs
mkdir -p "$LOGS"
: >"$OUT"

dev() { "$ROOT/tools/dev" "$@"; }
# Whether this checkout's own environment runs (started again at the end when it did).
was_up=0
dev status 2>/dev/null | sed -n '2,/^[^ ]/p' | grep -q ' running ' && was_up=1
up_side='' # the side whose environment runs now
finish() {
    local rc=$?
    case $up_side in
    before) (cd "$WT" && ./tools/dev down) >>"$LOGS/before-down.log" 2>&1 || true ;;
    after) DEV_DIR=$AFTER_ENV dev down >>"$LOGS/after-down.log" 2>&1 || true ;;
    esac
    if [ "$was_up" = 1 ]; then
        printf 'compare: starting this checkout'"'"'s environment again\n' >&2
        dev up >>"$LOGS/restore.log" 2>&1 || printf 'compare: it did not start (%s)\n' \
            "$LOGS/restore.log" >&2
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

printf 'compare: stopping this checkout'"'"'s environment for the while\n' >&2
dev down >"$LOGS/down.log" 2>&1 || die "tools/dev down failed ($LOGS/down.log)"

if [ ! -d "$WT" ]; then
    printf 'compare: a worktree of %s in %s\n' "$BEFORE" "$WT" >&2
    git -C "$ROOT" worktree add --detach "$WT" "$commit" >"$LOGS/worktree.log" 2>&1 ||
        die "git worktree add failed ($LOGS/worktree.log)"
fi
[ "$(git -C "$WT" rev-parse HEAD)" = "$commit" ] ||
    die "$WT holds $(git -C "$WT" rev-parse --short HEAD), not $BEFORE: remove it or pass --worktree"

failed=0
# side NAME DIR_OF_ITS_CHECKOUT ENV_DIR: a fresh environment, the series, the environment down.
side() {
    local name=$1 checkout=$2 env=$3
    printf 'compare: %s: a fresh environment (its tools/dev up; log %s)\n' "$name" \
        "$LOGS/$name-up.log" >&2
    (cd "$checkout" && DEV_DIR=$env ./tools/dev down) >"$LOGS/$name-down.log" 2>&1 || true
    rm -rf "$env/pg" "$env/kafka"
    up_side=$name
    (cd "$checkout" && DEV_DIR=$env ./tools/dev up) >"$LOGS/$name-up.log" 2>&1 ||
        die "$name: tools/dev up failed ($LOGS/$name-up.log)"
    DEV_DIR=$env "$ROOT/tools/bench/series.sh" --side "$name" --out "$OUT" "${SERIES[@]}" ||
        failed=1
    (cd "$checkout" && DEV_DIR=$env ./tools/dev down) >>"$LOGS/$name-down.log" 2>&1 || true
    up_side=''
    [ "$KEEP" = 1 ] || rm -rf "$env/pg" "$env/kafka"
}
side before "$WT" "$WT/.dev"
side after "$ROOT" "$AFTER_ENV"

{
    printf 'Before: %s (%s). After: %s (%s). %s, %s cores; this checkout'"'"'s benchmark.\n\n' \
        "$(git -C "$ROOT" rev-parse --short "$commit")" \
        "$(git -C "$ROOT" log -1 --format=%cs "$commit")" \
        "$(git -C "$ROOT" rev-parse --short HEAD)" \
        "$(git -C "$ROOT" diff --quiet HEAD && echo committed || echo with uncommitted changes)" \
        "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)"
    "$ROOT/tools/bench/table.sh" "$OUT"
} | tee "$OUT.md"
exit "$failed"
