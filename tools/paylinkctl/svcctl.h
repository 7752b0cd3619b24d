/*
 * svcctl.h: `paylinkctl svc`, the operator's stored value commands (seed
 * customer-engagement-stored-value-card.txt, "Void Request": a cancellation or deactivation of a
 * stored value card payment reimburses the original authorization amount to the card).
 *
 *   paylinkctl svc close-order --company C --order O --reason closed|cancelled [--by NAME]
 *   paylinkctl svc reverse-unused --company C --pay-type P [--older-than-days N] [--dry-run]
 *                                 [--by NAME]
 *
 * close-order: the order system says order O of company C is closed or cancelled (paylink does
 * not know order state otherwise): a row of order_closed (migration 015). Marking an order that
 * is already marked changes nothing (the first mark stays); prints one JSON line
 * {"company","order","reason","closed_at","closed_by","marked"} (marked false when it was
 * already). Exit 0 either way.
 *
 * reverse-unused (seed external-payment-service.txt, REVXAHP, and its Customer Engagement
 * counterpart): first the seed's conditions (pl_svcctl_check_pay_type): P is a stored value card
 * pay type of company C (table pay_type, kind SVC), assigned to an authorization service
 * configured as the External Payment Service (protocol EXT with External Service Settings whose
 * flag is on) or to Customer Engagement (protocol RLT), and not C's Default Auth Code for CC
 * Netting (company_setting.m25_netting_pay_type); otherwise it is refused (exit 1) with the
 * condition that failed. Then every approved stored value authorization (svc_trans,
 * request_type auth, on a service bureau of protocol RLT or EXT: paylink-svc keeps both alike;
 * each void goes to the authorization's own bureau, also one taken before P moved to another,
 * so the same conditions hold for that bureau: RLT, or EXT with External Service Settings whose
 * flag is on; those on any other are counted on stderr, not listed: a void asked there would
 * send no message and only raise the attempt) of company C and pay type P on an order marked
 * at least N days
 * ago (default 0) that still holds money (approved - deposited - voided > 0) and has no deposit
 * or void in flight (nothing claimed: such a void would be refused) is printed as one JSON line
 * (pl_svcctl_unused_json). paylink cannot send those voids: the Void names the card
 * (CardNumber) and paylink keeps only its mask and hash. So the order system, which holds the
 * card, sends each as a `reversal` with the line's reversal_request_id and the card added.
 * The request id is derived from the authorization's (pl_svcctl_void_id), so every run lists
 * the same id until the void is done, and the reversal worker carries it out once however many
 * times it is sent. Without --dry-run each listing is recorded in svc_unused_void (first and
 * last listed, how often); with it nothing is written. Exit 0 when listed (also none), 1 on error.
 *
 * Card data: no card number is ever read, printed or written: only the masks paylink stores.
 * Options and order numbers are never echoed in errors (an order may be a mistyped card).
 *
 * Memory: pl_svcctl_opts points into argv. Strings returned are malloc'd; the caller frees them.
 * Single-threaded (a CLI).
 */
#ifndef PL_SVCCTL_H
#define PL_SVCCTL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "err.h"

/* Longest --older-than-days (100 years). */
#define PL_SVCCTL_MAX_DAYS 36500

typedef enum pl_svcctl_cmd {
    PL_SVCCTL_CLOSE_ORDER = 1,
    PL_SVCCTL_REVERSE_UNUSED = 2,
} pl_svcctl_cmd;

typedef struct pl_svcctl_opts {
    pl_svcctl_cmd cmd;
    int company;          /* 1-999 */
    const char *order;    /* close-order: 1-20 characters */
    const char *reason;   /* close-order: "closed" or "cancelled" */
    const char *pay_type; /* reverse-unused: 1-4 characters */
    int older_than_days;  /* reverse-unused: 0 when not given */
    bool dry_run;         /* reverse-unused */
    const char *by;       /* who: default "paylinkctl" */
} pl_svcctl_opts;

/*
 * Parses `svc SUBCOMMAND OPTIONS` (argv[0] is "svc"); options as "--name value" or
 * "--name=value". Checks everything a run needs: the subcommand's required options, each value
 * (company 1-999; order 1-20 characters, no control character and no card number; reason closed
 * or cancelled; pay type 1-4 characters; days 0-PL_SVCCTL_MAX_DAYS; by 1-50 characters), no
 * option given twice or belonging to the other subcommand. Returns 0 with *o filled, or
 * PL_ERR_INVALID with the reason in errstr (which names options, never their values).
 */
int pl_svcctl_parse(int argc, char **argv, pl_svcctl_opts *o, char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

/* The pay type reverse-unused was given, as pay_type and its bureau have it (borrowed). */
typedef struct pl_svcctl_pay_type {
    bool found;           /* the company has a pay_type row of that code */
    const char *kind;     /* "CC" or "SVC" */
    const char *service;  /* the service bureau it is assigned to */
    const char *protocol; /* that bureau's: "CYB", "RLT", "EXT" */
    bool ext_configured;  /* EXT: the bureau has External Service Settings */
    bool ext_enabled;     /* EXT: their External Service flag is on */
    bool is_m25;          /* it is the company's M25 Default Auth Code for CC Netting */
} pl_svcctl_pay_type;

/*
 * The seed's REVXAHP conditions (the company is given: pl_svcctl_parse requires it): returns 0
 * when reverse-unused may list the authorizations of o->pay_type, else PL_ERR_INVALID with the
 * condition that failed in errstr, in the seed's order: not a pay type of the company, not a
 * stored value card pay type, not assigned to an EXT (or RLT) bureau, the EXT bureau without
 * External Service Settings or with its flag off, the M25 netting pay type. Fields other than
 * found are read only when found is true.
 */
int pl_svcctl_check_pay_type(const pl_svcctl_opts *o, const pl_svcctl_pay_type *p, char *errstr,
                             size_t errstr_size) PL_MUSTCHECK;

/*
 * The request id of the attempt-th (>= 1) void of the stored value authorization
 * auth_request_id that reverse-unused asks for: pl_job_derived_request_id with suffix "unused"
 * for the first attempt, "unused<attempt>" after that ("s-4.unused", "s-4.unused2"; a digest
 * form when it would exceed 50 characters). Deterministic. outsize >= 51.
 */
void pl_svcctl_void_id(const char *auth_request_id, int attempt, char *out, size_t outsize);

/* One authorization reverse-unused lists (the strings are borrowed). */
typedef struct pl_svcctl_unused {
    const char *auth_request_id;
    const char *reversal_request_id; /* pl_svcctl_void_id */
    int attempt;
    int company;
    const char *order;
    int pay_seq;
    const char *service;  /* service bureau */
    const char *pay_type; /* "" when none */
    const char *card_masked;
    const char *amount_authorized; /* decimal text */
    const char *amount_left;       /* decimal text: what the void releases */
    const char *currency;          /* "" when unknown */
    const char *order_status;      /* "closed" or "cancelled" */
    const char *closed_at;         /* RFC 3339 */
    const char *authorized_at;     /* RFC 3339 */
    const char *first_listed_at;   /* RFC 3339; NULL in a dry run */
    long times_listed;             /* 0 in a dry run */
} pl_svcctl_unused;

/*
 * The JSON line (no newline) of one listed authorization:
 *   {"auth_request_id", "reversal_request_id", "attempt", "company", "order", "pay_seq",
 *    "service", "pay_type", "card": {"masked"}, "amount_authorized", "amount_left", "currency",
 *    "order_status", "closed_at", "authorized_at", ["first_listed_at", "times_listed",]
 *    "topic": "<prefix>.reversal.request", "key": "<company>-<order>",
 *    "reversal": {"v": 1, "request_id", "type": "reversal", "company", "order", "pay_seq",
 *                 "service", ["pay_type",] "amount", ["currency",]
 *                 "auth_ref": {"request_id"}}}
 * "reversal" is the request to send, without the card: the order system adds
 * "svc": {"card_number"} (the card whose mask is card.masked) and publishes it on topic with
 * key. Sent without the card it is declined (the Void names the card) and the next run asks
 * for the next attempt. Returns a malloc'd string, or NULL when out of memory.
 */
char *pl_svcctl_unused_json(const pl_svcctl_unused *u, const char *prefix);

/*
 * Runs `svc`; argv[0] is "svc". conninfo may be NULL (then it fails saying so). Returns the
 * process exit status (0 done, 1 error).
 */
int pl_svcctl_main(int argc, char **argv, const char *conninfo, const char *prefix);

/*
 * Runs the parsed command o on db (pl_svcctl_main after connecting), printing as it does.
 * reverse-unused without --dry-run runs in a transaction of its own (BEGIN ... COMMIT), so db
 * must be outside one; a dry run writes nothing and may run inside the caller's. Returns the
 * process exit status (0 done, 1 error).
 */
int pl_svcctl_run(PGconn *db, const pl_svcctl_opts *o, const char *prefix);

#endif
