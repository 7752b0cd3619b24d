#!/usr/bin/env bash
# No full card number or CVV anywhere paylink writes — logs, the database, the reply and
# dead-letter topics (keys included), the metrics (PCI DSS 3.3.1, 3.4.1, 3.5.1) — wherever the
# upstream system put it. Runs after every other e2e test (CMakeLists.txt), so its sweep covers
# what they all wrote.
#
# First it sends its own requests with test card numbers where an upstream system may put one
# by mistake — type, order, request_id, card.token, a name, a street — written as one run or
# with spaces, dashes or dots between the groups (in a street in full-width digits too, which the
# sweep looks for as well, and with its security code glued to it): each must get an `invalid` reply naming the
# field, and a dead-letter copy, neither holding the number. A refused request_id is echoed
# masked at most, so those replies are found by their order (and the others by request_id).
# A card number quoted by the bureau in a fault string (error_text) is covered by
# tests/unit/test_bureau_cybersource.c (test_parse_scrubs_card_numbers): no scenario of the
# simulator's contract quotes what it was sent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
pans="4111111111111111 5555555555554444 378282246310005"
forms=()
for pan in $pans; do
    mapfile -t -O "${#forms[@]}" forms < <(pl_card_forms "$pan")
done
# The first one's forms in full-width digits (U+FF10-U+FF19), as a CJK input method types them:
# digits to a reader, so to paylink too.
mapfile -t fw_forms < <(pl_card_forms "${pans%% *}" |
    sed 's/0/０/g; s/1/１/g; s/2/２/g; s/3/３/g; s/4/４/g; s/5/５/g; s/6/６/g; s/7/７/g; s/8/８/g; s/9/９/g')

# A card number with its security code typed straight after it (no separator), and what of it
# may be left in clear: nothing of the code.
glued_forms=(4111111111111111123 3782822463100051234)
glued_tails=(1111123 00051234)

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

# holds_card TEXT: true when TEXT holds one of the test card numbers in any of its forms.
holds_card() {
    local f
    for f in "${forms[@]}" "${fw_forms[@]}"; do
        [[ $1 != *"$f"* ]] || return 0
    done
    return 1
}

# ---- 1. card numbers where they do not belong -----------------------------------------------

# Run in every test environment (CMakeLists.txt), the requests are sent in the first only: they
# take the same code path in each, and the sweep below covers what each environment holds.
if [ "${PL_ENV_GROUP:-0}" = 0 ]; then
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
    # The sweep below reads the keys too.
    pl_send auth "$(pl_request auth "nck1-$run" 120.00 '.order = "ord 4111111111111111 abc"')"
    pl_send auth "$(pl_request auth "nck2-$run" 120.00 '.company = 1000 | .order = "4111111111111111"')"
    for id in "nck1-$run" "nck2-$run"; do
        r=$(pl_wait_reply auth "$id" 60) || fail "no reply for $id"
        assert_json .status invalid "$r"
    done
else
    pass "card numbers where they do not belong: checked in the first test environment"
fi

# ---- 2. the sweep: nothing paylink wrote holds a card number ----------------------------------

# The raw numbers of the other tests, every form of the valid ones, and a Luhn-failing number
# an earlier test sent as card.number.
sweep=("${forms[@]}" "${fw_forms[@]}" "${glued_forms[@]}" 4111111111111112)
# Each place is read once for all of them (grep -F with the list), not once a number: the logs,
# the database and the topics of a CI run are megabytes, and bash's own substring match is slow.
assert_logs_clean "${sweep[@]}"
sweep_e=()
for f in "${sweep[@]}"; do sweep_e+=(-e "$f"); done
# clean WHAT: standard input holds none of the sweep's numbers; the failure names those found.
clean() {
    local found
    found=$(grep -oF "${sweep_e[@]}" | sort -u | paste -sd '|' -) || true
    [ -z "$found" ] || fail "$1 holds card number(s) '$found'"
    pass "no card number (${#sweep[@]} forms) in $1"
}
# (Through a file: an `up` environment's dump would not fit in the shell's memory.)
dumpf=$(mktemp)
pl_on_exit "rm -f '$dumpf'"
pg_dump_text >"$dumpf" || fail "pg_dump failed"
clean "the database" <"$dumpf"
# The stored replies carry the CVV *result* (auth.cvv, "M"/"N"), never a card.cvv value.
assert_eq "$(pl_sql "SELECT count(*) FROM cc_auth_trans WHERE reply -> 'card' ? 'cvv'")" 0 "no cvv in stored replies"
! grep -qF '"cvv": "123"' "$dumpf" || fail "the database holds the test cvv ('\"cvv\": \"123\"')"
pass "no test cvv in the database"
for t in auth.reply auth.request.dlq deposit.reply deposit.request.dlq reversal.request reversal.reply reversal.request.dlq svc.reply svc.request.dlq; do
    out=$(pl_messages_keyed "$PAYLINK_TOPIC_PREFIX.$t")
    clean "$t (keys and values)" <<<"$out"
done
# Metrics: labels are fixed at registration, so nothing of a request can get there; checked
# anyway on every worker that serves them.
checked=0
for v in $(compgen -v | grep -E '^PAYLINK_[A-Z]+_METRICS_PORT$' || true); do
    m=$(curl -sf --max-time 5 "http://127.0.0.1:${!v}/metrics") || continue
    checked=$((checked + 1))
    ! holds_card "$m" || fail "card number in the metrics on port ${!v}"
done
((checked > 0)) || fail "no worker served /metrics"
pass "no card number in the metrics of $checked workers"
pass "no card data at rest"
