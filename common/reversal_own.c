/* reversal_own.c: paylink's own reversals and the rest of one approved for less (see
 * reversal_own.h). */
#include "reversal_own.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bureau_cybersource.h"
#include "log.h"
#include "money.h"

/* Whether request_id is the one paylink derives from `of` with `suffix`
 * (pl_job_derived_request_id). */
static bool is_derived(const char *request_id, const char *of, const char *suffix)
{
    if (!request_id || !of || !*of)
        return false;
    char id[64];
    pl_job_derived_request_id(of, suffix, id, sizeof id);
    return strcmp(request_id, id) == 0;
}

bool pl_reversal_is_timeout_of(const char *request_id, const char *auth_request_id)
{
    return is_derived(request_id, auth_request_id, PL_TIMEOUT_REVERSAL_SUFFIX);
}

bool pl_reversal_by_paylink(const char *request_id, const char *auth_request_id)
{
    static const char *const suffixes[] = {PL_DM_REVERSAL_SUFFIX, PL_TIMEOUT_REVERSAL_SUFFIX,
                                           "dmrev"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
        if (is_derived(request_id, auth_request_id, suffixes[i]))
            return true;
    return false;
}

bool pl_reversal_of_soft_decline(const char *request_id, const char *deposit_request_id)
{
    return is_derived(request_id, deposit_request_id, PL_SOFT_DECLINE_REVERSAL_SUFFIX);
}

bool pl_reversal_of_replaced(const char *request_id, const char *deposit_request_id)
{
    /* The one published with its answer, or again by its resolver (057). */
    return is_derived(request_id, deposit_request_id, PL_DEPOSIT_REVERSAL_SUFFIX) ||
           is_derived(request_id, deposit_request_id, PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX);
}

/* Whether request_id is id with suffix, as pl_job_derived_request_id derives it: "<id>.<suffix>",
 * or "<suffix>.<digits>" when that was too long. */
static bool suffix_shaped(const char *request_id, const char *suffix)
{
    size_t n = strlen(request_id), k = strlen(suffix);
    return (n > k && strncmp(request_id, suffix, k) == 0 && request_id[k] == '.') ||
           (n > k && request_id[n - k - 1] == '.' && strcmp(request_id + n - k, suffix) == 0);
}

/* Whether request_id can be a step of a chain after one of paylink's own reversals (a rest, or
 * one asked again), before any is derived to compare with. */
static bool chain_shaped(const char *request_id)
{
    return suffix_shaped(request_id, PL_REVERSAL_REST_SUFFIX) ||
           suffix_shaped(request_id, PL_REVERSAL_AGAIN_SUFFIX);
}

/* Whether id is one pl_job_derived_request_id hashed ("<suffix>.<digits>"): a step after it is
 * hashed too, and none is a prefix of the next. */
static bool hashed_shaped(const char *id)
{
    static const char *const steps[] = {PL_REVERSAL_REST_SUFFIX, PL_REVERSAL_AGAIN_SUFFIX};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t k = strlen(steps[i]);
        if (strncmp(id, steps[i], k) == 0 && id[k] == '.')
            return true;
    }
    return false;
}

/* The search of a chain's steps (walk). */
typedef struct chain_walk {
    const char *request_id;
    bool hashed; /* request_id is a hashed step: any unhashed step may lead to it */
    int rests, again;
} chain_walk;

/* Whether w->request_id is a step after id, which `rests` rests and `again` asks again led to
 * (each step derived from the one before); w->rests and w->again then say its own counts. A step
 * that is not a prefix of a request_id that is not hashed leads nowhere (an unhashed id is its
 * chain's ids one after another; a hashed step's next ones are hashed too): not walked. */
static bool walk(chain_walk *w, const char *id, int rests, int again)
{
    static const struct {
        const char *suffix;
        int max;
        bool rest;
    } steps[] = {{PL_REVERSAL_REST_SUFFIX, PL_REVERSAL_MAX_RESTS, true},
                 {PL_REVERSAL_AGAIN_SUFFIX, PL_REVERSAL_MAX_AGAIN, false}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int r = rests + (steps[i].rest ? 1 : 0), a = again + (steps[i].rest ? 0 : 1);
        if ((steps[i].rest ? r : a) > steps[i].max)
            continue;
        char next[64];
        pl_job_derived_request_id(id, steps[i].suffix, next, sizeof next);
        if (strcmp(w->request_id, next) == 0) {
            w->rests = r;
            w->again = a;
            return true;
        }
        if (!w->hashed && strncmp(w->request_id, next, strlen(next)) != 0)
            continue;
        if (walk(w, next, r, a))
            return true;
    }
    return false;
}

int pl_reversal_own_chain(const char *request_id, const char *auth_request_id,
                          const char *voided_by, const char *made_by, char *root, size_t rootsz,
                          int *again)
{
    if (root && rootsz > 0)
        root[0] = '\0';
    if (again)
        *again = 0;
    if (!request_id || !*request_id)
        return -1;
    if (pl_reversal_by_paylink(request_id, auth_request_id) ||
        pl_reversal_of_replaced(request_id, voided_by) ||
        pl_reversal_of_soft_decline(request_id, made_by)) {
        if (root && rootsz > 0)
            snprintf(root, rootsz, "%s", request_id);
        return 0;
    }
    if (!chain_shaped(request_id))
        return -1;
    /* Each of paylink's own reversals of this authorization, then the steps after it one after
     * another (each named after the one before, so the chain's length is in the name, hashed or
     * not). */
    static const struct {
        int of; /* 0 the authorization, 1 the deposit that voided it, 2 the debit that made it */
        const char *suffix;
    } own[] = {{0, PL_DM_REVERSAL_SUFFIX},
               {0, PL_TIMEOUT_REVERSAL_SUFFIX},
               {0, "dmrev"},
               {1, PL_DEPOSIT_REVERSAL_SUFFIX},
               {1, PL_DEPOSIT_REVERSAL_AGAIN_SUFFIX},
               {2, PL_SOFT_DECLINE_REVERSAL_SUFFIX}};
    const char *const refs[] = {auth_request_id, voided_by, made_by};
    chain_walk w = {.request_id = request_id, .hashed = hashed_shaped(request_id)};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        const char *ref = refs[own[i].of];
        if (!ref || !*ref)
            continue;
        char first[64];
        pl_job_derived_request_id(ref, own[i].suffix, first, sizeof first);
        if (!walk(&w, first, 0, 0))
            continue;
        if (root && rootsz > 0)
            snprintf(root, rootsz, "%s", first);
        if (again)
            *again = w.again;
        return w.rests;
    }
    return -1;
}

int pl_reversal_own_root(const char *request_id, const char *auth_request_id, const char *voided_by,
                         const char *made_by, char *root, size_t rootsz)
{
    return pl_reversal_own_chain(request_id, auth_request_id, voided_by, made_by, root, rootsz,
                                 NULL);
}

int pl_reversal_own(const char *request_id, const char *auth_request_id, const char *voided_by,
                    const char *made_by)
{
    return pl_reversal_own_root(request_id, auth_request_id, voided_by, made_by, NULL, 0);
}

bool pl_reversal_error_unacted(const char *protocol, const char *decision,
                               const char *vendor_response, const char *settled_by)
{
    protocol = protocol ? protocol : "";
    decision = decision ? decision : "";
    settled_by = settled_by ? settled_by : "";
    /* An operator's outcome says what they decided, not what the bureau did: an `error` may be
     * one whose outcome could not be learnt at all. */
    if (strcmp(settled_by, PL_REVERSAL_SETTLED_BY_OPERATOR) == 0)
        return false;
    /* No answer from a bureau: whatever failed, it failed before the bureau could act; so too
     * the resolver's query that found no record of it (it writes no decision then). */
    if (!*decision)
        return true;
    /* A decision the resolver read from the bureau's record of it (record_to_result writes
     * ERROR 150 for any record that failed without a reason it can read) is no live answer. */
    if (strcmp(settled_by, PL_REVERSAL_SETTLED_BY_QUERY) == 0)
        return false;
    /* CyberSource's general failure refuses the request before any business processing; its
     * other ERROR reasons (151, 152, 250: received and perhaps processed; 236, a processor
     * failure) and every other bureau's decisions may have acted. */
    return strcmp(protocol, "CYB") == 0 && strcmp(decision, "ERROR") == 0 &&
           strcmp(vendor_response ? vendor_response : "", "150") == 0;
}

void pl_reversal_auth_facts_issuer(pl_reversal_auth_facts *a, const char *protocol,
                                   const char *vendor_response, bool issuer_authorized)
{
    const char *status = a->status ? a->status : "";
    bool cyb = a->found && protocol && strcmp(protocol, "CYB") == 0;
    bool declined = strcmp(status, "declined") == 0;
    a->soft_declined =
        cyb && declined && pl_cybersource_soft_decline(vendor_response ? vendor_response : "");
    a->issuer_authorized = cyb && issuer_authorized && (declined || strcmp(status, "error") == 0);
}

/* Whether the issuer holds what the authorization a approved: review and a Decision Manager
 * reject (481) were approved by the issuer too, and a voided one with nothing captured (an
 * auth+capture replaced it) still holds the funds at the bureau; so do a CyberSource soft decline
 * and a decline or error whose ccAuthReply said the issuer authorized it. */
static bool issuer_holds(const pl_reversal_auth_facts *a)
{
    static const char *const reversible[] = {"approved", "review", "rejected", "voided"};
    const char *status = a->status ? a->status : "";
    for (size_t i = 0; i < sizeof reversible / sizeof reversible[0]; i++)
        if (strcmp(status, reversible[i]) == 0)
            return true;
    if (strcmp(status, "declined") == 0)
        return a->soft_declined || a->issuer_authorized;
    return strcmp(status, "error") == 0 && a->issuer_authorized;
}

/* Both orders of the same checks (pl_reversal_refusal_of, pl_reversal_refusal_lasting): lasting
 * passes over the refusals that end by themselves. */
static pl_reversal_refusal refusal(const pl_reversal_auth_facts *a, bool by_request_id,
                                   bool lasting)
{
    if (!a->found)
        return by_request_id ? PL_REVERSAL_REFUSED_UNKNOWN : PL_REVERSAL_GOES;
    if (a->status && strcmp(a->status, "reversed") == 0)
        return PL_REVERSAL_REFUSED_REVERSED;
    if (a->deposited > 0)
        return PL_REVERSAL_REFUSED_CAPTURED;
    if (!lasting && a->pending > 0)
        return PL_REVERSAL_REFUSED_CLAIMED;
    if (!lasting && a->timeout_in_flight)
        return PL_REVERSAL_REFUSED_TIMEOUT_IN_FLIGHT;
    if (!issuer_holds(a))
        return PL_REVERSAL_REFUSED_NOT_APPROVED;
    if (!a->transaction_id || !*a->transaction_id)
        return PL_REVERSAL_REFUSED_NO_TRANSACTION_ID;
    return PL_REVERSAL_GOES;
}

pl_reversal_refusal pl_reversal_refusal_of(const pl_reversal_auth_facts *a, bool by_request_id)
{
    return refusal(a, by_request_id, false);
}

pl_reversal_refusal pl_reversal_refusal_lasting(const pl_reversal_auth_facts *a, bool by_request_id)
{
    return refusal(a, by_request_id, true);
}

int pl_reversal_again_delay_s(int asked)
{
    static const int delays[PL_REVERSAL_MAX_AGAIN] = {60, 300, 1800};
    return asked >= 0 && asked < PL_REVERSAL_MAX_AGAIN ? delays[asked] : -1;
}

int pl_reversal_rest(int own, bool approved, int64_t sent, int64_t reversed, int64_t *rest)
{
    *rest = 0;
    if (own < 0 || !approved || reversed >= sent)
        return 0;
    *rest = sent - reversed;
    /* A rest no smaller than what was just sent (nothing reversed) would be answered alike. */
    return own < PL_REVERSAL_MAX_RESTS && reversed > 0 ? 1 : -1;
}

static const char *nn(const char *s)
{
    return s ? s : "";
}

int pl_reversal_rest_for(const pl_reversal_answered *a, pl_reversal_rest_request *out)
{
    memset(out, 0, sizeof *out);
    out->rests = -1;
    /* CyberSource's timeout reversal releases the authorization whole, by the identifier it was
     * sent with: no history row records a rest of it. */
    if (!a->approved || a->timeout || a->reversed >= a->sent)
        return 0;
    out->rests = pl_reversal_own(a->request_id, a->auth_request_id, a->voided_by, a->made_by);
    int64_t rest = 0;
    int k = pl_reversal_rest(out->rests, true, a->sent, a->reversed, &rest);
    if (k == 0 || pl_money_format(rest, out->amount, sizeof out->amount) != 0)
        return 0;
    if (k < 0)
        return -1;
    /* A history row that records no amount held (neither amount_authorized nor
     * amount_issuer_held: a Decision Manager reject, a soft decline, a refusal while the issuer
     * authorized it, the issuer holding the amount asked): 065's trigger compares the amount
     * reversed with those NULLs and books any approval `reversed`, so the rest would be refused
     * as already reversed (237) without a bureau call and the funds left held with nobody told.
     * An operator is told instead (pl_reversal_rest_log). No history row (a manual
     * authorization): nothing is booked, the bureau decides. */
    if (a->history && !a->held_recorded) {
        out->unrecorded = true;
        return -1;
    }
    pl_job_derived_request_id(a->request_id, PL_REVERSAL_REST_SUFFIX, out->request_id,
                              sizeof out->request_id);
    /* The same authorization, named as this reversal named it: paylink-reversal finds it as it
     * found it for this one, and sends what its history row says is still held. */
    if (a->auth_request_id && *a->auth_request_id) {
        out->of.auth_request_id = a->auth_request_id;
    } else {
        if (a->has_auth_amount &&
            pl_money_format(a->auth_amount, out->auth_amount, sizeof out->auth_amount) != 0)
            out->auth_amount[0] = '\0';
        out->of.transaction_id = nn(a->transaction_id);
        out->of.request_token = nn(a->request_token);
        out->of.number = nn(a->number);
        out->of.date = nn(a->date);
        out->of.amount = out->auth_amount[0] ? out->auth_amount : NULL;
    }
    return 1;
}

void pl_reversal_rest_log(const char *request_id, const char *auth, int k,
                          const pl_reversal_rest_request *rest)
{
    if (k > 0)
        PL_INFO(request_id,
                "approved for less than sent: reversal %s requested for the %s authorization %s "
                "still holds (rest %d of at most %d)",
                rest->request_id, rest->amount, nn(auth), rest->rests + 1, PL_REVERSAL_MAX_RESTS);
    else if (k < 0)
        PL_ERROR(request_id,
                 "paylink's reversal of authorization %s was approved for less than sent: %s is "
                 "still held and is not asked for again (%s); an operator must reverse it",
                 nn(auth), rest->amount,
                 rest->unrecorded ? "its history row records no amount held, so the approval "
                                    "booked it reversed and a rest would be refused"
                 : rest->rests >= PL_REVERSAL_MAX_RESTS
                     ? "the rests asked already reached the limit"
                     : "nothing was reversed");
}

/* Adds s to o under key; false when out of memory. */
static bool add(json_object *o, const char *key, json_object *v)
{
    if (!v || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

char *pl_reversal_request_json(const pl_reversal_message *m)
{
    json_object *o = json_object_new_object(), *ref = json_object_new_object();
    bool good = o && ref;
    /* One field order for every publisher, so that the same reversal is the same bytes
     * whoever publishes it. */
    good = good && add(o, "v", json_object_new_int(1)) &&
           add(o, "request_id", json_object_new_string(nn(m->request_id))) &&
           add(o, "type", json_object_new_string("reversal")) &&
           add(o, "company", json_object_new_int(m->company)) &&
           add(o, "order", json_object_new_string(nn(m->order))) &&
           add(o, "pay_seq", json_object_new_int(m->pay_seq)) &&
           add(o, "service", json_object_new_string(nn(m->service)));
    if (good && m->amount && *m->amount)
        good = add(o, "amount", json_object_new_string(m->amount)) &&
               add(o, "currency", json_object_new_string(nn(m->currency)));
    if (good && m->pay_type && *m->pay_type)
        good = add(o, "pay_type", json_object_new_string(m->pay_type));
    if (good) {
        const pl_reversal_of none = {0};
        good = pl_reversal_of_json(m->of ? m->of : &none, ref) == 0;
    }
    if (good) {
        good = add(o, "auth_ref", ref);
        ref = NULL; /* o's now, or put by add */
    }
    const char *text = good ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
    char *copy = text ? strdup(text) : NULL;
    json_object_put(ref);
    json_object_put(o);
    return copy;
}

void pl_reversal_request_key(int company, const char *order, char *out, size_t outsize)
{
    snprintf(out, outsize, "%d-%s", company, nn(order));
}
