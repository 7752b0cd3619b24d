/*
 * deposits.h: `paylinkctl deposits`, the operator's deposit commands (seed "Retrieving
 * responses from Cybersource": the receive deposits option).
 *
 *   paylinkctl deposits receive [--request-id ID] [--by NAME]
 *   paylinkctl deposits confirm --request-id ID [--by NAME] [--note TEXT]
 *   paylinkctl deposits resubmit --request-id ID [--as NEW_ID] [--by NAME] [--note TEXT]
 *
 * receive: a thin trigger of the resolver (resolver.h), the one that settles unknown outcomes
 * everywhere: for every deposit whose outcome is unknown — its required response open or
 * escalated (only the one of --request-id when given), oldest first — pl_resolver_retry with a
 * step taken at once: the bureau is asked (CyberSource's On-Demand Single Transaction Query by
 * merchant reference code, the request_id) and what it says is applied exactly as the
 * worker applies an answer (status, deposit_status *RCVD, a cc_deposit_history row
 * 'received', the authorization's deposited amount through the claim triggers), the required
 * response resolved ('query') and the final reply ("resolved": true) published on
 * <prefix>.deposit.reply. A deposit the bureau has no record of stays open while the record
 * may still come (asked again later by paylink-deposit's resolver), and is settled `error`
 * (nothing was deposited) once the policy's not_found_after_s has passed; one that cannot be
 * asked (another protocol, no report user) or after the policy's last query is escalated to an
 * operator (`wreq resolve`). It never sends a deposit again. The resolver runs under the lease
 * owner "paylinkctl:<NAME>@<host>" (--by, default $USER) with the bureaus' CA bundle of
 * PAYLINK_CA_FILE; what the query settles it records as its own (resolved_how 'query',
 * resolved_by "paylink-deposit resolver"). Prints one line per
 * deposit ("<request_id>: resolved approved (query)", "<request_id>: still open: <last query
 * result>...", "<request_id>: escalated: ..."), then "N deposit(s) without an answer, S settled,
 * O still open, E escalated". Kafka is checked first (nothing is asked when the final replies
 * could not be published). Exit status 0 when every one was asked, 1 when one could not be (a
 * resolver holds it right now, the database failed) or on error.
 *
 * confirm and resubmit are the seed's answers to a rejected deposit ("manually confirm the
 * deposit or resubmit it if the decline is for a reason that may pass in subsequent
 * processing"), for a deposit whose final status is declined, rejected or error:
 * confirm: the operator confirms it was deposited outside paylink: deposit_status *CONF and a
 *   'confirmed' history row (with --by and --note). Nothing is sent. A confirmed capture counts
 *   as deposited on the authorization it claimed (at most what that had neither deposited nor
 *   claimed); a confirmed follow-on credit as credited on its debit (at most what that had
 *   captured and neither credited nor claimed for a credit in flight). A capture sent voiding the
 *   remainder (cc_deposit_trans.void_remainder: Void auth at deposit) voids what it left of an
 *   intact authorization, or defers that void while other deposits claim on it, as its
 *   approved answer would have: the same database functions as the settle trigger
 *   (paylink_settle_debit, paylink_debit_void_mode, migration 062); a line on stdout says so.
 *   Refused, nothing written (exit 1), while deposits in flight claim so much of the
 *   authorization that the capture does not fit beside them: counted for less, the rest would
 *   look capturable once they ended. When that authorization is no longer intact, or the
 *   capture is more than it had left uncaptured, the capture is recorded all the same (the
 *   bureau did capture; left rejected it could be resubmitted and collected again), the books
 *   kept consistent, and a warning on stderr says what happened and what to check, with exit
 *   status 1:
 *   - voided meanwhile (void_at_deposit, auth_capture, or a void deferred until the claims end):
 *     counted deposited, and its amount_voided shrinks to what is left uncaptured (the bureau
 *     released only that; else deposited + voided exceeded the authorized amount);
 *   - reversed: not counted on it (the bureau released all of it, and a captured authorization
 *     is never reversed: paylink does not send one, CyberSource refuses one with 238), its books
 *     left as the reversal left them;
 *   - another status than approved or review (rejected by Decision Manager): counted, warned;
 *   - intact, but the capture above what it had left uncaptured: that much counted, warned.
 *   Refused, nothing written (exit 1), while a reversal of that authorization is in flight
 *   (sent or unknown): it claims the whole authorization, the capture would count for nothing,
 *   and the reversal refused (238) would leave the authorization capturable whole again.
 *   A confirmed auth+capture (operation auth_capture: a new authorization and its capture, made
 *   in place of the authorization the debit named, cc_deposit_trans.auth_history_id) books on
 *   that authorization what its approved answer would have, by the same functions: voided
 *   (void_reason auth_capture, by the deposit), or the void deferred while other deposits claim
 *   on it; and, with nothing of it captured, on a service bureau with Send reversal, its
 *   reversal `<ID>.vdr` owed for what was voided (replaced_auth_reversal, as paylink-deposit's
 *   store owes it, 059; for a deferred void, 057's trigger when the claims end, 063), which
 *   paylink-deposit's resolver publishes. A line on stdout says what was voided and owed. Nothing
 *   is booked for a manual authorization (no auth_history row). Voided or reversed meanwhile:
 *   left as it is, and a warning on stderr says what to check (whoever voided or reversed it may
 *   have collected the order too), exit 1; refused, nothing written (exit 1), while a reversal
 *   of it is in flight: its outcome decides what is left to void.
 *   A follow-on credit is held to its debit as a capture to its authorization: refused, nothing
 *   written (exit 1), while other credits of that debit in flight (sent, unknown) claim so much
 *   of it that the credit does not fit beside them (counted for less, the rest would look
 *   refundable once they ended, and the next credit would refund it again), and while the
 *   debit itself has no outcome yet (received, sent, unknown: it may have captured, and counted
 *   for nothing now, the credit would leave all of it refundable once the debit is resolved
 *   approved); recorded for what the debit had left, with a warning on stderr and exit 1, when
 *   it is more than that (the bureau refunded more than paylink's books let it) or the debit
 *   ended not approved (a debit confirmed by hand keeps its refused status and nothing
 *   deposited: nothing is counted).
 * resubmit: the deposit is sent again as a NEW request (--as, default <ID>.r<n>) on
 *   <prefix>.deposit.request, rebuilt from the stored row (references, amount, currency, pay
 *   type, token: never a card number, which is not stored — a stand-alone credit on a card
 *   number cannot be resubmitted, upstream must send it again); deposit_status *RESB and a
 *   'resubmitted' history row naming the new request_id, committed only once the message is on
 *   the topic. The old row stays final: the new request has its own idempotency key and
 *   outcome. The request's `entity` is not stored, only the merchant ID it chose
 *   (cc_deposit_trans.merchant_id): the resubmission names an entity whose merchant ID
 *   override names that merchant ID, when one does, so that it goes under the merchant ID the
 *   deposit went under. One the worker sends under the merchant ID hierarchy (a stand-alone
 *   credit, an auth+capture on a token of its own; the others go under the merchant ID of the
 *   authorization or debit they name) is refused, nothing written (exit 1), when the
 *   configuration no longer leads it there (the override, pay type or bureau merchant ID
 *   changed since), or, never sent, when its company has merchant ID overrides at that bureau
 *   (the entity it named is not known): money refunded from, or charged into, another merchant
 *   account than the original's.
 */
#ifndef PL_DEPOSITS_H
#define PL_DEPOSITS_H

#include <libpq-fe.h>

/* Runs `deposits`; argv[0] is "deposits". Returns the process exit status. */
int pl_deposits_main(int argc, char **argv, const char *conninfo, const char *brokers,
                     const char *prefix);

/*
 * The request `deposits resubmit` publishes for the deposit rid under the new request_id
 * new_id: its row read and locked on db (FOR UPDATE: in the caller's transaction, if any) and
 * rebuilt as above. Returns the JSON text (malloc'd; the caller frees it), or NULL with the
 * reason on stderr: rid is no rejected deposit open to resubmit, it cannot be rebuilt (a card
 * number or manual authorization not stored), it would go under another merchant ID, or the
 * database failed (or out of memory).
 */
char *pl_deposits_resubmission(PGconn *db, const char *rid, const char *new_id);

#endif
