/*
 * bureauctl.h: `paylinkctl bureau`, the one supported way to read and change a service bureau's
 * settings (auth_service, WASV) and its External Service Settings (external_service, seed
 * external-payment-service.txt), with every change audited.
 *
 *   paylinkctl bureau show CODE
 *   paylinkctl bureau set CODE --by NAME FIELD=VALUE [FIELD=VALUE ...]
 *   paylinkctl bureau audit [CODE] [--limit N]
 *
 * show: the bureau's settings as FIELD=VALUE lines, the names `set` takes (external_service
 * settings as ext.FIELD). Secrets appear only as their references (secret_ref,
 * ext.auth_password_ref); no value of a secret is ever read by show.
 *
 * set: changes the named fields, a whitelist (pl_bureau_field_find): the auth_service columns an
 * operator sets (not service_bureau, protocol, updated_at) and ext.enabled, ext.url_prefix,
 * ext.message_version, ext.auth_user, ext.auth_password_ref, ext.token_url. Every value is
 * checked before anything is written (pl_bureau_check_value): booleans are exactly true or
 * false, integers digits within the column's range, URLs of the External Payment Service
 * (ext.url_prefix, ext.token_url; also test_url and production_url when not blank) begin with
 * https://, ext.message_version is 3.0, and ext.auth_password_ref is resolved here (config.h)
 * and its password must follow the seed's rule (pl_services_ext_password_ok); the password is
 * never printed. ext.* fields are only for a bureau of protocol EXT; a bureau without External
 * Service Settings gets them when ext.url_prefix, ext.auth_user, ext.auth_password_ref and
 * ext.token_url are given together. The change is written in one transaction that names NAME
 * as paylink.changed_by (set_config(..., true)), so the audit triggers of migration 016 record
 * who changed what, one auth_service_audit row per changed column. Prints one line per changed
 * setting (SETTING: OLD -> NEW).
 *
 * audit: the changes (view auth_service_changes), newest first, of one bureau or all; at most N
 * (default 50).
 *
 * Exit status: 0 done; 1 error (no database, a database failure: nothing written); 2 refused:
 * the command line, a field or a value was not accepted, or the database refused the values
 * (a constraint): nothing written, nothing audited.
 *
 * Memory: pl_bureau_opts points into argv except the checked values, which it holds. Strings
 * returned are malloc'd; the caller frees them. Single-threaded (a CLI).
 */
#ifndef PL_BUREAU_CTL_H
#define PL_BUREAU_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Exit statuses of pl_bureau_main. */
enum { PL_BUREAU_EXIT_DONE = 0, PL_BUREAU_EXIT_ERROR = 1, PL_BUREAU_EXIT_REFUSED = 2 };

/* What a field holds, which decides how its value is checked. */
typedef enum pl_bureau_kind {
    PL_BUREAU_TEXT,         /* text of at most max characters (at least min), no control char */
    PL_BUREAU_BOOL,         /* true | false */
    PL_BUREAU_INT,          /* digits, min..max */
    PL_BUREAU_PORT,         /* digits 1..65535, or blank (NULL: none) */
    PL_BUREAU_URL,          /* blank, or an https:// URL */
    PL_BUREAU_HTTPS,        /* an https:// URL (required) */
    PL_BUREAU_SECRET_REF,   /* blank, or env:NAME | file:/path | file-env:NAME */
    PL_BUREAU_PASSWORD_REF, /* a reference whose password follows the seed's rule */
    PL_BUREAU_VERSION,      /* the EXT message version: 3.0 */
} pl_bureau_kind;

/* Extra character rules of a TEXT field. */
enum {
    PL_BUREAU_NO_COLON = 1, /* an HTTP Basic user (RFC 7617) */
    PL_BUREAU_ALNUM = 2,    /* letters and digits only */
    PL_BUREAU_NO_SPACE = 4, /* a host name */
    PL_BUREAU_DOTTED = 8,   /* digits.digits (an API version) */
    PL_BUREAU_HOST = 16,    /* a proxy host (pl_config_proxy_host_ok) */
    PL_BUREAU_PROSE = 32,   /* free text: no card number (identifiers may look like one) */
};

typedef struct pl_bureau_field {
    const char *name;   /* as set and show name it: "send_reversal", "ext.url_prefix" */
    const char *column; /* the column of its table */
    bool ext;           /* external_service (true) or auth_service */
    pl_bureau_kind kind;
    long min, max; /* INT: the range; TEXT: the length in bytes */
    int rules;     /* TEXT: PL_BUREAU_NO_COLON | ... */
} pl_bureau_field;

/* The whitelist, in the order show prints it. */
size_t pl_bureau_field_count(void);
const pl_bureau_field *pl_bureau_field_at(size_t i);
/* The field called name, or NULL when it is not one set may change. */
const pl_bureau_field *pl_bureau_field_find(const char *name);

/* true for an https:// URL with a host, no space or control character, at most 300 bytes. */
bool pl_bureau_is_https(const char *url);

/* Strict parsers: "true"/"false" only; digits only (no sign, no space), min..max, as
 * pl_ctldb_parse_range (ctldb.h). */
bool pl_bureau_parse_bool(const char *s, bool *out);
bool pl_bureau_parse_int(const char *s, long min, long max, long *out);

/*
 * Resolves the secret reference ref (pl_secret_resolve) and checks its password with
 * pl_services_ext_password_ok. Returns 0; PL_ERR_CONFIG when it cannot be resolved;
 * PL_ERR_INVALID when the password breaks the rule. errstr names the reference and the rules
 * broken, never the password, which is wiped from memory before returning.
 */
int pl_bureau_check_password_ref(const char *ref, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* Longest value set accepts (the longest column: 300). */
#define PL_BUREAU_VALUE_MAX 300

/*
 * Checks value for field f and writes its canonical text to out (outsize >
 * PL_BUREAU_VALUE_MAX): booleans "true"/"false", integers without leading zeros, other values
 * as given; *is_null is set for a blank PORT (the column becomes NULL). Returns 0, or
 * PL_ERR_INVALID with errstr naming the field and what it expects (it quotes no value of a
 * secret reference's password; a URL is not echoed).
 */
int pl_bureau_check_value(const pl_bureau_field *f, const char *value, char *out, size_t outsize,
                          bool *is_null, char *errstr, size_t errstr_size) PL_MUSTCHECK;

typedef enum pl_bureau_cmd {
    PL_BUREAU_SHOW = 1,
    PL_BUREAU_SET = 2,
    PL_BUREAU_AUDIT = 3,
} pl_bureau_cmd;

typedef struct pl_bureau_change {
    const pl_bureau_field *field;
    char value[PL_BUREAU_VALUE_MAX + 1]; /* canonical (pl_bureau_check_value) */
    bool is_null;
} pl_bureau_change;

#define PL_BUREAU_MAX_CHANGES 40
#define PL_BUREAU_DEFAULT_LIMIT 50
#define PL_BUREAU_MAX_LIMIT 100000

typedef struct pl_bureau_opts {
    pl_bureau_cmd cmd;
    const char *code; /* show, set: required; audit: NULL = every bureau */
    const char *by;   /* set: required, 1-100 characters */
    long limit;       /* audit */
    pl_bureau_change changes[PL_BUREAU_MAX_CHANGES];
    size_t nchanges;
} pl_bureau_opts;

/*
 * Parses `bureau SUBCOMMAND ...` (argv[0] is "bureau"): the bureau code (1-8 characters, no
 * space or control character), --by NAME / --by=NAME, --limit N, and FIELD=VALUE assignments,
 * each checked with pl_bureau_check_value (a field given twice is refused). Does not resolve
 * ext.auth_password_ref (pl_bureau_check_password_ref does; pl_bureau_main calls it).
 * Returns 0 with *o filled, or PL_ERR_INVALID with the reason in errstr.
 */
int pl_bureau_parse(int argc, char **argv, pl_bureau_opts *o, char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

/*
 * The JSON object of the changes to one table (ext: external_service, else auth_service),
 * keyed by column with typed values (booleans, numbers, strings, null), as the set statements
 * read it with jsonb_populate_record. Returns a malloc'd string ("{}" when there is none for
 * that table), or NULL when out of memory.
 */
char *pl_bureau_changes_json(const pl_bureau_opts *o, bool ext);

/*
 * Runs `bureau`; argv[0] is "bureau". conninfo may be NULL (then it fails saying so). Returns
 * the process exit status (PL_BUREAU_EXIT_*).
 */
int pl_bureau_main(int argc, char **argv, const char *conninfo);

#endif
