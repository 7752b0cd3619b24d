#!/usr/bin/env bash
# tools/chaos/chaos.sh: the chaos test of issue 11 (`tools/dev chaos`; `tools/dev test` runs it at
# CI size). DESIGN.md "Delivery guarantee": the bureau effect of a request happens at most once,
# its reply is published at least once, and an outcome that cannot be settled is visible in the
# required-response table, never lost — also while processes die.
#
#   tools/chaos/chaos.sh [--requests N] [--seconds S] [--build release|asan] [--dir DIR]
#                        [--seed N] [--fault-percent P] [--keep]
#
# What it does, in an environment of its own (DIR, default .dev/chaos; wiped first, removed
# afterwards unless the run failed or --keep): PostgreSQL, a three-broker Apache Kafka cluster
# (KRaft, replication factor 3, min.insync.replicas 2), the bureau simulator, and two replicas of
# each consuming worker (auth, deposit, reversal, svc) in one consumer group per worker. The
# resolver policy is shortened for the run (first step after 2 s, 5 queries 2 s apart growing by
# 1.5, lease 10 s). Then N requests are sent, paced so that by 70% of S seconds every request is
# planned, while for S seconds (or until the workload is done) chaos goes on:
#   the workload: flows of dependent requests, each one order (company 1): credit card auths on
#     CyberSource (CYB) and the External Payment Service (EXT) followed by a debit (and sometimes
#     a follow-on credit), a reversal, or nothing; debits that authorize and capture in one;
#     stored value cards on Customer Engagement (RLT) and EXT: generate, activate, authorize,
#     then deposit (and sometimes return) or void. A step is sent once the reply to the one
#     before said approved. A fraction of the amounts (--fault-percent, default 15) are the
#     simulator's fault scenarios (CONTRACT.md §3: 901 never answers, 904 drops the connection
#     before applying, 905/906 apply and never answer, 902/903/150 fail). Requests go out in
#     batches with kcat (a batch that fails is sent again: a duplicate is the same request_id);
#     1 in 20 is sent a second time on purpose, a round later (the upstream's redelivery).
#   the chaos, at random moments from a shuffled deck: SIGKILL of a worker replica (restarted
#     after 0-4 s), SIGSTOP of one for 2-10 s (past the group's session timeout: a zombie that
#     comes back), SIGKILL or SIGTERM of one Kafka broker (only when every partition is fully in
#     sync; restarted after 1-8 s), a PostgreSQL restart (fast or immediate shutdown), and the
#     simulator's latency switched to 3-9 s for 2-8 s (calls time out after the bureau applied
#     them) and back to 0.
# Then everything is brought back up and it waits (bounded) for every reply and for the
# resolver, and checks:
#   lost       request_ids sent that have no reply on their reply topic (any status counts, a
#              `timeout` too);
#   double     two bureau effects for one request in the simulator's ledger: entries with the
#              same (protocol, op, ref) — ref is the request_id for CYB and EXT, the order number
#              for RLT (each flow is its own order and sends each operation at most once);
#   unresolved required responses still open past what the policy allows (first step + the
#              waits between its queries + the lease + 60 s);
#   escalated  required responses handed to an operator (allowed: RLT and EXT cannot be asked);
#   refused    steps of flows planned without a fault scenario answered declined, invalid,
#              rejected or review: a business rule refusing what an order system asks (the
#              External Payment Service's refusal of a reversal, by design, aside).
# It also reports, without failing on it, outcomes that contradict the ledger (approved with no
# effect, or an effect answered declined/error/invalid) and final replies overtaken by a stale
# "outcome unknown" one (tools/chaos/checks.jq says how), and sanitizer reports in its logs
# (those fail it). Last line, always:
#   chaos: sent=N replied=N lost=0 double=0 unresolved=K escalated=E refused=0
# Exit status 0 only when lost, double, unresolved and refused are 0 and no sanitizer report was
# found.
#
# Waits are for states, each bounded; nothing asserts elapsed time. Every process it starts is
# stopped at the end, also when it is interrupted.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEV=$ROOT/tools/dev

N=1000
SECONDS_WANTED=''
BUILD=release
DIR=''
SEED=''
FAULT_PCT=15
KEEP=0

usage() { sed -n '7,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
    --requests) N=${2:-} && shift 2 ;;
    --seconds) SECONDS_WANTED=${2:-} && shift 2 ;;
    --build) BUILD=${2:-} && shift 2 ;;
    --dir) DIR=${2:-} && shift 2 ;;
    --seed) SEED=${2:-} && shift 2 ;;
    --fault-percent) FAULT_PCT=${2:-} && shift 2 ;;
    --keep) KEEP=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage >&2 && exit 2 ;;
    esac
done
bad() { echo "chaos: $*" >&2 && exit 2; }
[[ $N =~ ^[0-9]+$ ]] && ((N >= 1)) || bad "--requests must be a positive number"
[[ $FAULT_PCT =~ ^[0-9]+$ ]] && ((FAULT_PCT <= 100)) || bad "--fault-percent must be 0-100"
# By default the requests are spread over one second per 8 (at least 30 s).
[ -n "$SECONDS_WANTED" ] || SECONDS_WANTED=$((N / 8 > 30 ? N / 8 : 30))
[[ $SECONDS_WANTED =~ ^[0-9]+$ ]] && ((SECONDS_WANTED >= 5)) || bad "--seconds must be at least 5"
# The build tools/dev uses for the profile (PAYLINK_DEV_BUILD_DIR, PAYLINK_DEV_ASAN_BUILD_DIR).
case $BUILD in
release) PROFILE=dev BIN_DIR=${PAYLINK_DEV_BUILD_DIR:-$ROOT/build} ;;
asan) PROFILE=test BIN_DIR=${PAYLINK_DEV_ASAN_BUILD_DIR:-$ROOT/build-asan} ;;
*) bad "--build must be release or asan" ;;
esac
[ -n "$SEED" ] || SEED=$(((RANDOM << 15) | RANDOM))
[[ $SEED =~ ^[0-9]+$ ]] || bad "--seed must be a number"
[ -n "$DIR" ] || DIR=${DEV_DIR:-$ROOT/.dev}/chaos
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# The folder is wiped: only an empty one or one an earlier chaos run made (its marker file).
if [ -n "$(ls -A "$DIR")" ] && [ ! -e "$DIR/.chaos-env" ]; then
    bad "$DIR is not empty and not a chaos environment: refusing to wipe it"
fi
for b in paylinkctl paylink-auth paylink-deposit paylink-reversal paylink-svc; do
    [ -x "$BIN_DIR/$b" ] || bad "$BIN_DIR/$b is not built (tools/dev test or up builds it)"
done
for b in paylink-bureau-sim paylinkctl; do
    [ -x "$ROOT/build/$b" ] || bad "$ROOT/build/$b is not built"
done
command -v kcat >/dev/null && command -v jq >/dev/null && command -v psql >/dev/null ||
    bad "kcat, jq and psql are needed (tools/dev up installs them)"
[ "${PAYLINK_DEV_BROKER:-kafka}" = kafka ] ||
    bad "needs Apache Kafka (three brokers), not PAYLINK_DEV_BROKER=$PAYLINK_DEV_BROKER"

exec 6>"$DIR.lock"
flock -n 6 || bad "another chaos run uses $DIR"

RANDOM=$SEED
T0=$SECONDS
CH=$DIR/chaos # this run's own files: pids, requests sent, replies, results
WORKERS=(auth deposit reversal svc)
REPLICAS=(1 2)

say() { printf 'chaos: [%4ds] %s\n' $((SECONDS - T0)) "$*"; }

# rnd N: R = a random number 0..N-1 (the sequence of --seed; never in a $(...) subshell, which
# would not advance it).
rnd() { R=$((((RANDOM << 15) | RANDOM) % $1)); }
# msecs MS: MS milliseconds as seconds for sleep.
msecs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# ---- processes ---------------------------------------------------------------------------------

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# exited PID: PID is gone or a zombie (a child not yet waited for).
exited() { [ ! -e "/proc/$1" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# kill_tree PID [SIGNAL]: PID and every process below it, all found first, then signalled parents
# first (a shell whose child died before it would report it).
kill_tree() {
    local sig=${2:-TERM} pids=("$1") i=0 c
    while ((i < ${#pids[@]})); do
        for c in $(ps -o pid= --ppid "${pids[i]}" 2>/dev/null); do pids+=("$c"); done
        i=$((i + 1))
    done
    for c in "${pids[@]}"; do kill "-$sig" "$c" 2>/dev/null || true; done
}

# wait_gone PID SECONDS: until PID has exited (0) or SECONDS passed (1).
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# daemon PIDFILE LOG COMMAND...: COMMAND detached (its own session, and no child of this shell,
# so its death is nobody's job notice), output appended to LOG, its pid in PIDFILE.
daemon() {
    local pidf=$1 log=$2
    shift 2
    (
        (cd / && exec setsid "$@" >>"$log" 2>&1 </dev/null 6>&- 7>&- 8>&- 9>&-) &
        echo $! >"$pidf"
    )
}

replica_pid() { cat "$CH/pids/$1-$2" 2>/dev/null || true; }
replica_alive() { alive "$(replica_pid "$1" "$2")"; }

# replica_start W R: replica R of paylink-W, with the environment's variables, in the worker's
# consumer group (paylink-W), logging to logs/paylink-W-R.log; its pid in chaos/pids/W-R.
replica_start() {
    daemon "$CH/pids/$1-$2" "$PAYLINK_LOG_DIR/paylink-$1-$2.log" \
        env PAYLINK_METRICS_PORT=0 "$PAYLINK_BIN/paylink-$1"
}

pg_pid() { cat "$PAYLINK_RUN_DIR/postgres.pid" 2>/dev/null || true; }
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U paylink 2>/dev/null; }

# pg_restart fast|immediate DOWN_MS: PostgreSQL stopped (SIGINT: fast shutdown; SIGQUIT:
# immediate, recovery from the WAL at the start), DOWN_MS later started again with the command
# line tools/dev gave it (as the user it runs as), its pid where tools/dev looks for it.
pg_restart() {
    local mode=$1 pid cmd=()
    pid=$(pg_pid)
    alive "$pid" || return 1
    mapfile -d '' -t cmd <"/proc/$pid/cmdline"
    kill "-$([ "$mode" = fast ] && echo INT || echo QUIT)" "$pid"
    wait_gone "$pid" 60 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 10 || true; }
    sleep "$(msecs "$2")"
    pg_start_cmd "${cmd[@]}"
}

pg_start_cmd() {
    local prefix=() i
    [ "$(id -u)" = 0 ] && prefix=(setpriv --reuid=paylink --regid=paylink --init-groups --)
    daemon "$PAYLINK_RUN_DIR/postgres.pid" "$PAYLINK_LOG_DIR/postgres.log" nohup "${prefix[@]}" "$@"
    for ((i = 0; i < 600; i++)); do
        pg_ready && return 0
        sleep 0.1
    done
    return 1
}

broker_pid() { cat "$PAYLINK_RUN_DIR/kafka-$1.pid" 2>/dev/null || true; }

# kafka_in_sync: three brokers in the metadata and every partition's replicas all in sync.
kafka_in_sync() {
    local meta
    meta=$(kcat -b "$PAYLINK_KAFKA_BROKERS" -L -m 5 2>/dev/null) || return 1
    [ "$(grep -c '^  broker [0-9]* at ' <<<"$meta")" = 3 ] || return 1
    grep -q 'isrs: ' <<<"$meta" || return 1
    # a partition with one or two replicas in sync
    if grep -qE 'isrs: [0-9]+(,[0-9]+)?$' <<<"$meta"; then return 1; fi
}

sim_latency() {
    curl -sf -o /dev/null -X POST --max-time 10 --cacert "$PAYLINK_SIM_CA" \
        "$PAYLINK_SIM_URL/__sim/config?latency_ms=$1&jitter_ms=${2:-0}"
}

psql_q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$PAYLINK_DB" "$@"; }

# ---- the chaos monkey (a background process) ----------------------------------------------------

# job_* run in the background, one per resource (a lock directory), and always leave their
# resource running.
job_kill_worker() { # W R DOWN_MS
    local pid
    pid=$(replica_pid "$1" "$2")
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || true
    fi
    sleep "$(msecs "$3")"
    replica_start "$1" "$2"
}

job_pause_worker() { # W R PAUSE_MS
    local pid
    pid=$(replica_pid "$1" "$2")
    alive "$pid" || return 0
    kill -STOP "$pid" 2>/dev/null || true
    sleep "$(msecs "$3")"
    kill -CONT "$pid" 2>/dev/null || true
}

job_broker() { # ID kill|stop DOWN_MS
    "$DEV" _kafka "$DIR" "$2" "$1" >>"$CH/monkey.log" 2>&1 || true
    sleep "$(msecs "$3")"
    "$DEV" _kafka "$DIR" start "$1" >>"$CH/monkey.log" 2>&1 ||
        say "warning: broker $1 did not come back in time"
    local i
    # The next broker job waits until the cluster is whole again (at most 3 minutes).
    for ((i = 0; i < 180; i++)); do
        kafka_in_sync && return 0
        sleep 1
    done
    say "warning: the Kafka cluster is not fully in sync 3 minutes after broker $1 came back"
}

job_pg() { # fast|immediate DOWN_MS
    pg_restart "$1" "$2" || say "warning: PostgreSQL did not come back in time"
}

job_latency() { # MS JITTER DURATION_MS
    sim_latency "$1" "$2" || true
    sleep "$(msecs "$3")"
    sim_latency 0 0 || true
}

# spawn RESOURCE FUNCTION ARGS...: FUNCTION in the background unless RESOURCE is busy; the lock
# is a directory removed when the job ends.
spawn() {
    local res=$1
    shift
    mkdir "$CH/locks/$res" 2>/dev/null || return 1
    (
        trap 'rm -rf "$CH/locks/'"$res"'"' EXIT
        "$@"
    ) &
    # (a job that already ended took its lock with it)
    echo $! 2>/dev/null >"$CH/locks/$res/pid" || true
    return 0
}

busy_jobs() { find "$CH/locks" -mindepth 1 -maxdepth 1 -type d | wc -l; }

count() { echo 1 >>"$CH/counts/$1"; }
counted() { if [ -e "$CH/counts/$1" ]; then wc -l <"$CH/counts/$1"; else echo 0; fi; }

# restore: everything up again (after the jobs ended): PostgreSQL, each broker, each replica that
# a pause left stopped, the simulator's latency (replicas that are not running are the
# supervisor's).
restore() {
    local w r id i
    alive "$(pg_pid)" || pg_start_cmd "${PG_CMD[@]}" || say "warning: PostgreSQL did not come back"
    for id in 1 2 3; do
        alive "$(broker_pid "$id")" ||
            "$DEV" _kafka "$DIR" start "$id" >>"$CH/monkey.log" 2>&1 || true
    done
    for w in "${WORKERS[@]}"; do
        for r in "${REPLICAS[@]}"; do
            kill -CONT "$(replica_pid "$w" "$r")" 2>/dev/null || true
        done
    done
    sim_latency 0 0 || true
    for ((i = 0; i < 180; i++)); do
        kafka_in_sync && return 0
        sleep 1
    done
    say "warning: the Kafka cluster is not fully in sync 3 minutes after the chaos ended"
}

# supervise: what a process supervisor (systemd, Kubernetes) does, called by the driver at every
# round until the end: a replica that is not running (and that no job of the monkey holds) is
# started again. A worker that cannot start (PostgreSQL down, say) exits with "start-up failed":
# counted, its reasons listed at the end; any other exit is reported at once with the end of its
# log.
supervise() {
    local w r last log
    for w in "${WORKERS[@]}"; do
        for r in "${REPLICAS[@]}"; do
            replica_alive "$w" "$r" && continue
            mkdir "$CH/locks/w-$w-$r" 2>/dev/null || continue
            if ! replica_alive "$w" "$r"; then
                log=$PAYLINK_LOG_DIR/paylink-$w-$r.log
                last=$(tail -n 20 "$log" 2>/dev/null | grep '"level":"\(error\|fatal\)"' |
                    tail -n 1 | sed 's/.*"msg":"\(.*\)"}$/\1/; s/\\n.*//; s/\\"/"/g' | cut -c1-200)
                if [[ $last == 'start-up failed'* ]]; then
                    echo "paylink-$w: $last" >>"$CH/counts/startup"
                else
                    count exited
                    say "paylink-$w replica $r exited by itself; the end of its log:" \
                        "$(tail -n 2 "$log" 2>/dev/null | tr '\n' ' ' | cut -c1-400)"
                fi
                replica_start "$w" "$r"
            fi
            rm -rf "$CH/locks/w-$w-$r"
        done
    done
}

# play CARD: one action of the monkey, started in the background; 1 when it cannot be now.
play() {
    local card=$1 w r d id op mode lat
    case $card in
    kill | pause)
        rnd ${#WORKERS[@]} && w=${WORKERS[R]}
        rnd ${#REPLICAS[@]} && r=${REPLICAS[R]}
        if [ "$card" = kill ]; then
            rnd 4000 && d=$R
            rnd 5 && ((R > 0)) || d=0
            spawn "w-$w-$r" job_kill_worker "$w" "$r" "$d" || return 1
            say "kill -9 paylink-$w replica $r, restarted after $(msecs "$d") s"
        else
            rnd 8000 && d=$((2000 + R))
            spawn "w-$w-$r" job_pause_worker "$w" "$r" "$d" || return 1
            say "SIGSTOP paylink-$w replica $r for $(msecs "$d") s"
        fi
        ;;
    broker)
        [ ! -d "$CH/locks/kafka" ] && kafka_in_sync || return 1
        rnd 3 && id=$((1 + R))
        rnd 4 && op=kill && ((R > 0)) || op=stop
        rnd 7000 && d=$((1000 + R))
        spawn kafka job_broker "$id" "$op" "$d" || return 1
        say "Kafka broker $id: SIG$([ "$op" = kill ] && echo KILL || echo TERM)," \
            "started again after $(msecs "$d") s"
        ;;
    pg)
        rnd 2 && mode=fast && ((R > 0)) || mode=immediate
        rnd 3000 && d=$R
        spawn pg job_pg "$mode" "$d" || return 1
        say "PostgreSQL restart ($mode shutdown, down $(msecs "$d") s)"
        ;;
    latency)
        rnd 6001 && lat=$((3000 + R))
        rnd 6000 && d=$((2000 + R))
        spawn sim job_latency "$lat" 500 "$d" || return 1
        say "simulator latency ${lat} ms (±500) for $(msecs "$d") s"
        ;;
    esac
}

monkey() {
    RANDOM=$((SEED + 1))
    local deck=() card i j
    # One deck: a shuffled round of every kind of action, worker kills the most frequent.
    local kinds=(kill kill kill kill kill kill pause broker broker pg latency latency)
    while [ ! -e "$CH/stop" ]; do
        if ((${#deck[@]} == 0)); then
            deck=("${kinds[@]}")
            for ((i = ${#deck[@]} - 1; i > 0; i--)); do
                rnd $((i + 1)) && j=$R
                card=${deck[i]} deck[i]=${deck[j]} deck[j]=$card
            done
        fi
        rnd 2500
        sleep "$(msecs $((500 + R)))"
        [ ! -e "$CH/stop" ] || break
        card=${deck[0]}
        deck=("${deck[@]:1}")
        # A card that cannot be played now (its resource busy, four jobs running) is dropped.
        if (($(busy_jobs) < 4)) && play "$card"; then count "$card"; fi
    done
    # The jobs end by themselves (each is bounded); then everything is brought back.
    local f
    for f in "$CH"/locks/*/pid; do
        [ -e "$f" ] || continue
        while alive "$(cat "$f" 2>/dev/null)"; do sleep 0.2; done
    done
    restore
}

# ---- the workload -------------------------------------------------------------------------------

YEAR=$(($(date +%Y) + 2))
RUN_ID=$(printf '%x' $(($(date +%s) % 1048576)))$(printf '%02x' $((SEED % 256)))
CARD=4111111111111111
BILL='"bill_to":{"first_name":"Pat","last_name":"Smith","street1":"1 Main St",'
BILL+='"city":"Springfield","state":"IL","postal_code":"62701","country":"US"}'

# money MIN MAX: M = a random amount MIN.00-MAX.99 (whole units, two decimals).
money() {
    local w
    rnd $(($2 - $1 + 1)) && w=$(($1 + R))
    rnd 100 && printf -v M '%d.%02d' "$w" "$R"
}
FAULTS=(901 904 905 906 905 906)
FAULTS_ALL=(901 904 905 906 905 906 902 903 150)
# fault [all]: M = a fault scenario amount (all: the failing answers too, 902, 903, 150).
fault() {
    local set=("${FAULTS[@]}") w
    [ "${1:-}" = all ] && set=("${FAULTS_ALL[@]}")
    rnd ${#set[@]} && w=${set[R]}
    rnd 100 && printf -v M '%d.%02d' "$w" "$R"
}
# faulty: true for a flow planned with a fault scenario (noted in PLANNED_FAULT for start_flow).
faulty() {
    rnd 100
    ((R < FAULT_PCT)) || return 1
    PLANNED_FAULT=1
}

# Requests to send this round, per worker: "key|json" lines.
declare -A OUT=([auth]='' [deposit]='' [reversal]='' [svc]='')
declare -A DUP=([auth]='' [deposit]='' [reversal]='' [svc]='') # to send again next round
declare -A AGAIN=([auth]='' [deposit]='' [reversal]='' [svc]='')
SENT=0
RESERVED=0 # requests the flows under way may still send
FLOWS=0
declare -A NEXT   # request_id → the flow waiting for its reply: "flow|step"
declare -A KINDS  # kind → "flows started|flows whose every step was approved"
declare -A FAULTY # flow → 1 when it was planned with a fault scenario
PLANNED_FAULT=0
declare -A FLOW   # flow → "kind|service|order|plan (space-separated amounts)|ids so far|card"

# emit WORKER TYPE FIELDS: queues the request of the caller's $id, $svc and $order (TYPE, then
# the JSON members FIELDS; key company-order) and notes it in chaos/sent.tsv: worker,
# request_id, type, service, order.
emit() {
    local line="1-$order|{\"v\":1,\"request_id\":\"$id\",\"type\":\"$2\",\"company\":1,"
    line+="\"order\":\"$order\",\"pay_seq\":1,\"service\":\"$svc\",$3}"$'\n'
    OUT[$1]+=$line
    # 1 in 20 is sent again by the next round too: the upstream system's redelivery, the same
    # request_id (answered from its row, never a second bureau call).
    rnd 20
    ((R > 0)) || DUP[$1]+=$line
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$id" "$2" "$svc" "$order" >>"$CH/sent.tsv"
    SENT=$((SENT + 1))
}

# A flow is a chain of requests of one order; FLOW[f] holds its plan, each step is sent when the
# step before was approved. Kinds and their steps:
#   cc-debit   auth, debit (auth_ref)            cc-credit  auth, debit, credit (capture_ref)
#   cc-rev     auth, reversal (auth_ref)         cc-auth    auth
#   cc-sale    debit with a card (auth and capture in one request)
#   svc-dep    generate, activate, auth, deposit  svc-ret   ... deposit, return
#   svc-void   generate, activate, auth, void (paylink-reversal)
# Amounts are planned at the start: a faulty step gets a fault scenario; a follow-on step that
# may be faulty follows an authorization large enough (950-999) to cover 901-906.
start_flow() {
    local f=$FLOWS kind svc order plan len a b p budget=$((N - SENT - RESERVED))
    FLOWS=$((FLOWS + 1))
    printf -v order 'K%s%x' "$RUN_ID" "$f"
    rnd 100 && p=$R
    if ((budget < 3)); then
        kind=cc-auth
        ((p < 50)) || kind=cc-sale
    elif ((budget < 5)); then
        kind=cc-credit
        ((p < 70)) || kind=cc-rev
        ((p < 40)) || kind=cc-debit
    elif ((p < 24)); then kind=cc-debit
    elif ((p < 34)); then kind=cc-credit
    elif ((p < 50)); then kind=cc-rev
    elif ((p < 60)); then kind=cc-auth
    elif ((p < 68)); then kind=cc-sale
    elif ((p < 80)); then kind=svc-dep
    elif ((p < 88)); then kind=svc-ret
    else kind=svc-void
    fi
    PLANNED_FAULT=0
    rnd 5
    case $kind in
    cc-*) svc=CYB && ((R > 0)) || svc=EXT ;;  # 1 in 5 on EXT
    svc-*) svc=RLT && ((R < 3)) || svc=EXT ;; # 2 in 5 on EXT
    esac
    # (EXT does not send reversals: Send reversal is a CyberSource setting. Its reversal flows
    # end at the refusal, a reply too.)
    case $kind in
    cc-auth | cc-sale)
        if faulty; then fault all; else money 10 99; fi
        plan=$M
        ;;
    cc-debit | cc-rev)
        if faulty; then
            rnd 2
            if ((R == 0)); then fault all && plan="$M 10.00"; else
                money 950 999 && a=$M
                fault && plan="$a $M"
            fi
        else
            money 10 99 && plan="$M $M"
        fi
        ;;
    cc-credit)
        if faulty; then
            money 990 999 && a=$M
            money 950 989 && b=$M
            fault && plan="$a $b $M"
        else
            money 30 99 && a=$M
            money 20 29 && b=$M
            money 10 19 && plan="$a $b $M"
        fi
        ;;
    svc-*)
        # generate (its issue amount), activate, auth, deposit or void, return. A card is
        # activated for the issue amount its generate recorded (paylink declines another), so
        # the two are the same; a fault at the generate (0) leaves its card's activation
        # declined when the generate is approved all the same; one at the activation (1) is the
        # activation's amount, so that generate names no issue amount ("-": nothing to match).
        if faulty; then
            fault
            rnd 4
            case $R in
            0) plan="$M 500.00 20.00 20.00 5.00" ;;
            1) plan="- $M 20.00 20.00 5.00" ;;
            2) plan="500.00 500.00 $M 20.00 5.00" ;;
            3) plan="999.00 999.00 950.00 $M 5.00" ;;
            esac
        else
            money 10 99 && a=$M
            money 1 9 && plan="500.00 500.00 $a $a $M"
        fi
        ;;
    esac
    [ "$PLANNED_FAULT" = 0 ] || FAULTY[$f]=1
    len=$(flow_len "$kind")
    local k=${KINDS[$kind]:-0|0}
    KINDS[$kind]="$((${k%|*} + 1))|${k#*|}"
    FLOW[$f]="$kind|$svc|$order|$plan||"
    RESERVED=$((RESERVED + len))
    send_step "$f" 0
}


# send_step FLOW STEP: sends step STEP of the flow (its reservation counted down). The JSON is
# put together here: every value in it is the test's own (digits, letters, dots, dashes).
send_step() {
    local f=$1 s=$2 kind svc order plan ids card a id mode=batch
    IFS='|' read -r kind svc order plan ids card <<<"${FLOW[$f]}"
    local steps=($ids) amounts=($plan)
    a=${amounts[s]:-10.00}
    id=$order-$s
    RESERVED=$((RESERVED - 1))
    rnd 5 && ((R > 0)) || mode=online
    local money="\"amount\":\"$a\",\"currency\":\"USD\""
    local cc="\"card\":{\"number\":\"$CARD\",\"exp_month\":12,\"exp_year\":$YEAR,"
    cc+="\"cvv\":\"123\",\"type\":\"VI\"},$BILL"
    local sv="\"svc\":{\"card_number\":\"$card\"}"
    local virtual="\"svc\":{\"card_number\":\"$card\",\"order_line\":1,\"issue_amount\":\"$a\","
    virtual+="\"virtual\":true}"
    local generate="\"svc\":{\"order_line\":1,\"issue_amount\":\"$a\",\"virtual\":true}"
    [ "$a" != - ] || generate="\"svc\":{\"order_line\":1,\"virtual\":true}"
    local auth_ref="\"auth_ref\":{\"request_id\":\"${steps[0]:-}\"}"
    local svc_auth_ref="\"auth_ref\":{\"request_id\":\"${steps[2]:-}\"}"
    local capture_ref="\"capture_ref\":{\"request_id\":\"${steps[1]:-}\"}"
    case $kind:$s in
    cc-auth:0 | cc-debit:0 | cc-rev:0 | cc-credit:0)
        emit auth auth "$money,\"mode\":\"$mode\",$cc" ;;
    cc-sale:0) emit deposit debit "$money,$cc" ;;
    cc-debit:1 | cc-credit:1) emit deposit debit "$money,$auth_ref" ;;
    cc-credit:2) emit deposit credit "$money,$capture_ref" ;;
    cc-rev:1) emit reversal reversal "$money,$auth_ref" ;;
    svc-*:0) emit svc generate "$generate" ;;
    svc-*:1) emit svc activate "$money,$virtual" ;;
    svc-*:2) emit svc auth "$money,$sv" ;;
    svc-void:3) emit reversal reversal "$money,$svc_auth_ref,$sv" ;;
    svc-*:3) emit svc deposit "$money,$svc_auth_ref,$sv" ;;
    svc-ret:4) emit svc return "$money,$sv" ;;
    *) echo "chaos: internal error: no step $s of $kind" >&2 && exit 3 ;;
    esac
    FLOW[$f]="$kind|$svc|$order|$plan|${ids:+$ids }$id|$card"
    NEXT[$id]="$f|$s"
}

flow_len() {
    case $1 in cc-auth | cc-sale) echo 1 ;; cc-debit | cc-rev) echo 2 ;; cc-credit) echo 3 ;;
    svc-dep | svc-void) echo 4 ;; svc-ret) echo 5 ;; esac
}

# on_reply REQUEST_ID STATUS CARD_NUMBER: the first reply to a flow's step decides: approved →
# the next step, anything else → the flow ends (its reservation released).
on_reply() {
    local id=$1 status=$2 cardno=$3 f s kind svc order plan ids card len
    [ -n "${NEXT[$id]:-}" ] || return 0
    IFS='|' read -r f s <<<"${NEXT[$id]}"
    unset "NEXT[$id]"
    IFS='|' read -r kind svc order plan ids card <<<"${FLOW[$f]}"
    len=$(flow_len "$kind")
    # A business rule refusing a flow planned without a fault: what the workload asks is what an
    # order system asks (a card activated for its issue amount, a deposit within its
    # authorization, ...), so it is a rule gone wrong. Not an outcome chaos can cause (a kill, a
    # latency spell, a restart end in timeout or error). The External Payment Service refuses
    # reversals by design (Send reversal is a CyberSource setting).
    case $status in
    declined | invalid | rejected | review)
        if [ -z "${FAULTY[$f]:-}" ] && ! [[ $kind:$s:$svc == cc-rev:1:EXT ]]; then
            printf '%s\t%s\t%s\tstep %s\t%s\n' "$id" "$kind" "$svc" "$s" "$status" >>"$CH/refused.tsv"
        fi
        ;;
    esac
    if [ "$status" = approved ] && ((s + 1 < len)); then
        if [ "$s" = 0 ] && [[ $kind == svc-* ]]; then
            # the generated card's number, in the generate reply only (a replay masks it)
            if [[ $cardno =~ ^[0-9]{10,20}$ ]]; then
                FLOW[$f]="$kind|$svc|$order|$plan|$ids|$cardno"
            else
                RESERVED=$((RESERVED - (len - s - 1)))
                unset "FLOW[$f]"
                return 0
            fi
        fi
        send_step "$f" $((s + 1))
    else
        if [ "$status" = approved ]; then
            local k=${KINDS[$kind]}
            KINDS[$kind]="${k%|*}|$((${k#*|} + 1))"
        fi
        RESERVED=$((RESERVED - (len - s - 1)))
        unset "FLOW[$f]"
    fi
}

# ---- replies ------------------------------------------------------------------------------------

# A background kcat per reply topic appends every reply to chaos/replies-W.jsonl (restarted from
# the beginning when it exits; the driver reads each file from where it stopped).
collector_start() {
    local w=$1
    (
        (cd / && exec kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$PAYLINK_TOPIC_PREFIX.$w.reply" \
            -o beginning -u -q -f '%s\n' -X topic.metadata.refresh.interval.ms=5000 \
            >>"$CH/replies-$w.jsonl" 2>>"$CH/collector-$w.log" </dev/null 6>&- 7>&- 8>&- 9>&-) &
        echo $! >"$CH/pids/collector-$w"
    )
}

declare -A ROFF=([auth]=0 [deposit]=0 [reversal]=0 [svc]=0)
# read_replies: the new complete lines of each reply file → on_reply.
read_replies() {
    local w f size chunk body lines
    lines=''
    for w in "${WORKERS[@]}"; do
        alive "$(cat "$CH/pids/collector-$w" 2>/dev/null)" || collector_start "$w"
        f=$CH/replies-$w.jsonl
        [ -e "$f" ] || continue
        size=$(stat -c %s "$f")
        ((size > ROFF[$w])) || continue
        chunk=$(tail -c +$((ROFF[$w] + 1)) "$f" | head -c $((size - ROFF[$w])); echo x)
        chunk=${chunk%x}
        [[ $chunk == *$'\n'* ]] || continue
        body=${chunk%$'\n'*}
        ROFF[$w]=$((ROFF[$w] + ${#body} + 1))
        lines+="$body"$'\n'
    done
    [ -n "$lines" ] || return 0
    local id status cardno
    while IFS=$'\t' read -r id status cardno; do
        if [ -n "${NEXT[$id]:-}" ]; then on_reply "$id" "$status" "$cardno"; fi
    done < <(jq -Rr 'fromjson? | objects | select(.request_id) |
        [.request_id, (.status // ""), (.svc.card_number // "")] | @tsv' <<<"$lines")
}

# ---- producing ----------------------------------------------------------------------------------

# flush: this round's requests, one kcat per worker; a batch that fails is sent again (the same
# requests: a duplicate is the contract's redelivery). Bounded: 60 attempts.
flush() {
    local w i tmp
    for w in "${WORKERS[@]}"; do
        # last round's duplicates with this round's requests; this round's duplicates next time
        OUT[$w]=${AGAIN[$w]}${OUT[$w]}
        AGAIN[$w]=${DUP[$w]}
        DUP[$w]=''
        [ -n "${OUT[$w]}" ] || continue
        tmp=$CH/batch-$w
        printf '%s' "${OUT[$w]}" >"$tmp"
        for ((i = 1; ; i++)); do
            if kcat -P -b "$PAYLINK_KAFKA_BROKERS" -t "$PAYLINK_TOPIC_PREFIX.$w.request" -K '|' \
                -X message.timeout.ms=30000 -X acks=all <"$tmp" >>"$CH/producer.log" 2>&1; then
                break
            fi
            if ((i >= 60)); then
                say "error: the $w requests of this round could not be produced 60 times" \
                    "(see $CH/producer.log)"
                break
            fi
            say "the $w batch was not acknowledged (attempt $i): sending it again"
            sleep 1
        done
        OUT[$w]=''
    done
}

# ---- set-up and clean-up ------------------------------------------------------------------------

CLEANED=0
cleanup() {
    [ "$CLEANED" = 0 ] || return 0
    CLEANED=1
    local f pid
    touch "$CH/stop" 2>/dev/null || true
    if [ -n "${MONKEY:-}" ] && alive "$MONKEY"; then
        kill_tree "$MONKEY" TERM
        wait_gone "$MONKEY" 10 || kill_tree "$MONKEY" KILL
    fi
    for f in "$CH"/locks/*/pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null) || continue
        alive "$pid" && kill_tree "$pid" KILL
    done
    for f in "$CH"/pids/collector-*; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        alive "$pid" && kill "$pid" 2>/dev/null || true
    done
    # The replicas get SIGTERM together (they drain), then whatever is left of them SIGKILL.
    local pids=()
    for f in "$CH"/pids/*-[0-9]; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        alive "$pid" || continue
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
    done
    for pid in "${pids[@]}"; do wait_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true; done
    # The environment's data is thrown away: the brokers need no controlled shutdown.
    "$DEV" _kafka "$DIR" kill >>"$CH/teardown.log" 2>&1 || true
    "$DEV" _env-down "$DIR" >>"$CH/teardown.log" 2>&1 || true
}

on_exit() {
    local rc=$?
    cleanup
    exit "$rc"
}
trap on_exit EXIT
# A command that fails unexpectedly says where (set -e ends the run).
set -E
trap 'echo "chaos: error: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

wipe_env() {
    "$DEV" _env-down "$DIR" >/dev/null 2>&1 || true
    [ -L "$DIR/pg" ] && rm -rf "$(readlink -f "$DIR/pg")"
    find "$DIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
}

# seed_ports: the environment's ports, chosen here and written where tools/dev keeps the ports an
# environment ran with (run/ports), which it takes when they are free: 13 consecutive ports from
# a random base above the kernel's ephemeral range (61000 up here: a client connection's local
# port, even in TIME-WAIT, would make a server's bind fail there), none bound by anything.
seed_ports() {
    local base p used tries w i
    local lo hi
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || hi=60999
    for ((tries = 0; tries < 50; tries++)); do
        # (SRANDOM: the workload's sequence, RANDOM from --seed, is left alone)
        base=$((hi + 1 + ${SRANDOM:-$$} % (65400 - hi - 100 > 0 ? 65400 - hi - 100 : 1)))
        used=" $(ss -tanH 2>/dev/null | awk '{n = split($4, a, ":"); printf "%s ", a[n]}') "
        for ((p = base; p < base + 13; p++)); do [[ $used == *" $p "* ]] && continue 2; done
        mkdir -p "$DIR/run"
        {
            echo "PG_PORT=$base"
            echo "SIM_PORT=$((base + 1))"
            i=2
            for w in auth deposit reversal svc dmupdate; do
                echo "METRICS_$w=$((base + i))"
                i=$((i + 1))
            done
            for i in 1 2 3; do
                echo "KAFKA_PORT_$i=$((base + 6 + i))"
                echo "KAFKA_CPORT_$i=$((base + 9 + i))"
            done
            echo "KAFKA_BROKERS=3"
        } >"$DIR/run/ports"
        return 0
    done
    return 0 # tools/dev picks its own
}

say "seed $SEED, $N requests, chaos for $SECONDS_WANTED s, $BUILD build, faults in $FAULT_PCT%" \
    "of the amounts, environment $DIR"
wipe_env
touch "$DIR/.chaos-env"
mkdir -p "$CH/pids" "$CH/locks" "$CH/counts"
seed_ports
say "starting PostgreSQL, Apache Kafka (three brokers), the simulator"
# (Once more after a failed start: a port picked as free can be taken by someone else before it
# is bound.)
if ! WANT_KAFKA_BROKERS=3 "$DEV" _env-up "$DIR" "$PROFILE" >"$CH/setup.log" 2>&1 && {
    say "the environment did not come up; once more (log: $CH/setup.log)"
    mv "$CH/setup.log" "$DIR.setup-1.log"
    wipe_env
    touch "$DIR/.chaos-env"
    mkdir -p "$CH/pids" "$CH/locks" "$CH/counts"
    mv "$DIR.setup-1.log" "$CH/setup-1.log"
    seed_ports
    ! WANT_KAFKA_BROKERS=3 "$DEV" _env-up "$DIR" "$PROFILE" >"$CH/setup.log" 2>&1
}; then
    tail -n 30 "$CH/setup.log" >&2
    echo "chaos: error: the environment did not come up (log: $CH/setup.log)" >&2
    exit 1
fi
. "$DIR/env"
PG_PORT=$(sed -n 's/^PG_PORT=//p' "$DIR/run/ports")
mapfile -d '' -t PG_CMD <"/proc/$(pg_pid)/cmdline"
# tools/dev's own workers make way for the replicas (dmupdate is not part of the test).
for w in "${WORKERS[@]}" dmupdate; do
    "$DEV" _worker-stop "$DIR" "$w" >>"$CH/setup.log" 2>&1 || true
done
fatal() { echo "chaos: error: $*" >&2 && exit 1; }
kafka_in_sync || fatal "the Kafka cluster is not in sync after its start"

# The test profile runs PostgreSQL with synchronous_commit off (-c on its command line): a crash
# (the immediate shutdowns below) would lose the last commits, which no deployment allows. The
# database's own setting comes before the command line's for every new session.
psql_q -c "ALTER DATABASE paylink SET synchronous_commit = on"
# The resolver's policy for this run: first step after 2 s, then queries 2, 3, 4.5, 6.75 s apart
# (at most 10), a "not found" believed after 5 s, escalated after 5 queries, leases of 10 s.
psql_q -c "UPDATE resolution_policy SET first_query_after_s = 2, retry_after_s = 2,
    backoff_factor = 1.5, max_retry_after_s = 10, not_found_after_s = 5, max_queries = 5,
    lease_s = 10"
# The simulator holds a 901/905 call for 8 s (the bureaus' response time is 5 s), not a minute.
curl -sf -o /dev/null -X POST --cacert "$PAYLINK_SIM_CA" \
    "$PAYLINK_SIM_URL/__sim/config?hold_ms=8000"

for w in "${WORKERS[@]}"; do
    for r in "${REPLICAS[@]}"; do replica_start "$w" "$r"; done
done
assigned() {
    grep -q 'assigned [1-9][0-9]* partition' "$PAYLINK_LOG_DIR/paylink-$1-$2.log" 2>/dev/null
}
for ((i = 0; i < 900; i++)); do
    all=1
    for w in "${WORKERS[@]}"; do
        for r in "${REPLICAS[@]}"; do
            replica_alive "$w" "$r" || fatal "paylink-$w replica $r exited at its start" \
                "(log: $PAYLINK_LOG_DIR/paylink-$w-$r.log)"
            assigned "$w" "$r" || all=0
        done
    done
    [ "$all" = 1 ] && break
    sleep 0.1
done
[ "$all" = 1 ] || fatal "the replicas did not all get partitions within 90 s"
for w in "${WORKERS[@]}"; do collector_start "$w"; done
say "two replicas of each of ${WORKERS[*]} on the three-broker cluster ($PAYLINK_KAFKA_BROKERS)"

# ---- run ----------------------------------------------------------------------------------------

: >"$CH/sent.tsv"
: >"$CH/refused.tsv"
monkey &
MONKEY=$!
disown "$MONKEY" # (no job notice when it is ended; its end is seen in /proc)
START=$SECONDS
last_report=$SECONDS
last_sent=$SECONDS
prev_sent=0
# The chaos lasts S seconds (or until the workload is done, if that is earlier); the flows' last
# steps may come after it. The monkey is told to stop and winds down (its jobs end, everything is
# brought back) while the driver goes on.
chaos=on
while :; do
    elapsed=$((SECONDS - START))
    supervise
    read_replies
    # Paced: by 70% of the time every request is reserved by a flow.
    allowed=$((N * (elapsed + 1) * 100 / (SECONDS_WANTED * 70)))
    ((allowed <= N)) || allowed=$N
    while ((SENT + RESERVED < allowed)); do start_flow; done
    flush
    ((SENT == prev_sent)) || last_sent=$SECONDS
    prev_sent=$SENT
    if ((SECONDS - last_report >= 5)); then
        say "sent $SENT of $N requests, $FLOWS flows, ${#NEXT[@]} waiting for a reply to go on"
        last_report=$SECONDS
    fi
    done=0
    ((SENT + RESERVED < N || RESERVED > 0)) || done=1
    if [ "$chaos" = on ] && { ((elapsed >= SECONDS_WANTED)) || [ "$done" = 1 ]; }; then
        say "the chaos ends: the monkey's last jobs finish and everything is brought back"
        touch "$CH/stop"
        chaos=ending
    fi
    if [ "$chaos" = ending ] && exited "$MONKEY"; then
        MONKEY=''
        chaos=off
        last_sent=$SECONDS
        say "chaos done: $(counted kill) worker kills, $(counted pause) worker pauses," \
            "$(counted broker) broker kills/stops, $(counted pg) PostgreSQL restarts," \
            "$(counted latency) latency spells; the supervisor restarted $(counted startup)" \
            "replicas whose start-up failed and $(counted exited) that exited by themselves"
    fi
    if [ "$done" = 1 ] && [ "$chaos" = off ]; then break; fi
    # Flows still waiting after the chaos: a lost reply would hold them forever (2 minutes at most).
    if [ "$chaos" = off ] && ((SECONDS - last_sent > 120)); then
        say "no request sent for 2 minutes; ${#NEXT[@]} flows still wait for a reply:" \
            "stopping the workload"
        break
    fi
    sleep 0.5
done
say "workload done: $SENT requests sent in $FLOWS flows"
# How far the flows got, by kind: a kind none of whose flows ever completes is a business rule
# refusing what the workload plans (the fault scenarios end some flows early; so do the kills).
say "flows approved to their last step, of those started, by kind: $(for k in "${!KINDS[@]}"; do
    echo "$k=${KINDS[$k]#*|}/${KINDS[$k]%|*}"
done | sort | paste -sd ' ' -)"
if [ -s "$CH/counts/startup" ]; then
    say "start-ups that failed (the supervisor started them again), by reason:"
    sed -E 's/[0-9]+/N/g' "$CH/counts/startup" | sort | uniq -c | sort -rn | head -n 10 |
        while IFS= read -r l; do say "  $l"; done
fi

# ---- wait for replies and the resolver ----------------------------------------------------------

cut -f1,2 "$CH/sent.tsv" | sort -u >"$CH/sent.sorted"
SENT_IDS=$(cut -f2 "$CH/sent.sorted" | sort -u | wc -l)
# final_replies: every reply topic read to its end now → chaos/final-W.jsonl; prints the
# "worker<TAB>request_id" pairs answered.
final_replies() {
    local w
    for w in "${WORKERS[@]}"; do
        kcat -C -b "$PAYLINK_KAFKA_BROKERS" -t "$PAYLINK_TOPIC_PREFIX.$w.reply" -o beginning -e -q \
            -f '%s\n' >"$CH/final-$w.jsonl" 2>/dev/null || true
        jq -Rr --arg w "$w" 'fromjson? | objects | select(.request_id) | [$w, .request_id] | @tsv' \
            "$CH/final-$w.jsonl"
    done | sort -u
}
missing() {
    comm -23 "$CH/sent.sorted" <(final_replies) >"$CH/missing.tsv"
    wc -l <"$CH/missing.tsv"
}
deadline=$((SECONDS + 180))
while :; do
    supervise
    m=$(missing)
    [ "$m" = 0 ] && break
    ((SECONDS < deadline)) || break
    say "$m requests without a reply yet"
    sleep 5
done

# Rows past what the policy allows: created before now - (first step + the waits between the
# policy's queries + the lease + a margin of 60 s). A protocol and worker without a policy row is
# escalated at the first step after 10 s.
LIMIT_SQL="coalesce(p.first_query_after_s, 10) + coalesce(p.lease_s, 120) + 60 +
    coalesce((SELECT sum(ceil(least(p.max_retry_after_s,
                                    p.retry_after_s * p.backoff_factor ^ (q - 1))))
              FROM generate_series(1, p.max_queries - 1) q), 0)"
ROWS_SQL="FROM required_response r LEFT JOIN auth_service s ON s.service_bureau = r.service_bureau
    LEFT JOIN resolution_policy p ON p.protocol = s.protocol AND p.worker = r.worker"
deadline=$((SECONDS + 600))
while :; do
    supervise
    # open rows not yet past their limit: the resolver still has time
    pending=$(psql_q -c "SELECT count(*) $ROWS_SQL WHERE r.status = 'open'
        AND r.created_at >= now() - make_interval(secs => $LIMIT_SQL)") || pending=1
    [ "$pending" = 0 ] && break
    ((SECONDS < deadline)) || break
    say "$pending required responses still open within the policy's time"
    sleep 3
done
pending_replies=$(psql_q -c "SELECT count(*) FROM required_response WHERE reply_pending") || true
((${pending_replies:-0} == 0)) || sleep 5
m=$(missing)

# ---- checks -------------------------------------------------------------------------------------

replied=$((SENT_IDS - m))
lost=$m
if ! curl -sf --max-time 60 --cacert "$PAYLINK_SIM_CA" "$PAYLINK_SIM_URL/__sim/ledger" \
    >"$CH/ledger.json"; then
    say "error: the simulator's ledger could not be read"
    echo '[]' >"$CH/ledger.json"
fi
cat "$CH"/final-*.jsonl | jq -Rc 'fromjson? | objects | select(.request_id)' >"$CH/replies.jsonl"
checks() { # double|wrong
    jq -nr --arg check "$1" --slurpfile ledger "$CH/ledger.json" \
        --slurpfile replies "$CH/replies.jsonl" --rawfile sent "$CH/sent.tsv" \
        -f "$ROOT/tools/chaos/checks.jq"
}
checks double >"$CH/double.jsonl"
double=$(jq -s 'map(.count - 1) | add // 0' "$CH/double.jsonl")
unresolved=$(psql_q -c "SELECT count(*) $ROWS_SQL WHERE r.status = 'open'
    AND r.created_at < now() - make_interval(secs => $LIMIT_SQL)") || unresolved=-1
escalated=$(psql_q -c "SELECT count(*) FROM required_response WHERE status = 'escalated'") ||
    escalated=-1
psql_q -F $'\t' -c "SELECT r.id, r.request_id, r.worker, r.service_bureau, r.operation, r.reason,
    r.status, r.queries, r.created_at, r.last_query_result $ROWS_SQL WHERE r.status = 'open'
    ORDER BY r.created_at" >"$CH/open.tsv" 2>/dev/null || true

# Outcomes against the ledger, and final replies overtaken by a stale timeout (reported, not
# counted in the result).
checks wrong >"$CH/wrong.tsv" || true
checks stale >"$CH/stale.tsv" || true
stale=$(wc -l <"$CH/stale.tsv")
wrong=$(wc -l <"$CH/wrong.tsv")

say "replies by final status: $(jq -sr 'group_by(.request_id)
    | map((map(select(.resolved == true)) | last) // first | .status)
    | group_by(.) | map("\(.[0])=\(length)") | join(" ")' "$CH/replies.jsonl" 2>/dev/null ||
    echo '?')"
say "required responses: $(psql_q -c "SELECT string_agg(status || coalesce('/' || resolved_how, '')
    || '=' || n, ' ') FROM (SELECT status, resolved_how, count(*) n FROM required_response
    GROUP BY 1, 2 ORDER BY 1, 2) x" 2>/dev/null || echo '?')"
if ((lost > 0)); then
    say "LOST (no reply), first 20 of $lost:"
    head -n 20 "$CH/missing.tsv" | while IFS=$'\t' read -r w id; do say "  $w $id"; done
fi
if ((double > 0)); then
    say "DOUBLE (two bureau effects for one request), first 20 of $double:"
    head -n 20 "$CH/double.jsonl" | while read -r l; do say "  $l"; done
fi
if ((unresolved != 0)); then
    say "UNRESOLVED (open past the policy), first 20:"
    head -n 20 "$CH/open.tsv" | while read -r l; do say "  $l"; done
fi
if ((wrong > 0)); then
    say "warning: $wrong final answers contradict the ledger (first 20; not counted in the result):"
    head -n 20 "$CH/wrong.tsv" | while read -r l; do say "  $l"; done
fi
refused=$(grep -c . "$CH/refused.tsv" || true)
if ((refused > 0)); then
    say "REFUSED (a flow planned without a fault refused by a business rule), first 20 of $refused:"
    head -n 20 "$CH/refused.tsv" | while read -r l; do say "  $l"; done
fi
# Everything stops (the replicas get SIGTERM: a sanitized build writes its leak reports as they
# exit), then the logs are searched for sanitizer reports.
say "stopping the environment"
cleanup
if ((stale > 0)); then
    say "warning: $stale final replies (resolved: true) were followed by a stale" \
        "\"outcome unknown\" reply on their topic (first 20; not counted in the result):"
    head -n 20 "$CH/stale.tsv" | while read -r l; do say "  $l"; done
fi
SANITIZER='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
sanitizer=$(grep -rlE "$SANITIZER" "$PAYLINK_LOG_DIR" 2>/dev/null || true)
if [ -n "$sanitizer" ]; then
    say "SANITIZER reports in: $(echo $sanitizer)"
    for f in $sanitizer; do
        grep -E -A 25 "$SANITIZER" "$f" | head -n 40 |
            while IFS= read -r l; do say "  $l"; done
    done
fi
# A request a worker held for a database unit its connection no longer had (engine.c
# sweep_overdue): lost in that replica, even when a kill then had it redelivered and answered.
lost_units=$(grep -rl 'not with the database (lost?)' "$PAYLINK_LOG_DIR" 2>/dev/null || true)
if [ -n "$lost_units" ]; then
    say "LOST database units in: $(echo $lost_units)"
    grep -rh 'not with the database (lost?)' "$PAYLINK_LOG_DIR" | head -n 10 |
        while IFS= read -r l; do say "  $l"; done
fi
ok=0
[ "$lost" = 0 ] && [ "$double" = 0 ] && [ "$unresolved" = 0 ] && [ "$refused" = 0 ] &&
    [ -z "$sanitizer" ] && [ -z "$lost_units" ] && ok=1
result="chaos: sent=$SENT_IDS replied=$replied lost=$lost double=$double"
result+=" unresolved=$unresolved escalated=$escalated refused=$refused"
if [ "$ok" = 1 ] && [ "$KEEP" = 0 ]; then
    wipe_env
    rm -rf "$DIR" "$DIR.lock" 2>/dev/null || true
elif [ "$KEEP" = 1 ]; then
    say "kept: the environment is stopped; its files are in $DIR"
else
    say "failed: the environment is stopped; its logs and this run's files (chaos/) are in $DIR"
fi
say "took $((SECONDS - T0)) s"
echo "$result"
exit $((1 - ok))
