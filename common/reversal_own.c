/* reversal_own.c: paylink's own reversals and the rest of one approved for less (see
 * reversal_own.h). */
#include "reversal_own.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Whether request_id can be a rest (pl_job_derived_request_id(..., "rest"): "<id>.rest", or
 * "rest.<digits>" when that was too long), before any is derived to compare with. */
static bool rest_shaped(const char *request_id)
{
    static const char suffix[] = "." PL_REVERSAL_REST_SUFFIX,
                      prefix[] = PL_REVERSAL_REST_SUFFIX ".";
    size_t n = strlen(request_id);
    return strncmp(request_id, prefix, sizeof prefix - 1) == 0 ||
           (n >= sizeof suffix - 1 && strcmp(request_id + n - (sizeof suffix - 1), suffix) == 0);
}

int pl_reversal_own_root(const char *request_id, const char *auth_request_id, const char *voided_by,
                         const char *made_by, char *root, size_t rootsz)
{
    if (root && rootsz > 0)
        root[0] = '\0';
    if (!request_id || !*request_id)
        return -1;
    if (pl_reversal_by_paylink(request_id, auth_request_id) ||
        pl_reversal_of_replaced(request_id, voided_by) ||
        pl_reversal_of_soft_decline(request_id, made_by)) {
        if (root && rootsz > 0)
            snprintf(root, rootsz, "%s", request_id);
        return 0;
    }
    if (!rest_shaped(request_id))
        return -1;
    /* Each of paylink's own reversals of this authorization, then its rests one after another
     * (each named after the one before, so the chain's length is in the name, hashed or not). */
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
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        const char *ref = refs[own[i].of];
        if (!ref || !*ref)
            continue;
        char first[64], id[64], next[64];
        pl_job_derived_request_id(ref, own[i].suffix, first, sizeof first);
        memcpy(id, first, sizeof id);
        for (int n = 1; n <= PL_REVERSAL_MAX_RESTS; n++) {
            pl_job_derived_request_id(id, PL_REVERSAL_REST_SUFFIX, next, sizeof next);
            if (strcmp(request_id, next) == 0) {
                if (root && rootsz > 0)
                    snprintf(root, rootsz, "%s", first);
                return n;
            }
            memcpy(id, next, sizeof id);
        }
    }
    return -1;
}

int pl_reversal_own(const char *request_id, const char *auth_request_id, const char *voided_by,
                    const char *made_by)
{
    return pl_reversal_own_root(request_id, auth_request_id, voided_by, made_by, NULL, 0);
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
