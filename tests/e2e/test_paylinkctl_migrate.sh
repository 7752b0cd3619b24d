#!/usr/bin/env bash
# paylinkctl migrate against a scratch database: numeric order, one transaction per file,
# skipping applied files, refusing edited ones, rolling back a failing one, and two concurrent
# runs applying everything exactly once.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

db=mig_$(date +%s%N)
dir=$(mktemp -d)
scratch="$PAYLINK_DB dbname=$db"
cleanup() {
    rm -rf "$dir"
    psql -X -q -d "$PAYLINK_DB" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
pl_on_exit cleanup
pl_sql "CREATE DATABASE $db"
migrate() { "$PL_CTL" --db "$scratch" migrate --dir "$dir" "$@"; }
sql() { psql -X -A -t -q -d "$scratch" -c "$1"; }

# Versions order numerically (2 before 10); a slow first file lets a second run start meanwhile.
printf 'CREATE TABLE t_log (v int); INSERT INTO t_log VALUES (1); SELECT pg_sleep(1);\n' >"$dir/001_first.sql"
printf 'INSERT INTO t_log VALUES (2);\n' >"$dir/2_second.sql"
printf 'INSERT INTO t_log VALUES (10);\n' >"$dir/10_tenth.sql"
echo "not a migration" >"$dir/README.md"

status=$(migrate --status)
assert_eq "$(grep -c pending <<<"$status")" 3 "pending before the first run"

migrate >"$dir/run1.out" 2>&1 &
first=$!
sleep 0.3
migrate >"$dir/run2.out" 2>&1 || fail "second concurrent migrate failed: $(cat "$dir/run2.out")"
wait "$first" || fail "first concurrent migrate failed: $(cat "$dir/run1.out")"
assert_eq "$(sql 'SELECT string_agg(v::text, $$ $$ ORDER BY ctid) FROM t_log')" "1 2 10" \
    "rows in application order, each file once"
assert_eq "$(sql 'SELECT string_agg(version::text, $$,$$ ORDER BY version) FROM schema_migrations')" \
    "1,2,10" "recorded versions"
assert_eq "$(sql 'SELECT checksum FROM schema_migrations WHERE version = 10')" \
    "$(sha256sum <"$dir/10_tenth.sql" | cut -d' ' -f1)" "recorded checksum"

out=$(migrate) || fail "re-run failed: $out"
assert_contains "$out" "up to date" "re-run"
assert_eq "$(sql 'SELECT count(*) FROM t_log')" 3 "nothing applied twice"

# A failing file leaves no trace and stops the run; fixing it lets the next run apply it.
printf 'CREATE TABLE t_bad (x int); SELECT 1/0;\n' >"$dir/011_bad.sql"
if out=$(migrate 2>&1); then fail "a failing migration must fail the run: $out"; fi
assert_contains "$out" "011_bad.sql" "error names the file"
assert_eq "$(sql "SELECT to_regclass('t_bad')")" "" "failed file rolled back"
assert_eq "$(sql 'SELECT count(*) FROM schema_migrations WHERE version = 11')" 0 \
    "failed file not recorded"
printf 'CREATE TABLE t_bad (x int);\n' >"$dir/011_bad.sql"
migrate >/dev/null || fail "fixed migration did not apply"
assert_eq "$(sql "SELECT to_regclass('t_bad')")" t_bad "fixed file applied"

# An applied file that changed is refused before anything else is applied.
printf 'INSERT INTO t_log VALUES (2), (2);\n' >"$dir/2_second.sql"
printf 'CREATE TABLE t_new (x int);\n' >"$dir/012_new.sql"
if out=$(migrate 2>&1); then fail "an edited applied migration must be refused: $out"; fi
assert_contains "$out" "CHANGED 2_second.sql" "refusal names the file"
assert_eq "$(sql "SELECT to_regclass('t_new')")" "" "nothing applied after a refusal"
if out=$(migrate --status 2>&1); then fail "--status must fail on a changed file"; fi
assert_contains "$out" "CHANGED" "--status shows the change"

# A misnamed .sql file is an error, not silently skipped.
printf 'INSERT INTO t_log VALUES (2);\n' >"$dir/2_second.sql"
printf 'SELECT 1;\n' >"$dir/seed.sql"
if out=$(migrate 2>&1); then fail "a misnamed .sql file must be refused: $out"; fi
assert_contains "$out" "seed.sql" "misnamed file"
