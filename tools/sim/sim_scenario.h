/*
 * sim_scenario.h: the deterministic outcomes of CONTRACT.md §3, chosen by the amount.
 *
 * The whole-unit part of the amount picks the scenario (120.00 → 120, 204.99 → 204); any
 * amount not in the table is approved in full. The same table serves every protocol: the
 * transport faults (901–904) and the bureau error (150) apply to any request of any bureau,
 * the decline and fraud codes are CyberSource's. The AVS and CVN rules live here too, so the
 * tests and the protocol handlers share one definition. Pure functions; any thread.
 */
#ifndef PL_SIM_SCENARIO_H
#define PL_SIM_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_proto.h"

typedef enum pl_sim_scenario {
    PL_SIM_SC_APPROVE = 0, /* approved in full, reason 100 */
    PL_SIM_SC_PARTIAL,     /* 110.xx: half the amount approved, reason 110 */
    PL_SIM_SC_ERROR,       /* 150.xx: decision ERROR, reason 150 */
    PL_SIM_SC_DECLINE,     /* 202/203/204/205/211/231.xx: REJECT with that reason */
    PL_SIM_SC_FRAUD_SCORE, /* 400.xx: REJECT 400, fraud score over the threshold */
    PL_SIM_SC_REVIEW,      /* 480.xx: REVIEW 480 when Decision Manager is enabled */
    PL_SIM_SC_DM_REJECT,   /* 481.xx: REJECT 481 when Decision Manager is enabled */
    PL_SIM_SC_TIMEOUT,     /* 901.xx: no answer; the connection is held, then dropped */
    PL_SIM_SC_HTTP_500,    /* 902.xx: HTTP 500 with an HTML body */
    PL_SIM_SC_NOT_XML,     /* 903.xx: HTTP 200 with a body that is neither XML nor JSON */
    PL_SIM_SC_DROP,        /* 904.xx: the request is read, then the connection is closed */
} pl_sim_scenario;

/*
 * The scenario for an amount in minor units (negative amounts are approved: the caller
 * rejects them as invalid before). *reason_code, when not NULL, receives the CyberSource
 * reason code the scenario answers with (100, 110, 150, 202, …, 400, 480, 481), or 0 for the
 * transport faults, which answer nothing a bureau would.
 */
pl_sim_scenario pl_sim_scenario_for_amount(int64_t minor, int *reason_code);

/* "approve", "partial", "error", "decline", "fraud_score", "review", "dm_reject", "timeout",
 * "http_500", "not_xml", "drop". Static string. */
const char *pl_sim_scenario_name(pl_sim_scenario sc);

/* True for 901–904, the scenarios where the bureau gives no usable answer at all. */
bool pl_sim_scenario_is_fault(pl_sim_scenario sc);

/*
 * What every bureau does for a fault scenario (pl_sim_scenario_is_fault), whatever its
 * protocol: 901 PL_SIM_HOLD and 904 PL_SIM_DROP without a body, 902 HTTP 500 with an HTML
 * page (text/html), 903 HTTP 200 with a text that is not XML (text/xml). resp is cleared first.
 * Returns 0 or PL_ERR_NOMEM.
 */
int pl_sim_scenario_fault_answer(pl_sim_scenario sc, pl_sim_response *resp) PL_MUSTCHECK;

/* The amount a partial approval (110) grants: half, rounded down to the cent. */
int64_t pl_sim_scenario_partial_amount(int64_t minor);

/* AVS code for a billing postal code (NULL = none sent): 'N' for "00000", else 'Y'. */
char pl_sim_avs_code(const char *postal_code);

/* CVN code for a card verification number (NULL = none sent): 'N' for "000", else 'M'. */
char pl_sim_cvn_code(const char *cv_number);

/*
 * The Decision Manager verdict the Conversion Detail Report shows later for a 480 order:
 * "ACCEPT" when the cents are even, "REJECT" when odd. Static string.
 */
const char *pl_sim_dm_new_decision(int64_t minor);

#endif
