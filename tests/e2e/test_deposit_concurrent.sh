#!/usr/bin/env bash
# Issue 6 A.6: concurrent work on one authorization is serialised. Each capture claims its
# amount on the authorization in the statement that marks it sent (009_claims.sql), a reversal
# the whole authorization, so calls in flight together see each other:
#   1. a 100.00 authorization, two 60.00 debits sent together: one capture of 60.00 and one
#      auth+capture of 60.00, never two captures against 100.00;
#   2. a 100.00 authorization, a 60.00 debit and a reversal sent together: never both a capture
#      and a reversal of that authorization.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pl_on_exit "pl_sim_latency 0"

auth() { assert_json .status approved "$(pl_auth_reply "$1" "$2" "$3")"; }
debit() { pl_debit "$@"; }
reversal() {
    jq -nc --arg id "$1" --arg amount "$2" --arg order "$3" --arg auth "$4" '{v: 1,
        request_id: $id, type: "reversal", company: 1, order: $order, pay_seq: 1,
        service: "CYB", amount: $amount, currency: "USD", auth_ref: {request_id: $auth}}'
}

# ---- 1. two debits -------------------------------------------------------------------------
ord="CC$run"
auth "cca-$run" 100.00 "$ord"
pl_sim_latency 1500
pl_send deposit "$(debit "ccd1-$run" 60.00 "$ord" "cca-$run")"
pl_send deposit "$(debit "ccd2-$run" 60.00 "$ord" "cca-$run")"
for d in ccd1 ccd2; do
    r=$(pl_wait_reply deposit "$d-$run" 90) || fail "no reply for $d"
    assert_json .status approved "$r"
done
ops=$(pl_sql "SELECT string_agg(operation, ',' ORDER BY operation) FROM cc_deposit_trans
    WHERE request_id IN (:'a', :'b')" a="ccd1-$run" b="ccd2-$run")
assert_eq "$ops" "auth_capture,capture" "one capture, one auth+capture"
captures=0
for d in ccd1 ccd2; do
    if [ "$(pl_ledger_count "$d-$run" capture)" = 1 ] && [ "$(pl_ledger_count "$d-$run" auth)" = 0 ]; then
        captures=$((captures + 1))
    fi
done
assert_eq "$captures" 1 "the bureau captured against the authorization once"
assert_eq "$(pl_sql "SELECT amount_deposited || '|' || amount_pending FROM auth_history
    WHERE request_id = :'id' AND transaction_type <> 'auth_capture' ORDER BY id LIMIT 1" id="cca-$run")" \
    "60.00|0.00" "60.00 deposited against the authorization, no claim left"
# The capture's remainder went to Void auth at deposit; the auth+capture asked for no reversal
# of an authorization another deposit had captured (it would be refused with 238).
assert_eq "$(pl_sql "SELECT count(*) FROM auth_reversal WHERE auth_request_id = :'id'" id="cca-$run")" 0 \
    "no reversal asked of a captured authorization"

# ---- 2. a debit and a reversal ---------------------------------------------------------------
pl_sim_latency 0
ord="CR$run"
auth "cra-$run" 100.00 "$ord"
pl_sim_latency 1500
pl_send deposit "$(debit "crd-$run" 60.00 "$ord" "cra-$run")"
pl_send reversal "$(reversal "crr-$run" 100.00 "$ord" "cra-$run")"
rd=$(pl_wait_reply deposit "crd-$run" 90) || fail "no deposit reply"
rr=$(pl_wait_reply reversal "crr-$run" 90) || fail "no reversal reply"
dop=$(pl_sql "SELECT operation FROM cc_deposit_trans WHERE request_id = :'id'" id="crd-$run")
if [ "$(jq -r .status <<<"$rr")" = approved ]; then
    assert_eq "$dop|$(jq -r .status <<<"$rd")" "auth_capture|approved" \
        "reversed first: the debit authorized and captured anew"
else
    assert_eq "$dop|$(jq -r .status <<<"$rd")" "capture|approved" "captured first"
    assert_json .status declined "$rr"
    assert_eq "$(pl_ledger_count "crr-$run" reversal)" 0 "the reversal never reached the bureau"
fi
assert_eq "$(pl_sql "SELECT amount_pending FROM auth_history WHERE request_id = :'id'
    AND transaction_type <> 'auth_capture' ORDER BY id LIMIT 1" id="cra-$run")" 0.00 "no claim left"
pass "concurrent deposits and reversals of one authorization are serialised"
