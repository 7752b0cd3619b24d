#!/usr/bin/env bash
# Issue 6 A.3: no request can wedge its partition. A 600 KB request that is not JSON (control
# characters, which grow sixfold when escaped into the dead-letter envelope: far beyond the
# producer's message.max.bytes) is followed by a valid request with the same key, so both land
# on one partition. The invalid one gets its `invalid` reply and a dead-letter copy cut to fit
# (`truncated`: true); the valid one is answered; and the committed offset of the partition
# passes both. Before, the dead-letter publish was retried forever and the partition never
# committed again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
key="1-WEDGE$run"
topic=$(pl_topic auth)
dropped_before=$(pl_metric paylink_publish_dropped_total)
big=$(mktemp)
pl_on_exit "rm -f '$big'"
head -c 600000 /dev/zero | tr '\0' '\001' >"$big"
kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$topic" -k "$key" "$big"
id="wedge-$run"
pl_send auth "$(pl_request auth "$id" 41.00 ".order = \"WEDGE$run\"")"

r=$(pl_wait_reply auth "$id" 60) || fail "the valid request behind the big one was not answered"
assert_json .status approved "$r"

# Where the two landed: same partition, the big one first.
where=$(kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$topic" -o beginning -e -q "${PL_KCAT_EOF[@]}" -f '%p %o %k\n' 2>/dev/null |
    awk -v k="$key" '$3 == k {print $1, $2}')
assert_eq "$(wc -l <<<"$where")" 2 "both messages on the topic"
part=$(head -n 1 <<<"$where" | cut -d' ' -f1)
big_off=$(head -n 1 <<<"$where" | cut -d' ' -f2)
valid_off=$(tail -n 1 <<<"$where" | cut -d' ' -f2)
assert_eq "$(tail -n 1 <<<"$where" | cut -d' ' -f1)" "$part" "same partition"

# The dead-letter copy of the big one, cut to fit (published with its reply: it may land after
# the valid request's reply, so it is waited for).
dlq=''
find_dlq() {
    dlq=$(pl_messages "$(pl_topic auth request.dlq)" |
        jq -c --argjson p "$part" --argjson o "$big_off" 'select(.partition == $p and .offset == $o)' |
        head -n 1)
    [ -n "$dlq" ]
}
pl_eventually 60 find_dlq || fail "no dead-letter copy of the 600 KB request"
assert_json .truncated true "$dlq"
assert_json .request_bytes 600000 "$dlq"

# The committed offset passes both (auto-commit runs every second).
passed() { [ "$(pl_committed auth "$part")" -gt "$valid_off" ]; }
pl_eventually 60 passed || fail "partition $part never committed past offset $valid_off (committed $(pl_committed auth "$part"))"
pass "committed offset $(pl_committed auth "$part") passes both"
assert_eq "$(pl_metric paylink_publish_dropped_total)" "$dropped_before" \
    "nothing had to be dropped: the dead-letter copy was cut to fit, not given up"
pass "a request that cannot be dead-lettered whole does not wedge its partition"
