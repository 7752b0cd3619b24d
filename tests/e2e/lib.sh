# tests/e2e/lib.sh: helpers for the end-to-end tests, sourced by tests/e2e/test_*.sh.
#
# A test runs against an environment started by tools/dev: under `tools/dev test`, the one CTest
# gives it (.dev/test, .dev/test2 or .dev/test3, below); by hand, after `tools/dev up`, this file
# sources .dev/env itself (or the file named by $PAYLINK_ENV_FILE).
#
# Convention: a test prints one "ok - ..." line per check and exits non-zero at the first
# failed check, with a "not ok - ..." line saying what was expected and what came:
#
#   . "$(dirname "$0")/lib.sh"
#   id=a-$(pl_uid)
#   pl_send auth "$(pl_request auth "$id" 120.00)"
#   reply=$(pl_wait_reply auth "$id") || fail "no reply for $id"
#   assert_json .status approved "$reply"
#   assert_eq "$(pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$id")" \
#       approved "stored status"            # assert_eq ACTUAL EXPECTED WHAT
#   pass "approved"
#
# Helpers print results on stdout and diagnostics on stderr; none prints a card number.

set -euo pipefail

PL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PL_TEST=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

# Under `tools/dev test` the e2e tests run three at a time, each in an environment of its own:
# CTest gives a test its environment as resource "env" (CTEST_RESOURCE_GROUP_0_ENV =
# "id:test2,slots:1"), the name of a folder under $PAYLINK_TEST_ENV_ROOT. A test given several
# (RESOURCE_GROUPS "N,env:1", N the environments: test_no_card_data, which sweeps what the
# others left) runs in each at once, their outputs shown one after the other, and fails when any
# run fails.
if [ -n "${CTEST_RESOURCE_GROUP_COUNT:-}" ] && [ -n "${PAYLINK_TEST_ENV_ROOT:-}" ]; then
    if [ -z "${PL_ENV_GROUP:-}" ] && ((CTEST_RESOURCE_GROUP_COUNT > 1)); then
        _rc=0 _out=$(mktemp -d) _pids=()
        for ((_g = 0; _g < CTEST_RESOURCE_GROUP_COUNT; _g++)); do
            PL_ENV_GROUP=$_g bash "$0" "$@" >"$_out/$_g" 2>&1 &
            _pids+=($!)
        done
        for ((_g = 0; _g < CTEST_RESOURCE_GROUP_COUNT; _g++)); do
            wait "${_pids[_g]}" || _rc=1
            cat "$_out/$_g"
        done
        rm -rf "$_out"
        exit "$_rc"
    fi
    _v=CTEST_RESOURCE_GROUP_${PL_ENV_GROUP:-0}_ENV
    _v=${!_v:-}
    [[ $_v =~ ^id:([a-z0-9_]+), ]] || {
        echo "not ok - $PL_TEST: CTest gave no environment ($_v)" >&2
        exit 1
    }
    PAYLINK_ENV_FILE=$PAYLINK_TEST_ENV_ROOT/${BASH_REMATCH[1]}/env
    echo "# $PL_TEST in $PAYLINK_TEST_ENV_ROOT/${BASH_REMATCH[1]}"
    unset _v _g _rc
fi

if [ -n "${PAYLINK_ENV_FILE:-}" ]; then
    . "$PAYLINK_ENV_FILE"
elif [ -z "${PAYLINK_KAFKA_BROKERS:-}" ] && [ -f "$PL_ROOT/.dev/env" ]; then
    . "$PL_ROOT/.dev/env"
fi
for _v in PAYLINK_KAFKA_BROKERS PAYLINK_DB PAYLINK_SIM_URL PAYLINK_SIM_CA PAYLINK_BIN; do
    if [ -z "${!_v:-}" ]; then
        echo "not ok - $PL_TEST: $_v is not set (run tools/dev up, or set PAYLINK_ENV_FILE)" >&2
        exit 1
    fi
done
unset _v
: "${PAYLINK_TOPIC_PREFIX:=paylink}"
PL_CTL=$PAYLINK_BIN/paylinkctl
# The helpers' own Kafka client (pl_send, pl_wait_reply, pl_committed): paylinkctl of the plain
# build, as the simulator and the dev broker are (PAYLINK_TOOLS_BIN). It is the harness here, like
# kcat; what a test asks of paylinkctl itself goes to PL_CTL, the build under test (with the
# sanitizers in CI). A sanitized process pays ~80 ms of CPU to start: the helpers ran ~1,600
# times a CI run (README, "Tests").
PL_CLIENT=${PAYLINK_TOOLS_BIN:-$PAYLINK_BIN}/paylinkctl
# When the test began (a script it runs that loads this file again keeps it). The reply helpers
# read the reply topics from two minutes before it, not from their beginning (_pl_from): on an
# environment that has carried a few million requests (`up` after benchmarks) reading a topic
# whole took ~35 s a reply; a reply to a request the test sent is never older than the test.
export PL_T0=${PL_T0:-$(date +%s)}

# ---- results ------------------------------------------------------------------------------------

_PL_REPORTED=0
_PL_ON_EXIT=()

pass() { echo "ok - $PL_TEST: $*"; }

fail() {
    echo "not ok - $PL_TEST: $*" >&2
    _PL_REPORTED=1
    exit 1
}

# pl_on_exit COMMAND: runs COMMAND (eval'd) when the test ends, however it ends. Use it instead
# of `trap ... EXIT`, which would replace lib.sh's own exit handling.
pl_on_exit() { _PL_ON_EXIT+=("$*"); }

# An unexpected failure (set -e) still says where it happened: the ERR trap for a top-level
# command, the EXIT trap for one inside a function.
trap '_PL_REPORTED=1; echo "not ok - $PL_TEST: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR
# Each exit command runs in a subshell, so that one that exits (a fail, an unset variable) does
# not skip the ones after it: a test that fails while it holds the environment changed (the
# simulator paused, a bureau at one slot) must still put it back for the tests after it. One
# that exits fails the test; a command's status otherwise does not, as before.
_pl_exit() {
    local rc=$? c failed=0
    for c in "${_PL_ON_EXIT[@]}"; do (eval "$c"; exit 0) || failed=1; done
    if [ "$rc" != 0 ] && [ "$_PL_REPORTED" = 0 ]; then
        echo "not ok - $PL_TEST: stopped with status $rc (a failed command inside a helper)" >&2
    fi
    [ "$failed" = 0 ] || [ "$rc" != 0 ] || exit 1
}
trap _pl_exit EXIT

# ---- ids and requests ---------------------------------------------------------------------------

_pl_b36() {
    local n=$1 s='' digits=0123456789abcdefghijklmnopqrstuvwxyz
    while ((n > 0)); do
        s=${digits:n%36:1}$s
        n=$((n / 36))
    done
    echo "${s:-0}"
}

# pl_uid [PREFIX]: 10 characters [0-9a-z] unique to this call, across runs against one
# environment too (the time in centiseconds, then two characters from the calling process), so
# ids and order numbers built from it stay within the contract's lengths ("SC$(pl_uid)x" is a
# valid order number). With PREFIX: "PREFIX-<10 characters>".
pl_uid() {
    local t p
    t=$(_pl_b36 $(($(date +%s%N) / 10000000)))
    p=$(_pl_b36 $(((BASHPID * 31 + RANDOM) % 1296 + 1296)))
    echo "${1:+$1-}$t${p: -2}"
}

# pl_order: an order number unique to this call (11 characters).
pl_order() { echo "O$(pl_uid)"; }

# pl_request TYPE REQUEST_ID AMOUNT [JQ_FILTER]: a valid CyberSource (CYB) request of TYPE
# with card 4111111111111111, expiry two years ahead, a US billing address; JQ_FILTER edits it
# (e.g. '.card.cvv = "000"' or 'del(.card.number) | .card.token = "T1"').
pl_request() {
    local type=$1 id=$2 amount=$3 filter=${4:-.}
    jq -nc --arg type "$type" --arg id "$id" --arg amount "$amount" --arg order "$(pl_order)" \
        --argjson year "$(($(date +%Y) + 2))" '{
            v: 1, request_id: $id, type: $type, company: 1, order: $order, pay_seq: 1,
            service: "CYB", amount: $amount, currency: "USD", mode: "online",
            card: {number: "4111111111111111", exp_month: 12, exp_year: $year, cvv: "123",
                   type: "VI", holder: "Pat Smith"},
            bill_to: {first_name: "Pat", last_name: "Smith", street1: "1 Main St",
                      city: "Springfield", state: "IL", postal_code: "62701", country: "US",
                      email: "pat@example.com", phone: "2175550100"}
        } | ('"$filter"')'
}

# pl_debit REQUEST_ID AMOUNT ORDER AUTH_REQUEST_ID [JQ_FILTER]: a debit (company 1, CYB) settling
# the paylink authorization AUTH_REQUEST_ID, without a card.
pl_debit() {
    jq -nc --arg id "$1" --arg amount "$2" --arg order "$3" --arg auth "$4" '{v: 1,
        request_id: $id, type: "debit", company: 1, order: $order, pay_seq: 1, service: "CYB",
        amount: $amount, currency: "USD", auth_ref: {request_id: $auth}} | ('"${5:-.}"')'
}

# pl_svc_request REQUEST_ID TYPE ORDER [AMOUNT] [JQ_FILTER]: a stored value request (company 1,
# service RLT) of TYPE for ORDER, with AMOUNT in USD when given; JQ_FILTER adds the rest (e.g.
# '.svc = {card_number: "8574906000000001"}').
pl_svc_request() {
    jq -nc --arg id "$1" --arg type "$2" --arg order "$3" --arg amount "${4:-}" '{v: 1,
        request_id: $id, type: $type, company: 1, order: $order, pay_seq: 1, service: "RLT"}
        + (if $amount == "" then {} else {amount: $amount, currency: "USD"} end)
        | ('"${5:-.}"')'
}

# pl_svc_reply REQUEST_ID TYPE ORDER [AMOUNT] [JQ_FILTER]: sends that request to paylink-svc and
# prints its reply (fails the test when none comes).
pl_svc_reply() {
    pl_send svc "$(pl_svc_request "$@")"
    pl_wait_reply svc "$1" 60 || fail "no svc reply for $1"
}

# pl_auth_reply REQUEST_ID AMOUNT ORDER [JQ_FILTER]: sends an authorization for ORDER and prints
# its reply (fails the test when none comes).
pl_auth_reply() {
    pl_send auth "$(pl_request auth "$1" "$2" ".order = \"$3\" | ${4:-.}")"
    pl_wait_reply auth "$1" 60 || fail "no auth reply for $1"
}

# ---- Kafka --------------------------------------------------------------------------------------

pl_topic() { echo "$PAYLINK_TOPIC_PREFIX.$1.${2:-request}"; }

# kcat reading a topic to its end (-e): the broker holds a fetch of a partition with nothing new
# for fetch.wait.max.ms (librdkafka's default 500) before it answers, and the end is known only
# then, so each read of a topic took a second whatever it held (~70 ms with this).
PL_KCAT_EOF=(-X fetch.wait.max.ms=10)

# _pl_grep_ids ID...: the lines that may carry one of the IDs, a filter before jq, which would
# otherwise parse every message of a topic that holds all the earlier tests' too. An id of
# letters, digits, '.', '_' and '-' is written verbatim in any JSON text that holds it (in a
# string member holding JSON too); with any other id every line passes.
_pl_grep_ids() {
    local id args=()
    for id in "$@"; do
        [[ $id =~ ^[A-Za-z0-9._-]+$ ]] || {
            cat
            return 0
        }
        args+=(-e "$id")
    done
    grep -F "${args[@]}" || true
}

# pl_send WORKER TEXT: produces one request to WORKER's request topic with key
# "<company>-<order>" and waits for the broker's acknowledgement. JSON goes through paylinkctl
# (idempotent producer); text that is not JSON (to test the invalid path) through kcat.
pl_send() {
    local worker=$1 text=$2
    if jq -e 'type == "object"' >/dev/null 2>&1 <<<"$text"; then
        printf '%s' "$text" | "$PL_CLIENT" send --worker "$worker" >/dev/null
    else
        pl_send_raw "$worker" "" "$text"
    fi
}

# pl_send_raw WORKER KEY TEXT: produces TEXT exactly as given (one message, even with newlines).
pl_send_raw() {
    local worker=$1 key=$2 text=$3 tmp rc=0
    tmp=$(mktemp)
    printf '%s' "$text" >"$tmp"
    kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic "$worker")" ${key:+-k "$key"} "$tmp" || rc=$?
    rm -f "$tmp"
    return "$rc"
}

# _pl_trace WORKER REQUEST_ID...: on stderr, for a reply that did not come, what the worker and
# the simulator logged of the first three REQUEST_IDs (their last lines) and the worker's
# gauges, so that a failed run says where the request stopped. The worker is asked first to list
# what it has in flight (SIGUSR1, engine.c dump_live): a request it holds is then logged with
# what it waits for; one it never got (still in Kafka) is not, and its partition and offset on
# the request topic against the group's committed offset there say so.
_pl_trace() {
    local worker=$1 id port var log pid
    shift
    pid=$(cat "$PAYLINK_RUN_DIR/paylink-$worker.pid" 2>/dev/null || true)
    # The simulator says how many answers it holds back (its latency) on SIGUSR1 too.
    local sim
    sim=$(cat "$PAYLINK_RUN_DIR/paylink-bureau-sim.pid" 2>/dev/null || true)
    [ -z "$sim" ] || kill -USR1 "$sim" 2>/dev/null || true
    if [ -n "$pid" ] && kill -USR1 "$pid" 2>/dev/null; then
        sleep 1
    fi
    grep -F '"SIGUSR1: ' "$PAYLINK_LOG_DIR/paylink-bureau-sim.log" 2>/dev/null | tail -n 1 |
        sed 's/^/# the simulator: /' >&2 || true
    var=PAYLINK_${worker^^}_METRICS_PORT
    port=${!var:-}
    if [ -n "$port" ]; then
        echo "# paylink-$worker: in flight $(pl_metric paylink_in_flight "$port"), backlog" \
            "$(pl_metric paylink_backlog "$port"), overdue $(pl_metric paylink_requests_overdue "$port")," \
            "consumer lag $(pl_metric paylink_consumer_lag "$port")" >&2
    fi
    local at offsets
    offsets=$("$PL_CLIENT" offsets --worker "$worker" 2>/dev/null || true)
    for id in "${@:1:3}"; do
        # Where the request is on its topic, and how far the worker's group has committed there
        # (a request the worker does not list, at or past the committed offset: never consumed).
        at=$(timeout 30 kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$(pl_topic "$worker")" -o beginning -e -q \
            "${PL_KCAT_EOF[@]}" -f '%p %o %s\n' 2>/dev/null | grep -F "\"request_id\":\"$id\"" |
            head -n 1 | cut -d' ' -f1,2 || true)
        if [ -n "$at" ]; then
            echo "# $id: partition ${at% *}, offset ${at#* }; the group there:" \
                "$(jq -c --argjson p "${at% *}" 'select(.partition == $p)' <<<"$offsets" 2>/dev/null)" >&2
        fi
        for log in "paylink-$worker" paylink-bureau-sim; do
            echo "# $log logged of $id:" >&2
            grep -F "\"request_id\":\"$id\"" "$PAYLINK_LOG_DIR/$log.log" 2>/dev/null |
                tail -n 6 | sed 's/^/#   /' >&2 || true
        done
    done
}

# _pl_from: where the reply helpers start reading, from two minutes before the test began
# (PL_T0). librdkafka's mock broker (PAYLINK_BROKER_CONTROL_URL is set: a mock environment, or a
# test's own) finds no offsets by time: there a topic is read whole (a mock's topics are small).
_pl_from() {
    if [ -n "${PAYLINK_BROKER_CONTROL_URL:-}" ]; then
        echo --from-beginning
    else
        echo --since "$(($(date +%s) - PL_T0 + 120))s"
    fi
}

# pl_wait_reply WORKER REQUEST_ID [TIMEOUT_S=30]: prints the first reply carrying REQUEST_ID
# (one JSON line); returns 1 when none came in time.
pl_wait_reply() {
    "$PL_CLIENT" tail --worker "$1" $(_pl_from) --request-id "$2" --count 1 \
        --timeout "${3:-30}" 2>/dev/null || {
        echo "pl_wait_reply: no $1 reply for $2 within ${3:-30}s" >&2
        _pl_trace "$1" "$2"
        return 1
    }
}

# pl_wait_reply_nth WORKER REQUEST_ID N [TIMEOUT_S=30]: prints the N-th reply carrying
# REQUEST_ID (a redelivered request is answered again); returns 1 when fewer came in time.
pl_wait_reply_nth() {
    local out
    out=$("$PL_CLIENT" tail --worker "$1" $(_pl_from) --request-id "$2" --count "$3" \
        --timeout "${4:-30}" 2>/dev/null) || {
        echo "pl_wait_reply_nth: fewer than $3 $1 replies for $2 within ${4:-30}s" >&2
        return 1
    }
    tail -n 1 <<<"$out"
}

# pl_messages_keyed TOPIC: every message on TOPIC so far as "KEY<TAB>VALUE", one per line (the
# message key is written by paylink too: <company>-<order>).
pl_messages_keyed() {
    kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$1" -o beginning -e -q "${PL_KCAT_EOF[@]}" \
        -f '%k\t%s\n' 2>/dev/null
}

# pl_card_forms PAN: the card number as people write it, one per line: as one run, and in its
# groups (4-6-5 for 15 digits, else fours) joined by spaces, dashes and dots.
pl_card_forms() {
    local pan=$1 groups sep
    if [ "${#pan}" = 15 ]; then
        groups="${pan:0:4} ${pan:4:6} ${pan:10:5}"
    else
        groups=$(sed -E 's/(.{4})/\1 /g; s/ $//' <<<"$pan")
    fi
    echo "$pan"
    for sep in ' ' '-' '.'; do
        echo "${groups// /$sep}"
    done
}

# pl_test_card_forms: the test card numbers of test_card_in_fields and test_no_card_data, set in
# the caller's globals: forms (each number every way pl_card_forms writes it), fw_forms (the
# first's forms in full-width digits, U+FF10-U+FF19, as a CJK input method types them: digits to
# a reader, so to paylink too), glued_forms (a card number with its security code typed straight
# after it, no separator) and glued_tails (what of each may be left in clear: nothing of the
# code). holds_card TEXT is true when TEXT holds one of forms or fw_forms.
pl_test_card_forms() {
    local pan
    forms=()
    for pan in 4111111111111111 5555555555554444 378282246310005; do
        mapfile -t -O "${#forms[@]}" forms < <(pl_card_forms "$pan")
    done
    mapfile -t fw_forms < <(pl_card_forms 4111111111111111 |
        sed 's/0/０/g; s/1/１/g; s/2/２/g; s/3/３/g; s/4/４/g; s/5/５/g; s/6/６/g; s/7/７/g; s/8/８/g; s/9/９/g')
    glued_forms=(4111111111111111123 3782822463100051234)
    glued_tails=(1111123 00051234)
}
holds_card() {
    local f
    for f in "${forms[@]}" "${fw_forms[@]}"; do
        [[ $1 != *"$f"* ]] || return 0
    done
    return 1
}

# pl_wait_replies WORKER TIMEOUT_S REQUEST_ID...: waits until every REQUEST_ID has a reply on
# WORKER's reply topic and prints the first reply of each, one a line, in the order given. One
# read of the topic a round for all of them (pl_wait_reply starts a consumer per request: for
# 30 requests on a loaded box that was most of a test's time). Fails naming what is missing.
pl_wait_replies() {
    local worker=$1 timeout=$2 deadline=$((SECONDS + $2)) ids got missing
    shift 2
    ids=$(printf '%s\n' "$@" | jq -Rsc 'split("\n") | map(select(. != ""))')
    while :; do
        got=$(pl_messages "$(pl_topic "$worker" reply)" | _pl_grep_ids "$@" |
            jq -Rc --argjson ids "$ids" 'fromjson? | select(type == "object" and
                (.request_id? as $r | $r != null and ($ids | index([$r])) != null))')
        missing=$(jq -rs --argjson ids "$ids" '$ids - map(.request_id) | join(" ")' <<<"$got")
        [ -n "$missing" ] || break
        if ((SECONDS >= deadline)); then
            echo "pl_wait_replies: no $worker reply within $timeout s for: $missing" >&2
            # shellcheck disable=SC2086 # (the ids, one word each)
            _pl_trace "$worker" $missing
            return 1
        fi
        sleep 1
    done
    jq -cs --argjson ids "$ids" '. as $all | $ids[] as $id |
        first($all[] | select(.request_id == $id))' <<<"$got"
}

# pl_messages TOPIC (alias pl_topic_dump): every message on TOPIC so far, raw, one per line.
pl_messages() {
    kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$1" -o beginning -e -q "${PL_KCAT_EOF[@]}" \
        -f '%s\n' 2>/dev/null
}
pl_topic_dump() { pl_messages "$@"; }

# pl_wait_topic TOPIC REQUEST_ID [TIMEOUT_S=30]: the first raw JSON message on TOPIC carrying
# REQUEST_ID at any depth (e.g. a reversal request a worker published); 1 when none in time.
pl_wait_topic() {
    _pl_find "$1" "$2" "${3:-30}" || {
        echo "pl_wait_topic: nothing for $2 on $1 within ${3:-30}s" >&2
        return 1
    }
}

# jq: the request_ids a message carries at any depth, also inside string members that hold
# JSON (the dead-letter topic carries the request as text: {"error": ..., "request": "{...}"}).
_PL_JQ_IDS='def ids: (.. | objects | .request_id? // empty),
                    (.. | strings | fromjson? | .. | objects | .request_id? // empty);'

# _pl_find TOPIC REQUEST_ID TIMEOUT_S: the first raw JSON message carrying REQUEST_ID,
# polling until TIMEOUT_S.
_pl_find() {
    local topic=$1 id=$2 deadline=$((SECONDS + $3)) found
    while :; do
        found=$(pl_messages "$topic" | _pl_grep_ids "$id" |
            jq -Rc --arg id "$id" "$_PL_JQ_IDS"' fromjson? | select(any(ids; . == $id))' |
            head -n 1)
        if [ -n "$found" ]; then
            echo "$found"
            return 0
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.3
    done
}

# pl_replies WORKER REQUEST_ID: every reply carrying REQUEST_ID so far (redeliveries answer
# again, with "replayed": true), raw, one per line; nothing when there is none.
pl_replies() {
    pl_messages "$(pl_topic "$1" reply)" | _pl_grep_ids "$2" |
        jq -Rc --arg id "$2" 'fromjson? | select(.request_id? == $id)'
}

# pl_dlq WORKER REQUEST_ID [TIMEOUT_S=30]: the dead-letter copy of the request, raw (so a test
# can prove it holds no CVV or card number); returns 1 when none came in time.
pl_dlq() {
    _pl_find "$(pl_topic "$1" request.dlq)" "$2" "${3:-30}" || {
        echo "pl_dlq: no dead letter for $2 on $(pl_topic "$1" request.dlq) within ${3:-30}s" >&2
        return 1
    }
}

# pl_dlq_text WORKER TEXT [TIMEOUT_S=30]: the first dead letter whose raw text contains TEXT
# (for requests that were not JSON and so have no request_id); 1 when none in time.
pl_dlq_text() {
    local topic deadline=$((SECONDS + ${3:-30})) found
    topic=$(pl_topic "$1" request.dlq)
    while :; do
        found=$(pl_messages "$topic" | grep -F -- "$2" | head -n 1 || true)
        if [ -n "$found" ]; then
            echo "$found"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            echo "pl_dlq_text: no dead letter containing '$2' on $topic within ${3:-30}s" >&2
            return 1
        fi
        sleep 0.3
    done
}

# ---- PostgreSQL and the simulator -------------------------------------------------------------

# pl_sql "SQL" [NAME=VALUE ...]: runs SQL, prints rows unaligned ('|' between columns).
# Values are psql variables, quoted safely in the SQL as :'NAME':
#   pl_sql "SELECT status FROM cc_auth_trans WHERE request_id = :'id'" id="$id"
pl_sql() {
    local sql=$1 vars=() kv
    shift
    for kv in "$@"; do vars+=(-v "$kv"); done
    printf '%s\n' "$sql" | psql -X -A -t -q -v ON_ERROR_STOP=1 "${vars[@]}" -d "$PAYLINK_DB"
}

# pl_db_refuse TABLE NAME CONDITION: from now on the database refuses every INSERT or UPDATE of
# TABLE (a transaction table: order_number, status) for which CONDITION holds (SQL over TG_OP and
# NEW), raising "test refuses <insert|update> of order <order> (status <status>)"; until
# pl_db_refuse_end TABLE NAME, or the end of the test.
pl_db_refuse() {
    local table=$1 name=$2 cond=$3
    pl_sql "CREATE FUNCTION pl_test_refuse_$name() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF $cond THEN
        RAISE EXCEPTION 'test refuses % of order % (status %)', lower(TG_OP), NEW.order_number,
            NEW.status;
    END IF;
    RETURN NEW;
END \$\$;
CREATE TRIGGER pl_test_refuse_$name BEFORE INSERT OR UPDATE ON $table
    FOR EACH ROW EXECUTE FUNCTION pl_test_refuse_$name();" >/dev/null
    pl_on_exit "pl_db_refuse_end $table $name"
}

pl_db_refuse_end() {
    pl_sql "DROP TRIGGER IF EXISTS pl_test_refuse_$2 ON $1" >/dev/null &&
        pl_sql "DROP FUNCTION IF EXISTS pl_test_refuse_$2()" >/dev/null
}

# pg_dump_text: the whole database (schema and rows) as SQL text, to search for card data.
pg_dump_text() { pg_dump --no-owner --no-privileges -d "$PAYLINK_DB"; }

# pl_db_not_contains TEXT [WHAT="the database"]: no row or definition of the database holds TEXT.
# The dump goes through a file, not a shell variable: an `up` environment's millions of rows
# would not fit in the shell's memory.
pl_db_not_contains() {
    local f
    f=$(mktemp) || fail "no temporary file"
    if ! pg_dump_text >"$f"; then
        rm -f "$f"
        fail "pg_dump failed"
    fi
    if grep -qF -- "$1" "$f"; then
        rm -f "$f"
        fail "${2:-the database}: must not contain '$1'"
    fi
    rm -f "$f"
    pass "${2:-the database} does not contain '$1'"
}

# pl_ledger: the simulator's ledger, a JSON array of every effect it applied.
pl_ledger() { curl -sf --cacert "$PAYLINK_SIM_CA" "$PAYLINK_SIM_URL/__sim/ledger"; }

# pl_hold_resolver: the resolvers' first step on a new unknown outcome is put off a day until the
# test ends, as tools/dev's test profile has it (first_query_after_s), so that a test sees rows
# as the worker left them and makes them due itself (next_query_at). An `up` environment's
# resolvers ask 10 s after the row was made (a change applies to open rows too).
pl_hold_resolver() {
    local saved
    saved=$(pl_sql "SELECT string_agg(format('UPDATE resolution_policy SET first_query_after_s = %s WHERE protocol = %L AND worker = %L;', first_query_after_s, protocol, worker), ' ') FROM resolution_policy WHERE first_query_after_s < 86400")
    [ -n "$saved" ] || return 0
    pl_on_exit "pl_sql \"$saved\" >/dev/null"
    pl_sql "UPDATE resolution_policy SET first_query_after_s = 86400 WHERE first_query_after_s < 86400" >/dev/null
}

# pl_sim_latency MS: the simulator answers every bureau call MS milliseconds late (0: at once).
pl_sim_latency() {
    curl -sf -o /dev/null -X POST --cacert "$PAYLINK_SIM_CA" \
        "$PAYLINK_SIM_URL/__sim/config?latency_ms=$1" || fail "cannot set the simulator latency"
}

# pl_sim_soft_decline REF REASON: the simulator answers the next CyberSource authorization of
# merchantReferenceCode REF with a soft decline (REJECT REASON, 200, 230 or 520: the issuer
# approved, CyberSource declined), leaving the contract's amount scenarios alone.
pl_sim_soft_decline() {
    curl -sf -o /dev/null -X POST --cacert "$PAYLINK_SIM_CA" \
        "$PAYLINK_SIM_URL/__sim/cyb/soft_decline?ref=$1&reason=$2" || fail "cannot arm a soft decline"
}

# pl_sim_pause / pl_sim_resume: freeze the simulator (SIGSTOP) and thaw it. A test that must act
# while a call is still at the bureau pauses it (before the call or once it is sent), acts, then
# resumes it: an order, where a bureau delay alone is a time a loaded box can outrun. The kernel
# still accepts and buffers what workers send meanwhile; the answers come after the resume. A
# worker's connection must be open before the pause (a first call answered): a new one would
# meet the paused simulator in its TLS handshake and give up after its connect timeout (10 s).
pl_sim_pause() {
    local pid
    pid=$(<"$PAYLINK_RUN_DIR/paylink-bureau-sim.pid")
    kill -STOP "$pid" || fail "cannot pause the simulator"
    # First of the exit handlers: those before it (a latency reset) need the simulator running.
    _PL_ON_EXIT=("kill -CONT $pid 2>/dev/null || true" "${_PL_ON_EXIT[@]}")
}
pl_sim_resume() {
    kill -CONT "$(<"$PAYLINK_RUN_DIR/paylink-bureau-sim.pid")" || fail "cannot resume the simulator"
}

# pl_metric NAME [PORT=$PAYLINK_AUTH_METRICS_PORT] [LABEL]: the value of the first series of NAME
# (whatever its labels, or the first whose labels hold LABEL, e.g. 'result="ok"') on the /metrics
# of the worker serving PORT; nothing when it has none (fails when the worker does not answer).
pl_metric() {
    curl -sf "http://127.0.0.1:${2:-$PAYLINK_AUTH_METRICS_PORT}/metrics" |
        awk -v m="$1" -v l="${3:-}" '($1 == m || index($1, m "{") == 1) &&
            (l == "" || index($1, l)) && !n++ {print $2}'
}

# pl_ledger_count REF [OP]: how many ledger entries have that ref (and op).
pl_ledger_count() {
    pl_ledger | jq --arg ref "$1" --arg op "${2:-}" \
        '[.[] | select(.ref == $ref and ($op == "" or .op == $op))] | length'
}

# ---- workers --------------------------------------------------------------------------------------

# pl_worker_pid WORKER: the pid of the running paylink-WORKER (fails when it is not running).
pl_worker_pid() {
    local pid
    pid=$(cat "$PAYLINK_RUN_DIR/paylink-$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null &&
        echo "$pid"
}

# pl_worker_stop WORKER [SIGNAL=TERM]: signals paylink-WORKER and waits until it is gone
# (KILL after 20 s). SIGNAL KILL is a crash.
pl_worker_stop() { "$PL_ROOT/tools/dev" _worker-stop "$PAYLINK_DEV_DIR" "$1" "${2:-TERM}"; }

# pl_worker_start WORKER [NAME=VALUE...]: starts paylink-WORKER again exactly as tools/dev did
# (same binary, environment, metrics port, log file), with the given variables on top, and waits
# for /readyz.
pl_worker_start() { "$PL_ROOT/tools/dev" _worker-start "$PAYLINK_DEV_DIR" "$@"; }

# pl_kafka OP [ID]: does OP to the environment's Apache Kafka brokers (every broker when no ID
# is given): stop (SIGTERM, a controlled shutdown), kill (SIGKILL), pause (SIGSTOP), resume
# (SIGCONT), start (again on the same storage, ports and configuration; returns once the
# broker is back in the cluster's metadata). Only with PAYLINK_DEV_BROKER=kafka.
pl_kafka() { "$PL_ROOT/tools/dev" _kafka "$PAYLINK_DEV_DIR" "$@"; }

# pl_replica_start WORKER NAME [NAME=VALUE...]: a second paylink-WORKER process beside the one
# tools/dev runs, with the test environment and the given variables, logging to
# $PAYLINK_LOG_DIR/paylink-WORKER-NAME.log (swept for sanitizer reports and card numbers like
# the others). By default it consumes in a consumer group of its own (paylink-WORKER-NAME), so
# it gets every request the first one gets: two replicas racing on each request, as after a
# rebalance that lost an assignment, or two deployments sharing a database. Waits until it has
# partitions assigned. Stopped by pl_replica_stop (and at the end of the test).
pl_replica_start() {
    local w=$1 name=$2 log pidf from
    shift 2
    log=$PAYLINK_LOG_DIR/paylink-$w-$name.log
    pidf=$PAYLINK_RUN_DIR/paylink-$w-$name.pid
    # The log is appended to across runs: only what this start writes tells it got partitions (on
    # a long-lived environment an earlier run's line would pass at once, before this replica
    # listens).
    from=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
    (
        export PAYLINK_KAFKA_GROUP=paylink-$w-$name PAYLINK_METRICS_PORT=0 PAYLINK_INSTANCE=$name
        for kv in "$@"; do export "${kv?}"; done
        cd / && exec setsid "$PAYLINK_BIN/paylink-$w" >>"$log" 2>&1 </dev/null 8>&- 9>&-
    ) &
    echo $! >"$pidf"
    pl_on_exit "pl_replica_stop $w $name"
    pl_eventually 90 pl_log_since "$log" "$from" 'assigned [1-9][0-9]* partition' ||
        fail "replica $name of $w did not get partitions (see $log)"
}

# pl_replica_stop WORKER NAME [SIGNAL=TERM]: stops a replica pl_replica_start started and waits
# until it is gone (KILL after 20 s).
pl_replica_stop() {
    local pidf=$PAYLINK_RUN_DIR/paylink-$1-$2.pid pid i
    pid=$(cat "$pidf" 2>/dev/null) || return 0
    kill "-${3:-TERM}" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidf"
}

# pl_one_cyb_slot [NAME=VALUE ...]: one bureau slot for CYB (auth_service.max_concurrent 1) and
# a 60 s response time, paylink-auth restarted with the given environment (and requests let
# wait for the slot however long a held call answers nothing, PAYLINK_SLOT_WAIT_MAX_MS=0, unless
# the environment given says otherwise: a test holding the call decides when it answers); the
# settings, the
# simulator's latency and a plain paylink-auth come back when the test ends. paylink-deposit and
# -reversal call CYB too and may have read the 60 s in a configuration refresh meanwhile: they
# are restarted as well, so that the next test in this environment never meets it (a deposit
# timeout test once got its answer after 8 s, inside a response time still 60 s).
pl_one_cyb_slot() {
    local cap
    cap=$(pl_sql "SELECT max_concurrent || ',' || response_time_ms FROM auth_service WHERE service_bureau = 'CYB'")
    pl_on_exit "pl_sim_latency 0"
    pl_on_exit "pl_sql \"UPDATE auth_service SET max_concurrent = ${cap%,*}, response_time_ms = ${cap#*,} WHERE service_bureau = 'CYB'\" >/dev/null; for w in auth deposit reversal; do pl_worker_stop \$w; pl_worker_start \$w; done"
    pl_sql "UPDATE auth_service SET max_concurrent = 1, response_time_ms = 60000 WHERE service_bureau = 'CYB'" >/dev/null
    pl_worker_stop auth
    pl_worker_start auth PAYLINK_SLOT_WAIT_MAX_MS=0 "$@"
}

# pl_warm_auth ID: one authorization ID answered (approved), so that paylink-auth's connection to
# the bureau is open: a call held at a paused simulator then waits on its answer, not on a TLS
# handshake (10 s).
pl_warm_auth() {
    local warm
    pl_send auth "$(pl_request auth "$1" "70.00")"
    warm=$(pl_wait_reply auth "$1" 90) || fail "no reply for the warm-up call"
    assert_json .status approved "$warm"
}

# pl_expect_approved_once TIMEOUT_S ID...: each authorization ID is answered approved within
# TIMEOUT_S and the bureau authorized it once.
pl_expect_approved_once() {
    local t=$1 id r
    shift
    for id in "$@"; do
        r=$(pl_wait_reply auth "$id" "$t") || fail "no reply for $id"
        assert_json .status approved "$r"
        assert_eq "$(pl_ledger_count "$id" auth)" 1 "$id authorized once"
    done
}

# pl_clone_bureau CODE JSON [FROM=CYB] [WORKER=auth]: adds service bureau CODE as a copy of FROM
# with the settings of the JSON object changed (e.g. '{"request_token": false}'), restarts
# paylink-WORKER so it knows it, and removes it (restarting paylink-WORKER again) when the test
# ends. WORKER "none": no restart (for a replica the test starts itself, after this).
pl_clone_bureau() {
    local from=${3:-CYB} w=${4:-auth}
    pl_sql "INSERT INTO auth_service SELECT (jsonb_populate_record(NULL::auth_service,
        to_jsonb(a) || :'over'::jsonb || jsonb_build_object('service_bureau', :'code'))).*
        FROM auth_service a WHERE service_bureau = :'from' ON CONFLICT DO NOTHING" \
        code="$1" over="$2" from="$from" >/dev/null
    pl_on_exit "pl_sql \"DELETE FROM auth_service WHERE service_bureau = '$1'\" >/dev/null"
    [ "$w" != none ] || return 0
    pl_on_exit "pl_worker_stop $w; pl_worker_start $w" # after the DELETE: handlers run in order
    pl_worker_stop "$w"
    pl_worker_start "$w"
}

# pl_clone_ext CODE AUTH_JSON EXT_JSON WORKER...: adds service bureau CODE as a copy of EXT (its
# auth_service row with AUTH_JSON's settings changed, its External Service Settings with
# EXT_JSON's), restarts each WORKER so it knows it, and removes it (restarting them again) when
# the test ends.
pl_clone_ext() {
    local code=$1 over=$2 ext=$3
    shift 3
    pl_sql "INSERT INTO auth_service SELECT (jsonb_populate_record(NULL::auth_service,
            to_jsonb(a) || :'over'::jsonb || jsonb_build_object('service_bureau', :'code'))).*
            FROM auth_service a WHERE service_bureau = 'EXT' ON CONFLICT DO NOTHING;
            INSERT INTO external_service SELECT (jsonb_populate_record(NULL::external_service,
            to_jsonb(x) || :'ext'::jsonb || jsonb_build_object('service_bureau', :'code'))).*
            FROM external_service x WHERE service_bureau = 'EXT' ON CONFLICT DO NOTHING" \
        code="$code" over="$over" ext="$ext" >/dev/null
    local w restart=""
    for w in "$@"; do restart+="pl_worker_stop $w; pl_worker_start $w; "; done
    pl_on_exit "pl_sql \"DELETE FROM card_cit WHERE service_bureau = '$code'; DELETE FROM auth_service WHERE service_bureau = '$code'\" >/dev/null; $restart"
    for w in "$@"; do
        pl_worker_stop "$w"
        pl_worker_start "$w"
    done
}

# pl_committed WORKER PARTITION: the offset paylink-WORKER's consumer group committed for that
# partition of its request topic (-1 when none).
pl_committed() {
    "$PL_CLIENT" offsets --worker "$1" | jq -r --argjson p "$2" 'select(.partition == $p) | .committed'
}

# pl_eventually TIMEOUT_S COMMAND...: retries COMMAND until it succeeds or time runs out.
# pl_log_since FILE BYTE PATTERN: whether FILE, from byte BYTE (1-based) on, has a line matching
# PATTERN (grep's basic regular expression).
pl_log_since() {
    tail -c +"$2" "$1" 2>/dev/null | grep -q -- "$3"
}

pl_eventually() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.3
    done
}

# ---- assertions ---------------------------------------------------------------------------------

# assert_eq ACTUAL EXPECTED [WHAT] / assert_ne ACTUAL UNEXPECTED [WHAT]
assert_eq() {
    local what=${3:-value}
    [ "$1" = "$2" ] || fail "$what: got '$1', expected '$2'"
    pass "$what = '$2'"
}
assert_ne() {
    local what=${3:-value}
    [ "$1" != "$2" ] || fail "$what: got '$1', expected anything else"
    pass "$what is not '$2'"
}

# assert_json FIELD EXPECTED JSON: FIELD is a jq path, with or without the leading dot
# (".status", "auth.avs", ".errors[0].field"); a missing field reads as "null".
assert_json() {
    local field=${1#.} expected=$2 json=$3 actual
    actual=$(jq -r ".$field" <<<"$json" 2>/dev/null) || fail "$field: not JSON: $json"
    [ "$actual" = "$expected" ] || fail "$field: expected '$expected', got '$actual' in $json"
    pass "$field = '$expected'"
}

# assert_contains HAYSTACK NEEDLE [WHAT] / assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
    [[ $1 == *"$2"* ]] || fail "${3:-text}: '$2' not found in: $1"
    pass "${3:-text} contains '$2'"
}
assert_not_contains() {
    [[ $1 != *"$2"* ]] || fail "${3:-text}: must not contain '$2'"
    pass "${3:-text} does not contain '$2'"
}

# assert_logs_clean [TEXT=4111111111111111 ...]: no log of the environment contains any TEXT (a
# card number, a CVV marker, ...), all looked for in one read of the logs; a failure names the
# texts found and where. Sanitizer logs are checked by tools/dev itself.
assert_logs_clean() {
    local texts=("${@:-4111111111111111}") args=() t hits
    for t in "${texts[@]}"; do args+=(-e "$t"); done
    hits=$(grep -arlF "${args[@]}" "$PAYLINK_LOG_DIR" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one file name a line, none with spaces (tools/dev names them)
    [ -z "$hits" ] || fail "logs contain '$(grep -ahoF "${args[@]}" $hits | sort -u | paste -sd '|' -)': $hits"
    if ((${#texts[@]} == 1)); then
        pass "no log contains '${texts[0]}'"
    else
        pass "no log contains any of ${#texts[@]} texts"
    fi
}
