#!/usr/bin/env bash
# A card number where an upstream system may put one by mistake — type, order, request_id,
# card.token, a name, a street — written as one run or with spaces, dashes or dots between the
# groups (in a street in full-width digits too, and with its security code glued to it): each
# request gets an `invalid` reply naming the field, and a dead-letter copy, neither holding the
# number (PCI DSS 3.3.1, 3.4.1). A refused request_id is echoed masked at most, so those replies
# are found by their order (and the others by request_id). test_no_card_data, which runs after
# every other test, sweeps what this one left in the logs, the database and the topics.
# (Until this test was split from it, test_no_card_data sent these requests itself, at the end
# of the run, while the other environments waited.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pl_test_card_forms

# mask TEXT: what paylink echoes for a card number: stars for every digit but the last four.
mask() {
    local s=$1 nd i k=0 c out=''
    nd=$(tr -cd '0-9' <<<"$s" | wc -c)
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        if [[ $c == [0-9] ]]; then
            k=$((k + 1))
            ((k > nd - 4)) || c='*'
        fi
        out+=$c
    done
    echo "$out"
}

# poison FIELD JQ_FILTER: one request per card number form, with the form ($v) put into FIELD
# by JQ_FILTER. Each request has its own request_id and order.
n=0
c_field=() c_form=() c_rid=() c_order=()
poison() {
    local field=$1 filter=$2 form msg
    for form in "${forms[@]}"; do
        c_field[n]=$field c_form[n]=$form c_rid[n]="nc-$run-$n" c_order[n]="NC$run$n"
        msg=$(pl_request auth "${c_rid[n]}" 120.00 |
            jq -c --arg v "$form" --arg order "${c_order[n]}" --arg pre "nc$run${n}x" \
                ".order = \$order | $filter")
        pl_send auth "$msg"
        n=$((n + 1))
    done
}
poison type '.type = $v'
poison order '.order = $v'
poison request_id '.request_id = $pre + $v'
poison card.token '.card = {token: $v, type: "VI"}'
poison bill_to.first_name '.bill_to.first_name = "Pat " + $v'
poison bill_to.street1 '.bill_to.street1 = $v + " Main St"'
ascii_forms=("${forms[@]}")
forms=("${fw_forms[@]}")
poison bill_to.street1 '.bill_to.street1 = $v + " Main St"'
forms=("${glued_forms[@]}")
poison bill_to.street1 '.bill_to.street1 = $v + " Main St"'
forms=("${ascii_forms[@]}")

# Every reply and dead letter of this run, collected in one read of each topic per round.
# grep first (_pl_grep_ids): a topic holds every earlier test's messages, and only this run's
# lines (which hold one of the two prefixes verbatim, in the dead letter's request text too)
# need jq.
ours='select(((.request_id? // "") | startswith($rid)) or ((.order? // "") | startswith($ord)))'
deadline=$((SECONDS + 90))
while :; do
    replies=$(pl_messages "$(pl_topic auth reply)" | _pl_grep_ids "nc-$run" "NC$run" |
        jq -Rc --arg rid "nc-$run" --arg ord "NC$run" "fromjson? | $ours")
    dlq=$(pl_messages "$(pl_topic auth request.dlq)" | _pl_grep_ids "nc-$run" "NC$run" |
        jq -Rc --arg rid "nc-$run" --arg ord "NC$run" \
            "fromjson? | select(.request? | fromjson? | $ours)")
    got_r=$(grep -c . <<<"$replies" || true)
    got_d=$(grep -c . <<<"$dlq" || true)
    ((got_r < n || got_d < n)) || break
    ((SECONDS < deadline)) || fail "only $got_r replies and $got_d dead letters of $n requests came"
    sleep 1
done

for ((i = 0; i < n; i++)); do
    field=${c_field[i]} form=${c_form[i]} what="${c_field[i]} = '${c_form[i]}'"
    want="must not contain a card number"
    [ "$field" != card.token ] || want="is a card number, not a token"
    # Found by what was not refused: the order when the request_id held the card number.
    if [ "$field" = request_id ]; then
        sel='select(.order == $o)'
    else
        sel='select(.request_id == $id)'
    fi
    r=$(jq -c --arg id "${c_rid[i]}" --arg o "${c_order[i]}" "$sel" <<<"$replies" | head -n 1)
    [ -n "$r" ] || fail "$what: no reply"
    ! holds_card "$r" || fail "$what: the reply holds the card number: $r"
    # A glued form: not the number's last four with the glued digits after them either.
    glued_tail=''
    for g in "${!glued_forms[@]}"; do
        [ "$form" != "${glued_forms[g]}" ] || glued_tail=${glued_tails[g]}
    done
    [ -z "$glued_tail" ] || [[ $r != *"$glued_tail"* ]] ||
        fail "$what: the reply holds the glued digits: $r"
    # What the checks read of the reply, in one jq (jq 1.6 costs ~27 ms of CPU a start):
    # status, the errors on the field (joined), order, request_id, type; split on \x1f, which
    # none holds (a tab would not do: read folds empty fields between whitespace).
    IFS=$'\x1f' read -r status errs order echoed rtype < <(jq -r --arg f "$field" '[.status // "",
        ([.errors[]? | select(.field == $f) | .error] | join("; ")), (.order // ""),
        (.request_id // ""), (.type // "")] | join("\u001f")' <<<"$r")
    [ "$status" = invalid ] || fail "$what: status is not invalid: $r"
    [ "$errs" = "$want" ] || fail "$what: no error \"$want\" on $field: $r"
    case $field in
    order)
        [ "$order" = "$(mask "$form")" ] || fail "$what: order not echoed masked: $r"
        ;;
    request_id)
        # Echoed masked when the rest of it is a valid request_id, else not at all.
        if [[ $form == *" "* ]]; then
            [ -z "$echoed" ] || fail "$what: request_id echoed: $r"
        else
            [ "$echoed" = "nc$run${i}x$(mask "$form")" ] || fail "$what: request_id not masked: $r"
        fi
        ;;
    type)
        [ "$rtype" = "" ] || fail "$what: type echoed: $r"
        ;;
    esac
    d=$(jq -c --arg id "${c_rid[i]}" --arg o "${c_order[i]}" \
        "select(.request | fromjson | $sel)" <<<"$dlq" | head -n 1)
    [ -n "$d" ] || fail "$what: no dead-letter copy"
    ! holds_card "$d" || fail "$what: the dead-letter copy holds the card number: $d"
    [ -z "$glued_tail" ] || [[ $d != *"$glued_tail"* ]] ||
        fail "$what: the dead-letter copy holds the glued digits: $d"
    [ "$(jq -r --arg f "$field" '[.errors[] | select(.field == $f)] | length' <<<"$d")" = 1 ] ||
        fail "$what: the dead-letter copy does not name $field: $d"
done
pass "$n requests with a card number in type, order, request_id, card.token, bill_to (in full-width digits, and with its security code glued to it, too): invalid, named, dead-lettered, never echoed"
assert_eq "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE request_id LIKE :'p' OR order_number LIKE :'o'" \
    p="nc-$run-%" o="NC$run%")" 0 "none of them recorded"

# Requests whose order cannot be echoed at all (too long; an invalid company): the reply's
# Kafka key then comes from the request's own key, <company>-<order>, which holds the number.
# test_no_card_data's sweep reads the keys too.
pl_send auth "$(pl_request auth "nck1-$run" 120.00 '.order = "ord 4111111111111111 abc"')"
pl_send auth "$(pl_request auth "nck2-$run" 120.00 '.company = 1000 | .order = "4111111111111111"')"
for id in "nck1-$run" "nck2-$run"; do
    r=$(pl_wait_reply auth "$id" 60) || fail "no reply for $id"
    assert_json .status invalid "$r"
done
pass "the requests whose order cannot be echoed: invalid"
