/*
 * deposits.h: `paylinkctl deposits`, the operator's deposit commands (seed "Retrieving
 * responses from Cybersource": the receive deposits option).
 *
 *   paylinkctl deposits receive [--request-id ID] [--by NAME]
 *   paylinkctl deposits confirm --request-id ID [--by NAME] [--note TEXT]
 *   paylinkctl deposits resubmit --request-id ID [--as NEW_ID] [--by NAME] [--note TEXT]
 *
 * receive: for every deposit whose outcome is unknown (cc_deposit_trans status 'unknown', an
 * open required response) asks the bureau what became of it, by merchant reference code (the
 * request_id), and settles it: the final status, amount and transaction id go into the row
 * (deposit_status *RCVD) and its stored reply, a cc_deposit_history row 'received' is added,
 * the authorization it captured is updated in auth_history (amount deposited; the unused part
 * voided with Void auth at deposit) and the required response is resolved; the settled reply is
 * published on <prefix>.deposit.reply (in the same database transaction's lifetime: a failed
 * publish leaves the deposit open). It never sends the deposit again. A deposit the bureau has no
 * record of stays open (nothing was charged). The query goes to <origin of the service bureau's
 * URL>/__sim/query?ref=<request_id> (the bureau simulator; against real CyberSource this is where
 * its transaction query would be called), trusting PAYLINK_CA_FILE (else PAYLINK_SIM_CA) when set.
 * Prints one line per deposit; exit status 0 when every one found was settled, 1 on error.
 *
 * confirm and resubmit are the seed's answers to a rejected deposit ("manually confirm the
 * deposit or resubmit it if the decline is for a reason that may pass in subsequent
 * processing"), for a deposit whose final status is declined, rejected or error:
 * confirm: the operator confirms it was deposited outside paylink: deposit_status *CONF and a
 *   'confirmed' history row (with --by and --note). Nothing is sent.
 * resubmit: the deposit is sent again as a NEW request (--as, default <ID>.r<n>) on
 *   <prefix>.deposit.request, rebuilt from the stored row (references, amount, token: never a
 *   card number, which is not stored — a stand-alone credit on a card number cannot be
 *   resubmitted, upstream must send it again); deposit_status *RESB and a 'resubmitted' history
 *   row naming the new request_id, committed only once the message is on the topic. The old
 *   row stays final: the new request has its own idempotency key and outcome.
 */
#ifndef PL_DEPOSITS_H
#define PL_DEPOSITS_H

/* Runs `deposits`; argv[0] is "deposits". Returns the process exit status. */
int pl_deposits_main(int argc, char **argv, const char *conninfo, const char *brokers,
                     const char *prefix);

#endif
