/*
 * sim_scenario.c: the amount → outcome table of CONTRACT.md §3 (see sim_scenario.h).
 */
#include "sim_scenario.h"

#include <string.h>

pl_sim_scenario pl_sim_scenario_for_amount(int64_t minor, int *reason_code)
{
    int reason = 100;
    pl_sim_scenario sc = PL_SIM_SC_APPROVE;
    int64_t units = minor >= 0 ? minor / 100 : -1;

    switch (units) {
    case 110:
        sc = PL_SIM_SC_PARTIAL;
        reason = 110;
        break;
    case 150:
        sc = PL_SIM_SC_ERROR;
        reason = 150;
        break;
    case 202:
    case 203:
    case 204:
    case 205:
    case 211:
    case 231:
        sc = PL_SIM_SC_DECLINE;
        reason = (int)units;
        break;
    case 400:
        sc = PL_SIM_SC_FRAUD_SCORE;
        reason = 400;
        break;
    case 480:
        sc = PL_SIM_SC_REVIEW;
        reason = 480;
        break;
    case 481:
        sc = PL_SIM_SC_DM_REJECT;
        reason = 481;
        break;
    case 901:
        sc = PL_SIM_SC_TIMEOUT;
        reason = 0;
        break;
    case 902:
        sc = PL_SIM_SC_HTTP_500;
        reason = 0;
        break;
    case 903:
        sc = PL_SIM_SC_NOT_XML;
        reason = 0;
        break;
    case 904:
        sc = PL_SIM_SC_DROP;
        reason = 0;
        break;
    default:
        break;
    }
    if (reason_code)
        *reason_code = reason;
    return sc;
}

const char *pl_sim_scenario_name(pl_sim_scenario sc)
{
    switch (sc) {
    case PL_SIM_SC_APPROVE:
        return "approve";
    case PL_SIM_SC_PARTIAL:
        return "partial";
    case PL_SIM_SC_ERROR:
        return "error";
    case PL_SIM_SC_DECLINE:
        return "decline";
    case PL_SIM_SC_FRAUD_SCORE:
        return "fraud_score";
    case PL_SIM_SC_REVIEW:
        return "review";
    case PL_SIM_SC_DM_REJECT:
        return "dm_reject";
    case PL_SIM_SC_TIMEOUT:
        return "timeout";
    case PL_SIM_SC_HTTP_500:
        return "http_500";
    case PL_SIM_SC_NOT_XML:
        return "not_xml";
    case PL_SIM_SC_DROP:
        return "drop";
    }
    return "unknown";
}

bool pl_sim_scenario_is_fault(pl_sim_scenario sc)
{
    return sc == PL_SIM_SC_TIMEOUT || sc == PL_SIM_SC_HTTP_500 || sc == PL_SIM_SC_NOT_XML ||
           sc == PL_SIM_SC_DROP;
}

int pl_sim_scenario_fault_answer(pl_sim_scenario sc, pl_sim_response *resp)
{
    static const char html[] = "<html><head><title>500 Internal Server Error</title></head>"
                               "<body><h1>Internal Server Error</h1></body></html>\n";
    static const char garbage[] = "Service temporarily unavailable -- simulated 903 answer\n";
    memset(resp, 0, sizeof *resp);
    switch (sc) {
    case PL_SIM_SC_TIMEOUT:
        resp->action = PL_SIM_HOLD;
        return PL_OK;
    case PL_SIM_SC_DROP:
        resp->action = PL_SIM_DROP;
        return PL_OK;
    case PL_SIM_SC_HTTP_500:
        return pl_sim_response_set(resp, 500, "text/html", html, sizeof html - 1);
    default:
        return pl_sim_response_set(resp, 200, "text/xml", garbage, sizeof garbage - 1);
    }
}

int64_t pl_sim_scenario_partial_amount(int64_t minor)
{
    return minor / 2;
}

char pl_sim_avs_code(const char *postal_code)
{
    return postal_code && strcmp(postal_code, "00000") == 0 ? 'N' : 'Y';
}

char pl_sim_cvn_code(const char *cv_number)
{
    return cv_number && strcmp(cv_number, "000") == 0 ? 'N' : 'M';
}

const char *pl_sim_dm_new_decision(int64_t minor)
{
    int64_t cents = (minor < 0 ? -minor : minor) % 100;
    return cents % 2 == 0 ? "ACCEPT" : "REJECT";
}
