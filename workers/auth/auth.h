/*
 * auth.h: the spec of paylink-auth: credit card authorizations and tokens (CONTRACT.md types
 * `auth` and `token`), recorded in cc_auth_trans and auth_history.
 *
 * Business rules (seed cybersource-point-to-point.txt, DESIGN.md "Business rules"):
 *   - a `token` request creates a bureau token; an `auth` with a card number becomes token+auth
 *     in one request when the service bureau has Request token, else a plain auth;
 *   - Decision Manager fields go only with online authorizations when it is enabled;
 *   - ACCEPT → approved (110: partial approval for a smaller amount); REVIEW 480 → review with
 *     the FS hold; REJECT 481 → rejected, payment deactivated, and a reversal request when Send
 *     reversal is set (when its ccAuthReply says the issuer approved it); 400 → rejected; a
 *     110 without an amount approved below the amount sent is unreadable (the adapter's
 *     refusal: the outcome is unknown, for the resolver); other REJECTs → declined with
 *     the vendor_response hold; ERROR / SOAP fault → error; a rejected, declined or error one
 *     (an ERROR 150) whose ccAuthReply says 100 (or 110, for the part it approved) was
 *     authorized by the issuer: reversed the same way, for ccAuthReply's amount, and its
 *     auth_history row records issuer_authorized (060, 064) so that paylink-reversal takes the
 *     reversal of a declined or error one;
 *     unknown codes fall back on decision;
 *   - merchant ID hierarchy, currency and country cross-references from the configuration.
 */
#ifndef PL_AUTH_H
#define PL_AUTH_H

#include "engine.h"

extern const pl_spec pl_auth_spec;

/* The id of the reversal request published for a rejected authorization (deterministic, so a
 * republish after a crash is de-duplicated by the reversal worker). out: at least 51 bytes. */
void pl_auth_reversal_request_id(const char *request_id, char *out, size_t outsize);

/*
 * Whether paylink-auth's follow-up of the answer reply (the reply as rendered: status,
 * vendor_response, auth.transaction_id) of job is the reversal <request_id>.rev of what the
 * issuer holds: a CyberSource `auth` on a service bureau with Send reversal, refused while the
 * issuer holds its amount (pl_cybersource_answer_held with job->res's ccAuthReply reasonCode: a
 * Decision Manager 481 whose ccAuthReply says 100 or 110, a soft decline the ccAuthReply does not
 * say the issuer declined, any `rejected`, `declined` or `error` one whose ccAuthReply says 100 or
 * 110; never when job->res holds no answer, which then says nothing of a hold), with a
 * transaction id to reverse. The follow-up is then
 * published when something is held (pl_job_held_amount: the answer's amount, ccAuthReply's,
 * which for a 110 is the part the issuer approved; the request's when the answer gives none).
 */
bool pl_auth_reverses(const pl_job *job, json_object *reply);

#endif
