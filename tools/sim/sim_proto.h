/*
 * sim_proto.h: the seam between the simulator's HTTPS server and one bureau protocol.
 *
 * Each simulated bureau (CyberSource SOAP, sim_cyb.c; Customer Engagement stored value, RLT,
 * sim_relate.c; the External Payment Service, EXT, sim_ext.c) is a pl_sim_proto: a route (method
 * + path, or a path pattern) and a handler that turns one request body into a pl_sim_response.
 * The server owns transport concerns — TLS, the body cap, latency, holding or dropping the
 * connection — and the handler owns the bureau's rules and the ledger effects. A handler
 * runs on a server thread and must be thread-safe (the ledger is).
 *
 * Memory: pl_sim_response.body is malloc'd by the handler (or pl_sim_response_set) and
 * released by pl_sim_response_free or taken by the server.
 */
#ifndef PL_SIM_PROTO_H
#define PL_SIM_PROTO_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "sim_ledger.h"

/* What the server does with a handled request. */
typedef enum pl_sim_action {
    PL_SIM_ANSWER = 0, /* send status + body (after the configured latency) */
    PL_SIM_HOLD,       /* answer nothing; close the connection after the hold time (901) */
    PL_SIM_DROP,       /* close the connection now, without an answer (904) */
} pl_sim_action;

typedef struct pl_sim_response {
    pl_sim_action action;
    unsigned status;          /* HTTP status for PL_SIM_ANSWER */
    const char *content_type; /* static string */
    char *body;               /* malloc'd, may hold NULs; NULL when empty */
    size_t body_len;
    /* One more header of the answer, or NULL: static strings (EXT: WWW-Authenticate of a 401,
     * Cache-Control of an OAuth token). */
    const char *header_name;
    const char *header_value;
} pl_sim_response;

/* One HTTP request as the handler sees it. Strings are borrowed for the call only. */
/* paylink's GenerateCard carries the card's issue amount in this header (common/bureau_relate.h):
 * the seed's message has none, and CONTRACT.md §3 picks a scenario from it. */
#define PL_SIM_ISSUE_AMOUNT_HEADER "X-Paylink-Issue-Amount"

typedef struct pl_sim_http_req {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    const char *authorization; /* Authorization header, or NULL */
    const char *content_type;  /* Content-Type header, or NULL */
    const char *issue_amount;  /* X-Paylink-Issue-Amount header (RLT GenerateCard), or NULL */
    /* The state the server keeps for the route's protocol, when it has one (EXT: the
     * pl_sim_ext of sim_ext.h: access tokens, card tokens, answers); NULL otherwise. */
    void *state;
} pl_sim_http_req;

typedef struct pl_sim_proto {
    const char *protocol; /* "CYB", "RLT", "EXT" */
    const char *method;   /* "POST" */
    const char *path;     /* exact path, e.g. "/commerce/1.x/transactionProcessor" */
    /*
     * NULL: the route is `path` exactly. Otherwise it decides which paths are the route
     * (`path` then only names the pattern for people, e.g. "/relateui/{company}/xmlapi").
     * A pure function of the path (no query string); any thread.
     */
    bool (*match_path)(const char *path);
    /*
     * Handles one request: fills resp (all fields) and applies ledger effects.
     * Returns 0, or a negative pl_err when it could not build any answer (out of memory);
     * the server then answers 500 on its own.
     */
    int (*handle)(pl_sim_ledger *ledger, const pl_sim_http_req *req, pl_sim_response *resp);
} pl_sim_proto;

/* Copies body (len bytes, may be NULL when len is 0) into resp as an answer. 0 or NOMEM. */
int pl_sim_response_set(pl_sim_response *resp, unsigned status, const char *content_type,
                        const char *body, size_t len) PL_MUSTCHECK;

/* pl_sim_response_set without the copy: resp takes body (malloc'd, len bytes and a NUL). */
void pl_sim_response_take(pl_sim_response *resp, unsigned status, const char *content_type,
                          char *body, size_t len);

/* pl_sim_response_set with a text/plain (UTF-8) body: the control routes' and the server's own
 * answers. 0 or NOMEM. */
int pl_sim_response_text(pl_sim_response *resp, unsigned status, const char *text) PL_MUSTCHECK;

/* Adds v (which it takes; NULL: out of memory) to obj under key. 0 or NOMEM. */
int pl_sim_json_add(json_object *obj, const char *key, json_object *v) PL_MUSTCHECK;

/* Serialises root (which it takes) into resp as a 200 application/json answer. 0 or NOMEM. */
int pl_sim_response_json(pl_sim_response *resp, json_object *root) PL_MUSTCHECK;

/* Frees the body and clears the response. resp may be NULL. */
void pl_sim_response_free(pl_sim_response *resp);

/*
 * Parses a non-negative decimal integer no greater than max ("250" → 250): digits only, no
 * sign, no spaces. Returns 0 or PL_ERR_INVALID (and leaves *out alone).
 */
int pl_sim_parse_uint(const char *s, unsigned max, unsigned *out) PL_MUSTCHECK;

/* True when s has the shape of an ISO 4217 currency code: three capital ASCII letters ("USD"). */
bool pl_sim_currency_ok(const char *s);

/* ---- application/x-www-form-urlencoded bodies (libcurl decodes the %XX escapes) ---- */

/* The longest form component the simulator reads. */
#define PL_SIM_FORM_COMPONENT_MAX 1024

/* Decodes one component src[0, n) into out ('+' is a space). 0, PL_ERR_INVALID (too long, a
 * malformed %XX escape, or a %00 inside) or PL_ERR_NOMEM. The decoded copy is wiped (it may be a
 * password). */
int pl_sim_form_decode(const char *src, size_t n, char *out, size_t outsize);

/* The decoded value of the first parameter called name in a form body: 1 found, 0 absent
 * (out = ""), PL_ERR_INVALID (its value does not decode or fit) or PL_ERR_NOMEM. */
int pl_sim_form_value(const char *body, size_t len, const char *name, char *out, size_t outsize);

/* True when content_type is application/x-www-form-urlencoded (parameters allowed). */
bool pl_sim_is_form(const char *content_type);

/* ---- HTTP Basic authentication ---- */

/*
 * The user and password of an "Authorization: Basic" header's value (header may be NULL):
 * base64 of user ":" password, the user without a colon (RFC 7617). form_decode false takes
 * both parts as they are (the CyberSource report user); true decodes each with
 * pl_sim_form_decode first, as OAuth's client credentials are sent (RFC 6749 §2.3.1). Returns 0
 * with user and pass filled (NUL-terminated; usize and psize > 0), or PL_ERR_INVALID (user and
 * pass then ""): no header, not Basic, not base64, no colon, a part holding a NUL, not
 * decoding or not fitting its buffer; PL_ERR_NOMEM (form decoding). The decoded copy is wiped;
 * the caller wipes pass.
 */
int pl_sim_basic_credentials(const char *header, bool form_decode, char *user, size_t usize,
                             char *pass, size_t psize) PL_MUSTCHECK;

#endif
