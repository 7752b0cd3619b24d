/*
 * services.h: the service bureau configuration (auth_service and its cross-reference tables)
 * as an immutable in-memory snapshot, loaded at start-up and re-loaded every refresh interval.
 *
 * A snapshot is read-only once loaded, so a refresh builds a new one and swaps it in: a request
 * in flight keeps the settings it started with (the engine holds a reference). Secrets named
 * by auth_service.secret_ref (for an EXT bureau: external_service.auth_password_ref) are
 * resolved at load time and wiped when the snapshot is freed.
 * Loading is synchronous (small tables) and reads every table in one transaction (one
 * snapshot); one thread per connection. A holder that uses the bureaus' secrets (a worker's
 * engine, its resolver) passes each snapshot it loads through pl_services_carry, with the one it
 * replaces, before using it. paylink-dmupdate does not: it reads merchant IDs here, never a
 * secret (its report password is dm_settings.password_ref, read at each report call).
 */
#ifndef PL_SERVICES_H
#define PL_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct pl_service {
    char code[9];
    char protocol[4];
    char description[61];
    char merchant_id[31];
    char url[301]; /* test_url or production_url per send_to_production */
    char api_version[11];
    int response_time_ms;
    int response_check_frequency;
    int connect_attempts;
    bool request_token, decision_manager, send_reversal, void_auth_at_deposit;
    int max_concurrent;
    int connection_idle_s; /* a connection idle longer is not reused (037) */
    char proxy[320];       /* "host:port" or "" (pl_services_choose_proxy) */
    bool message_log_enabled;
    char message_log_dir[301];
    char fraud_cancel_reason[6];
    char secret[256]; /* resolved; wiped on free */
    bool secret_ok;   /* false when secret_ref could not be resolved (calls are refused) */
    /* Why the bureau is unusable (secret_ok false); with secret_unread and secret_ok, why the
     * reference could not be read when pl_services_carry kept the secret read before. Names
     * the reference, never the secret. */
    char secret_error[200];
    char secret_ref[201]; /* where secret is read from (an EXT bureau: auth_password_ref) */
    bool secret_unread;   /* secret_ref could not be read at this load (secret_error says why) */
    /* Customer Engagement (RLT) setup of seed customer-engagement-stored-value-card.txt
     * (013_stored_value.sql); blank / false for other bureaus. */
    char card_prefix[21];       /* Presenter's ID → CardPrefix of GenerateCard */
    char card_series[21];       /* Submitter's ID → CardSeriesSequence of GenerateCard */
    char location_id[21];       /* Signon → LocationID */
    char ws_user[61];           /* web service user (its password is secret); "" → none */
    bool balance_inquiry_batch; /* J19: a batch authorization asks for the balance first */
    /* External Payment Service (EXT) settings of the seed's "External Service Settings"
     * (016_external_service.sql); blank / false for other bureaus. For an EXT bureau `url` is
     * the External URL Prefix and `secret` the Authentication Password (resolved from
     * external_service.auth_password_ref; auth_service.secret_ref is not used). An EXT bureau
     * is unusable (secret_ok false, secret "", secret_error says why) when it has no
     * external_service row, the External Service flag is off, the prefix or the token URL does
     * not begin with https://, the message version is not 3.0, the user is blank, the password
     * cannot be resolved, or it fails pl_services_ext_password_ok. */
    bool ext_enabled;                /* "External Service" flag */
    char ext_message_version[8];     /* "3.0" */
    char ext_auth_user[61];          /* Authentication User: the OAuth client id */
    char ext_token_url[301];         /* the OAuth 2 token endpoint (https) */
    bool supports_auth_resubmission; /* WASV "Supports Auth Resubmission" */
} pl_service;

typedef struct pl_vendor_response {
    char service[9];
    char code[11];
    char description[121];
    bool approved;
    char hold_reason[3];
    bool deactivate_payment;
    char kind[7]; /* reason, avs or cvv (011_avs_cvv_holds.sql) */
    /* Customer Engagement mapping (013_stored_value.sql); "" = none. */
    char relate_response[41]; /* the seed's "Relate response": an ErrorCode */
    char orce_code[11];       /* the seed's "ORCE response": a reason code */
} pl_vendor_response;

typedef struct pl_services pl_services;

/*
 * Loads a snapshot through an open connection (blocking). On a connection with no transaction
 * open, every table is read in one REPEATABLE READ READ ONLY transaction, so that a change
 * committed during the load is seen whole or not at all, and the connection is left with no
 * transaction open also when the load fails (it was rolled back). In a transaction the caller
 * has open (a test reading rows of its own), it reads there and leaves it open: the caller's
 * isolation level decides what it sees. Returns NULL with errstr set (also when
 * PAYLINK_PROXY_HOST / PAYLINK_PROXY_PORT are malformed: config.h); the caller keeps the
 * snapshot it has. Logs nothing: pl_services_carry says what a worker should know.
 */
pl_services *pl_services_load(void *pgconn, char *errstr, size_t errstr_size);
/* Same, connecting with conninfo for the duration of the load. */
pl_services *pl_services_load_conninfo(const char *conninfo, char *errstr, size_t errstr_size);

/*
 * The proxy of one service bureau (the seed's PROXY_HOST / PROXY_PORT): its own
 * auth_service.proxy_host (":" proxy_port appended when set) when the host is not blank, else
 * fallback, the process-wide proxy (pl_config_proxy_from_env: "host:port", or "" for direct).
 * Writes "host[:port]" or "" to out. host, port and fallback may be NULL.
 */
void pl_services_choose_proxy(const char *host, const char *port, const char *fallback, char *out,
                              size_t outsize);

/*
 * The seed's rule for the External Payment Service's Authentication Password: "Must be at
 * least 6 positions long, include both numbers and letters, include a special character, and
 * cannot end with a number". Letters and digits are ASCII; a special character is any other
 * (a space, punctuation, a non-ASCII character); length counts characters (UTF-8). Returns
 * true when pw follows it; otherwise false with every rule it breaks in why ("shorter than 6
 * characters, ends in a digit"), which never contains the password or any part of it. pw may
 * be NULL (refused: "no password"); why may be NULL. Used by the snapshot load and by
 * paylinkctl bureau set.
 */
bool pl_services_ext_password_ok(const char *pw, char *why, size_t why_size);

/*
 * A snapshot of just these bureau rows (copied; no vendor responses, currencies or pay types),
 * as a refresh would have loaded them: for tests of what holds a snapshot. NULL out of memory.
 */
pl_services *pl_services_of(const pl_service *rows, size_t n);

/*
 * Adds to s (from pl_services_of) a merchant ID override, as merchant_id_override's row (company,
 * entity, service, merchant_id) would have it loaded: for tests of what the merchant ID
 * hierarchy leads to. 0, or PL_ERR_NOMEM (s unchanged).
 */
int pl_services_add_override(pl_services *s, int company, const char *entity, const char *service,
                             const char *merchant_id) PL_MUSTCHECK;

/*
 * Carries into now, a snapshot just loaded that nobody else holds yet, what it must not lose
 * of was, the snapshot it replaces (NULL at start-up), and says at WARN what an operator must
 * know (the bureau's code and secret_error, never a secret):
 *  - a bureau whose secret reference (secret_ref) is the same as in was, could be read then
 *    and cannot be read now (a file missing on this host, or left readable by others) keeps
 *    the secret of was: secret_ok true, secret_unread still set, secret_error says why; said
 *    once per error, and at info when the reference can be read again;
 *  - a bureau that is unusable in now (secret_ok false: its reference changed and cannot be
 *    read, or its settings break a rule) is said at start-up, and after when it becomes
 *    unusable or its secret_error changes — not at every refresh while it stays so.
 * Each line is said once per process: a worker's engine and its resolver hold settings of their
 * own and carry them apart, and a line that is the last one this process said of the bureau
 * (the same kind, the same secret_error) is not said again by the other; one that differs (the
 * other read it again first, or found another reason) is. A holder that finds a bureau usable
 * notes it so for the process, whatever it held before (the next time it is unusable is news,
 * whichever holder finds it), and one that finds a bureau removed (in was, not in now) forgets
 * what the process said of it (added again, it is said as new). At start-up (was NULL) the lines
 * are always said (a test of the lines uses a bureau code of its own, or starts with a start-up).
 * Thread-safe (the engine's loop and the resolver's thread call it).
 * Called at start-up (was NULL) and on each refresh, before the snapshot is used, by the
 * thread that holds was; now may be NULL (nothing is done).
 */
void pl_services_carry(pl_services *now, const pl_services *was);

/* Reference counting: a snapshot lives while someone holds it. new → 1 reference. */
pl_services *pl_services_ref(pl_services *s);
void pl_services_unref(pl_services *s);

const pl_service *pl_services_find(const pl_services *s, const char *code);
/*
 * Which settings of one service bureau differ between two snapshots' rows a and b (the
 * configuration a worker holds and a refresh's), by column name in the row's order —
 * "url, response_time_ms" — into out (truncated to fit, always terminated), for an operator's
 * log line: a secret that changed is named ("secret"), never shown, nor how; so is a changed
 * reference ("secret_ref", also when the secret read through it is the same). Returns how many
 * differ (0: out ""). a and b are one bureau's rows; their codes are not compared.
 */
int pl_services_diff(const pl_service *a, const pl_service *b, char *out, size_t outsize);
/* Number of service bureaus. */
size_t pl_services_count(const pl_services *s);
const pl_service *pl_services_at(const pl_services *s, size_t i);

/* The row of a reason code (kind "reason"); NULL when none. */
const pl_vendor_response *pl_services_vendor_response(const pl_services *s, const char *service,
                                                      const char *code);
/* The row of a code of the given kind: "reason", "avs" or "cvv"; NULL when none. */
const pl_vendor_response *pl_services_vendor_response_kind(const pl_services *s,
                                                           const char *service, const char *kind,
                                                           const char *code);
/*
 * The row a Customer Engagement answer maps to, by the seed's rule: "if an error code is
 * returned, OMS maps this code to the Relate response field in Defining Vendor Response Codes;
 * otherwise, OMS maps the reason code to the ORCE response field". A non-empty error_code is
 * looked up by relate_response only (no fall-back to the reason code); otherwise a non-empty
 * reason_code by orce_code. Only rows of kind "reason" are considered. NULL when no row
 * matches, or when both codes are NULL or "" (a blank column never matches). error_code and
 * reason_code may be NULL.
 */
const pl_vendor_response *pl_services_vendor_response_svc(const pl_services *s, const char *service,
                                                          const char *error_code,
                                                          const char *reason_code);
/* Bureau code for an ISO currency / country (the ISO code itself when there is no row, or s is
 * NULL). */
const char *pl_services_currency(const pl_services *s, const char *service, const char *iso);
const char *pl_services_country(const pl_services *s, const char *service, const char *iso);
/* vendor_paytype row fields for (service, pay type); NULL / -1 when no row. */
const char *pl_services_vendor_paytype(const pl_services *s, const char *service,
                                       const char *pay_type);
int pl_services_reauth_days(const pl_services *s, const char *service, const char *pay_type);

/*
 * WPAY "Notify of installments" of the company's pay type (pay_type.notify_installments): a
 * subsequent authorization of an installment order is sent with subsequentAuthReason
 * INSTALLMENT rather than REAUTH. false when the pay type has no row, or s or pay_type is NULL
 * or "".
 */
bool pl_services_notify_installments(const pl_services *s, int company, const char *pay_type);

/*
 * The merchant ID hierarchy (seed): pay type cross-reference → merchant ID override for the
 * company entity → the service bureau's merchant ID. pay_type and entity may be NULL or "";
 * s may be NULL (no snapshot: the service bureau's merchant ID, as in the specs' unit tests).
 */
const char *pl_services_merchant_id(const pl_services *s, const pl_service *svc, int company,
                                    const char *entity, const char *pay_type);

/*
 * Whether merchant_id is one of bureau svc's merchant IDs in s: the service bureau's own, a pay
 * type's (vendor_paytype) or a company entity's (merchant_id_override) at that bureau, for any
 * company, entity or pay type — a merchant ID the hierarchy can lead to at svc. s may be NULL
 * (the service bureau's merchant ID only). false for a NULL or "" merchant_id.
 */
bool pl_services_has_merchant_id(const pl_services *s, const pl_service *svc,
                                 const char *merchant_id);

#endif
