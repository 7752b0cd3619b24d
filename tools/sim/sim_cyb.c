/*
 * sim_cyb.c: the simulated CyberSource Simple Order API (see sim_cyb.h for the rules).
 *
 * One request goes through five steps: read the envelope and the fields into a cyb_req
 * (plain buffers; the card number is wiped at the end), refuse what CyberSource refuses
 * before business processing (faults, then missing/invalid fields), decide the outcome of
 * each service from the scenario table and the ledger, record what was done (the /__sim/query
 * answer, and the request as the Single Transaction Query of sim_query.h shows it), and render
 * the cyb_reply with libxml2 in the XSD's element order. Reply element orders follow
 * CyberSourceTransaction_1.121.xsd (ReplyMessage, CCAuthReply, CCCaptureReply, CCCreditReply,
 * CCAuthReversalReply, AFSReply, PaySubscriptionCreateReply), which later versions only extend.
 */
#include "sim_cyb.h"

#include <json-c/json.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card.h"
#include "money.h"
#include "sim_ids.h"
#include "sim_log.h"
#include "sim_scenario.h"
#include "sim_soap.h"
#include "sim_xml.h"

/* CyberSource limits merchantReferenceCode to 50 characters. */
#define REF_MAX PL_SIM_CYB_REF_MAX
#define MAX_FIELD_ERRORS 4

/*
 * CONTRACT.md §3: 905.xx is processed as any other amount (applied and recorded), then held
 * without an answer; 906.xx likewise, then the connection closed. Not in sim_scenario.h, as
 * sim_relate.c's and sim_ext.c's are not: only the answer is lost.
 */
#define UNITS_APPLIED_THEN_HOLD 905
#define UNITS_APPLIED_THEN_DROP 906

typedef struct cyb_req {
    char ns[160];
    char merchant_id[64];
    char ref[REF_MAX + 1];
    char currency[8];
    bool has_amount;
    int64_t amount;
    char postal[24];
    bool has_postal;
    char pan[24]; /* wiped when the request is done */
    bool has_card;
    char cvn[8]; /* wiped likewise */
    bool has_cvn;
    int exp_month;
    int exp_year;
    char sub_id[48];
    bool has_sub_id;
    bool dm_enabled;
    bool run_token, run_auth, run_capture, run_credit, run_reversal;
    char other_service[48]; /* the first run="true" service the simulator does not know */
    char capture_auth_id[48];
    char credit_capture_id[48];
    char reversal_auth_id[48];
    char mti[48]; /* merchantTransactionIdentifier: an authorization's, or the one a timeout
                     reversal names */
} cyb_req;

typedef struct cyb_svc {
    bool present;
    int reason;
    bool has_amount;
    int64_t amount;
} cyb_svc;

typedef struct cyb_reply {
    const char *ns;
    const char *ref;
    char request_id[PL_SIM_ID_DIGITS + 1];
    char request_token[PL_SIM_TOKEN_CHARS + 1];
    /* One per request, so that the Single Transaction Query shows what the reply said. */
    char auth_code[7];          /* an approved authorization's */
    char reconciliation_id[17]; /* every service's reconciliationID */
    const char *decision;
    int reason;
    const char *missing[MAX_FIELD_ERRORS];
    int nmissing;
    const char *invalid[MAX_FIELD_ERRORS];
    int ninvalid;
    const char *currency; /* NULL: no purchaseTotals */
    cyb_svc auth;
    char avs, cvn; /* '\0': not reported */
    bool partial;  /* report requestAmount in ccAuthReply */
    int64_t requested;
    cyb_svc capture;
    cyb_svc credit;
    cyb_svc reversal;
    cyb_svc afs;
    int afs_score;
    bool dm_ran;      /* Decision Manager decided (ACCEPT, REVIEW, REJECT 481) */
    int soft_decline; /* the armed soft decline's reason this request took; 0 none */
    cyb_svc token;
    char subscription_id[PL_SIM_ID_DIGITS + 1];
} cyb_reply;

/* ---- reading the request ------------------------------------------------------------- */

static bool run_attr_true(xmlNodePtr svc)
{
    xmlChar *run = xmlGetProp(svc, BAD_CAST "run");
    bool on = run && strcmp((const char *)run, "true") == 0;
    xmlFree(run);
    return on;
}

static void add_missing(cyb_reply *rep, const char *field)
{
    if (rep->nmissing < MAX_FIELD_ERRORS)
        rep->missing[rep->nmissing++] = field;
}

static void add_invalid(cyb_reply *rep, const char *field)
{
    if (rep->ninvalid < MAX_FIELD_ERRORS)
        rep->invalid[rep->ninvalid++] = field;
}

/* Reads one text field; a value too long for its buffer counts as invalid data. */
static bool read_field(xmlNodePtr msg, const char *ns, const char *path, char *buf, size_t size,
                       cyb_reply *rep, const char *field_name)
{
    int rc = pl_sim_xml_text(msg, ns, path, buf, size);
    if (rc < 0) {
        add_invalid(rep, field_name);
        return false;
    }
    return rc == 1 && buf[0] != '\0';
}

/* Parses 1–4 digits; false for anything else. */
static bool small_int(const char *s, int *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 4)
        return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* grandTotalAmount, or else the sum of unitPrice × quantity over the items, as CyberSource does. */
static void read_amount(xmlNodePtr msg, const char *ns, cyb_req *r, cyb_reply *rep)
{
    char text[32];
    if (read_field(msg, ns, "purchaseTotals/grandTotalAmount", text, sizeof text, rep,
                   "c:purchaseTotals/c:grandTotalAmount")) {
        if (pl_money_parse_decimal(text, &r->amount) < 0 || r->amount < 0)
            add_invalid(rep, "c:purchaseTotals/c:grandTotalAmount");
        else
            r->has_amount = true;
        return;
    }
    int64_t total = 0;
    bool any = false;
    for (xmlNodePtr it = msg->children; it; it = it->next) {
        if (it->type != XML_ELEMENT_NODE || strcmp((const char *)it->name, "item") != 0)
            continue;
        char price[32], qty[16];
        int64_t unit;
        int q = 1;
        if (!read_field(it, ns, "unitPrice", price, sizeof price, rep, "c:item/c:unitPrice"))
            continue;
        if (read_field(it, ns, "quantity", qty, sizeof qty, rep, "c:item/c:quantity") &&
            !small_int(qty, &q)) {
            add_invalid(rep, "c:item/c:quantity");
            return;
        }
        if (pl_money_parse_decimal(price, &unit) < 0 || unit < 0 || unit > PL_MONEY_MAX / 10000) {
            add_invalid(rep, "c:item/c:unitPrice");
            return;
        }
        total += unit * q;
        if (total > PL_MONEY_MAX) {
            add_invalid(rep, "c:item/c:unitPrice");
            return;
        }
        any = true;
    }
    if (any) {
        r->amount = total;
        r->has_amount = true;
    }
}

static void read_services(xmlNodePtr msg, cyb_req *r)
{
    for (xmlNodePtr s = msg->children; s; s = s->next) {
        if (s->type != XML_ELEMENT_NODE || !run_attr_true(s))
            continue;
        const char *name = (const char *)s->name;
        if (strcmp(name, "paySubscriptionCreateService") == 0)
            r->run_token = true;
        else if (strcmp(name, "ccAuthService") == 0)
            r->run_auth = true;
        else if (strcmp(name, "ccCaptureService") == 0)
            r->run_capture = true;
        else if (strcmp(name, "ccCreditService") == 0)
            r->run_credit = true;
        else if (strcmp(name, "ccAuthReversalService") == 0)
            r->run_reversal = true;
        else if (strcmp(name, "afsService") == 0)
            ; /* fraud screening rides along with the auth: its result is the afsReply */
        else if (!r->other_service[0])
            snprintf(r->other_service, sizeof r->other_service, "c:%s", name);
    }
}

static void read_request(xmlNodePtr msg, cyb_req *r, cyb_reply *rep)
{
    const char *ns = r->ns;
    char buf[16];

    read_field(msg, ns, "merchantID", r->merchant_id, sizeof r->merchant_id, rep, "c:merchantID");
    read_field(msg, ns, "merchantReferenceCode", r->ref, sizeof r->ref, rep,
               "c:merchantReferenceCode");
    read_field(msg, ns, "purchaseTotals/currency", r->currency, sizeof r->currency, rep,
               "c:purchaseTotals/c:currency");
    read_amount(msg, ns, r, rep);
    r->has_postal = read_field(msg, ns, "billTo/postalCode", r->postal, sizeof r->postal, rep,
                               "c:billTo/c:postalCode");
    r->has_card = read_field(msg, ns, "card/accountNumber", r->pan, sizeof r->pan, rep,
                             "c:card/c:accountNumber");
    r->has_cvn =
        read_field(msg, ns, "card/cvNumber", r->cvn, sizeof r->cvn, rep, "c:card/c:cvNumber");
    if (read_field(msg, ns, "card/expirationMonth", buf, sizeof buf, rep,
                   "c:card/c:expirationMonth") &&
        (!small_int(buf, &r->exp_month) || r->exp_month < 1 || r->exp_month > 12))
        add_invalid(rep, "c:card/c:expirationMonth");
    if (read_field(msg, ns, "card/expirationYear", buf, sizeof buf, rep,
                   "c:card/c:expirationYear") &&
        (!small_int(buf, &r->exp_year) || r->exp_year < 1000))
        add_invalid(rep, "c:card/c:expirationYear");
    r->has_sub_id =
        read_field(msg, ns, "recurringSubscriptionInfo/subscriptionID", r->sub_id, sizeof r->sub_id,
                   rep, "c:recurringSubscriptionInfo/c:subscriptionID");
    if (read_field(msg, ns, "decisionManager/enabled", buf, sizeof buf, rep,
                   "c:decisionManager/c:enabled"))
        r->dm_enabled = strcmp(buf, "true") == 0;

    read_services(msg, r);
    read_field(msg, ns, "ccCaptureService/authRequestID", r->capture_auth_id,
               sizeof r->capture_auth_id, rep, "c:ccCaptureService/c:authRequestID");
    read_field(msg, ns, "ccCreditService/captureRequestID", r->credit_capture_id,
               sizeof r->credit_capture_id, rep, "c:ccCreditService/c:captureRequestID");
    read_field(msg, ns, "ccAuthReversalService/authRequestID", r->reversal_auth_id,
               sizeof r->reversal_auth_id, rep, "c:ccAuthReversalService/c:authRequestID");
    read_field(msg, ns, "merchantTransactionIdentifier", r->mti, sizeof r->mti, rep,
               "c:merchantTransactionIdentifier");
}

/* The services must form one of the request shapes CyberSource accepts (sim_cyb.h). */
static void check_shape(const cyb_req *r, cyb_reply *rep)
{
    bool card_op = r->run_token || r->run_auth;
    if (!card_op && !r->run_capture && !r->run_credit && !r->run_reversal) {
        add_invalid(rep, r->other_service[0] ? r->other_service : "c:requestMessage");
        return;
    }
    if (r->run_credit && (card_op || r->run_capture || r->run_reversal))
        add_invalid(rep, "c:ccCreditService");
    else if (r->run_reversal && (card_op || r->run_capture))
        add_invalid(rep, "c:ccAuthReversalService");
    else if (r->run_capture && r->run_token && !r->run_auth)
        add_invalid(rep, "c:ccCaptureService");
}

/* Missing required fields, in the order CyberSource reports them. */
static void check_required(const cyb_req *r, cyb_reply *rep)
{
    if (!r->ref[0])
        add_missing(rep, "c:merchantReferenceCode");
    bool needs_amount = r->run_auth || r->run_capture || r->run_credit;
    if ((needs_amount || r->run_token) && !r->currency[0])
        add_missing(rep, "c:purchaseTotals/c:currency");
    if (needs_amount && !r->has_amount)
        add_missing(rep, "c:purchaseTotals/c:grandTotalAmount");
    /* A zero authorization verifies a card; a zero capture or credit moves nothing. */
    if ((r->run_capture || r->run_credit) && !r->run_auth && r->has_amount && r->amount == 0)
        add_invalid(rep, "c:purchaseTotals/c:grandTotalAmount");

    bool standalone_credit = r->run_credit && !r->credit_capture_id[0];
    bool wants_payment = r->run_token || r->run_auth || standalone_credit;
    /* A token cannot be made from a token: creating one needs the card itself. */
    bool may_pay_by_token = !r->run_token;
    if (wants_payment && !r->has_card && !(may_pay_by_token && r->has_sub_id))
        add_missing(rep, "c:card/c:accountNumber");
    if (wants_payment && r->has_card) {
        if (!r->exp_month)
            add_missing(rep, "c:card/c:expirationMonth");
        if (!r->exp_year)
            add_missing(rep, "c:card/c:expirationYear");
    }
    if (r->run_capture && !r->run_auth && !r->capture_auth_id[0])
        add_missing(rep, "c:ccCaptureService/c:authRequestID");
    /* A timeout reversal names the authorization by merchantTransactionIdentifier instead. */
    if (r->run_reversal && !r->reversal_auth_id[0] && !r->mti[0])
        add_missing(rep, "c:ccAuthReversalService/c:authRequestID");
}

/* ---- deciding ----------------------------------------------------------------------- */

static bool card_expired(const cyb_req *r)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900, month = tm.tm_mon + 1;
    /* A card is valid through the last day of its expiration month. */
    return r->exp_year < year || (r->exp_year == year && r->exp_month < month);
}

/*
 * Checks the payment a card operation charges. Returns 100, or the reason that refuses it
 * (231 bad card number, 202 expired, 102 unknown token; 102 also adds the invalidField).
 */
static int check_payment(pl_sim_ledger *l, const cyb_req *r, cyb_reply *rep)
{
    if (r->has_card) {
        if (!pl_card_luhn_ok(r->pan))
            return 231;
        if (card_expired(r))
            return 202;
        return 100;
    }
    if (!pl_sim_ledger_cyb_token_known(l, r->sub_id)) {
        add_invalid(rep, "c:recurringSubscriptionInfo/c:subscriptionID");
        return 102;
    }
    return 100;
}

static void set_decision(cyb_reply *rep, const char *decision, int reason)
{
    rep->decision = decision;
    rep->reason = reason;
}

static void svc_set(cyb_svc *s, int reason, bool has_amount, int64_t amount)
{
    s->present = true;
    s->reason = reason;
    s->has_amount = has_amount;
    s->amount = amount;
}

/* Authorization, alone or with token creation and/or capture. Returns 0 or a pl_err. */
static int decide_auth(pl_sim_ledger *l, const cyb_req *r, cyb_reply *rep, pl_sim_scenario sc,
                       int sc_reason)
{
    int pay = check_payment(l, r, rep);
    if (pay == 102) {
        set_decision(rep, "REJECT", 102);
        return PL_OK;
    }
    if (pay != 100 || sc == PL_SIM_SC_DECLINE) {
        int reason = pay != 100 ? pay : sc_reason;
        set_decision(rep, "REJECT", reason);
        svc_set(&rep->auth, reason, false, 0);
        if (reason == 211)
            rep->cvn = 'N';
        return PL_OK;
    }
    if (sc == PL_SIM_SC_FRAUD_SCORE) {
        /* The score is over the threshold before the issuer is asked: nothing authorized. */
        set_decision(rep, "REJECT", 400);
        svc_set(&rep->afs, 100, false, 0);
        rep->afs_score = 99;
        return PL_OK;
    }

    int64_t approved = r->amount;
    int auth_reason = 100;
    set_decision(rep, "ACCEPT", 100);
    if (sc == PL_SIM_SC_PARTIAL) {
        approved = pl_sim_scenario_partial_amount(r->amount);
        auth_reason = 110;
        set_decision(rep, "ACCEPT", 110);
        rep->partial = true;
        rep->requested = r->amount;
    }
    if (r->dm_enabled) {
        svc_set(&rep->afs, 100, false, 0);
        rep->afs_score = 12;
        rep->dm_ran = true;
        if (sc == PL_SIM_SC_REVIEW) {
            set_decision(rep, "REVIEW", 480);
            rep->afs_score = 75;
        } else if (sc == PL_SIM_SC_DM_REJECT) {
            /* The issuer approved (ccAuthReply 100); Decision Manager refused the order. */
            set_decision(rep, "REJECT", 481);
            rep->afs_score = 95;
        }
    }
    /*
     * A soft decline armed on the control route: the issuer approved (the authorization is
     * applied below as any approval's, so that it can be reversed), CyberSource refuses. Only
     * a request that would be accepted takes it: Decision Manager's REVIEW and REJECT, like
     * every refusal above, keep their own answer and leave it armed for the next request.
     */
    if (strcmp(rep->decision, "ACCEPT") == 0 &&
        pl_sim_ledger_cyb_soft_decline_take(l, r->ref, &rep->soft_decline)) {
        auth_reason = rep->soft_decline;
        set_decision(rep, "REJECT", rep->soft_decline);
    }

    int rc = pl_sim_ledger_cyb_auth(l, r->ref, rep->request_id, approved);
    if (rc < 0)
        return rc;
    if (r->mti[0]) {
        /* A timeout reversal may name this authorization by its identifier later. */
        rc = pl_sim_ledger_cyb_auth_mti(l, r->mti, rep->request_id);
        if (rc < 0)
            return rc;
    }
    if (strcmp(rep->decision, "REVIEW") == 0) {
        /* The Conversion Detail Report (sim_dm.h) shows this order reviewed from now on. */
        rc = pl_sim_ledger_cyb_review(l, r->ref, rep->request_id, r->merchant_id, r->amount, 0);
        if (rc < 0)
            return rc;
    }
    svc_set(&rep->auth, auth_reason, true, approved);
    rep->avs = pl_sim_avs_code(r->has_postal ? r->postal : NULL);
    rep->cvn = pl_sim_cvn_code(r->has_cvn ? r->cvn : NULL);
    /* The check that failed reads as failed, whatever the request's postal code or CVN. */
    if (rep->soft_decline == 200)
        rep->avs = 'N';
    else if (rep->soft_decline == 230)
        rep->cvn = 'N';

    bool accepted = strcmp(rep->decision, "ACCEPT") == 0;
    /* Decision Manager holds (REVIEW) or refuses (REJECT) the order, or CyberSource soft
     * declines it: no capture runs then, and (REJECT) no token is made. */
    if (r->run_capture && accepted) {
        rc = pl_sim_ledger_cyb_capture(l, r->ref, rep->request_id, rep->request_id, approved);
        if (rc < 0)
            return rc;
        svc_set(&rep->capture, rc, rc == 100, approved);
    }
    if (r->run_token && strcmp(rep->decision, "REJECT") != 0) {
        pl_sim_ids_request_id(rep->subscription_id);
        rc = pl_sim_ledger_cyb_token(l, r->ref, rep->subscription_id, rep->request_id, 0);
        if (rc < 0)
            return rc;
        svc_set(&rep->token, 100, false, 0);
    }
    /*
     * CyberSource answers a partial approval decision REJECT, reasonCode 110, with ccAuthReply
     * carrying the authorizationCode and the amount approved (its Simple Order test data;
     * ../shared/reference/bureau-wire-formats.md §1.9 lists 110 "REJECT/partial"). Up to here it
     * was the approval it is (the soft decline, the capture and the token above treat it so);
     * only the reply's decision says otherwise.
     */
    if (rep->partial && strcmp(rep->decision, "ACCEPT") == 0)
        set_decision(rep, "REJECT", 110);
    return PL_OK;
}

/* Token creation alone (paySubscriptionCreateService). */
static int decide_token(pl_sim_ledger *l, const cyb_req *r, cyb_reply *rep, pl_sim_scenario sc,
                        int sc_reason)
{
    int pay = check_payment(l, r, rep);
    if (pay != 100 || sc == PL_SIM_SC_DECLINE) {
        /* The card is validated by an authorization the service runs on its own. */
        int reason = pay != 100 ? pay : sc_reason;
        set_decision(rep, "REJECT", reason);
        svc_set(&rep->auth, reason, false, 0);
        return PL_OK;
    }
    pl_sim_ids_request_id(rep->subscription_id);
    int rc = pl_sim_ledger_cyb_token(l, r->ref, rep->subscription_id, rep->request_id,
                                     r->has_amount ? r->amount : 0);
    if (rc < 0)
        return rc;
    set_decision(rep, "ACCEPT", 100);
    svc_set(&rep->token, 100, false, 0);
    return PL_OK;
}

/* Maps a ledger rule result onto the reply: 100 ACCEPT, 102 invalidField, else REJECT. */
static void rule_result(cyb_reply *rep, cyb_svc *svc, int rc, int64_t amount,
                        const char *invalid_field)
{
    if (rc == 100) {
        set_decision(rep, "ACCEPT", 100);
        svc_set(svc, 100, true, amount);
    } else if (rc == 102) {
        set_decision(rep, "REJECT", 102);
        add_invalid(rep, invalid_field);
    } else {
        set_decision(rep, "REJECT", rc);
        svc_set(svc, rc, false, 0);
    }
}

static int decide_capture(pl_sim_ledger *l, const cyb_req *r, cyb_reply *rep)
{
    int rc = pl_sim_ledger_cyb_capture(l, r->ref, r->capture_auth_id, rep->request_id, r->amount);
    if (rc < 0)
        return rc;
    rule_result(rep, &rep->capture, rc, r->amount, "c:ccCaptureService/c:authRequestID");
    return PL_OK;
}

static int decide_credit(pl_sim_ledger *l, const cyb_req *r, cyb_reply *rep, pl_sim_scenario sc,
                         int sc_reason)
{
    if (!r->credit_capture_id[0]) {
        /* A stand-alone credit pays a card: the card checks and declines apply. */
        int pay = check_payment(l, r, rep);
        if (pay == 102) {
            set_decision(rep, "REJECT", 102);
            return PL_OK;
        }
        if (pay != 100 || sc == PL_SIM_SC_DECLINE) {
            int reason = pay != 100 ? pay : sc_reason;
            set_decision(rep, "REJECT", reason);
            svc_set(&rep->credit, reason, false, 0);
            return PL_OK;
        }
    }
    int rc =
        pl_sim_ledger_cyb_credit(l, r->ref, r->credit_capture_id[0] ? r->credit_capture_id : NULL,
                                 rep->request_id, r->amount);
    if (rc < 0)
        return rc;
    rule_result(rep, &rep->credit, rc, r->amount, "c:ccCreditService/c:captureRequestID");
    return PL_OK;
}

/*
 * A reversal names its authorization by authRequestID, or, as a timeout authorization reversal
 * (no authRequestID), by the merchantTransactionIdentifier the authorization was sent with.
 * Either way the same rules apply (100, 237, 238). A timeout reversal whose identifier names no
 * authorization the simulator applied (never sent, declined, or 901–904) is refused with 242,
 * "no corresponding, unused authorization", rather than 102: there is no request ID to call
 * invalid.
 */
static int decide_reversal(pl_sim_ledger *l, const cyb_req *r, cyb_reply *rep)
{
    const char *auth_id = r->reversal_auth_id;
    char found[48];
    if (!auth_id[0]) {
        int rc = pl_sim_ledger_cyb_auth_by_mti(l, r->mti, found, sizeof found);
        if (rc == PL_ERR_NOTFOUND) {
            rule_result(rep, &rep->reversal, 242, 0, NULL);
            return PL_OK;
        }
        if (rc < 0)
            return rc;
        auth_id = found;
    }
    int64_t amount = 0;
    int rc = pl_sim_ledger_cyb_reversal(l, r->ref, auth_id, rep->request_id, &amount);
    if (rc < 0)
        return rc;
    /* A reset between the two look-ups forgets both; the identifier then names nothing. */
    if (rc == 102 && !r->reversal_auth_id[0])
        rc = 242;
    rule_result(rep, &rep->reversal, rc, amount, "c:ccAuthReversalService/c:authRequestID");
    return PL_OK;
}

/* ---- writing the reply --------------------------------------------------------------- */

static void add_code(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name, char code)
{
    char buf[2] = {code, '\0'};
    pl_sim_xml_add_text(b, parent, name, buf);
}

static void render_auth(pl_sim_xml_builder *b, xmlNodePtr msg, const cyb_reply *rep)
{
    xmlNodePtr a = pl_sim_xml_add_text(b, msg, "ccAuthReply", NULL);
    pl_sim_xml_add_int(b, a, "reasonCode", rep->auth.reason);
    if (rep->auth.has_amount) {
        char when[32];
        pl_sim_ids_now(false, when, sizeof when);
        pl_sim_xml_add_amount(b, a, "amount", rep->auth.amount);
        pl_sim_xml_add_text(b, a, "authorizationCode", rep->auth_code);
        add_code(b, a, "avsCode", rep->avs);
        add_code(b, a, "avsCodeRaw", rep->avs);
        add_code(b, a, "cvCode", rep->cvn);
        add_code(b, a, "cvCodeRaw", rep->cvn);
        pl_sim_xml_add_text(b, a, "authorizedDateTime", when);
        pl_sim_xml_add_text(b, a, "processorResponse", rep->partial ? "10" : "00");
        pl_sim_xml_add_text(b, a, "reconciliationID", rep->reconciliation_id);
        /* The network's transaction ID, for subsequent (MIT) authorizations. */
        pl_sim_xml_add_text(b, a, "paymentNetworkTransactionID", rep->request_id + 7);
        if (rep->partial) {
            pl_sim_xml_add_amount(b, a, "requestAmount", rep->requested);
            pl_sim_xml_add_text(b, a, "requestCurrency", rep->currency ? rep->currency : "");
        }
    } else if (rep->cvn) {
        add_code(b, a, "cvCode", rep->cvn);
    }
}

/* ccCaptureReply and ccCreditReply share their first elements. */
static void render_settlement(pl_sim_xml_builder *b, xmlNodePtr msg, const char *name,
                              const cyb_svc *s, const char *recon)
{
    xmlNodePtr n = pl_sim_xml_add_text(b, msg, name, NULL);
    pl_sim_xml_add_int(b, n, "reasonCode", s->reason);
    if (s->has_amount) {
        char when[32];
        pl_sim_ids_now(false, when, sizeof when);
        pl_sim_xml_add_text(b, n, "requestDateTime", when);
        pl_sim_xml_add_amount(b, n, "amount", s->amount);
        pl_sim_xml_add_text(b, n, "reconciliationID", recon);
    }
}

static void render_reversal(pl_sim_xml_builder *b, xmlNodePtr msg, const cyb_svc *s,
                            const char *recon)
{
    xmlNodePtr n = pl_sim_xml_add_text(b, msg, "ccAuthReversalReply", NULL);
    pl_sim_xml_add_int(b, n, "reasonCode", s->reason);
    if (s->has_amount) {
        char code[7], when[32];
        pl_sim_ids_auth_code(code);
        pl_sim_ids_now(false, when, sizeof when);
        pl_sim_xml_add_amount(b, n, "amount", s->amount);
        pl_sim_xml_add_text(b, n, "authorizationCode", code);
        pl_sim_xml_add_text(b, n, "processorResponse", "00");
        pl_sim_xml_add_text(b, n, "requestDateTime", when);
        pl_sim_xml_add_text(b, n, "reconciliationID", recon);
    }
}

static void render_afs(pl_sim_xml_builder *b, xmlNodePtr msg, const cyb_reply *rep)
{
    char local[16];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(local, sizeof local, "%H:%M:%S", &tm);
    xmlNodePtr n = pl_sim_xml_add_text(b, msg, "afsReply", NULL);
    pl_sim_xml_add_int(b, n, "reasonCode", rep->afs.reason);
    pl_sim_xml_add_int(b, n, "afsResult", rep->afs_score);
    pl_sim_xml_add_int(b, n, "hostSeverity", rep->afs_score >= 90 ? 3 : 1);
    pl_sim_xml_add_text(b, n, "consumerLocalTime", local);
    if (rep->afs_score >= 75)
        pl_sim_xml_add_text(b, n, "afsFactorCode", "C^H");
}

static int render(const cyb_reply *rep, pl_sim_response *resp)
{
    xmlNodePtr body;
    xmlDocPtr doc = pl_sim_soap_new_reply(&body);
    if (!doc)
        return PL_ERR_NOMEM;
    pl_sim_xml_builder b = {NULL, true};
    xmlNodePtr msg = xmlNewChild(body, NULL, BAD_CAST "replyMessage", NULL);
    b.ns = msg ? xmlNewNs(msg, BAD_CAST rep->ns, BAD_CAST "c") : NULL;
    if (!b.ns) {
        xmlFreeDoc(doc);
        return PL_ERR_NOMEM;
    }
    xmlSetNs(msg, b.ns);

    if (rep->ref && rep->ref[0])
        pl_sim_xml_add_text(&b, msg, "merchantReferenceCode", rep->ref);
    pl_sim_xml_add_text(&b, msg, "requestID", rep->request_id);
    pl_sim_xml_add_text(&b, msg, "decision", rep->decision);
    pl_sim_xml_add_int(&b, msg, "reasonCode", rep->reason);
    for (int i = 0; i < rep->nmissing; i++)
        pl_sim_xml_add_text(&b, msg, "missingField", rep->missing[i]);
    for (int i = 0; i < rep->ninvalid; i++)
        pl_sim_xml_add_text(&b, msg, "invalidField", rep->invalid[i]);
    pl_sim_xml_add_text(&b, msg, "requestToken", rep->request_token);
    if (rep->currency && rep->currency[0]) {
        xmlNodePtr pt = pl_sim_xml_add_text(&b, msg, "purchaseTotals", NULL);
        pl_sim_xml_add_text(&b, pt, "currency", rep->currency);
    }
    if (rep->auth.present)
        render_auth(&b, msg, rep);
    if (rep->capture.present)
        render_settlement(&b, msg, "ccCaptureReply", &rep->capture, rep->reconciliation_id);
    if (rep->credit.present)
        render_settlement(&b, msg, "ccCreditReply", &rep->credit, rep->reconciliation_id);
    if (rep->reversal.present)
        render_reversal(&b, msg, &rep->reversal, rep->reconciliation_id);
    if (rep->afs.present)
        render_afs(&b, msg, rep);
    if (rep->token.present) {
        xmlNodePtr t = pl_sim_xml_add_text(&b, msg, "paySubscriptionCreateReply", NULL);
        pl_sim_xml_add_int(&b, t, "reasonCode", rep->token.reason);
        pl_sim_xml_add_text(&b, t, "subscriptionID", rep->subscription_id);
    }
    if (!b.ok) {
        xmlFreeDoc(doc);
        return PL_ERR_NOMEM;
    }
    return pl_sim_soap_finish(doc, 200, resp);
}

/* ---- the handler --------------------------------------------------------------------- */

static const char *op_name(const cyb_req *r)
{
    if (r->run_token && r->run_auth && r->run_capture)
        return "token_auth_capture";
    if (r->run_token && r->run_auth)
        return "token_auth";
    if (r->run_auth && r->run_capture)
        return "auth_capture";
    if (r->run_auth)
        return "auth";
    if (r->run_token)
        return "token";
    if (r->run_capture)
        return "capture";
    if (r->run_credit)
        return "credit";
    if (r->run_reversal)
        return "reversal";
    return "none";
}

/* The amount the query endpoint reports: what was approved, else what was asked. */
static int64_t reported_amount(const cyb_req *r, const cyb_reply *rep)
{
    const cyb_svc *order[] = {&rep->auth, &rep->capture, &rep->credit, &rep->reversal};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (order[i]->present && order[i]->has_amount)
            return order[i]->amount;
    return r->has_amount ? r->amount : 0;
}

/* Appends application name with reason to q (room for every service is guaranteed). */
static void add_app(pl_sim_cyb_request *q, const char *name, int reason)
{
    pl_sim_cyb_app *a = &q->apps[q->napps++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->reason_code = reason;
}

/*
 * What the Single Transaction Query (sim_query.h) shows of this request. The applications:
 * each service that answered (its reply element is in the reply), with its own reasonCode; a
 * service asked for that did not run is listed with the request's reasonCode when the request
 * was refused before anything succeeded (101, 102, 150, 400, a declined card: nothing of it
 * happened), and left out when it was skipped after another succeeded (the capture of an
 * authorization Decision Manager held or refused). Then ics_score when fraud screening ran and
 * ics_decision when Decision Manager decided. The card's last four digits only.
 */
static int record_request(pl_sim_ledger *l, const cyb_req *r, const cyb_reply *rep)
{
    pl_sim_cyb_request *q = calloc(1, sizeof *q);
    if (!q)
        return PL_ERR_NOMEM;
    snprintf(q->merchant_id, sizeof q->merchant_id, "%s", r->merchant_id);
    snprintf(q->merchant_reference, sizeof q->merchant_reference, "%s", r->ref);
    snprintf(q->request_id, sizeof q->request_id, "%s", rep->request_id);
    snprintf(q->decision, sizeof q->decision, "%s", rep->decision);
    q->reason_code = rep->reason;
    snprintf(q->currency, sizeof q->currency, "%s", r->currency);
    q->has_amount = r->has_amount || rep->auth.has_amount;
    q->amount = reported_amount(r, rep);
    if (rep->auth.present && rep->auth.has_amount)
        snprintf(q->auth_code, sizeof q->auth_code, "%s", rep->auth_code);
    snprintf(q->reconciliation_id, sizeof q->reconciliation_id, "%s", rep->reconciliation_id);
    q->avs = rep->avs;
    q->cvn = rep->cvn;
    snprintf(q->subscription_id, sizeof q->subscription_id, "%s",
             rep->token.present ? rep->subscription_id
             : r->has_sub_id    ? r->sub_id
                                : "");
    size_t pan_len = strlen(r->pan);
    if (r->has_card && pan_len >= 4 && pl_card_all_digits(r->pan)) {
        memcpy(q->card_suffix, r->pan + pan_len - 4, 5);
        q->exp_month = r->exp_month;
        q->exp_year = r->exp_year;
        const char *type = pl_card_type_guess(r->pan);
        snprintf(q->card_type, sizeof q->card_type, "%s", type ? type : "");
    }

    const struct {
        bool asked;
        const cyb_svc *svc;
        const char *app;
    } services[] = {
        {r->run_auth, &rep->auth, "ics_auth"},
        {r->run_capture, &rep->capture, "ics_bill"},
        {r->run_credit, &rep->credit, "ics_credit"},
        {r->run_reversal, &rep->reversal, "ics_auth_reversal"},
        {r->run_token, &rep->token, "ics_pay_subscription_create"},
    };
    bool any_ok = false;
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (services[i].svc->present && services[i].svc->reason < 200)
            any_ok = true;
    bool refused = strcmp(rep->decision, "REJECT") == 0 || strcmp(rep->decision, "ERROR") == 0;
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        if (services[i].svc->present)
            add_app(q, services[i].app, services[i].svc->reason);
        else if (services[i].asked && refused && !any_ok)
            add_app(q, services[i].app, rep->reason);
    }
    if (rep->afs.present)
        add_app(q, "ics_score", rep->reason == 400 ? 400 : rep->afs.reason);
    /* Decision Manager accepted a soft-declined order (the refusal came after it) and a partial
     * approval (REJECT 110 only in its decision). */
    if (rep->dm_ran)
        add_app(q, "ics_decision",
                strcmp(rep->decision, "ACCEPT") == 0 || rep->soft_decline || rep->partial
                    ? 100
                    : rep->reason);

    int rc = pl_sim_ledger_cyb_request(l, q);
    free(q);
    return rc;
}

/*
 * Overwrites the text of every accountNumber and cvNumber element before the document is
 * freed, so the card data does not linger in freed heap memory.
 */
static void wipe_card_text(xmlNodePtr node)
{
    for (; node; node = node->next) {
        if (node->type != XML_ELEMENT_NODE)
            continue;
        bool secret = strcmp((const char *)node->name, "accountNumber") == 0 ||
                      strcmp((const char *)node->name, "cvNumber") == 0;
        for (xmlNodePtr t = node->children; secret && t; t = t->next)
            if (t->type == XML_TEXT_NODE && t->content)
                pl_card_wipe(t->content, strlen((const char *)t->content));
        wipe_card_text(node->children);
    }
}

/* Reads the UsernameToken; true when it authenticates for merchant_id. */
static bool authenticated(xmlNodePtr header, const char *merchant_id)
{
    xmlNodePtr token = pl_sim_xml_child(pl_sim_xml_child(header, PL_WSSE_NS, "Security"),
                                        PL_WSSE_NS, "UsernameToken");
    char user[128], password[256];
    if (!token || pl_sim_xml_text(token, PL_WSSE_NS, "Username", user, sizeof user) != 1 ||
        pl_sim_xml_text(token, PL_WSSE_NS, "Password", password, sizeof password) != 1)
        return false;
    bool ok = user[0] && password[0] && strcmp(password, PL_SIM_CYB_BAD_KEY) != 0 &&
              (!merchant_id[0] || strcmp(user, merchant_id) == 0);
    pl_card_wipe(password, sizeof password);
    return ok;
}

static void log_outcome(const cyb_req *r, const cyb_reply *rep, const char *sc_name)
{
    char masked[40] = "-";
    if (r->has_card && pl_card_mask_log(r->pan, PL_MASK_LAST4, masked, sizeof masked) < 0)
        snprintf(masked, sizeof masked, "***REMOVED***");
    char amount[32] = "-";
    if (r->has_amount && pl_money_format(r->amount, amount, sizeof amount) < 0)
        amount[0] = '\0';
    pl_sim_log(PL_LOG_INFO, r->ref[0] ? r->ref : NULL,
               "CYB %s amount=%s card=%s scenario=%s decision=%s reason=%d request_id=%s",
               op_name(r), amount, masked, sc_name, rep->decision, rep->reason, rep->request_id);
}

int pl_sim_cyb_handle(pl_sim_ledger *l, const pl_sim_http_req *req, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    char fault[256];
    xmlDocPtr doc = NULL;
    xmlNodePtr header, msg;
    int rc = PL_OK;
    cyb_req *r = calloc(1, sizeof *r);
    cyb_reply *rep = calloc(1, sizeof *rep);
    if (!r || !rep) {
        rc = PL_ERR_NOMEM;
        goto out;
    }

    if (pl_sim_soap_read_request("CYB", req, &doc, &header, &msg, fault, sizeof fault) < 0) {
        rc = pl_sim_soap_fault(resp, "c:ClientError", fault);
        goto out;
    }
    if (strcmp((const char *)msg->name, "requestMessage") != 0 || !msg->ns ||
        strncmp((const char *)msg->ns->href, PL_SIM_CYB_NS_PREFIX, strlen(PL_SIM_CYB_NS_PREFIX)) !=
            0 ||
        strlen((const char *)msg->ns->href) >= sizeof r->ns) {
        pl_sim_log(PL_LOG_WARN, NULL, "CYB request without a requestMessage");
        rc = pl_sim_soap_fault(
            resp, "c:ClientError",
            "The SOAP Body must hold a requestMessage of namespace " PL_SIM_CYB_NS_PREFIX
            "<version>.");
        goto out;
    }
    snprintf(r->ns, sizeof r->ns, "%s", (const char *)msg->ns->href);
    rep->ns = r->ns;
    rep->ref = r->ref;
    read_request(msg, r, rep);

    if (!authenticated(header, r->merchant_id)) {
        pl_sim_log(PL_LOG_WARN, r->ref[0] ? r->ref : NULL,
                   "CYB authentication failed for merchant %s", r->merchant_id);
        rc = pl_sim_soap_fault(resp, "wsse:FailedCheck",
                               "Security Data : UsernameToken authentication failed.");
        goto out;
    }

    int sc_reason = 100;
    /* A timeout reversal's amount is the lost authorization's, which already picked that
     * authorization's scenario (a 905 auth is reversed with 905.xx): it never picks one of its
     * own, or every unknown authorization's reversal would be lost again. */
    bool timeout_reversal = r->run_reversal && !r->reversal_auth_id[0] && r->mti[0];
    pl_sim_scenario sc = r->has_amount && !timeout_reversal
                             ? pl_sim_scenario_for_amount(r->amount, &sc_reason)
                             : PL_SIM_SC_APPROVE;
    if (pl_sim_scenario_is_fault(sc)) {
        /*
         * 901–904 never reach the bureau's business logic: nothing is charged and nothing
         * is recorded for /__sim/query. Tests rely on this. A 901 (held, then dropped) and
         * a 904 (the whole request was read, then the connection closed: the simulator
         * "failed before processing") leave no ledger row, so after such a call the ledger
         * holds exactly what the worker's later actions caused: one row if it re-sent the
         * request, none if it parked it as a required response. Without this rule a 901
         * or 904 followed by a blind re-send could not be told apart from a double charge.
         */
        pl_sim_log(PL_LOG_INFO, r->ref[0] ? r->ref : NULL, "CYB %s scenario=%s: no effect",
                   op_name(r), pl_sim_scenario_name(sc));
        rc = pl_sim_scenario_fault_answer(sc, resp);
        goto out;
    }

    pl_sim_ids_request_id(rep->request_id);
    pl_sim_ids_request_token(rep->request_token);
    pl_sim_ids_auth_code(rep->auth_code);
    pl_sim_ids_reconciliation_id(rep->reconciliation_id);
    rep->currency = r->currency;
    if (sc == PL_SIM_SC_ERROR) {
        set_decision(rep, "ERROR", 150);
    } else {
        check_shape(r, rep);
        if (rep->ninvalid == 0)
            check_required(r, rep);
        if (rep->nmissing > 0)
            set_decision(rep, "REJECT", 101);
        else if (rep->ninvalid > 0)
            set_decision(rep, "REJECT", 102);
        else if (r->run_auth)
            rc = decide_auth(l, r, rep, sc, sc_reason);
        else if (r->run_token)
            rc = decide_token(l, r, rep, sc, sc_reason);
        else if (r->run_capture)
            rc = decide_capture(l, r, rep);
        else if (r->run_credit)
            rc = decide_credit(l, r, rep, sc, sc_reason);
        else
            rc = decide_reversal(l, r, rep);
        if (rc < 0)
            goto out;
    }
    log_outcome(r, rep, rep->soft_decline ? "soft_decline" : pl_sim_scenario_name(sc));

    if (r->ref[0]) {
        pl_sim_txn t = {0};
        snprintf(t.protocol, sizeof t.protocol, "CYB");
        snprintf(t.op, sizeof t.op, "%s", op_name(r));
        snprintf(t.decision, sizeof t.decision, "%s", rep->decision);
        t.reason_code = rep->reason;
        snprintf(t.request_id, sizeof t.request_id, "%s", rep->request_id);
        snprintf(t.request_token, sizeof t.request_token, "%s", rep->request_token);
        t.amount = reported_amount(r, rep);
        rc = pl_sim_ledger_txn_record(l, r->ref, &t);
        if (rc < 0)
            goto out;
    }
    rc = record_request(l, r, rep);
    if (rc < 0)
        goto out;
    int64_t units = r->has_amount && !timeout_reversal ? r->amount / 100 : 0;
    if (units == UNITS_APPLIED_THEN_HOLD || units == UNITS_APPLIED_THEN_DROP) {
        /* 905/906: applied and recorded (ledger, /__sim/query, the Query); the answer is lost. */
        pl_sim_log(PL_LOG_INFO, r->ref[0] ? r->ref : NULL, "CYB %s: applied, then %s", op_name(r),
                   units == UNITS_APPLIED_THEN_HOLD ? "held" : "dropped");
        memset(resp, 0, sizeof *resp);
        resp->action = units == UNITS_APPLIED_THEN_HOLD ? PL_SIM_HOLD : PL_SIM_DROP;
        goto out;
    }
    rc = render(rep, resp);
out:
    if (r) {
        pl_card_wipe(r->pan, sizeof r->pan);
        pl_card_wipe(r->cvn, sizeof r->cvn);
    }
    free(r);
    free(rep);
    if (doc) {
        wipe_card_text(xmlDocGetRootElement(doc));
        xmlFreeDoc(doc);
    }
    return rc;
}

/* ---- the control route --------------------------------------------------------------- */

int pl_sim_cyb_soft_decline_control(pl_sim_ledger *l, const char *method, const char *ref,
                                    const char *reason, pl_sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    static const struct {
        const char *text;
        int code;
    } reasons[] = {{"200", 200}, {"230", 230}, {"520", 520}};
    int code = 0;
    for (size_t i = 0; reason && i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(reason, reasons[i].text) == 0)
            code = reasons[i].code;
    if (!method || strcmp(method, "POST") != 0 || !ref || !ref[0] ||
        strlen(ref) > PL_SIM_CYB_REF_MAX || code == 0)
        return pl_sim_response_text(resp, 400,
                                    "POST with ref: 1-50 characters; reason: 200, 230 or 520\n");
    int rc = pl_sim_ledger_cyb_soft_decline_set(l, ref, code);
    if (rc < 0)
        return rc;
    pl_sim_log(PL_LOG_INFO, ref, "CYB soft decline armed: reason %d for the next authorization",
               code);
    json_object *root = json_object_new_object();
    if (!root)
        return PL_ERR_NOMEM;
    rc = pl_sim_json_add(root, "ref", json_object_new_string(ref));
    if (rc == PL_OK)
        rc = pl_sim_json_add(root, "reason", json_object_new_int(code));
    if (rc != PL_OK) {
        json_object_put(root);
        return rc;
    }
    return pl_sim_response_json(resp, root);
}

const pl_sim_proto pl_sim_cyb_proto = {
    .protocol = "CYB",
    .method = "POST",
    .path = PL_SIM_CYB_PATH,
    .handle = pl_sim_cyb_handle,
};
