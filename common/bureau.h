/*
 * bureau.h: the seam between the engine and a payment bureau's wire protocol.
 *
 * A bureau adapter is an ops table of two pure functions: build the bytes of one call, and
 * read the bureau's answer into a pl_bureau_result. Transport (HTTPS through libcurl multi,
 * timeouts, retries, the proxy) is the engine's job (http.h), so adapters are tested without
 * a network, and tests can swap an adapter without #ifdef.
 *
 * Memory: pl_bureau_msg.body is malloc'd by build and freed by the caller
 * (pl_bureau_msg_free). Results are plain structs. Any thread; adapters keep no state.
 */
#ifndef PL_BUREAU_H
#define PL_BUREAU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "request.h"

/* What one bureau call does. */
typedef enum pl_bureau_op {
    PL_OP_TOKEN = 1,     /* CYB paySubscriptionCreateService */
    PL_OP_AUTH,          /* CYB ccAuthService */
    PL_OP_TOKEN_AUTH,    /* CYB ccAuthService + paySubscriptionCreateService in one request */
    PL_OP_CAPTURE,       /* CYB ccCaptureService (debit deposit) */
    PL_OP_CREDIT,        /* CYB ccCreditService (credit deposit) */
    PL_OP_AUTH_CAPTURE,  /* CYB ccAuthService + ccCaptureService in one request */
    PL_OP_AUTH_REVERSAL, /* CYB ccAuthReversalService */
    /* Stored value (RLT: Customer Engagement messages of seed customer-engagement-stored-value-
     * card.txt; EXT later). The card is call->svc_card_number. */
    PL_OP_SVC_GENERATE, /* GenerateCard: a new virtual card number from the card series */
    PL_OP_SVC_ACTIVATE, /* ActivateInstrumentRequest: activate a physical card */
    PL_OP_SVC_RECHARGE, /* RechargeRequest: activate a virtual card, or add value */
    PL_OP_SVC_PREAUTH,  /* PreauthorizationRequest: authorize */
    PL_OP_SVC_POSTAUTH, /* PostauthorizationRequest: deposit against ref_request_id */
    PL_OP_SVC_RETURN,   /* ReturnRequest: credit the card */
    PL_OP_SVC_INQUIRY,  /* InquiryRequest: balance */
    PL_OP_SVC_VOID,     /* VoidRequest: reverse the authorization ref_request_id */
} pl_bureau_op;

/* "token", "auth", "token_auth", "capture", "credit", "auth_capture", "reversal",
 * "svc_generate", "svc_activate", "svc_recharge", "svc_preauth", "svc_postauth", "svc_return",
 * "svc_inquiry", "svc_void". */
const char *pl_bureau_op_name(pl_bureau_op op);

/* Settings of one service bureau (the auth_service row, secrets resolved) the adapters need. */
typedef struct pl_bureau_cfg {
    char service[9];      /* CYB, RLT, EXT, ... */
    char protocol[8];     /* "CYB", "RLT", "EXT": which adapter */
    char api_version[12]; /* CyberSource data namespace version, e.g. "1.121" */
    const char *secret;   /* CyberSource transaction key / RLT web service password; never logged */
    /* Customer Engagement (RLT) settings of the seed's WASV screen. */
    char card_prefix[21];    /* Presenter's ID → CardPrefix of GenerateCard */
    char card_series[21];    /* Submitter's ID → CardSeriesSequence of GenerateCard */
    char location_id[21];    /* Signon → LocationID ("" → an empty <LocationID />) */
    char ws_user[61];        /* web service user; "" → no Authorization header */
    char message_version[8]; /* EXT: "3.0" */
} pl_bureau_cfg;

/* One call: the operation plus everything resolved from configuration and earlier rows. */
typedef struct pl_bureau_call {
    pl_bureau_op op;
    const pl_request *req;      /* the decoded request (card, addresses, items, 3-DS, L2/3) */
    const char *merchant_id;    /* after the merchant ID hierarchy */
    const char *currency;       /* after the currency cross-reference */
    const char *bill_country;   /* after the country cross-reference; NULL → req's */
    const char *ship_country;   /* likewise */
    const char *card_type_code; /* CyberSource cardType ("001"); NULL → derived from req */
    int64_t amount;             /* minor units to send (grandTotalAmount) */
    bool decision_manager;      /* decisionManager/enabled true (online auth with DM on) */
    bool ignore_avs_cvv;        /* auth+capture: businessRules ignoreAVSResult/ignoreCVResult */
    /* Follow-on calls (capture, reversal, credit): the earlier bureau transaction. */
    const char *ref_request_id;
    const char *ref_request_token;
    const char *ref_auth_code;
    /* PL_OP_AUTH_REVERSAL only: the paylink request_id of an authorization whose answer was
     * lost; the reversal is CyberSource's timeout authorization reversal
     * (merchantTransactionIdentifier of that authorization, no authRequestID; ref_request_id
     * and ref_request_token are then not sent). NULL/"" otherwise. */
    const char *timeout_reversal_of;
    /* Stored value: the card (full number: the adapter masks it wherever it logs), the order
     * (RTPTransactionID) and the clock of TransactionDateTime / BusinessDate (UTC seconds). */
    const char *svc_card_number;
    const char *order;
    int64_t now;
    /* External Payment Service (EXT, message version 3.0: tokens, never card numbers but to
     * getToken). card_token: the card's token for this call (the request's, or the one the
     * engine's getToken call returned); NULL/"" → the request's card.token. */
    const char *card_token;
    /* Subsequent authorization (seed "Subsequent Authorization Requests"): sub_auth_reason
     * "RESUBMIT", "REAUTH", "INSTALLMENT", or NULL when the authorization is not a subsequent
     * one; sub_auth_transaction_id the stored cardholder-initiated transaction id (NULL: none);
     * sub_auth_original_amount its amount in minor units (< 0: none; membership orders);
     * initiator "MERCHANT", "CARDHOLDER" or NULL. */
    const char *sub_auth_reason;
    const char *sub_auth_transaction_id;
    int64_t sub_auth_original_amount;
    const char *initiator;
    bool void_remainder; /* a deposit with Void auth at deposit: the rest is released */
} pl_bureau_call;

/* The bytes of one call. */
typedef struct pl_bureau_msg {
    char *body; /* malloc'd */
    size_t body_len;
    char content_type[64]; /* "text/xml; charset=utf-8" */
    char soap_action[64];  /* "" when none; else sent as SOAPAction header */
    /* A whole header line ("Authorization: Basic ...") or "" — credentials: never logged, and
     * wiped by pl_bureau_msg_free. */
    char auth_header[512];
    /* Another whole header line, not a credential (it may be logged), or "": the issue amount
     * of a GenerateCard (bureau_relate.h). */
    char extra_header[96];
    /* The endpoint appended to the service bureau's URL with one '/' between ("authorization"),
     * or "" to post to the URL as it is (EXT: the External URL Prefix + the message's endpoint). */
    char url_suffix[32];
} pl_bureau_msg;

void pl_bureau_msg_free(pl_bureau_msg *m);

/* The bureau's answer, protocol-neutral. Strings "" when absent. */
typedef struct pl_bureau_result {
    char decision[16];    /* CYB: ACCEPT, REVIEW, REJECT, ERROR */
    char reason_code[16]; /* top-level reason / response code: the vendor response */
    char request_id[65];  /* the bureau's transaction id (CYB requestID) */
    char request_token[513];
    char merchant_reference_code[51];
    bool has_amount;
    int64_t amount; /* authorized / captured / credited / reversed amount */
    char auth_code[31];
    char auth_date[32]; /* authorizedDateTime */
    char avs[8];
    char cvv[8];
    char token[65];               /* subscriptionID */
    char service_reason_code[16]; /* e.g. ccAuthReply/reasonCode when it differs */
    /* CYB: ccAuthReply's own reasonCode and amount whatever the operation's main service, ""
     * and false when the answer has none. An auth+capture's answer carries ccAuthReply and
     * ccCaptureReply: service_reason_code and amount are the capture's, these say whether the
     * issuer authorized it (100, or 110 for auth_amount) when the capture did not happen. */
    char auth_reason_code[16];
    bool has_auth_amount;
    int64_t auth_amount;
    /* CYB: the answer holds a ccCaptureReply with reasonCode 100 (an auth+capture's capture
     * happened, whatever the decision says): nothing of its authorization is left to reverse. */
    bool capture_approved;
    char afs_score[8];
    char fault_code[64]; /* SOAP fault */
    char fault_string[256];
    /* The bureau answered but not whether it acted (a Customer Engagement fault other than one
     * refusing the message before processing it, on an operation that changes a card; a
     * CyberSource ERROR 151/152, a time-out after the request was received): the engine leaves
     * the outcome unknown, with a required response (reason bureau_fault). */
    bool outcome_unknown;
    char missing_fields[256]; /* comma-separated */
    char invalid_fields[256];
    bool has_balance;
    int64_t balance;
    /* Stored value answers. */
    char response_code[16];     /* GenerateCard's CardSeries ResponseCode: "OK", "Rejected" */
    char error_code[41];        /* ErrorCode of a declined transaction (ALL_CARDS_GENERATED) */
    char error_text[121];       /* its ResponseDescription */
    char svc_status[16];        /* InstrumentState/Status: "Active", "Inactive" */
    char account_status[16];    /* AccountState/AccountStatus */
    char account_id[21];        /* AccountState/AccountID */
    char svc_card_number[21];   /* GenerateCard's new CardNumber (wiped by the engine) */
    char svc_instrument_id[31]; /* GenerateCard's InstrumentID */
    char svc_card_prefix[21];   /* GenerateCard's CardPrefix: the series drawn from */
    char svc_card_series[21];   /* GenerateCard's CardSeriesSequence */
    char svc_preauth_id[65];    /* PostAuth's PreAuthSVATransactionID: the authorization drawn on */
} pl_bureau_result;

/* pl_bureau_ops.flags */
#define PL_BUREAU_OAUTH                                                                            \
    0x1u /* every call carries "Authorization: Bearer <token>" from the                            \
            engine's OAuth client (oauth.h); an HTTP 401 means the call was                        \
            not processed: the engine refreshes the token and sends it again                       \
            once */
#define PL_BUREAU_TOKENS_ONLY                                                                      \
    0x2u /* a card number goes only into PL_OP_TOKEN: a call whose                                 \
            request carries a number is preceded by a PL_OP_TOKEN call                             \
            and made with call->card_token (message version 3.0) */

typedef struct pl_bureau_ops {
    const char *protocol; /* "CYB" */
    unsigned flags;       /* PL_BUREAU_* */

    /*
     * Builds the request bytes for call. Returns 0 and fills *msg (caller frees with
     * pl_bureau_msg_free), or a negative pl_err with errstr set (nothing to free).
     */
    int (*build)(const pl_bureau_cfg *cfg, const pl_bureau_call *call, pl_bureau_msg *msg,
                 char *errstr, size_t errstr_size);

    /*
     * Reads an answer (HTTP status + body). Returns 0 with *res filled when the body is a
     * well-formed answer, including business declines and SOAP faults (fault_* set);
     * PL_ERR_PARSE when the body is unreadable (the engine then replies `error`),
     * *res zeroed but for capture_approved, which says an answer refused although it says an
     * auth+capture's capture happened (bureau_cybersource.h): the engine records it on the
     * required response it opens (required_response.captured).
     */
    int (*parse)(const pl_bureau_cfg *cfg, const pl_bureau_call *call, long http_status,
                 const char *body, size_t body_len, pl_bureau_result *res, char *errstr,
                 size_t errstr_size);

    /*
     * A copy of a message (request or answer) safe for the bureau message log: card
     * numbers masked in `mode` (a pl_mask_mode), CVV and the transaction key removed.
     * Returns malloc'd text or NULL.
     */
    char *(*redact)(const char *body, size_t body_len, int mode);
} pl_bureau_ops;

/* The adapters. */
extern const pl_bureau_ops pl_bureau_cybersource;
extern const pl_bureau_ops pl_bureau_relate;
extern const pl_bureau_ops pl_bureau_external;

/* The adapter for a protocol code, or NULL. */
const pl_bureau_ops *pl_bureau_find(const char *protocol);

#endif
