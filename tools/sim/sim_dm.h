/*
 * sim_dm.h: the simulated CyberSource Decision Manager on-demand Conversion Detail Report, the
 * report the seed's Decision Manager Update Process (CYBDMUP) fetches to learn what a reviewer
 * decided about each order the CyberSource endpoint answered REVIEW (480).
 *
 * Route: POST /ebctest/ConversionDetailReportRequest.do (the seed's test URL path) and
 * POST /ebc/ConversionDetailReportRequest.do (production's), a form body
 * (application/x-www-form-urlencoded, decoded by libcurl's curl_easy_unescape, '+' = space)
 * with merchantID, username, password, startDate (YYYY-MM-DD), startTime (HH:MM:SS), endDate,
 * endTime, all GMT (reference/bureau-wire-formats.md §1.11).
 *
 * Refusals are HTTP 200 text/plain, as the real service's (the first that applies):
 *   a body that is not a form               "Invalid request: the body must be
 *                                            application/x-www-form-urlencoded."
 *   username or password missing or wrong   "Invalid login credentials."  (the service's own)
 *   merchantID missing (or not UTF-8)       "No merchant found for username."  (the service's own)
 *   a date or time missing or malformed     "Invalid <field>: expected YYYY-MM-DD." /
 *                                           "Invalid <field>: expected HH:MM:SS."
 *   the end before the start                "Invalid report window: the end is before the start."
 * The password must be the configured one (--dm-password-file), or, with none configured,
 * anything non-empty but PL_SIM_DM_BAD_PASSWORD. Any non-empty username and merchantID.
 *
 * The report (HTTP 200, application/xml): the seed's document — XML declaration, DOCTYPE
 * Report SYSTEM ".../reports/dtd/cdr.dtd", the xml-stylesheet PI, Report (default namespace the
 * DTD's URL; MerchantID, Name "Conversion Detail Report", ReportStartDate and ReportEndDate
 * "YYYY-MM-DD HH:MM:SSGMT", Version "1.1") with one Conversion (MerchantReferenceNumber,
 * ConversionDate, RequestID) per REVIEW of that merchantID whose answer time lies in
 * [start, end], both ends inclusive, to the second. A Conversion holds, in this order,
 * OriginalDecision REVIEW, NewDecision (ACCEPT when the amount's cents are even, REJECT when
 * odd: CONTRACT.md §3), Reviewer, ReviewerComments, Notes/Note (Date, AddedBy, Comment "Took
 * ownership."), Queue, Profile. The conversion happens the moment the REVIEW is answered, so
 * ConversionDate and Note Date are that time. URLs are ebctest's on the test path and ebc's on
 * the production path. Reports are read-only: a REVIEW shows in every report whose window
 * covers it, until /__sim/reset.
 *
 * Faults (pl_sim_dm_set_fail, POST /__sim/dm/fail?mode=M): every report request from then on,
 * before anything is read, gets "500" HTTP 500 HTML, "garbage" HTTP 200 application/xml with
 * a report cut off in its root's start tag (not well-formed; short plain text would read as
 * the service's own refusal), "drop" the connection closed, "hold" the connection held
 * (--timeout-hold-ms) then closed; "none" (and /__sim/reset) ends it.
 *
 * Thread-safe: the fail mode is atomic, the password immutable, REVIEWs live in the ledger.
 */
#ifndef PL_SIM_DM_H
#define PL_SIM_DM_H

#include <stdbool.h>

#include "err.h"
#include "sim_ledger.h"
#include "sim_proto.h"

#define PL_SIM_DM_PATH "/ebctest/ConversionDetailReportRequest.do"
#define PL_SIM_DM_PROD_PATH "/ebc/ConversionDetailReportRequest.do"
/* The control routes: POST/GET .../fail, GET .../reviews (sim_server.h). */
#define PL_SIM_DM_CONTROL_PREFIX "/__sim/dm/"
/* The report password refused when none is configured (the CyberSource route's "bad-key"). */
#define PL_SIM_DM_BAD_PASSWORD "bad-password"
/* The real service's refusals (plain text, HTTP 200). */
#define PL_SIM_DM_E_LOGIN "Invalid login credentials."
#define PL_SIM_DM_E_MERCHANT "No merchant found for username."

typedef struct pl_sim_dm pl_sim_dm;

typedef struct pl_sim_dm_cfg {
    const char *password; /* NULL/"" → any non-empty password but PL_SIM_DM_BAD_PASSWORD */
} pl_sim_dm_cfg;

/* How report requests fail (pl_sim_dm_set_fail). */
typedef enum pl_sim_dm_fail {
    PL_SIM_DM_FAIL_NONE = 0,
    PL_SIM_DM_FAIL_500,     /* HTTP 500, HTML */
    PL_SIM_DM_FAIL_GARBAGE, /* HTTP 200, a report cut off: not well-formed XML */
    PL_SIM_DM_FAIL_DROP,    /* closed after the request was read */
    PL_SIM_DM_FAIL_HOLD,    /* held the hold time, then closed */
} pl_sim_dm_fail;

/* New state (copies the password), or NULL when out of memory. */
pl_sim_dm *pl_sim_dm_new(const pl_sim_dm_cfg *cfg);

/* Frees it, wiping the password. d may be NULL. */
void pl_sim_dm_destroy(pl_sim_dm *d);

/* POST /__sim/reset: no fail mode any more (the ledger forgets the REVIEWs itself). */
void pl_sim_dm_reset(pl_sim_dm *d);

/* Sets the fail mode by name: "none", "500", "garbage", "drop", "hold". 0 or PL_ERR_INVALID
 * (unknown or NULL name; the mode is unchanged). */
int pl_sim_dm_set_fail(pl_sim_dm *d, const char *mode) PL_MUSTCHECK;

/* The current fail mode, and its name ("none", "500", …; static). */
pl_sim_dm_fail pl_sim_dm_get_fail(pl_sim_dm *d);
const char *pl_sim_dm_fail_name(pl_sim_dm_fail mode);

/* True for PL_SIM_DM_PATH and PL_SIM_DM_PROD_PATH. */
bool pl_sim_dm_path_match(const char *path);

/*
 * The report user's password rule, which the Query (sim_query.h) shares with this report:
 * true when password is the configured one (--dm-password-file), or, with none configured
 * (configured NULL or ""), when it is anything non-empty but PL_SIM_DM_BAD_PASSWORD. An empty
 * password is always refused. Both strings are read only.
 */
bool pl_sim_dm_password_ok(const char *configured, const char *password);

/*
 * Handles one report request; req->state is the pl_sim_dm (required). Fills resp: the report,
 * a plain text refusal, or the fail mode's answer. Returns 0, PL_ERR_INVALID (no state) or
 * PL_ERR_NOMEM.
 */
int pl_sim_dm_handle(pl_sim_ledger *ledger, const pl_sim_http_req *req, pl_sim_response *resp);

/*
 * The control routes under PL_SIM_DM_CONTROL_PREFIX:
 *   POST fail?mode=M   sets the fail mode → 200 {"mode":"M"}; an unknown M → 400 (text)
 *   GET  fail          → 200 {"mode":"<current>"}
 *   GET  reviews       → 200 JSON array of the REVIEWs remembered, in answer order:
 *                        {"merchant_reference","request_id","merchant_id","amount":"480.00",
 *                         "new_decision":"ACCEPT"|"REJECT","conversion_date":"YYYY-MM-DD HH:MM:SS"}
 * another path 404, another method 405 (text). mode may be NULL. Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_dm_control(pl_sim_dm *d, pl_sim_ledger *ledger, const char *method, const char *path,
                      const char *mode, pl_sim_response *resp) PL_MUSTCHECK;

/* The route: POST either report path → pl_sim_dm_handle. */
extern const pl_sim_proto pl_sim_dm_proto;

#endif
