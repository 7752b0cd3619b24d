/*
 * ext_rules.h: how an External Payment Service answer's refusal becomes a reply (seed
 * external-payment-service.txt, "Response codes"), the same for credit cards (the engine's
 * pl_job_map_answer) and stored value cards (pl_stored_value_map_answer).
 *
 * Pure function; any thread.
 */
#ifndef PL_EXT_RULES_H
#define PL_EXT_RULES_H

#include <stdbool.h>

#include "bureau.h"
#include "reply.h"
#include "services.h"

/*
 * When svc is an EXT bureau and res says REJECT or ERROR: fills rep as `declined` — hold AT
 * when the reasonCode is not defined in vendor_response for the bureau (s), is defined with a
 * hold code, or is absent (then vendor_response SU); no hold when it is defined without one;
 * message the Siebel message of the reason when it has one, else the bureau's text — and
 * returns true. Otherwise returns false and touches nothing. s may be NULL (nothing defined).
 */
bool pl_ext_refusal(const pl_services *s, const pl_service *svc, const pl_bureau_result *res,
                    pl_reply *rep);

#endif
