# tools/chaos/checks.jq: the ledger checks of tools/chaos/chaos.sh.
#
#   jq -nc --arg check double|wrong --slurpfile ledger LEDGER.json --slurpfile replies REPLIES
#          --rawfile sent SENT.tsv -f checks.jq
#
# LEDGER.json: the simulator's ledger (GET /__sim/ledger: protocol, op, ref, amount, bureau_id);
# REPLIES: every reply read from the reply topics (JSON objects, in topic order); SENT.tsv: the
# requests sent, "worker<TAB>request_id<TAB>type<TAB>service<TAB>order" lines.
#
# double: one JSON line per bureau effect made twice for one request. Effects are the ledger's
#   entries keyed by (protocol, op, ref): ref is the request_id for CYB and EXT, the order for RLT
#   (every flow of the chaos test is its own order and sends each operation at most once), so a
#   key found twice is one request's effect made twice. RLT GenerateCard is the exception: its
#   ledger ref is the card series, so each new card is matched to the generate request whose
#   reply carried its number (the simulator's numbering, tools/sim/sim_ledger.c: card number =
#   prefix, series, serial; the ledger's bureau_id = prefix, series, "001", serial in 6 digits);
#   a request answered with two different cards, or
#   more cards than the generate requests without a card in their reply could account for, is a
#   double.
# wrong: one TSV line per request whose final answer contradicts the ledger: approved while the
#   bureau has no effect of it, or declined/error/invalid while it has one. The final answer is
#   the last resolved reply (resolved: true), else the first one that is not a replay; an answer
#   that says the outcome is unknown (required_response: true, a `timeout` or an `error` with a
#   required response, left to the resolver or an operator) is not judged. Tokens and balance
#   inquiries are not effects.
# stale: one TSV line per request whose final reply (resolved: true) was followed on its reply
#   topic by an "outcome unknown" reply (required_response: true) that is not a replay: an
#   upstream system that keeps the last reply it read is left with "outcome unknown" although
#   paylink settled it (the two replies come from
#   different producers, the worker's and its resolver's, and nothing orders them).

def sent_rows:
    $sent | split("\n") | map(select(length > 0) | split("\t")
        | {worker: .[0], request_id: .[1], type: .[2], service: .[3], order: .[4]});

def rlt_op: {generate: "generate", activate: "recharge", auth: "auth", deposit: "deposit",
             return: "return", reversal: "void"}[.];

def full_number: (.svc.card_number // "") | test("^[0-9]{10,20}$");

# The key of a generated card: prefix and series (7 digits), then the serial.
def card_key: .[0:7] + (.[7:] | tonumber | tostring);
def instrument_key: .[0:7] + (.[10:] | tonumber | tostring);

($ledger[0] // []) as $l
| ($replies // []) as $r
| ($l | map(select(.protocol == "RLT" and .op == "generate") | .bureau_id | instrument_key))
    as $cards
| ($r | map(select(.service == "RLT" and .type == "generate" and full_number))
    | group_by(.request_id)
    | map({request_id: .[0].request_id,
           numbers: (map(.svc.card_number | card_key) | unique)})) as $gen
| if $check == "stale" then
    $r | group_by(.request_id)[]
    | (map(.resolved == true) | index(true)) as $final
    | (map(.required_response == true and .replayed != true) | rindex(true)) as $timeout
    | select($final != null and $timeout != null and $timeout > $final)
    | [.[0].request_id, .[0].type, .[0].service, .[$final].status,
       "an \"outcome unknown\" reply (\(.[$timeout].status)) came after the resolved one"] | @tsv
  elif $check == "double" then
    ($l | map(select((.protocol == "RLT" and .op == "generate") | not))
        | group_by([.protocol, .op, .ref]) | map(select(length > 1))
        | map({protocol: .[0].protocol, op: .[0].op, ref: .[0].ref, count: length,
               what: "the same operation twice for one request"})[]),
    ($gen | map(select(.numbers | length > 1))
        | map({protocol: "RLT", op: "generate", ref: .request_id, count: (.numbers | length),
               what: "one generate request answered with different cards"})[]),
    (([$gen[].numbers[]] | unique) as $answered
     | ($cards | map(select(. as $c | $answered | index($c) | not)) | length) as $unmatched
     | ([sent_rows[] | select(.service == "RLT" and .type == "generate") | .request_id] | unique
        | map(select(. as $id | $gen | map(.request_id) | index($id) | not)) | length) as $cardless
     | if $unmatched > $cardless then
           {protocol: "RLT", op: "generate", ref: "(card series)", count: ($unmatched - $cardless),
            what: ("\($unmatched) cards no reply named, only \($cardless) generate requests"
                   + " without a card in their reply")}
       else empty end)
  else
    ($l | map(select(.op != "token" and .op != "inquiry"))) as $effects
    | ($effects | map(select(.protocol != "RLT")) | map({key: .ref, value: true}) | from_entries)
        as $byref
    | ($effects | map(select(.protocol == "RLT")) | map({key: (.ref + "|" + .op), value: true})
        | from_entries) as $rlt
    | $r | group_by(.request_id)[]
    | ((map(select(.resolved == true)) | last) // (map(select(.replayed != true)) | first) // first)
    | select(.status != "timeout" and .required_response != true)
    | (if .service == "RLT" and .type == "generate" then
           (if full_number then ((.svc.card_number | card_key) as $n | $cards | index($n) != null)
            else null end)
       elif .service == "RLT" then ($rlt[.order + "|" + (.type | rlt_op)] // false)
       else ($byref[.request_id] // false) end) as $effect
    | select($effect != null)
    | select(($effect and (.status == "declined" or .status == "error" or .status == "invalid"))
             or (($effect | not) and .status == "approved"))
    | [.request_id, .type, .service, .status,
       (if $effect then "effect in the ledger" else "no effect in the ledger" end),
       (.resolution // "first answer"), (.message // "")] | @tsv
  end
