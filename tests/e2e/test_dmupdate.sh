#!/usr/bin/env bash
# paylink-dmupdate end to end (issue 10; seed cybersource-point-to-point.txt "Cybersource Decision
# Manager Update Process"; CONTRACT.md paylink.dm.decision and §3's 480):
#   - authorizations of 480.00 and 480.01 come back `review` with hold FS;
#   - `paylink-dmupdate --once` reads the simulator's Conversion Detail Report (ACCEPT for even
#     cents, REJECT for odd) and publishes one `release_hold` and one `cancel_order` event with
#     their messages (upper case), and a reversal request that paylink-reversal carries out (a
#     reversal in the simulator's ledger); dm_decision and dm_run record it;
#   - a conversion of an authorization paylink did not answer review (as if it had approved it)
#     is skipped, with a log line: no event, no dm_decision row;
#   - a REJECT of an order with a debit still at the bureau is fraud_cancel_hold (part of it is
#     going out), not cancel_order;
#   - a second `--once` publishes nothing new;
#   - a conversion of an authorization whose outcome is unknown is deferred, its window asked for
#     again each run, and applied once the authorization is settled;
#   - a bad report password fails the run (exit 1, the service's "Invalid login credentials." in
#     the log, never the password), records no run, and the next good run asks for the same
#     window again;
#   - a decision recorded earlier but not published (Kafka did not acknowledge it) is published
#     by the next run even when that run's report call fails (the simulator's report answering
#     HTTP 500): the run fails, the decision goes out;
#   - without --company every company with a review is updated, however many (more than 64);
#   - a review held under its pay type's merchant ID is in that merchant's report, which is asked
#     for too.
# The periodic paylink-dmupdate of the environment is stopped meanwhile, so only these runs act.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
# The environment's periodic paylink-dmupdate holds its connection under its own name.
assert_eq "$(pl_sql "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'paylink-dmupdate'")" \
    t "paylink-dmupdate's connection is named in pg_stat_activity"
pl_worker_stop dmupdate
pl_on_exit "pl_worker_start dmupdate"
dmupdate() { "$PAYLINK_BIN/paylink-dmupdate" --once --company 1 "$@" 2>>"$PAYLINK_LOG_DIR/test_dmupdate.log"; }
events() { # ORDER: the decision events of ORDER, one JSON per line
    pl_messages "$(pl_topic dm decision)" | jq -Rc --arg o "$1" 'fromjson? | select(.order? == $o)'
}
runs() { pl_sql "SELECT count(*) || '|' || coalesce(max(window_end)::text, '-') FROM dm_run WHERE company = 1 AND service_bureau = 'CYB'"; }
# A report window is whole seconds from the last run's end to now: a run in that same second has
# nothing to ask. past_last_end: true once the clock has moved past the last window's end.
past_last_end() {
    [ "$(date +%s)" -gt "$(pl_sql "SELECT coalesce(max(extract(epoch FROM window_end))::bigint, 0) FROM dm_run WHERE company = 1 AND service_bureau = 'CYB'")" ]
}
next_window() { pl_eventually 10 past_last_end || fail "the clock did not move past the last window"; }

# A run first, so the window of the runs below starts before these authorizations.
dmupdate || fail "the first paylink-dmupdate --once failed"

# ---- two reviews ----------------------------------------------------------------------------------
oa="DA$run" orj="DR$run"
ra="dma-$run" rr="dmr-$run"
r=$(pl_auth_reply "$ra" 480.00 "$oa")
assert_json .status review "$r"
assert_json .hold_reason FS "$r"
tid_a=$(jq -r .auth.transaction_id <<<"$r")
r=$(pl_auth_reply "$rr" 480.01 "$orj")
assert_json .status review "$r"
assert_json .hold_reason FS "$r"
tid_r=$(jq -r .auth.transaction_id <<<"$r")
# A third, answered as if paylink had approved it: Decision Manager converts cases of orders it
# accepted too (monitoring), which the order system never held; the update is for reviews only.
on="DN$run" rn="dmn-$run"
r=$(pl_auth_reply "$rn" 480.03 "$on")
assert_json .status review "$r"
tid_n=$(jq -r .auth.transaction_id <<<"$r")
# (An answered row is final, guarded by a trigger: set aside for this one statement's session.)
pl_sql "SET session_replication_role = replica;
    UPDATE cc_auth_trans SET status = 'approved' WHERE request_id = :'id'" id="$rn" >/dev/null
# A fourth, rejected while a debit of its order is at the bureau (sent, no answer yet): part of
# the order is going out, so the order system is told fraud_cancel_hold, not cancel_order.
of="DF$run" rf="dmf-$run"
r=$(pl_auth_reply "$rf" 480.05 "$of")
assert_json .status review "$r"
pl_sql "INSERT INTO cc_deposit_trans (request_id, fingerprint, request_type, operation, company,
    order_number, pay_seq, service_bureau, amount, currency, auth_ref_request_id, status, sent_at)
    VALUES (:'id', repeat('0', 64), 'debit', 'capture', 1, :'o', 1, 'CYB', 100.00, 'USD', :'a',
    'sent', now())" id="dmfd-$run" o="$of" a="$rf" >/dev/null

# ---- one run: release_hold for 480.00, cancel_order + reversal for 480.01 -----------------------
before=$(runs)
next_window
dmupdate || fail "paylink-dmupdate --once failed"
assert_ne "$(runs)" "$before" "the run is recorded in dm_run"
# (pl_eventually runs a command again and again: the checks are functions, not a test of a value
# substituted once.)
has_events() { [ -n "$(events "$1")" ]; }
pl_eventually 30 has_events "$oa" || fail "no decision event for $oa"
pl_eventually 30 has_events "$orj" || fail "no decision event for $orj"
ea=$(events "$oa")
er=$(events "$orj")
assert_eq "$(events "$on" | wc -l)" 0 "no event for $on, whose authorization paylink did not answer review"
assert_eq "$(pl_sql "SELECT count(*) FROM dm_decision WHERE transaction_id = :'t'" t="$tid_n")" 0 \
    "no dm_decision row for $on"
grep -q "Decision Manager conversion of $tid_n (REVIEW -> REJECT) skipped" "$PAYLINK_LOG_DIR/test_dmupdate.log" ||
    fail "the log does not say the conversion of $tid_n was skipped"
pass "the log says the conversion of $tid_n was skipped"
assert_eq "$(wc -l <<<"$ea")" 1 "one event for $oa"
assert_eq "$(wc -l <<<"$er")" 1 "one event for $orj"
assert_json .action release_hold "$ea"
assert_json .new_decision ACCEPT "$ea"
assert_json .original_decision REVIEW "$ea"
assert_json .transaction_id "$tid_a" "$ea"
assert_json .company 1 "$ea"
assert_json .reversal_request_id null "$ea"
assert_json .action cancel_order "$er"
assert_json .new_decision REJECT "$er"
assert_json .cancel_reason M14 "$er"
assert_json .transaction_id "$tid_r" "$er"
pl_eventually 30 has_events "$of" || fail "no decision event for $of"
ef=$(events "$of")
assert_json .action fraud_cancel_hold "$ef"
assert_json .new_decision REJECT "$ef"
for e in "$ea" "$er"; do
    [ "$(jq '.messages | length' <<<"$e")" -ge 1 ] || fail "no order messages in $e"
    [ "$(jq -r '.messages[]' <<<"$e" | grep -c '[a-z]' || true)" = 0 ] || fail "lower case in $e"
    jq -e '.messages | index("TOOK OWNERSHIP")' <<<"$e" >/dev/null || fail "no TOOK OWNERSHIP in $e"
done
pass "both events carry the notes and comments, upper case"
printf '%s\n%s\n' "$ea" "$er" | while read -r e; do
    python3 - "$PL_ROOT/schema/messages/dm-decision.schema.json" "$e" <<'PY' || exit 1
import json, sys
from jsonschema import Draft202012Validator
Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.loads(sys.argv[2]))
PY
done || fail "a decision event does not match schema/messages/dm-decision.schema.json"
pass "the events match dm-decision.schema.json"

# The reversal of the rejected authorization, carried out by paylink-reversal.
rid=$(jq -r .reversal_request_id <<<"$er")
assert_eq "$rid" "$rr.dmrev" "the reversal request id"
r=$(pl_wait_reply reversal "$rid" 60) || fail "no reversal reply for $rid"
assert_json .status approved "$r"
assert_eq "$(pl_ledger | jq --arg id "$rid" '[.[] | select(.protocol == "CYB" and .op == "reversal" and .ref == $id)] | length')" 1 \
    "the reversal is in the simulator's ledger"
assert_eq "$(pl_sql "SELECT string_agg(new_decision || '|' || action || '|' || auth_request_id || '|' || (published_at IS NOT NULL), ',' ORDER BY new_decision) FROM dm_decision WHERE company = 1 AND order_number IN (:'a', :'r')" a="$oa" r="$orj")" \
    "ACCEPT|release_hold|$ra|true,REJECT|cancel_order|$rr|true" "dm_decision records both, published"
# A debit naming the rejected review is refused without a call, as one naming a 481 is: not an
# auth+capture of the card the reviewer rejected (never screened again).
pl_send deposit "$(pl_debit "dmd-$run" 480.01 "$orj" "$rr" '.card = {number: "4111111111111111", exp_month: 12, exp_year: 2030}')"
r=$(pl_wait_reply deposit "dmd-$run" 60)
assert_json .status declined "$r"
assert_eq "$(pl_ledger_count "dmd-$run")" 0 "nothing sent for the debit of a rejected review"

# ---- a second run: nothing new --------------------------------------------------------------------
next_window
dmupdate || fail "the second paylink-dmupdate --once failed"
sleep 1
assert_eq "$(events "$oa" | wc -l)" 1 "still one event for $oa"
assert_eq "$(events "$orj" | wc -l)" 1 "still one event for $orj"
assert_eq "$(pl_sql "SELECT count(*) FROM dm_decision WHERE company = 1 AND order_number IN (:'a', :'r')" a="$oa" r="$orj")" 2 \
    "dm_decision unchanged"

# ---- the report service failing: what was recorded is published all the same ---------------------
# The decision of $oa as if Kafka had not acknowledged its event (published_at NULL), and the
# report service failing (HTTP 500, as an expired report password or an outage would): the run
# fails and records no run, but the decision paylink holds goes out.
sim_dm_fail() {
    curl -sf -o /dev/null -X POST --cacert "$PAYLINK_SIM_CA" "$PAYLINK_SIM_URL/__sim/dm/fail?mode=$1" ||
        fail "cannot set the simulator's report failure to $1"
}
pl_on_exit "sim_dm_fail none"
pl_sql "UPDATE dm_decision SET published_at = NULL WHERE company = 1 AND order_number = :'o'" o="$oa" >/dev/null
sim_dm_fail 500
before=$(runs)
next_window
if dmupdate; then
    fail "paylink-dmupdate --once succeeded while the report service failed"
fi
pass "a failing report call fails the run (exit status)"
sim_dm_fail none
assert_eq "$(runs)" "$before" "no run recorded while the report service fails"
assert_eq "$(pl_sql "SELECT count(*) FROM dm_decision WHERE company = 1 AND order_number = :'o' AND published_at IS NOT NULL" o="$oa")" 1 \
    "the decision recorded earlier is marked published"
two_events() { [ "$(events "$1" | wc -l)" = 2 ]; }
pl_eventually 30 two_events "$oa" || fail "the decision of $oa was not published again during the report outage"
pass "the decision of $oa is published again during the report outage"
assert_json .action release_hold "$(events "$oa" | tail -n 1)"

# ---- a conversion of an authorization whose outcome is not known yet ---------------------------
# Decided in Decision Manager while paylink still waits for the authorization's answer (status
# unknown, no transaction id to match the conversion by): deferred, its window asked for again
# (dm_recheck) each run; once the authorization is settled — as the resolver's query settles it:
# review, with its transaction id — the next run applies it, and the window is done.
ou="DU$run" ru="dmu-$run"
r=$(pl_auth_reply "$ru" 480.02 "$ou")
assert_json .status review "$r"
tid_u=$(jq -r .auth.transaction_id <<<"$r")
pl_sql "SET session_replication_role = replica;
    UPDATE cc_auth_trans SET status = 'unknown', transaction_id = '' WHERE request_id = :'id';
    UPDATE auth_history SET transaction_id = '' WHERE request_id = :'id'" id="$ru" >/dev/null
rechecks() { pl_sql "SELECT count(*) FROM dm_recheck WHERE company = 1 AND service_bureau = 'CYB'"; }
rechecks_before=$(rechecks)
next_window
dmupdate || fail "paylink-dmupdate --once failed with a deferred conversion"
grep -q "Decision Manager conversion of $tid_u (REVIEW -> ACCEPT) deferred" "$PAYLINK_LOG_DIR/test_dmupdate.log" ||
    fail "the log does not say the conversion of $tid_u was deferred"
assert_eq "$(events "$ou" | wc -l)" 0 "no event while the authorization's outcome is unknown"
# (A conversion at a window's last second is in the next window too: both ends are inclusive.)
[ "$(rechecks)" -gt "$rechecks_before" ] || fail "its window is not noted to be asked for again"
pass "its window is noted to be asked for again"
# Asked for again, still unknown: still deferred, still noted.
next_window
dmupdate || fail "paylink-dmupdate --once failed"
assert_eq "$(events "$ou" | wc -l)" 0 "still no event"
[ "$(rechecks)" -gt "$rechecks_before" ] || fail "its window is no longer noted"
pass "still noted"
pl_sql "SET session_replication_role = replica;
    UPDATE cc_auth_trans SET status = 'review', transaction_id = :'t' WHERE request_id = :'id';
    UPDATE auth_history SET transaction_id = :'t' WHERE request_id = :'id'" id="$ru" t="$tid_u" >/dev/null
next_window
dmupdate || fail "paylink-dmupdate --once failed"
pl_eventually 30 has_events "$ou" || fail "no decision event for $ou once its authorization was settled"
assert_json .action release_hold "$(events "$ou")"
assert_json .transaction_id "$tid_u" "$(events "$ou")"
assert_eq "$(rechecks)" "$rechecks_before" "the window is done"

# ---- a bad password: no run recorded, the same window next time ------------------------------------
bad=$(mktemp)
chmod 600 "$bad"
echo "not-the-password-$run" >"$bad"
pl_on_exit "rm -f '$bad'"
before=$(runs)
last_end=$(pl_sql "SELECT max(window_end) FROM dm_run WHERE company = 1 AND service_bureau = 'CYB'")
next_window
if PAYLINK_DM_PASSWORD_FILE=$bad dmupdate; then
    fail "paylink-dmupdate --once succeeded with a bad password"
fi
pass "a bad password fails the run (exit status)"
assert_eq "$(runs)" "$before" "no run recorded"
grep -q "Invalid login credentials." "$PAYLINK_LOG_DIR/test_dmupdate.log" ||
    fail "the log does not say Invalid login credentials."
pass "the log says Invalid login credentials."
assert_not_contains "$(cat "$PAYLINK_LOG_DIR/test_dmupdate.log")" "not-the-password-$run" "the log"
dmupdate || fail "paylink-dmupdate --once failed after the bad password"
# (From PAYLINK_DM_OVERLAP_S, 5 minutes, before it: a conversion shows in the report after its date.)
assert_eq "$(pl_sql "SELECT count(*) FROM dm_run WHERE company = 1 AND service_bureau = 'CYB' AND window_start = :'e'::timestamptz - interval '5 minutes'" e="$last_end")" 1 \
    "the next good run asks for the window from 5 minutes before where the last success ended"

# ---- another run holds the company: this one skips it (advisory lock) -------------------------
before=$(runs)
coproc HOLD { psql -q -X -d "$PAYLINK_DB" -v ON_ERROR_STOP=1 -c "SELECT pg_advisory_lock(1, hashtext('dmupdate:CYB'))" -c "SELECT pg_sleep(30)" >/dev/null 2>&1; }
# Bash unsets HOLD_PID once the coprocess is gone, and release_hold runs again at exit.
hold_pid=$HOLD_PID
# The holder's session ends with the test (killing psql alone would leave its backend asleep
# with the lock for the rest of pg_sleep).
release_hold() {
    kill "$hold_pid" 2>/dev/null || true
    pl_sql "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1 AND granted AND pid <> pg_backend_pid()" >/dev/null
}
pl_on_exit release_hold
held_locks() { pl_sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1 AND granted"; }
lock_held() { [ "$(held_locks)" -ge 1 ]; }
lock_free() { [ "$(held_locks)" = 0 ]; }
pl_eventually 10 lock_held ||
    fail "the test could not take the advisory lock"
dmupdate || fail "paylink-dmupdate --once failed while another run held the company"
assert_eq "$(runs)" "$before" "no run recorded while another run holds the company"
grep -q "another run is updating it" "$PAYLINK_LOG_DIR/test_dmupdate.log" || fail "no 'skipped' log line"
pass "the run skipped the company another run holds"
release_hold
pl_eventually 10 lock_free ||
    fail "the advisory lock was not released"

# ---- more companies than any fixed list: every one is updated --------------------------------------
# Without --company, every company with a review on the bureau (dm_review_company) or an earlier
# run is updated: 70 companies of the test's own, besides those of the environment, each get their
# run (a list cut at 64 left those after it without decisions, and without an alert).
cos=$(pl_sql "SELECT string_agg(c::text, ',' ORDER BY c) FROM (SELECT c FROM generate_series(799, 500, -1) c
    WHERE NOT EXISTS (SELECT 1 FROM dm_review_company d WHERE d.company = c)
      AND NOT EXISTS (SELECT 1 FROM dm_run r WHERE r.company = c) LIMIT 70) f")
[ "$(tr ',' '\n' <<<"$cos" | wc -l)" = 70 ] || fail "no 70 companies free for the test"
forget_cos() {
    pl_sql "DELETE FROM dm_run WHERE company = ANY(string_to_array(:'c', ',')::int[]);
        DELETE FROM dm_recheck WHERE company = ANY(string_to_array(:'c', ',')::int[]);
        DELETE FROM dm_review_company WHERE company = ANY(string_to_array(:'c', ',')::int[])" c="$cos" >/dev/null
}
# At exit, after a failure here: the environment's paylink-dmupdate is started again by then (the
# handlers run in order), and a cycle of it that listed them would write their runs again: it is
# stopped while they are forgotten.
pl_on_exit '[ -z "${cos_left:-}" ] || { pl_worker_stop dmupdate; forget_cos; pl_worker_start dmupdate; }'
cos_left=1
pl_sql "INSERT INTO dm_review_company (service_bureau, company)
    SELECT 'CYB', unnest(string_to_array(:'c', ',')::int[])" c="$cos" >/dev/null
"$PAYLINK_BIN/paylink-dmupdate" --once --service CYB 2>>"$PAYLINK_LOG_DIR/test_dmupdate.log" ||
    fail "paylink-dmupdate --once for every company failed"
assert_eq "$(pl_sql "SELECT count(DISTINCT company) FROM dm_run WHERE service_bureau = 'CYB' AND company = ANY(string_to_array(:'c', ',')::int[])" c="$cos")" 70 \
    "each of the 70 companies has its run"
# (Now, while the environment's paylink-dmupdate is stopped: started again below, it would go on
# updating them.)
forget_cos
cos_left=

# ---- a review held under its pay type's merchant ID ----------------------------------------------
# A report covers one merchant ID: a Visa authorization sent under the merchant ID of pay type VI
# (vendor_paytype) is in that merchant's report only. Its merchant ID is noted with the review
# (dm_review_merchant, 045) and asked for too (before, only the bureau's was, and the decision
# was never applied). paylink-auth runs with the merchant ID for as long as it takes to send it.
restore_vi() {
    pl_sql "UPDATE vendor_paytype SET merchant_id = '' WHERE service_bureau = 'CYB' AND pay_type = 'VI'" >/dev/null
    pl_worker_stop auth
    pl_worker_start auth
}
pl_on_exit '[ -z "${vi_set:-}" ] || restore_vi'
vi_set=1
pl_sql "UPDATE vendor_paytype SET merchant_id = :'m' WHERE service_bureau = 'CYB' AND pay_type = 'VI'" m="pl_vi_$run" >/dev/null
pl_worker_stop auth
pl_worker_start auth
ov="DV$run"
r=$(pl_auth_reply "dmv-$run" 480.04 "$ov")
assert_json .status review "$r"
restore_vi
vi_set=
assert_eq "$(pl_sql "SELECT merchant_id FROM cc_auth_trans WHERE request_id = :'id'" id="dmv-$run")" "pl_vi_$run" \
    "sent under the pay type's merchant ID"
assert_eq "$(pl_sql "SELECT count(*) FROM dm_review_merchant WHERE service_bureau = 'CYB' AND company = 1 AND merchant_id = :'m'" m="pl_vi_$run")" 1 \
    "its merchant ID noted with the review"
next_window
dmupdate || fail "paylink-dmupdate --once failed"
pl_eventually 30 has_events "$ov" || fail "no decision event for $ov, reviewed under merchant pl_vi_$run"
assert_json .action release_hold "$(events "$ov")"
grep -q "Conversion Detail Report for merchant pl_vi_$run" "$PAYLINK_LOG_DIR/test_dmupdate.log" ||
    fail "the log does not name the report of merchant pl_vi_$run"
pass "the report of the pay type's merchant ID was asked for"
pl_sql "DELETE FROM dm_review_merchant WHERE merchant_id = :'m'" m="pl_vi_$run" >/dev/null

# A SIGUSR1 meant for a consuming worker (it lists what it holds) does not end the periodic
# paylink-dmupdate: ignored, where its default action would have killed it mid-cycle.
pl_worker_start dmupdate
dm_pid=$(<"$PAYLINK_RUN_DIR/paylink-dmupdate.pid")
kill -USR1 "$dm_pid"
sleep 1
# (Running or sleeping: a process the signal ended stays a zombie until it is reaped, and
# kill -0 would still find it.)
state=$(awk '/^State:/ {print $2}' "/proc/$dm_pid/status" 2>/dev/null || true)
[ -n "$state" ] && [ "$state" != Z ] || fail "paylink-dmupdate ended on SIGUSR1"
pl_worker_stop dmupdate
pass "paylink-dmupdate ignores SIGUSR1"
