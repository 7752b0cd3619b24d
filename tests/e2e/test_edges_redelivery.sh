#!/usr/bin/env bash
# Issue 6 A.1: a redelivered request is looked up before it is judged. A request whose
# request_id has a row is answered from the row (replay / resume / required response) whatever
# validation says now; only a request with no row can be `invalid`.
#   1. Its service bureau is removed from the configuration while it is marked sent and the
#      worker crashes: after the restart it is a required response, not `invalid`.
#   2. The card-hash (fingerprint) key is rotated: with the old key among
#      PAYLINK_HASH_KEY_PREVIOUS_FILES a redelivery is replayed, not an idempotency conflict,
#      a stored value authorization made under the old key can be deposited on, and a card
#      generated under the old key is activated on its row.
# Issue 6 A.7: sent_by fits an instance name of the longest allowed length (95 characters).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pl_on_exit "pl_sim_latency 0"
# Whatever happens, the test leaves the worker running as tools/dev started it.
pl_on_exit "pl_worker_stop auth; pl_worker_start auth"

# ---- 1. service bureau removed -----------------------------------------------------------------
pl_clone_bureau CYBX '{"description": "removed by the test", "response_time_ms": 60000}'
id="gone-$run"
pl_sim_latency 30000
pl_send auth "$(pl_request auth "$id" 31.00 '.service = "CYBX"')"
is_sent() { [ "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$1")" = sent ]; }
pl_eventually 60 is_sent "$id" || fail "$id was never marked sent"
pl_worker_stop auth KILL
pl_sql "DELETE FROM auth_service WHERE service_bureau = 'CYBX'" >/dev/null
pl_sim_latency 0
pl_worker_start auth
r=$(pl_wait_reply auth "$id" 90) || fail "no reply for $id after the restart"
assert_json .status timeout "$r"
assert_json .required_response true "$r"
assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$id")" unknown "row unknown"
assert_eq "$(pl_sql "SELECT status || '|' || reason FROM required_response WHERE request_id = :'id'" id="$id")" \
    "open|sent_not_answered" "required response open"
# What was sent (the row's operation), not the redelivered request's type: the resolver asks
# the bureau about that operation.
assert_eq "$(pl_sql "SELECT r.operation = t.operation AND r.operation = 'token_auth' FROM required_response r JOIN cc_auth_trans t USING (request_id) WHERE r.request_id = :'id'" id="$id")" \
    t "the required response names the operation sent"
assert_eq "$(pl_messages "$(pl_topic auth request.dlq)" | grep -c -F "\"$id\"" || true)" 0 \
    "no dead letter for a request that has a row"

# A request with that bureau that has no row is invalid, as before.
pl_send auth "$(pl_request auth "gone2-$run" 31.00 '.service = "CYBX"')"
r=$(pl_wait_reply auth "gone2-$run" 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' service "$r"

# ---- 2. fingerprint key rotation ---------------------------------------------------------------
id="rot-$run"
msg=$(pl_request auth "$id" 32.00)
pl_send auth "$msg"
r=$(pl_wait_reply auth "$id" 60)
assert_json .status approved "$r"
newkey=$PAYLINK_DEV_DIR/secrets/hash-rotated-$run.key
(umask 077 && head -c 32 /dev/urandom | base64 >"$newkey")
pl_on_exit "rm -f '$newkey'"
pl_worker_stop auth
pl_worker_start auth PAYLINK_HASH_KEY_FILE="$newkey" PAYLINK_HASH_KEY_PREVIOUS_FILES="$PAYLINK_HASH_KEY_FILE"
pl_send auth "$msg"
r=$(pl_wait_reply_nth auth "$id" 2 60)
assert_json .status approved "$r"
assert_json .replayed true "$r"
# A new request under the new key works as ever.
pl_send auth "$(pl_request auth "rot2-$run" 33.00)"
r=$(pl_wait_reply auth "rot2-$run" 60)
assert_json .status approved "$r"
# Without the old key the same redelivery cannot be told from a reused request_id.
pl_worker_stop auth
pl_worker_start auth PAYLINK_HASH_KEY_FILE="$newkey"
pl_send auth "$msg"
r=$(pl_wait_reply_nth auth "$id" 3 60)
assert_json .status invalid "$r"
assert_json '.errors[0].field' request_id "$r"

# ---- 2b. a stored value authorization across the rotation ----------------------------------------
# A card generated, activated and authorized under the old key is deposited on under the new one
# (the old key among the previous ones): the deposit's card check hashes the card under that
# key too. Without the old key the authorization is another card's.
pl_on_exit "pl_worker_stop svc; pl_worker_start svc"
sorder="SR$run"
svc() { pl_svc_reply "$1" "$2" "$sorder" "${3:-}" "${4:-.}"; }
r=$(svc "srg-$run" generate "" '.svc = {order_line: 1, issue_amount: "30.00", virtual: true}')
card=$(jq -r '.svc.card_number // ""' <<<"$r")
[[ $card =~ ^[0-9]{10,20}$ ]] || fail "no generated card: $r"
with_card() { echo ".svc = {card_number: \"$card\"} ${1:+| $1}"; }
r=$(svc "sra-$run" activate 30.00 "$(with_card '.svc += {order_line: 1, issue_amount: "30.00", virtual: true}')")
assert_json .status approved "$r"
r=$(svc "srp-$run" auth 20.00 "$(with_card)")
assert_json .status approved "$r"
pl_worker_stop svc
pl_worker_start svc PAYLINK_HASH_KEY_FILE="$newkey"
r=$(svc "srd0-$run" deposit 10.00 "$(with_card ".auth_ref = {request_id: \"srp-$run\"}")")
assert_json .status declined "$r"
assert_json .message "The authorization is of another stored value card." "$r"
pl_worker_stop svc
pl_worker_start svc PAYLINK_HASH_KEY_FILE="$newkey" PAYLINK_HASH_KEY_PREVIOUS_FILES="$PAYLINK_HASH_KEY_FILE"
r=$(svc "srd1-$run" deposit 10.00 "$(with_card ".auth_ref = {request_id: \"srp-$run\"}")")
assert_json .status approved "$r"
assert_json .amount_approved 10.00 "$r"
# Activated again under the new key (an upstream retry with a fresh id): the card's row, still
# under the old key, is moved to the new one when the activation is recorded and found active:
# declined without a call (migration 043), not a second Recharge.
recharges=$(pl_ledger_count "$sorder" recharge)
r=$(svc "sra2-$run" activate 30.00 "$(with_card '.svc += {order_line: 1, issue_amount: "30.00", virtual: true}')")
assert_json .status declined "$r"
assert_contains "$(jq -r .message <<<"$r")" "already active" "message"
assert_eq "$(pl_ledger_count "$sorder" recharge)" "$recharges" "no second Recharge"

# ---- 2c. a stored value card's row across the rotation -------------------------------------------
# A card generated under the old key is activated under the new one (the old key among the
# previous ones): its row in the Stored Value Card table is found, moved to the new key and
# activated — not left 'generated' beside a second row for the same card.
pl_worker_stop svc
pl_worker_start svc
sorder="SK$run"
r=$(svc "skg-$run" generate "" '.svc = {order_line: 1, issue_amount: "25.00", virtual: true}')
card=$(jq -r '.svc.card_number // ""' <<<"$r")
[[ $card =~ ^[0-9]{10,20}$ ]] || fail "no generated card: $r"
pl_worker_stop svc
pl_worker_start svc PAYLINK_HASH_KEY_FILE="$newkey" PAYLINK_HASH_KEY_PREVIOUS_FILES="$PAYLINK_HASH_KEY_FILE"
r=$(svc "ska-$run" activate 25.00 "$(with_card '.svc += {order_line: 1, issue_amount: "25.00", virtual: true}')")
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT count(*) || '|' || min(c.status) || '|' || bool_and(c.card_hash = t.card_hash) || '|' || min(c.activated_by) || '|' || min(c.generated_by)
    FROM stored_value_card c, svc_trans t WHERE c.order_number = :'o' AND t.request_id = :'a'" o="$sorder" a="ska-$run")" \
    "1|active|true|ska-$run|skg-$run" "one row for the card, under the new key, activated"
assert_eq "$(pl_sql "SELECT count(DISTINCT card_hash) FROM svc_trans WHERE request_id IN (:'g', :'a')" g="skg-$run" a="ska-$run")" 2 \
    "the generate and the activation hashed the card under different keys"
pl_worker_stop svc
pl_worker_start svc

# ---- 3. the longest instance name --------------------------------------------------------------
long=$(printf 'i%.0s' $(seq 1 95))
pl_worker_stop auth
pl_worker_start auth PAYLINK_INSTANCE="$long"
id="long-$run"
pl_send auth "$(pl_request auth "$id" 34.00)"
r=$(pl_wait_reply auth "$id" 60)
assert_json .status approved "$r"
assert_eq "$(pl_sql "SELECT length(sent_by) > 95 FROM cc_auth_trans WHERE request_id = :'id'" id="$id")" t \
    "sent_by holds the whole instance name and the attempt"

assert_logs_clean
pass "redelivered requests are answered from their rows"
