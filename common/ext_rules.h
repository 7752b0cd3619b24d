/*
 * ext_rules.h: the External Payment Service's rules that more than one worker applies (seed
 * external-payment-service.txt): how an answer's refusal becomes a reply ("Response codes"), the
 * same for credit cards (the engine's pl_job_map_answer) and stored value cards
 * (pl_stored_value_map_answer); and what an authorization says about who initiated it
 * ("Subsequent Authorization Requests"), the same for paylink-auth's authorizations and
 * paylink-deposit's auth+captures.
 *
 * Pure functions; any thread.
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

/*
 * What an External Payment Service authorization says about who initiated it (seed
 * "Subsequent Authorization Requests"). Without r->subsequent_auth and without mit_reason:
 * initiator CARDHOLDER and no reason (a cardholder-initiated transaction, stored as the CIT when
 * approved). With either: initiator MERCHANT (a subsequent authorization is merchant-initiated,
 * whatever the request's initiator says), for the request's reason, else mit_reason (what the
 * caller knows of an authorization the system makes on its own: paylink-deposit's auth+capture
 * of an expired authorization is REAUTH, of an installment INSTALLMENT); RESUBMIT only when the
 * bureau supports auth resubmission, INSTALLMENT only when the pay type notifies of
 * installments, else REAUTH (also for no reason); transaction = the request's
 * subsequent_auth.transaction_id, else cit_transaction (the stored CIT of the order payment
 * method when it is of the request's card, pl_ext_cit_of_card; NULL when none), else "";
 * *original = cit_amount when a CIT was found, else -1.
 */
void pl_ext_subsequent(const pl_request *r, const char *mit_reason, bool supports_resubmission,
                       bool notify_installments, const char *cit_transaction, int64_t cit_amount,
                       char *initiator, size_t isize, char *reason, size_t rsize, char *transaction,
                       size_t tsize, int64_t *original);

/*
 * Whether the stored CIT (card_cit) whose authorization recorded the card cit_hash (its
 * cc_auth_trans.card_hash, "" or NULL when that request carried a token) and cit_token (the
 * token it went with, "" or NULL when none is known) is of the card a merchant-initiated
 * authorization goes with: card_hash, the request's card number's HMAC under the key cit_hash
 * was made with (pl_job_card_hash_for: the current key's, or an earlier one's after a rotation;
 * "" or NULL for a request with a token), or card_token, the token the call sends ("" or NULL
 * when it sends a number's, which getToken makes later). True only when both sides name the card
 * the same way and agree: two hashes equal, or two tokens equal (a token names one card).
 * Nothing to compare (a request by number beside a CIT recorded by token alone, say) is false:
 * a CIT is never named for a card it cannot be shown to be of (seed "Subsequent Authorization
 * Requests": the CIT of the credentials on file the authorization uses).
 */
bool pl_ext_cit_of_card(const char *cit_hash, const char *cit_token, const char *card_hash,
                        const char *card_token);

#endif
