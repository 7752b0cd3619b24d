#!/usr/bin/env bash
# The bureau message log (seed: CYB_PAY_LINK_SERVICE_ENABLE_LOG / _LOG_DIRECTORY): when enabled,
# every request and answer is written, with the card number masked and the CVV and the
# transaction key removed; both J16 masking modes of the seed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
dir="$PAYLINK_LOG_DIR/cyb-messages-$run"
mkdir -p "$dir"
key=$(<"$PAYLINK_CYB_TRANSACTION_KEY_FILE")

restore() {
    pl_sql "UPDATE auth_service SET message_log_enabled = false, message_log_dir = '' WHERE service_bureau = 'CYB'" >/dev/null
    pl_worker_stop auth TERM
    pl_worker_start auth
}
trap restore EXIT

pl_sql "UPDATE auth_service SET message_log_enabled = true, message_log_dir = :'dir' WHERE service_bureau = 'CYB'" dir="$dir" >/dev/null
pl_worker_stop auth TERM
pl_worker_start auth

id="mlog-$run"
pl_send auth "$(pl_request auth "$id" 60.00 '.card.cvv = "987"')"
r=$(pl_wait_reply auth "$id" 60)
assert_json .status approved "$r"

log=$(cat "$dir"/paylink-auth-CYB-*.log)
assert_contains "$log" "$id request" "the request is logged"
assert_contains "$log" "$id response" "the answer is logged"
assert_contains "$log" "************1111" "card number masked to its last four (J16 selected)"
assert_contains "$log" "replyMessage" "the answer's XML is there"
assert_not_contains "$log" 4111111111111111 "no full card number"
assert_not_contains "$log" ">987<" "no CVV"
assert_not_contains "$log" "$key" "no transaction key"
assert_eq "$(stat -c %a "$(ls "$dir"/paylink-auth-CYB-*.log | head -1)")" 600 "the log is private to the worker"

# J16 unselected in every company: the number is replaced by ***REMOVED***.
pl_sql "UPDATE auth_service SET message_log_dir = :'dir' WHERE service_bureau = 'CYB'" dir="$dir/removed" >/dev/null
mkdir -p "$dir/removed"
pl_worker_stop auth TERM
pl_worker_start auth PAYLINK_LOG_MASK=removed
id2="mlog2-$run"
pl_send auth "$(pl_request auth "$id2" 61.00)"
r=$(pl_wait_reply auth "$id2" 60)
assert_json .status approved "$r"
log=$(cat "$dir"/removed/paylink-auth-CYB-*.log)
assert_contains "$log" "***REMOVED***" "card number removed (J16 unselected)"
assert_not_contains "$log" 4111111111111111 "no full card number"

pass "bureau message log"
