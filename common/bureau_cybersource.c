/*
 * bureau_cybersource.c: the CyberSource Simple Order API adapter (SOAP toolkit, `CYB`).
 *
 * Requests are built as a libxml2 tree and serialised; replies are read as a stream with
 * pl_xml_read_stream of xmlutil.h (libxml2's SAX parser: no tree, under half the instructions
 * and a seventh of the allocations of parsing into one), which never touches the network and
 * refuses DTDs; the bureau message log gets a re-parsed copy with the card data masked. The element
 * order of every type follows the official XSD sequences (1.121; 1.201 only inserts elements, so
 * the same order is valid there); the unit tests validate each operation's request against both
 * XSDs. Facts and sources: ../shared/reference/bureau-wire-formats.md §1. The manual is
 * bureau_cybersource.h.
 */
#include "bureau_cybersource.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "card.h"
#include "money.h"
#include "xmlutil.h"

#define NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define WSSE_PASSWORD_TEXT                                                                         \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"           \
    "#PasswordText"
#define NS_DATA_PREFIX "urn:schemas-cybersource-com:transaction-data-"

/*
 * How our documents are read and written (xmlutil.h): replies up to PL_CYBERSOURCE_MAX_BODY,
 * free text scrubbed of card numbers (which pass Luhn), requests and redacted copies with an
 * XML declaration.
 */
static const pl_xml_profile CYB_XML = {
    .max_len = PL_CYBERSOURCE_MAX_BODY,
    .doc_name = "a SOAP message",
    .declaration = true,
    .mask_more = NULL,
};

/* ---------------------------------------------------------------------------------------- */
/* Versions */

static bool parse_version(const char *v, long *major, long *minor)
{
    if (!v || !*v)
        v = PL_CYBERSOURCE_DEFAULT_VERSION;
    long parts[2] = {0, 0};
    const char *p = v;
    for (int i = 0; i < 2; i++) {
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (++digits > 4)
                return false;
            parts[i] = parts[i] * 10 + (*p - '0');
            p++;
        }
        if (digits == 0)
            return false;
        if (i == 0 && *p++ != '.')
            return false;
    }
    if (*p != '\0')
        return false;
    *major = parts[0];
    *minor = parts[1];
    return true;
}

int pl_cybersource_namespace(const char *version, char *out, size_t outsize)
{
    long major, minor;
    if (!version || !*version)
        version = PL_CYBERSOURCE_DEFAULT_VERSION;
    if (!parse_version(version, &major, &minor))
        return PL_ERR_CONFIG;
    int n = snprintf(out, outsize, "%s%s", NS_DATA_PREFIX, version);
    if (n < 0 || (size_t)n >= outsize)
        return PL_ERR_TOOBIG;
    return 0;
}

bool pl_cybersource_received_timeout(const char *reason_code)
{
    return reason_code && (strcmp(reason_code, "151") == 0 || strcmp(reason_code, "152") == 0 ||
                           strcmp(reason_code, "250") == 0);
}

bool pl_cybersource_soft_decline(const char *reason_code)
{
    return reason_code && (strcmp(reason_code, "200") == 0 || strcmp(reason_code, "230") == 0 ||
                           strcmp(reason_code, "520") == 0);
}

bool pl_cybersource_refused_but_held(const char *status, const char *vendor_response)
{
    if (!status || !vendor_response)
        return false;
    /* A soft decline is `rejected` where the vendor response table holds its code for fraud
     * (FS), as an operator may for Smart Authorization's 520. */
    return (strcmp(status, "rejected") == 0 && strcmp(vendor_response, "481") == 0) ||
           ((strcmp(status, "declined") == 0 || strcmp(status, "rejected") == 0) &&
            pl_cybersource_soft_decline(vendor_response));
}

bool pl_cybersource_issuer_authorized(const char *auth_reason_code)
{
    return auth_reason_code &&
           (strcmp(auth_reason_code, "100") == 0 || strcmp(auth_reason_code, "110") == 0);
}

bool pl_cybersource_refused_but_authorized(const char *status, const char *vendor_response,
                                           const char *auth_reason_code)
{
    return pl_cybersource_refused_but_held(status, vendor_response) ||
           (status &&
            (strcmp(status, "rejected") == 0 || strcmp(status, "declined") == 0 ||
             strcmp(status, "error") == 0) &&
            pl_cybersource_issuer_authorized(auth_reason_code));
}

bool pl_cybersource_answer_held(const char *status, const char *vendor_response,
                                const char *auth_reason_code)
{
    if (!status || !vendor_response ||
        !pl_cybersource_refused_but_authorized(status, vendor_response, auth_reason_code))
        return false;
    const char *auth = auth_reason_code ? auth_reason_code : "";
    /* A Decision Manager reject: without a ccAuthReply it refused the order before the
     * authorization ran; with one that says another reason the issuer declined. A soft decline
     * there (200, 230, 520: the issuer approved, CyberSource declined) holds the amount as the
     * soft decline below does. */
    if (strcmp(vendor_response, "481") == 0 && strcmp(status, "rejected") == 0)
        return pl_cybersource_issuer_authorized(auth) || pl_cybersource_soft_decline(auth);
    /* A soft decline: its own code says the issuer approved, which ccAuthReply may repeat
     * (the simulator does) or give as 100; only another reason says the issuer declined. */
    if (pl_cybersource_soft_decline(vendor_response) && !pl_cybersource_issuer_authorized(auth))
        return !*auth || pl_cybersource_soft_decline(auth);
    return true;
}

bool pl_cybersource_version_at_least(const char *version, int major, int minor)
{
    long ma, mi;
    if (!parse_version(version, &ma, &mi))
        return false;
    return ma > major || (ma == major && mi >= minor);
}

/* ---------------------------------------------------------------------------------------- */
/* merchantTransactionIdentifier */

/* SHA-256 looked up once per process (EVP_sha256() makes every EVP_Digest look it up, which
 * cost more than the hashing); NULL when that failed, and then each call uses EVP_sha256(). */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_free(void)
{
    EVP_MD_free(sha256_md);
    sha256_md = NULL;
}

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md)
        (void)atexit(sha256_free);
}

/* pl_cybersource_merchant_txn_id's identifier (the rule and its reasons are in the header)
 * into out; 0, or PL_ERR_NOMEM when OpenSSL cannot hash (only for want of memory). */
static int merchant_txn_id(const char *request_id, char out[PL_CYBERSOURCE_MTI_DIGITS + 1])
{
    const char *id = request_id ? request_id : "";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    (void)pthread_once(&sha256_once, sha256_fetch);
    const EVP_MD *sha256 = sha256_md ? sha256_md : EVP_sha256();
    if (EVP_Digest(id, strlen(id), md, &mdlen, sha256, NULL) != 1 || mdlen < 8)
        return PL_ERR_NOMEM;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | md[i];
    snprintf(out, PL_CYBERSOURCE_MTI_DIGITS + 1, "%015" PRIu64, v % UINT64_C(1000000000000000));
    return 0;
}

void pl_cybersource_merchant_txn_id(const char *request_id, char *out, size_t outsize)
{
    char mti[PL_CYBERSOURCE_MTI_DIGITS + 1];
    if (!out || outsize == 0)
        return;
    if (outsize < sizeof mti || merchant_txn_id(request_id, mti) != 0) {
        out[0] = '\0';
        return;
    }
    memcpy(out, mti, sizeof mti);
}

/* ---------------------------------------------------------------------------------------- */
/* Building */

/*
 * The tree is built with a sticky error so the element list below reads like the message
 * layout: once a call fails (allocation, or a value refused for the card number it holds),
 * every later call does nothing and the first error is reported at the end.
 */
typedef struct builder {
    int err;
    const char *refused; /* the element whose value held a card number (PL_ERR_INVALID) */
} builder;

static xmlNodePtr add_el(builder *b, xmlNodePtr parent, const char *name)
{
    if (b->err || !parent)
        return NULL;
    /* ns NULL: the child inherits the parent's namespace (the data namespace). */
    xmlNodePtr n = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
    if (!n)
        b->err = PL_ERR_NOMEM;
    return n;
}

/*
 * A text element; left out when value is NULL or empty once cleaned. checked: a value that
 * holds a card number once cleaned is refused (pl_xml_add_clean_text), as in every element
 * but the few meant for one (add_card_text).
 */
static xmlNodePtr add_text_as(builder *b, xmlNodePtr parent, const char *name, const char *value,
                              bool checked)
{
    if (!value || !*value)
        return NULL;
    xmlNodePtr n = add_el(b, parent, name);
    if (!n)
        return NULL;
    /* seed: non-standard keyboard characters are removed from the XML sent to CyberSource. */
    int rc = checked ? pl_xml_add_clean_text(n, value) : pl_xml_add_clean_text_unchecked(n, value);
    if (rc > 0)
        return n;
    /* Nothing was left of the value (or it was refused, or no memory): no element at all. */
    xmlUnlinkNode(n);
    xmlFreeNode(n);
    if (rc < 0) {
        b->err = rc;
        if (rc == PL_ERR_INVALID)
            b->refused = name;
    }
    return NULL;
}

static xmlNodePtr add_text(builder *b, xmlNodePtr parent, const char *name, const char *value)
{
    return add_text_as(b, parent, name, value, true);
}

/* add_text for the card number, the 3-D Secure cryptograms and the merchantTransactionIdentifier
 * (pl_xml_add_clean_text_unchecked says why). */
static xmlNodePtr add_card_text(builder *b, xmlNodePtr parent, const char *name, const char *value)
{
    return add_text_as(b, parent, name, value, false);
}

static void add_money(builder *b, xmlNodePtr parent, const char *name, int64_t minor)
{
    xmlNodePtr n = add_el(b, parent, name);
    int rc = n ? pl_xml_add_money(n, minor) : 0;
    if (rc)
        b->err = rc;
}

static void add_int(builder *b, xmlNodePtr parent, const char *name, long v, int width)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%0*ld", width, v);
    add_text(b, parent, name, buf);
}

/* A service element: its `run` attribute is required by the XSD. */
static xmlNodePtr add_service(builder *b, xmlNodePtr parent, const char *name)
{
    xmlNodePtr n = add_el(b, parent, name);
    if (n && !xmlNewProp(n, BAD_CAST "run", BAD_CAST "true"))
        b->err = PL_ERR_NOMEM;
    return n;
}

static bool op_authorizes(pl_bureau_op op)
{
    return op == PL_OP_AUTH || op == PL_OP_TOKEN_AUTH || op == PL_OP_AUTH_CAPTURE;
}

static bool op_creates_token(pl_bureau_op op)
{
    return op == PL_OP_TOKEN || op == PL_OP_TOKEN_AUTH;
}

static bool has(const char *s)
{
    return s && *s;
}

/* A reversal of an authorization whose answer was lost: found by merchantTransactionIdentifier,
 * since its requestID never reached us. */
static bool timeout_reversal(const pl_bureau_call *call)
{
    return call->op == PL_OP_AUTH_REVERSAL && has(call->timeout_reversal_of);
}

/* A credit without a capture reference is stand-alone and pays out to the card itself. */
static bool credit_standalone(const pl_bureau_call *call)
{
    return call->op == PL_OP_CREDIT && !has(call->ref_request_id);
}

/* Operations that carry the card (or its token) rather than an earlier request ID. */
static bool op_carries_card(const pl_bureau_call *call)
{
    return op_creates_token(call->op) || op_authorizes(call->op) || credit_standalone(call);
}

static bool sends_card_number(const pl_bureau_call *call)
{
    return op_carries_card(call) && has(call->req->card.number);
}

static bool sends_token(const pl_bureau_call *call)
{
    return op_carries_card(call) && !op_creates_token(call->op) && !has(call->req->card.number) &&
           has(call->req->card.token);
}

/* Level II/III data belongs to operations that move money, never to a reversal or a token. */
static bool sends_level23(const pl_bureau_call *call)
{
    return call->req->level23.present &&
           (op_authorizes(call->op) || call->op == PL_OP_CAPTURE || call->op == PL_OP_CREDIT);
}

static int check_call(const pl_bureau_cfg *cfg, const pl_bureau_call *call, char *errstr,
                      size_t errstr_size)
{
    const pl_request *req = call->req;
    if (!has(cfg->secret))
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "service bureau %s has no CyberSource transaction key", cfg->service);
    if (!has(call->merchant_id))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "no merchant ID");
    if (!has(req->request_id))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "no request_id");
    if (!has(call->currency) && !has(req->currency))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "no currency");
    if (call->amount < 0 || call->amount > PL_MONEY_MAX)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "amount out of range");

    switch (call->op) {
    case PL_OP_TOKEN:
    case PL_OP_TOKEN_AUTH:
        if (!has(req->card.number))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "a %s request needs the card number", pl_bureau_op_name(call->op));
        break;
    case PL_OP_AUTH:
    case PL_OP_AUTH_CAPTURE:
        if (!has(req->card.number) && !has(req->card.token))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "an %s request needs a card number or token",
                              pl_bureau_op_name(call->op));
        break;
    case PL_OP_CAPTURE:
        if (!has(call->ref_request_id))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "a capture needs the authorization's request ID");
        break;
    case PL_OP_AUTH_REVERSAL:
        if (!has(call->ref_request_id) && !timeout_reversal(call))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "a reversal needs the authorization's request ID, or for a timeout "
                              "reversal the authorization's request_id (timeout_reversal_of)");
        break;
    case PL_OP_CREDIT:
        if (!has(call->ref_request_id) && !has(req->card.number) && !has(req->card.token))
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                              "a stand-alone credit needs a card number or token");
        break;
    default:
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "unknown bureau operation %d",
                          (int)call->op);
    }
    return 0;
}

/* An address element (billTo, shipTo) and its fields in the schema's order up to email; country
 * as mapped for the bureau. Returns the element (NULL out of memory: b->err). */
static xmlNodePtr add_address(builder *b, xmlNodePtr rm, const char *element, const pl_address *a,
                              const char *country)
{
    xmlNodePtr n = add_el(b, rm, element);
    add_text(b, n, "firstName", a->first_name);
    add_text(b, n, "lastName", a->last_name);
    add_text(b, n, "street1", a->street1);
    add_text(b, n, "street2", a->street2);
    add_text(b, n, "city", a->city);
    add_text(b, n, "state", a->state);
    add_text(b, n, "postalCode", a->postal_code);
    add_text(b, n, "country", has(country) ? country : a->country);
    add_text(b, n, "phoneNumber", a->phone);
    add_text(b, n, "email", a->email);
    return n;
}

static void add_bill_to(builder *b, xmlNodePtr rm, const pl_bureau_call *call)
{
    const pl_address *a = call->req->bill_to;
    if (!a)
        return;
    xmlNodePtr n = add_address(b, rm, "billTo", a, call->bill_country);
    add_text(b, n, "ipAddress", a->ip);
}

static void add_ship_to(builder *b, xmlNodePtr rm, const pl_bureau_call *call)
{
    const pl_address *a = call->req->ship_to;
    if (!a)
        return;
    xmlNodePtr n = add_address(b, rm, "shipTo", a, call->ship_country);
    /* seed: the ship via service level is mapped "when Decision Manager is enabled". */
    if (call->decision_manager)
        add_text(b, n, "shippingMethod", a->shipping_method);
}

static void add_items(builder *b, xmlNodePtr rm, const pl_bureau_call *call)
{
    const pl_request *req = call->req;
    for (size_t i = 0; i < req->n_items && !b->err; i++) {
        const pl_item *it = &req->items[i];
        xmlNodePtr n = add_el(b, rm, "item");
        char id[24];
        snprintf(id, sizeof id, "%zu", i);
        if (n && !xmlNewProp(n, BAD_CAST "id", BAD_CAST id))
            b->err = PL_ERR_NOMEM;
        add_money(b, n, "unitPrice", it->unit_price);
        if (it->quantity > 0)
            add_int(b, n, "quantity", it->quantity, 1);
        /* seed: the product classification is sent for Decision Manager fraud scoring. */
        if (call->decision_manager)
            add_text(b, n, "productCode", it->product_code);
        add_text(b, n, "productName", it->name);
        add_text(b, n, "productSKU", it->sku);
        if (it->has_tax_amount)
            add_money(b, n, "taxAmount", it->tax_amount);
        /* Item has both in 1.121 and 1.201, unitOfMeasure first. */
        add_text(b, n, "unitOfMeasure", it->unit_of_measure);
        add_text(b, n, "commodityCode", it->commodity_code);
    }
}

static void add_purchase_totals(builder *b, xmlNodePtr rm, const pl_bureau_call *call)
{
    const pl_request *req = call->req;
    bool l23 = sends_level23(call);
    xmlNodePtr n = add_el(b, rm, "purchaseTotals");
    add_text(b, n, "currency", has(call->currency) ? call->currency : req->currency);
    if (l23 && req->level23.has_discount)
        add_money(b, n, "discountAmount", req->level23.discount_amount);
    if (l23 && req->level23.has_tax)
        add_money(b, n, "taxAmount", req->level23.tax_amount);
    if (l23 && req->level23.has_duty)
        add_money(b, n, "dutyAmount", req->level23.duty_amount);
    add_money(b, n, "grandTotalAmount", call->amount);
    if (l23 && req->level23.has_freight)
        add_money(b, n, "freightAmount", req->level23.freight_amount);
}

static const char *card_type_code(const pl_bureau_call *call)
{
    const pl_card_data *c = &call->req->card;
    if (has(call->card_type_code))
        return call->card_type_code;
    const char *type = has(c->type) ? c->type : pl_card_type_guess(c->number);
    return type ? pl_card_cybersource_type(type) : NULL;
}

static void add_card(builder *b, xmlNodePtr rm, const pl_bureau_call *call)
{
    const pl_card_data *c = &call->req->card;
    xmlNodePtr n = add_el(b, rm, "card");
    add_text(b, n, "fullName", c->holder);
    add_card_text(b, n, "accountNumber", c->number);
    if (c->exp_month >= 1 && c->exp_month <= 12)
        add_int(b, n, "expirationMonth", c->exp_month, 2);
    if (c->exp_year > 0)
        add_int(b, n, "expirationYear", c->exp_year, 4);
    /* The CVV is for the issuer's check at authorization (a token create authorizes too);
     * a refund has no use for it. */
    if (op_authorizes(call->op) || call->op == PL_OP_TOKEN)
        add_text(b, n, "cvNumber", c->cvv);
    add_text(b, n, "cardType", card_type_code(call));
}

/*
 * UCAF (Mastercard SecureCode) collection indicator: 1 when the payer authentication was only
 * attempted (ECI 01), 2 when the cardholder was authenticated.
 */
static const char *ucaf_collection_indicator(const char *eci)
{
    if (eci && (strcmp(eci, "01") == 0 || strcmp(eci, "1") == 0))
        return "1";
    return "2";
}

static void add_auth_service(builder *b, xmlNodePtr rm, const pl_bureau_call *call)
{
    const pl_request *req = call->req;
    xmlNodePtr n = add_service(b, rm, "ccAuthService");
    const char *indicator = NULL;
    if (req->authentication.present) {
        add_card_text(b, n, "cavv", req->authentication.cavv);
        indicator = req->authentication.commerce_indicator;
    }
    /* An installment payment must be flagged as such to the networks; 3-D Secure results,
     * when given, carry their own indicator and win. */
    if (!has(indicator) && req->installment)
        indicator = "install";
    add_text(b, n, "commerceIndicator", indicator);
    if (req->authentication.present) {
        add_text(b, n, "eciRaw", req->authentication.eci);
        add_card_text(b, n, "xid", req->authentication.xid);
    }
}

static const char *subsequent_auth_reason(const char *reason)
{
    /* CyberSource subsequentAuthReason codes: 1 resubmission, 3 reauthorization for a split
     * shipment, 9 installment. */
    if (strcmp(reason, "RESUBMIT") == 0)
        return "1";
    if (strcmp(reason, "REAUTH") == 0)
        return "3";
    if (strcmp(reason, "INSTALLMENT") == 0)
        return "9";
    return NULL;
}

static void add_request_message(builder *b, xmlNodePtr rm, const pl_bureau_cfg *cfg,
                                const pl_bureau_call *call)
{
    const pl_request *req = call->req;
    pl_bureau_op op = call->op;
    bool follow_on = op == PL_OP_CAPTURE || op == PL_OP_AUTH_REVERSAL ||
                     (op == PL_OP_CREDIT && !credit_standalone(call));

    add_text(b, rm, "merchantID", call->merchant_id);
    add_text(b, rm, "merchantReferenceCode", req->request_id);

    if (sends_level23(call) && has(req->level23.customer_po)) {
        xmlNodePtr ih = add_el(b, rm, "invoiceHeader");
        add_text(b, ih, "userPO", req->level23.customer_po);
    }
    /* Follow-ons are matched to the earlier request by its ID; addresses are not resent. */
    if (!follow_on)
        add_bill_to(b, rm, call);
    if (op_authorizes(op))
        add_ship_to(b, rm, call);
    if (op_authorizes(op) || op == PL_OP_CAPTURE || op == PL_OP_CREDIT)
        add_items(b, rm, call);
    add_purchase_totals(b, rm, call);
    if (sends_card_number(call))
        add_card(b, rm, call);

    if (op_authorizes(op) && req->authentication.present && has(req->authentication.ucaf_data)) {
        xmlNodePtr u = add_el(b, rm, "ucaf");
        add_card_text(b, u, "authenticationData", req->authentication.ucaf_data);
        add_text(b, u, "collectionIndicator", ucaf_collection_indicator(req->authentication.eci));
    }

    if (sends_token(call) || op_creates_token(op)) {
        xmlNodePtr rs = add_el(b, rm, "recurringSubscriptionInfo");
        if (sends_token(call))
            add_text(b, rs, "subscriptionID", req->card.token);
        if (op_creates_token(op))
            add_text(b, rs, "frequency", "on-demand");
    }

    /* seed: every authorization says whether Decision Manager runs, true or false. */
    if (op_authorizes(op)) {
        xmlNodePtr dm = add_el(b, rm, "decisionManager");
        add_text(b, dm, "enabled", call->decision_manager ? "true" : "false");
    }

    if (op_authorizes(op))
        add_auth_service(b, rm, call);

    if (op == PL_OP_CAPTURE || op == PL_OP_AUTH_CAPTURE) {
        xmlNodePtr s = add_service(b, rm, "ccCaptureService");
        if (op == PL_OP_CAPTURE)
            add_text(b, s, "authRequestID", call->ref_request_id);
        if (sends_level23(call))
            add_text(b, s, "purchasingLevel", "3");
        if (op == PL_OP_CAPTURE)
            add_text(b, s, "authRequestToken", call->ref_request_token);
    }
    if (op == PL_OP_CREDIT) {
        xmlNodePtr s = add_service(b, rm, "ccCreditService");
        add_text(b, s, "captureRequestID", call->ref_request_id);
        if (sends_level23(call))
            add_text(b, s, "purchasingLevel", "3");
        if (!credit_standalone(call))
            add_text(b, s, "captureRequestToken", call->ref_request_token);
    }
    if (op == PL_OP_AUTH_REVERSAL) {
        xmlNodePtr s = add_service(b, rm, "ccAuthReversalService");
        /* A timeout reversal has no requestID to name: CyberSource finds the authorization by
         * its merchantTransactionIdentifier (below), and the request carries neither
         * authRequestID nor authRequestToken. */
        if (!timeout_reversal(call)) {
            add_text(b, s, "authRequestID", call->ref_request_id);
            add_text(b, s, "authRequestToken", call->ref_request_token);
        }
    }
    if (op_creates_token(op))
        add_service(b, rm, "paySubscriptionCreateService");

    /* Without these, CyberSource skips the capture of an auth+capture whose AVS or CVN check
     * failed even though the issuer approved. */
    if (op == PL_OP_AUTH_CAPTURE && call->ignore_avs_cvv) {
        xmlNodePtr br = add_el(b, rm, "businessRules");
        add_text(b, br, "ignoreAVSResult", "true");
        add_text(b, br, "ignoreCVResult", "true");
    }

    /* Every authorization carries its identifier so that it can be reversed if its answer is
     * lost; the timeout reversal names that authorization by the same identifier. */
    const char *mti_of = op_authorizes(op)        ? req->request_id
                         : timeout_reversal(call) ? call->timeout_reversal_of
                                                  : NULL;
    if (mti_of && !b->err) {
        char mti[PL_CYBERSOURCE_MTI_DIGITS + 1];
        if (merchant_txn_id(mti_of, mti) != 0)
            b->err = PL_ERR_NOMEM;
        else
            add_card_text(b, rm, "merchantTransactionIdentifier", mti);
    }

    /* Stored credentials: the elements exist from 1.201 on (not in 1.121), see the header. */
    if (op_authorizes(op) && req->subsequent_auth.present &&
        pl_cybersource_version_at_least(cfg->api_version, 1, 201)) {
        if (strcmp(req->subsequent_auth.initiator, "cardholder") != 0)
            add_text(b, rm, "subsequentAuth", "true");
        add_text(b, rm, "subsequentAuthReason",
                 subsequent_auth_reason(req->subsequent_auth.reason));
        add_text(b, rm, "subsequentAuthTransactionID", req->subsequent_auth.transaction_id);
    }
}

static int cyb_build(const pl_bureau_cfg *cfg, const pl_bureau_call *call, pl_bureau_msg *msg,
                     char *errstr, size_t errstr_size)
{
    if (!cfg || !call || !call->req || !msg)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing argument");
    memset(msg, 0, sizeof *msg);

    char data_ns[64];
    if (pl_cybersource_namespace(cfg->api_version, data_ns, sizeof data_ns) != 0)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "CyberSource api_version \"%s\" is not <major>.<minor>",
                          cfg->api_version);
    int rc = check_call(cfg, call, errstr, errstr_size);
    if (rc)
        return rc;

    builder b = {0};
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL) : NULL;
    if (!env) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    xmlDocSetRootElement(doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST NS_SOAP, BAD_CAST "soap");
    if (!soap) {
        b.err = PL_ERR_NOMEM;
    } else {
        xmlSetNs(env, soap);
    }

    /* Header > wsse:Security > wsse:UsernameToken: the transaction key as a plain password. */
    xmlNodePtr header = add_el(&b, env, "Header");
    xmlNodePtr sec = add_el(&b, header, "Security");
    if (sec) {
        xmlNsPtr wsse = xmlNewNs(sec, BAD_CAST NS_WSSE, BAD_CAST "wsse");
        if (wsse)
            xmlSetNs(sec, wsse);
        else
            b.err = PL_ERR_NOMEM;
    }
    xmlNodePtr ut = add_el(&b, sec, "UsernameToken");
    add_text(&b, ut, "Username", call->merchant_id);
    xmlNodePtr pw = add_text(&b, ut, "Password", cfg->secret);
    if (pw && !xmlNewProp(pw, BAD_CAST "Type", BAD_CAST WSSE_PASSWORD_TEXT))
        b.err = PL_ERR_NOMEM;

    xmlNodePtr body = add_el(&b, env, "Body");
    xmlNodePtr rm = add_el(&b, body, "requestMessage");
    if (rm) {
        xmlNsPtr data = xmlNewNs(rm, BAD_CAST data_ns, NULL);
        if (data)
            xmlSetNs(rm, data);
        else
            b.err = PL_ERR_NOMEM;
    }
    add_request_message(&b, rm, cfg, call);
    if (b.err == PL_ERR_INVALID && b.refused) {
        rc = pl_err_set(b.err, errstr, errstr_size,
                        "building the CyberSource %s request: %s would carry a card number",
                        pl_bureau_op_name(call->op), b.refused);
        goto out;
    }
    if (b.err) {
        rc = pl_err_set(b.err, errstr, errstr_size, "building the CyberSource %s request: %s",
                        pl_bureau_op_name(call->op), pl_err_str(b.err));
        goto out;
    }

    if (pl_xml_serialize(doc, CYB_XML.declaration, &msg->body, &msg->body_len) != 0) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "serialising the request failed");
        goto out;
    }
    snprintf(msg->content_type, sizeof msg->content_type, "text/xml; charset=utf-8");
    snprintf(msg->soap_action, sizeof msg->soap_action, "runTransaction");
    rc = 0;

out:
    /* The tree holds the card number, the CVV and the key. */
    pl_xml_free_doc(doc);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

/*
 * The answer is read as a stream (pl_xml_read_stream: libxml2's SAX parser, no tree), as a
 * walk of its tree would read it: the root must be an Envelope, its first Body child is the
 * body, the body's first element is the payload (a Fault or a replyMessage), and the payload's
 * children are read in document order. A value is an element's whole text content (the text
 * of its descendants too); where the walk takes the first child of a name (a service reply's
 * reasonCode and amount, a Fault's faultcode) so does the reader. A refusal is the one the walk
 * would meet first: within a service reply, reasonCode before amount before
 * authorizationCode/subscriptionID, whatever their order in the document.
 */

enum { SVC_AUTH, SVC_CAPTURE, SVC_CREDIT, SVC_REVERSAL, SVC_TOKEN, SVC_COUNT };

typedef struct svc_reply {
    bool present;
    char reason_code[16];
    bool has_amount;
    int64_t amount;
} svc_reply;

/* What the payload is: the body's first element. */
enum { PAYLOAD_NONE, PAYLOAD_FAULT, PAYLOAD_REPLY, PAYLOAD_OTHER };

/* The children of the payload that are read; ITEM_OTHER for any other. */
typedef enum item_kind {
    ITEM_OTHER,
    ITEM_MERCHANT_REFERENCE_CODE,
    ITEM_REQUEST_ID,
    ITEM_DECISION,
    ITEM_REASON_CODE,
    ITEM_MISSING_FIELD,
    ITEM_INVALID_FIELD,
    ITEM_REQUEST_TOKEN,
    ITEM_SERVICE, /* a service reply: which one in reader.svc_index */
    ITEM_AFS_REPLY,
    ITEM_FAULT_CODE,
    ITEM_FAULT_STRING,
    ITEM_COUNT,
} item_kind;

static const struct {
    const char *name;
    item_kind kind;
} reply_items[] = {
    {"merchantReferenceCode", ITEM_MERCHANT_REFERENCE_CODE},
    {"requestID", ITEM_REQUEST_ID},
    {"decision", ITEM_DECISION},
    {"reasonCode", ITEM_REASON_CODE},
    {"missingField", ITEM_MISSING_FIELD},
    {"invalidField", ITEM_INVALID_FIELD},
    {"requestToken", ITEM_REQUEST_TOKEN},
    {"afsReply", ITEM_AFS_REPLY},
};

/* The service replies, indexed by SVC_*. */
static const char *const service_names[SVC_COUNT] = {
    "ccAuthReply",
    "ccCaptureReply",
    "ccCreditReply",
    "ccAuthReversalReply",
    "paySubscriptionCreateReply",
};

/* The children of a service reply or of afsReply that are read: the first of each name. */
typedef enum field_kind {
    FIELD_REASON_CODE,
    FIELD_AMOUNT,
    FIELD_AUTH_CODE,
    FIELD_AVS,
    FIELD_CVV,
    FIELD_AUTH_DATE,
    FIELD_SUBSCRIPTION_ID,
    FIELD_AFS_RESULT,
    FIELD_COUNT,
} field_kind;

static const char *const field_names[FIELD_COUNT] = {
    "reasonCode",         "amount",         "authorizationCode", "avsCode", "cvCode",
    "authorizedDateTime", "subscriptionID", "afsResult",
};

/* Whether an item of kind (service svc) reads the field f. */
static bool item_reads(item_kind kind, int svc, field_kind f)
{
    if (kind == ITEM_AFS_REPLY)
        return f == FIELD_AFS_RESULT;
    if (kind != ITEM_SERVICE)
        return false;
    if (f == FIELD_REASON_CODE || f == FIELD_AMOUNT)
        return true;
    if (svc == SVC_AUTH)
        return f == FIELD_AUTH_CODE || f == FIELD_AVS || f == FIELD_CVV || f == FIELD_AUTH_DATE;
    return svc == SVC_TOKEN && f == FIELD_SUBSCRIPTION_ID;
}

/* The refusals a service reply can hold, in the order the walk meets them. */
enum { FAIL_REASON_CODE, FAIL_AMOUNT, FAIL_ID, FAIL_COUNT };

typedef struct reader {
    pl_bureau_result *res;
    int depth; /* of the innermost open element; 1 for the root */
    bool envelope;
    bool body_seen; /* the Envelope's first Body has begun */
    bool in_body;
    int payload; /* PAYLOAD_* */
    bool in_payload;
    bool fault_code_seen, fault_string_seen;
    item_kind item;             /* the payload's child being read */
    int svc_index;              /* its SVC_* when item is ITEM_SERVICE */
    bool item_seen[ITEM_COUNT]; /* the replyMessage children met so far (not the services) */
    bool field_seen[FIELD_COUNT];
    bool item_failed[FAIL_COUNT];
    /* The text being gathered: of the item (field < 0) or of one of its fields. */
    bool capturing;
    int capture_depth;
    int field;
    pl_xml_gather text;
    svc_reply svc[SVC_COUNT];
    int err; /* the first refusal, with its reason in why */
    char why[200];
    /* That refusal is of an auth+capture whose ccCaptureReply says 100: cyb_parse leaves
     * res->capture_approved set (bureau_cybersource.h). */
    bool refused_captured;
} reader;

/* Records the first refusal (the walk stopped there; later ones are not reported). */
PL_PRINTF(2, 3) static void refuse(reader *r, const char *fmt, ...)
{
    if (r->err)
        return;
    r->err = PL_ERR_PARSE;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static bool reader_text(void *ctx, const char *text, size_t len)
{
    reader *r = ctx;
    return !r->capturing || pl_xml_gather_append(&r->text, text, len);
}

static void begin_capture(reader *r, int field)
{
    r->capturing = true;
    r->capture_depth = r->depth;
    r->field = field;
    pl_xml_gather_clear(&r->text);
}

/* Appends a missingField/invalidField path to a ", "-joined list; what does not fit is left
 * out whole rather than cut in the middle of a name. */
static void append_field(char *list, size_t size, const char *text)
{
    char field[128];
    pl_xml_copy_free(text, field, sizeof field, &CYB_XML);
    if (!field[0])
        return;
    size_t used = strlen(list);
    size_t need = (used ? 2 : 0) + strlen(field);
    if (used + need >= size)
        return;
    snprintf(list + used, size - used, "%s%s", used ? ", " : "", field);
}

/* An identifier or code into its field, or the refusal "<name> is too long". */
static void copy_strict(reader *r, const char *text, char *out, size_t outsize, const char *name)
{
    if (pl_xml_copy_exact(text, out, outsize) != 0)
        refuse(r, "%s is too long", name);
}

/* The gathered text of the current item, a child of the payload, read. */
static void read_item_text(reader *r, const char *text)
{
    pl_bureau_result *res = r->res;
    switch (r->item) {
    case ITEM_MERCHANT_REFERENCE_CODE:
        pl_xml_copy_free(text, res->merchant_reference_code, sizeof res->merchant_reference_code,
                         &CYB_XML);
        break;
    case ITEM_REQUEST_ID:
        copy_strict(r, text, res->request_id, sizeof res->request_id, "requestID");
        break;
    case ITEM_DECISION:
        copy_strict(r, text, res->decision, sizeof res->decision, "decision");
        break;
    case ITEM_REASON_CODE:
        copy_strict(r, text, res->reason_code, sizeof res->reason_code, "reasonCode");
        break;
    case ITEM_REQUEST_TOKEN:
        copy_strict(r, text, res->request_token, sizeof res->request_token, "requestToken");
        break;
    case ITEM_MISSING_FIELD:
        append_field(res->missing_fields, sizeof res->missing_fields, text);
        break;
    case ITEM_INVALID_FIELD:
        append_field(res->invalid_fields, sizeof res->invalid_fields, text);
        break;
    case ITEM_FAULT_CODE:
        pl_xml_copy_free(text, res->fault_code, sizeof res->fault_code, &CYB_XML);
        break;
    case ITEM_FAULT_STRING:
        pl_xml_copy_free(text, res->fault_string, sizeof res->fault_string, &CYB_XML);
        break;
    default:
        break;
    }
}

/* The gathered text of a field of the current service reply (or afsReply) read; a refusal
 * waits for the end of the reply (read_item_end), where the walk's order decides. */
static void read_field_text(reader *r, const char *text)
{
    pl_bureau_result *res = r->res;
    svc_reply *s = &r->svc[r->svc_index];
    switch ((field_kind)r->field) {
    case FIELD_REASON_CODE:
        if (pl_xml_copy_exact(text, s->reason_code, sizeof s->reason_code) != 0)
            r->item_failed[FAIL_REASON_CODE] = true;
        break;
    case FIELD_AMOUNT: {
        char amount[32];
        /* A negative amount authorized, captured or reversed means nothing: unreadable. */
        if (pl_xml_copy_exact(text, amount, sizeof amount) != 0 ||
            pl_money_parse_decimal(amount, &s->amount) != 0 || s->amount < 0)
            r->item_failed[FAIL_AMOUNT] = true;
        else
            s->has_amount = true;
        break;
    }
    case FIELD_AUTH_CODE:
        if (pl_xml_copy_exact(text, res->auth_code, sizeof res->auth_code) != 0)
            r->item_failed[FAIL_ID] = true;
        break;
    case FIELD_AVS:
        pl_xml_copy_free(text, res->avs, sizeof res->avs, &CYB_XML);
        break;
    case FIELD_CVV:
        pl_xml_copy_free(text, res->cvv, sizeof res->cvv, &CYB_XML);
        break;
    case FIELD_AUTH_DATE:
        pl_xml_copy_free(text, res->auth_date, sizeof res->auth_date, &CYB_XML);
        break;
    case FIELD_SUBSCRIPTION_ID:
        if (pl_xml_copy_exact(text, res->token, sizeof res->token) != 0)
            r->item_failed[FAIL_ID] = true;
        break;
    case FIELD_AFS_RESULT:
        pl_xml_copy_free(text, res->afs_score, sizeof res->afs_score, &CYB_XML);
        break;
    default:
        break;
    }
}

static void end_capture(reader *r)
{
    const char *text = pl_xml_gather_str(&r->text);
    if (r->field < 0)
        read_item_text(r, text);
    else
        read_field_text(r, text);
    pl_xml_gather_clear(&r->text);
    r->capturing = false;
}

/* A child of the payload begins. */
static void read_item_start(reader *r, const char *name)
{
    r->item = ITEM_OTHER;
    memset(r->field_seen, 0, sizeof r->field_seen);
    memset(r->item_failed, 0, sizeof r->item_failed);
    if (r->payload == PAYLOAD_FAULT) {
        /* pl_xml_read_fault: the first faultcode and the first faultstring. */
        if (!r->fault_code_seen && strcmp(name, "faultcode") == 0) {
            r->fault_code_seen = true;
            r->item = ITEM_FAULT_CODE;
        } else if (!r->fault_string_seen && strcmp(name, "faultstring") == 0) {
            r->fault_string_seen = true;
            r->item = ITEM_FAULT_STRING;
        }
    } else if (r->payload == PAYLOAD_REPLY) {
        /* The names of reply_items and service_names are all different: the first match is
         * the only one. */
        for (size_t i = 0; i < sizeof reply_items / sizeof reply_items[0]; i++) {
            if (strcmp(name, reply_items[i].name) == 0) {
                r->item = reply_items[i].kind;
                break;
            }
        }
        for (int i = 0; r->item == ITEM_OTHER && i < SVC_COUNT; i++) {
            if (strcmp(name, service_names[i]) == 0) {
                r->item = ITEM_SERVICE;
                r->svc_index = i;
            }
        }
        /* The XSD has one of each (missingField and invalidField excepted). Of two decisions,
         * two requestIDs or two ccAuthReplys, which one CyberSource meant is not ours to guess
         * (cyb_query.c's only_child refuses the same): read as the last, a REJECT followed by
         * an ACCEPT would be an approval, and a second merchantReferenceCode would pass the
         * echo check of finish_reply. */
        bool once =
            r->item != ITEM_OTHER && r->item != ITEM_MISSING_FIELD && r->item != ITEM_INVALID_FIELD;
        bool *seen =
            r->item == ITEM_SERVICE ? &r->svc[r->svc_index].present : &r->item_seen[r->item];
        if (once && *seen) {
            refuse(r, "replyMessage has a second %s", name);
            r->item = ITEM_OTHER;
            return;
        }
        *seen = true;
    }
    if (r->item != ITEM_OTHER && r->item != ITEM_SERVICE && r->item != ITEM_AFS_REPLY)
        begin_capture(r, -1);
}

/* A child of the current item begins: gathered when it is the item's first of a name read. */
static void read_field_start(reader *r, const char *name)
{
    for (int f = 0; f < FIELD_COUNT; f++) {
        if (strcmp(name, field_names[f]) == 0) {
            if (item_reads(r->item, r->svc_index, (field_kind)f) && !r->field_seen[f]) {
                r->field_seen[f] = true;
                begin_capture(r, f);
            }
            return;
        }
    }
}

/* The current item ends: a service reply's refusal, in the walk's order. */
static void read_item_end(reader *r)
{
    if (r->item == ITEM_SERVICE) {
        const char *svc = service_names[r->svc_index];
        if (r->item_failed[FAIL_REASON_CODE])
            refuse(r, "%s/reasonCode too long", svc);
        else if (r->item_failed[FAIL_AMOUNT])
            refuse(r, "%s/amount is not an amount", svc);
        else if (r->item_failed[FAIL_ID])
            refuse(r, "%s/%s is too long", svc,
                   r->svc_index == SVC_AUTH ? "authorizationCode" : "subscriptionID");
    }
    r->item = ITEM_OTHER;
}

static void reader_start(void *ctx, const char *name)
{
    reader *r = ctx;
    r->depth++;
    if (r->capturing)
        return;
    switch (r->depth) {
    case 1:
        r->envelope = strcmp(name, "Envelope") == 0;
        break;
    case 2:
        if (r->envelope && !r->body_seen && strcmp(name, "Body") == 0)
            r->body_seen = r->in_body = true;
        break;
    case 3:
        if (r->in_body && r->payload == PAYLOAD_NONE) {
            r->payload = strcmp(name, "Fault") == 0          ? PAYLOAD_FAULT
                         : strcmp(name, "replyMessage") == 0 ? PAYLOAD_REPLY
                                                             : PAYLOAD_OTHER;
            r->in_payload = true;
        }
        break;
    case 4:
        if (r->in_payload)
            read_item_start(r, name);
        break;
    case 5:
        if (r->in_payload && r->item != ITEM_OTHER)
            read_field_start(r, name);
        break;
    default:
        break;
    }
}

static void reader_end(void *ctx)
{
    reader *r = ctx;
    if (r->capturing && r->depth == r->capture_depth)
        end_capture(r);
    if (!r->capturing) {
        if (r->depth == 4 && r->in_payload)
            read_item_end(r);
        else if (r->depth == 3)
            r->in_payload = false;
        else if (r->depth == 2)
            r->in_body = false;
    }
    r->depth--;
}

static const pl_xml_stream reader_stream = {
    .start = reader_start,
    .end = reader_end,
    .text = reader_text,
};

/*
 * The services whose reply says what happened to the operation, in order of preference, into
 * prefs (-1: none): the capture of an auth+capture, then its auth (when the capture did not
 * run), the only service otherwise. No other service's reply stands in for them: the
 * ccAuthReply of an answer to a capture says nothing about what was captured.
 */
static void main_services(const pl_bureau_call *call, int prefs[2])
{
    prefs[0] = prefs[1] = -1;
    switch (call ? call->op : 0) {
    case PL_OP_TOKEN:
        prefs[0] = SVC_TOKEN;
        break;
    case PL_OP_AUTH:
    case PL_OP_TOKEN_AUTH:
        prefs[0] = SVC_AUTH;
        break;
    case PL_OP_AUTH_CAPTURE:
        prefs[0] = SVC_CAPTURE;
        prefs[1] = SVC_AUTH;
        break;
    case PL_OP_CAPTURE:
        prefs[0] = SVC_CAPTURE;
        break;
    case PL_OP_CREDIT:
        prefs[0] = SVC_CREDIT;
        break;
    case PL_OP_AUTH_REVERSAL:
        prefs[0] = SVC_REVERSAL;
        break;
    default:
        break;
    }
}

/* The reply of the first of the operation's main services (main_services) present, or NULL. */
static const svc_reply *main_service(const pl_bureau_call *call, const svc_reply *svc)
{
    int prefs[2];
    main_services(call, prefs);
    for (int i = 0; i < 2; i++)
        if (prefs[i] >= 0 && svc[prefs[i]].present)
            return &svc[prefs[i]];
    return NULL;
}

/* True when ccAuthReply says the issuer authorized (reasonCode 100, or 110 for part of the
 * amount, or at least an authorizationCode): its amount is then what the issuer approved. */
static bool auth_approved(const reader *r)
{
    const svc_reply *auth = &r->svc[SVC_AUTH];
    return auth->present && (strcmp(auth->reason_code, "100") == 0 ||
                             strcmp(auth->reason_code, "110") == 0 || r->res->auth_code[0]);
}

/* True when the answer holds a ccCaptureReply with reasonCode 100: the capture happened. */
static bool capture_done(const reader *r)
{
    const svc_reply *capture = &r->svc[SVC_CAPTURE];
    return capture->present && strcmp(capture->reason_code, "100") == 0;
}

/*
 * True when the answer is a partial approval CyberSource wrote as a refusal. CyberSource's own
 * Simple Order test data answers a partial approval decision REJECT, reasonCode 110, with a
 * ccAuthReply carrying the authorizationCode and the amount approved (the issuer holds it), as
 * ../shared/reference/bureau-wire-formats.md §1.9 lists 110 "REJECT/partial" and
 * tests/fixtures/cybersource/auth_partial_110.xml has it. README and CONTRACT.md §3 make 110 a
 * partial approval: `approved` for that amount. Read as REJECT it would be `declined`, its
 * amount dropped and the issuer's hold never reversed. An authorization's answer is one when
 * ccAuthReply carries the amount approved. An auth+capture's is one whenever its
 * ccCaptureReply says 100, with an amount or without: the money was taken, and an order system
 * told `declined` would send the debit again and charge the card twice (what it captured is
 * capture_amount's). Without a successful capture nothing was taken and the answer stays a
 * refusal (whose authorization paylink-deposit reverses).
 */
static bool partial_approval(const pl_bureau_call *call, const reader *r)
{
    if (!call || strcmp(r->res->reason_code, "110") != 0)
        return false;
    switch (call->op) {
    case PL_OP_AUTH:
    case PL_OP_TOKEN_AUTH:
        return auth_approved(r) && r->svc[SVC_AUTH].has_amount;
    case PL_OP_AUTH_CAPTURE:
        return capture_done(r);
    default:
        return false;
    }
}

/*
 * What an approved partial approval (110) of an auth+capture whose ccCaptureReply says 100
 * without an amount captured, into amount: ccAuthReply's amount, what the issuer authorized;
 * false when the answer does not say. CyberSource's guide says a partially approved
 * auth+capture is not captured (its answer is REJECT 110 without a ccCaptureReply, which stays
 * `declined`, its authorization reversed with a `.sdr`), so this answer should not come; when it
 * does it is read defensively: the ccCaptureReply says the money was taken, and no more can be
 * captured than was authorized. `declined` would free the order system to charge the card again,
 * and the request's whole amount would book as paid what was only partly authorized. Only for a
 * 110: a whole approval (100) was captured for the amount asked, which the engine takes when the
 * answer has none, and ccAuthReply's amount would only add a way to be wrong (one above what was
 * sent makes the answer unreadable).
 */
static bool capture_amount(const reader *r, int64_t *amount)
{
    const svc_reply *auth = &r->svc[SVC_AUTH];
    if (!auth_approved(r) || !auth->has_amount)
        return false;
    *amount = auth->amount;
    return true;
}

/* True when the answer says a partial approval: its reasonCode 110, or ccAuthReply's. */
static bool says_partial(const reader *r)
{
    return strcmp(r->res->reason_code, "110") == 0 ||
           (r->svc[SVC_AUTH].present && strcmp(r->svc[SVC_AUTH].reason_code, "110") == 0);
}

/*
 * True when the answer to an authorizing operation says a partial approval (says_partial: its
 * reasonCode 110, or ccAuthReply's) without a part to believe: the amount approved is missing,
 * or is not below the amount the call sent (a part is less than was asked). That amount is
 * ccAuthReply's, or for an auth+capture that was captured the answer's (the capture's, else
 * ccAuthReply's: capture_amount). Read as it stands, such an answer is approved or held for
 * review for the whole amount asked (the engine takes the request's amount when the answer has
 * none), which books as authorized or paid what the issuer approved only in part (a debit then
 * captures more than is held, refused 235); refused, its reversal (the `.rev`, an
 * auth+capture's `.sdr`) goes for the whole amount or more, which CyberSource refuses above
 * what it authorized, and the hold stays on the card. Unreadable instead, its outcome is
 * unknown: the resolver asks the bureau, and a record that says the same (ics_auth 110
 * without an amount below what was sent) is escalated at once to an operator, who resolves it
 * with the part (resolver.c partial_unreadable). So is an auth+capture not captured, refused
 * (or held for review), whose ccAuthReply says 110 without an amount: nothing was taken, but
 * the issuer holds a part nobody knows, which paylink-deposit cannot reverse (deposit.c
 * refused_held_amount); read as the refusal it is written as, it was `declined` with nobody
 * told, and the order system, authorizing again, left that part held until it expired.
 */
static bool partial_without_part(const pl_bureau_call *call, const reader *r, char *why,
                                 size_t whysz)
{
    const pl_bureau_result *res = r->res;
    const svc_reply *auth = &r->svc[SVC_AUTH];
    if (!call || !says_partial(r) || res->outcome_unknown)
        return false;
    bool has = auth->has_amount;
    int64_t part = auth->amount;
    switch (call->op) {
    case PL_OP_AUTH:
    case PL_OP_TOKEN_AUTH:
        break;
    case PL_OP_AUTH_CAPTURE:
        if (capture_done(r)) {
            has = res->has_amount;
            part = res->amount;
        }
        break;
    default:
        return false;
    }
    if (has && part > 0 && part < call->amount)
        return false;
    char approved[24], sent[24];
    if (pl_money_format(call->amount, sent, sizeof sent) != 0)
        snprintf(sent, sizeof sent, "?");
    if (!has)
        snprintf(why, whysz, "without the amount approved (%s sent)", sent);
    else if (pl_money_format(part, approved, sizeof approved) == 0)
        snprintf(why, whysz, "for %s, not below the %s sent", approved, sent);
    else
        snprintf(why, whysz, "for no amount below the %s sent", sent);
    return true;
}

/* What a replyMessage read without refusal gives beyond its fields. */
static int finish_reply(const pl_bureau_call *call, reader *r)
{
    pl_bureau_result *res = r->res;
    if (!res->decision[0] || !res->reason_code[0]) {
        refuse(r, "replyMessage without decision or reasonCode");
        return r->err;
    }
    /* An answer to another request (a mixed-up connection, a proxy's or the bureau's bug) is no
     * answer: its approval would be recorded for this order. CyberSource echoes the
     * merchantReferenceCode sent, the request's request_id (a checked charset, sent as is). */
    if (res->merchant_reference_code[0] && call && call->req && call->req->request_id[0] &&
        strcmp(res->merchant_reference_code, call->req->request_id) != 0) {
        refuse(r, "merchantReferenceCode is not the request_id of the request sent");
        return r->err;
    }
    /* REJECT 110 becomes what ACCEPT 110 is, before the checks an approval must pass (a
     * refusal's text still says what the answer said). */
    char said[sizeof res->decision];
    snprintf(said, sizeof said, "%s", res->decision);
    if (strcmp(res->decision, "REJECT") == 0 && partial_approval(call, r))
        snprintf(res->decision, sizeof res->decision, "ACCEPT");
    /* An auth+capture whose ccCaptureReply says 100 was captured: the money was taken. Answered
     * anything but ACCEPT (a REJECT for another reason than the 110 above: Decision Manager's
     * 481, a score's 400, a soft decline; a REVIEW; an ERROR) the answer contradicts itself, and
     * neither reading is safe: `declined`, `rejected` or `error` frees the order system to send
     * the debit again (a second charge) and leaves what was taken with nobody refunding it;
     * `approved` would fulfil an order Decision Manager refused. Unreadable, its outcome is
     * unknown (no `.sdr` reversal goes: nothing of the authorization is left once captured), and
     * the resolver asks the bureau; a record that says the same goes to an operator
     * (resolver.c). capture_approved is left set (cyb_parse): the engine records the required
     * response as captured, and an operator's refusal of it publishes no `.sdr` either
     * (resolver.c escalated_captured; before, it looked for this text in the detail). */
    if (call && call->op == PL_OP_AUTH_CAPTURE && capture_done(r) &&
        strcmp(res->decision, "ACCEPT") != 0) {
        refuse(r, "an auth+capture answered %s %s while its " PL_CYBERSOURCE_REFUSED_CAPTURED,
               res->decision, res->reason_code);
        r->refused_captured = true;
        return r->err;
    }
    /* An approval the workers could not act on (the External Payment Service's rule too): an
     * authorization no capture or reversal could name, a token nobody could charge. */
    bool accepted = strcmp(res->decision, "ACCEPT") == 0;
    if (call && (accepted || strcmp(res->decision, "REVIEW") == 0) && !res->request_id[0] &&
        (call->op == PL_OP_AUTH || call->op == PL_OP_TOKEN_AUTH ||
         call->op == PL_OP_AUTH_CAPTURE)) {
        refuse(r, "an authorization answered %s without a requestID", res->decision);
        return r->err;
    }
    if (call && accepted && call->op == PL_OP_TOKEN && !res->token[0]) {
        refuse(r, "paySubscriptionCreate answered ACCEPT without a subscriptionID");
        return r->err;
    }
    /* 151, 152 and 250: "the request was received, but a server (service, payment processor)
     * time-out occurred" — it may have been processed. Anything but a token then has an unknown
     * outcome, which the resolver asks the bureau about, rather than a final error an order
     * system would send again (a second capture or charge). 150, a general failure, stays final
     * (CONTRACT.md §3). */
    if (call && call->op != PL_OP_TOKEN && strcmp(res->decision, "ERROR") == 0 &&
        pl_cybersource_received_timeout(res->reason_code))
        res->outcome_unknown = true;
    const svc_reply *main = main_service(call, r->svc);
    /* An approval without the reply of the service it approves: the engine would record the
     * request's amount as approved (captured, credited, reversed) on the bureau's word for
     * nothing. Its outcome is unknown, as any unreadable answer's. */
    int prefs[2];
    main_services(call, prefs);
    if (accepted && !main && prefs[0] >= 0) {
        refuse(r, "ACCEPT without the operation's %s", service_names[prefs[0]]);
        return r->err;
    }
    if (main) {
        snprintf(res->service_reason_code, sizeof res->service_reason_code, "%s",
                 main->reason_code);
        res->has_amount = main->has_amount;
        res->amount = main->amount;
    }
    /* A partial approval (110) of an auth+capture captured, its ccCaptureReply without the
     * amount: read defensively as captured for ccAuthReply's amount (capture_amount). Without
     * that either it is unreadable, its outcome unknown for the resolver to ask the bureau: it
     * must not be `declined` (the money was taken), and approved for the request's amount it
     * would book as paid what was only partly authorized. A 100 without a capture amount keeps
     * none: the engine takes the request's amount, the whole amount asked. */
    if (call && accepted && call->op == PL_OP_AUTH_CAPTURE && main == &r->svc[SVC_CAPTURE] &&
        capture_done(r) && !main->has_amount && says_partial(r)) {
        res->has_amount = capture_amount(r, &res->amount);
        if (!res->has_amount) {
            refuse(r, PL_CYBERSOURCE_REFUSED_PARTIAL
                   " of an auth+capture " PL_CYBERSOURCE_REFUSED_CAPTURED_NO_AMOUNT
                   " or authorized");
            r->refused_captured = true;
            return r->err;
        }
    }
    /* A partial approval without a part below the amount sent is unreadable
     * (partial_without_part); an auth+capture's captured one stays recorded as captured. */
    char part_why[120];
    if (partial_without_part(call, r, part_why, sizeof part_why)) {
        bool captured = call->op == PL_OP_AUTH_CAPTURE && capture_done(r);
        refuse(r, PL_CYBERSOURCE_REFUSED_PARTIAL " answered %s %s%s %s", said, res->reason_code,
               captured ? ", " PL_CYBERSOURCE_REFUSED_CAPTURED "," : "", part_why);
        r->refused_captured = captured;
        return r->err;
    }
    /* The authorization's own reply beside: an auth+capture refused while its ccAuthReply says
     * the issuer authorized it (and its ccCaptureReply, the main one, says the capture failed)
     * leaves that amount held, which paylink-deposit reverses. */
    const svc_reply *auth = &r->svc[SVC_AUTH], *capture = &r->svc[SVC_CAPTURE];
    res->capture_approved = capture->present && strcmp(capture->reason_code, "100") == 0;
    if (auth->present) {
        snprintf(res->auth_reason_code, sizeof res->auth_reason_code, "%s", auth->reason_code);
        res->has_auth_amount = auth->has_amount;
        res->auth_amount = auth->amount;
    }
    return 0;
}

static int cyb_parse(const pl_bureau_cfg *cfg, const pl_bureau_call *call, long http_status,
                     const char *body, size_t body_len, pl_bureau_result *res, char *errstr,
                     size_t errstr_size)
{
    (void)cfg;
    if (!res)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing argument");
    memset(res, 0, sizeof *res);

    reader rd;
    reader *r = &rd;
    memset(r, 0, sizeof *r);
    r->res = res;
    pl_xml_gather_init(&r->text);

    char why[200];
    int rc = pl_xml_read_stream(body, body_len, &CYB_XML, &reader_stream, r, why, sizeof why);
    if (rc) {
        pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "CyberSource answer (HTTP %ld): %s",
                   http_status, why);
    } else if (r->payload == PAYLOAD_FAULT) {
        /* A fault is refused before any business processing: the general system failure of
         * the reason code table, as the seed flags any transaction that failed to go through. */
        snprintf(res->decision, sizeof res->decision, "ERROR");
        snprintf(res->reason_code, sizeof res->reason_code, "150");
    } else if (r->payload == PAYLOAD_REPLY) {
        rc = r->err ? r->err : finish_reply(call, r);
        if (rc)
            pl_err_set(rc, errstr, errstr_size, "CyberSource answer (HTTP %ld): %s", http_status,
                       r->why);
    } else {
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                        "CyberSource answer (HTTP %ld) is not a SOAP replyMessage or Fault",
                        http_status);
    }
    if (rc) {
        memset(res, 0, sizeof *res);
        /* What the worker records of the unknown outcome beside the refusal: the money was
         * taken, so an operator's refusal of it reverses nothing (required_response.captured). */
        res->capture_approved = r->refused_captured;
    }
    pl_xml_gather_release(&r->text);
    pl_card_wipe(r, sizeof *r);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Redaction */

/* Replaces an element's text, zeroing the old text first (the tree is parsed without a
 * dictionary, so the text is the node's own memory). */
static void replace_text(xmlNodePtr n, const char *text)
{
    for (xmlNodePtr c = n->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            pl_card_wipe(c->content, strlen((const char *)c->content));
    xmlNodeSetContent(n, BAD_CAST text);
}

static void redact_tree(xmlNodePtr n, pl_mask_mode mode)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)n->name;
        if (strcmp(name, "accountNumber") == 0) {
            char number[128], masked[160];
            pl_xml_text_free(n, number, sizeof number, &CYB_XML);
            if (pl_card_mask_log(number, mode, masked, sizeof masked) != 0)
                snprintf(masked, sizeof masked, "***REMOVED***");
            pl_card_wipe(number, sizeof number);
            replace_text(n, masked);
        } else if (strcmp(name, "cvNumber") == 0 || strcmp(name, "Password") == 0 ||
                   strcmp(name, "cavv") == 0 || strcmp(name, "xid") == 0 ||
                   strcmp(name, "authenticationData") == 0) {
            replace_text(n, "");
        } else {
            redact_tree(n->children, mode);
        }
    }
}

/* The message-log copy (see the header); the second net of pl_xml_redact catches a card number
 * in unexpected places (a name field, a fault string). */
static char *cyb_redact(const char *body, size_t body_len, int mode)
{
    return pl_xml_redact(body, body_len, mode, &CYB_XML, redact_tree);
}

const pl_bureau_ops pl_bureau_cybersource = {
    .protocol = "CYB",
    .build = cyb_build,
    .parse = cyb_parse,
    .redact = cyb_redact,
};
