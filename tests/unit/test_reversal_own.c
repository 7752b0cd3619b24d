/*
 * test_reversal_own.c: paylink's own reversals and the rest of one approved for less
 * (common/reversal_own.h), which paylink-reversal and the resolver share: which request ids are
 * paylink's own and how far along a chain of rests, the decision on the rest from what the
 * settler of a reversal knows, the message asked (the bytes pl_job_publish_reversal writes) and
 * the log lines; which refusals of paylink-reversal last (asked again or told at once).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "reversal_own.h"

/*
 * paylink's own reversals (`.rev`, `.tor`, `.dmrev` of the authorization, `.vdr`/`.vdr2` of the
 * deposit that replaced it, `.sdr` of the debit that made it) and the rests asked after one of
 * them approved for less (`.rest`, each named after the one before): which of the chain a
 * request id is. Before, a rest was no reversal paylink took as its own (refused where this
 * worker's Send reversal is off).
 */
static void test_own_reversals_and_their_rests(void **state)
{
    (void)state;
    assert_int_equal(pl_reversal_own("auth-77.rev", "auth-77", "", ""), 0);
    assert_int_equal(pl_reversal_own("auth-77.tor", "auth-77", NULL, NULL), 0);
    assert_int_equal(pl_reversal_own("auth-77.dmrev", "auth-77", "", ""), 0);
    assert_int_equal(pl_reversal_own("d-1.vdr", "auth-77", "d-1", ""), 0);
    assert_int_equal(pl_reversal_own("d-1.vdr2", "auth-77", "d-1", ""), 0);
    assert_int_equal(pl_reversal_own("d-9.sdr", "", "", "d-9"), 0);
    /* The rests, each derived from the one before (pl_job_derived_request_id). */
    char rest[64];
    pl_job_derived_request_id("auth-77.rev", PL_REVERSAL_REST_SUFFIX, rest, sizeof rest);
    assert_string_equal(rest, "auth-77.rev.rest");
    assert_int_equal(pl_reversal_own("auth-77.rev.rest", "auth-77", "", ""), 1);
    assert_int_equal(pl_reversal_own("auth-77.tor.rest.rest", "auth-77", "", ""), 2);
    assert_int_equal(pl_reversal_own("auth-77.dmrev.rest.rest.rest", "auth-77", "", ""), 3);
    /* Past the last rest paylink asks, nothing of its own. */
    assert_int_equal(pl_reversal_own("auth-77.rev.rest.rest.rest.rest", "auth-77", "", ""), -1);
    assert_int_equal(pl_reversal_own("d-1.vdr.rest", "auth-77", "d-1", ""), 1);
    assert_int_equal(pl_reversal_own("d-1.vdr2.rest.rest", "", "d-1", ""), 2);
    assert_int_equal(pl_reversal_own("d-9.sdr.rest", "", "", "d-9"), 1);
    /* Not paylink's: the order system's, of another authorization or deposit, or with nothing
     * to derive it from. */
    assert_int_equal(pl_reversal_own("rev-1", "auth-77", "d-1", "d-9"), -1);
    assert_int_equal(pl_reversal_own("rev-1.rest", "auth-77", "d-1", "d-9"), -1);
    assert_int_equal(pl_reversal_own("auth-78.rev.rest", "auth-77", "", ""), -1);
    assert_int_equal(pl_reversal_own("d-1.vdr.rest", "auth-77", "d-2", ""), -1);
    assert_int_equal(pl_reversal_own("d-1.vdr.rest", "auth-77", "", ""), -1);
    assert_int_equal(pl_reversal_own("auth-77.rev.rest", NULL, NULL, NULL), -1);
    assert_int_equal(pl_reversal_own(NULL, "auth-77", "", ""), -1);
    assert_int_equal(pl_reversal_own("", "auth-77", "", ""), -1);

    /* Too long for a suffix: hashed, as pl_job_derived_request_id hashes, at every step. */
    char longid[51], base[64], ids[4][64];
    memset(longid, 'a', 44);
    longid[44] = '\0';
    pl_job_derived_request_id(longid, PL_DM_REVERSAL_SUFFIX, base, sizeof base);
    assert_int_equal(strlen(base), 48); /* "<id>.rev" still fits */
    snprintf(ids[0], sizeof ids[0], "%s", base);
    for (int n = 1; n <= 3; n++) {
        pl_job_derived_request_id(ids[n - 1], PL_REVERSAL_REST_SUFFIX, ids[n], sizeof ids[n]);
        assert_true(strlen(ids[n]) <= 50);
        assert_int_equal(strncmp(ids[n], "rest.", 5), 0);
        assert_int_equal(pl_reversal_own(ids[n], longid, "", ""), n);
    }
    assert_string_not_equal(ids[1], ids[2]);
    assert_int_equal(pl_reversal_own(ids[1], "auth-77", "", ""), -1);
}

/* The decision on the rest: asked for by paylink's own reversal approved for more than nothing
 * and less than sent, for what is still held, smaller each time, at most PL_REVERSAL_MAX_RESTS
 * times; then (or when nothing was reversed) an operator's. Never for the order system's
 * reversal (it read the reply), nor one approved whole or refused. */
static void test_rest_decision(void **state)
{
    (void)state;
    int64_t rest = -5;
    assert_int_equal(pl_reversal_rest(0, true, 10000, 3000, &rest), 1);
    assert_int_equal(rest, 7000);
    assert_int_equal(pl_reversal_rest(2, true, 7000, 1, &rest), 1);
    assert_int_equal(rest, 6999);
    /* Not paylink's own: the order system got amount_approved and a message. */
    assert_int_equal(pl_reversal_rest(-1, true, 10000, 3000, &rest), 0);
    assert_int_equal(rest, 0);
    /* Whole (or more), or not approved: nothing is left held by it. */
    assert_int_equal(pl_reversal_rest(0, true, 10000, 10000, &rest), 0);
    assert_int_equal(pl_reversal_rest(0, true, 10000, 12000, &rest), 0);
    assert_int_equal(pl_reversal_rest(0, false, 10000, 0, &rest), 0);
    assert_int_equal(rest, 0);
    /* The last rest approved for less: an operator's, with what is still held. */
    assert_int_equal(pl_reversal_rest(PL_REVERSAL_MAX_RESTS, true, 5000, 1000, &rest), -1);
    assert_int_equal(rest, 4000);
    /* Approved for nothing: a rest would be no smaller than what was just sent. */
    assert_int_equal(pl_reversal_rest(0, true, 5000, 0, &rest), -1);
    assert_int_equal(rest, 5000);

    /* A bureau that approves a cent each time: the chain ends after PL_REVERSAL_MAX_RESTS rests,
     * each smaller than the one before. */
    int asked = 0, own = 0;
    int64_t sent = 10000;
    for (;;) {
        int k = pl_reversal_rest(own, true, sent, 1, &rest);
        if (k != 1) {
            assert_int_equal(k, -1);
            break;
        }
        assert_true(rest < sent);
        sent = rest;
        own++;
        asked++;
        assert_true(asked <= PL_REVERSAL_MAX_RESTS);
    }
    assert_int_equal(asked, PL_REVERSAL_MAX_RESTS);
    assert_int_equal(sent, 9997);
}

/* The chain a rest belongs to starts at paylink's own reversal it was asked after: the one a
 * rest of a manual authorization names the amount of again. */
static void test_own_root(void **state)
{
    (void)state;
    char root[64] = "x";
    assert_int_equal(pl_reversal_own_root("auth-77.rev", "auth-77", "", "", root, sizeof root), 0);
    assert_string_equal(root, "auth-77.rev");
    assert_int_equal(pl_reversal_own_root("d-9.sdr.rest.rest", "", "", "d-9", root, sizeof root),
                     2);
    assert_string_equal(root, "d-9.sdr");
    assert_int_equal(pl_reversal_own_root("d-1.vdr2.rest", "", "d-1", "", root, sizeof root), 1);
    assert_string_equal(root, "d-1.vdr2");
    assert_int_equal(pl_reversal_own_root("rev-1.rest", "auth-77", "", "", root, sizeof root), -1);
    assert_string_equal(root, "");
    assert_int_equal(pl_reversal_own_root(NULL, "auth-77", "", "", root, sizeof root), -1);
    assert_string_equal(root, "");
    /* Hashed ids: the root is the unhashed reversal the chain started from. */
    char longid[51], base[64], r1[64];
    memset(longid, 'b', 44);
    longid[44] = '\0';
    pl_job_derived_request_id(longid, PL_TIMEOUT_REVERSAL_SUFFIX, base, sizeof base);
    pl_job_derived_request_id(base, PL_REVERSAL_REST_SUFFIX, r1, sizeof r1);
    assert_int_equal(pl_reversal_own_root(r1, longid, NULL, NULL, root, sizeof root), 1);
    assert_string_equal(root, base);
    /* No room asked for: the word alone, as pl_reversal_own. */
    assert_int_equal(pl_reversal_own_root(r1, longid, NULL, NULL, NULL, 0), 1);
}

/*
 * paylink's own reversal asked again after it ended `error` with nothing done at the bureau
 * (`.again`, the resolver's, migration 069): paylink's own too (paylink-reversal sends it whatever
 * its Send reversal says), at most PL_REVERSAL_MAX_AGAIN times in its chain, before or after its
 * rests, which it does not count as rests; the chain's root and how often it was asked again.
 * Before, `<id>.again` was the order system's: refused where Send reversal is off, and nothing
 * knew how often it had been asked.
 */
static void test_own_reversals_asked_again(void **state)
{
    (void)state;
    char again[64], root[64];
    int n = -1;
    pl_job_derived_request_id("auth-77.rev", PL_REVERSAL_AGAIN_SUFFIX, again, sizeof again);
    assert_string_equal(again, "auth-77.rev.again");
    assert_int_equal(pl_reversal_own("auth-77.rev.again", "auth-77", "", ""), 0);
    assert_int_equal(
        pl_reversal_own_chain("auth-77.rev.again", "auth-77", "", "", root, sizeof root, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(root, "auth-77.rev");
    assert_int_equal(pl_reversal_own_chain("auth-77.dmrev.again.again.again", "auth-77", NULL, NULL,
                                           NULL, 0, &n),
                     0);
    assert_int_equal(n, 3);
    /* Past the last ask, nothing of its own. */
    assert_int_equal(pl_reversal_own_chain("auth-77.rev.again.again.again.again", "auth-77", "", "",
                                           root, sizeof root, &n),
                     -1);
    assert_int_equal(n, 0);
    assert_string_equal(root, "");
    /* Mixed with rests, either way round: the rests are counted as rests, the asks apart. */
    assert_int_equal(
        pl_reversal_own_chain("auth-77.rev.rest.again", "auth-77", "", "", root, sizeof root, &n),
        1);
    assert_int_equal(n, 1);
    assert_string_equal(root, "auth-77.rev");
    assert_int_equal(
        pl_reversal_own_chain("auth-77.tor.again.rest.rest", "auth-77", "", "", NULL, 0, &n), 2);
    assert_int_equal(n, 1);
    assert_int_equal(pl_reversal_own_chain("auth-77.rev.rest.again.rest.again.rest.again",
                                           "auth-77", "", "", NULL, 0, &n),
                     3);
    assert_int_equal(n, 3);
    assert_int_equal(pl_reversal_own("auth-77.rev.again.rest.rest.rest.rest", "auth-77", "", ""),
                     -1);
    /* Of the deposit that replaced the authorization, and of the debit that made it. */
    assert_int_equal(
        pl_reversal_own_chain("d-1.vdr2.again", "auth-77", "d-1", "", root, sizeof root, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(root, "d-1.vdr2");
    assert_int_equal(
        pl_reversal_own_chain("d-9.sdr.again.again", "", "", "d-9", root, sizeof root, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(root, "d-9.sdr");
    /* Not paylink's: the order system's (`.again` of its own id), of another authorization, with
     * nothing to derive it from. */
    assert_int_equal(pl_reversal_own_chain("rev-1.again", "auth-77", "d-1", "d-9", NULL, 0, &n),
                     -1);
    assert_int_equal(n, 0);
    assert_int_equal(pl_reversal_own("auth-78.rev.again", "auth-77", "", ""), -1);
    assert_int_equal(pl_reversal_own("d-1.vdr.again", "auth-77", "d-2", ""), -1);
    assert_int_equal(pl_reversal_own("auth-77.rev.again", NULL, NULL, NULL), -1);
    assert_int_equal(pl_reversal_own("auth-77.rev.agai", "auth-77", "", ""), -1);

    /* Too long for a suffix: hashed at every step (`again.<digits>`, `rest.<digits>`), found by
     * walking the chain from the authorization's own reversals. */
    char longid[51], base[64], ids[4][64];
    memset(longid, 'c', 44);
    longid[44] = '\0';
    pl_job_derived_request_id(longid, PL_DM_REVERSAL_SUFFIX, base, sizeof base);
    assert_int_equal(strlen(base), 48);
    static const char *const steps[] = {PL_REVERSAL_AGAIN_SUFFIX, PL_REVERSAL_REST_SUFFIX,
                                        PL_REVERSAL_AGAIN_SUFFIX};
    static const int rests[] = {0, 1, 1}, asks[] = {1, 1, 2};
    snprintf(ids[0], sizeof ids[0], "%s", base);
    for (int i = 1; i <= 3; i++) {
        pl_job_derived_request_id(ids[i - 1], steps[i - 1], ids[i], sizeof ids[i]);
        assert_true(strlen(ids[i]) <= 50);
        assert_int_equal(strncmp(ids[i], steps[i - 1], strlen(steps[i - 1])), 0);
        assert_int_equal(pl_reversal_own_chain(ids[i], longid, "", "", root, sizeof root, &n),
                         rests[i - 1]);
        assert_int_equal(n, asks[i - 1]);
        assert_string_equal(root, base);
    }
    assert_int_equal(pl_reversal_own(ids[3], "auth-77", "", ""), -1);
    /* An id of 46 characters: its `.rev` fits, its `.rev.again` is hashed. */
    char mid[51], rev[64], again2[64];
    memset(mid, 'd', 46);
    mid[46] = '\0';
    pl_job_derived_request_id(mid, PL_DM_REVERSAL_SUFFIX, rev, sizeof rev);
    pl_job_derived_request_id(rev, PL_REVERSAL_AGAIN_SUFFIX, again2, sizeof again2);
    assert_int_equal(strncmp(again2, "again.", 6), 0);
    assert_int_equal(pl_reversal_own_chain(again2, mid, "", "", NULL, 0, &n), 0);
    assert_int_equal(n, 1);
}

/* Which `error` reversals reversed nothing (asked again), and when. */
static void test_error_unacted_and_delays(void **state)
{
    (void)state;
    /* No bureau answer: never sent, unreachable, the breaker; any bureau. And the resolver's
     * query that found no record of it (no decision). */
    assert_true(pl_reversal_error_unacted("CYB", "", "150", ""));
    assert_true(pl_reversal_error_unacted(NULL, NULL, NULL, NULL));
    assert_true(pl_reversal_error_unacted("EXT", "", "SU", ""));
    assert_true(pl_reversal_error_unacted("CYB", "", "150", PL_REVERSAL_SETTLED_BY_QUERY));
    /* CyberSource's general failure in its own answer (and a SOAP fault, read as it), also
     * when that answer came late (its required response closed by it). */
    assert_true(pl_reversal_error_unacted("CYB", "ERROR", "150", ""));
    assert_true(pl_reversal_error_unacted("CYB", "ERROR", "150", "late_answer"));
    /* Received, perhaps processed: not `error` (unknown), and never taken for nothing done. */
    assert_false(pl_reversal_error_unacted("CYB", "ERROR", "151", ""));
    assert_false(pl_reversal_error_unacted("CYB", "ERROR", "152", ""));
    assert_false(pl_reversal_error_unacted("CYB", "ERROR", "250", ""));
    /* CyberSource's processor failure: the processor may have acted. */
    assert_false(pl_reversal_error_unacted("CYB", "ERROR", "236", ""));
    /* Another bureau's ERROR (the External Payment Service's codes), whatever its code. */
    assert_false(pl_reversal_error_unacted("EXT", "ERROR", "150", ""));
    assert_false(pl_reversal_error_unacted("EXT", "ERROR", "E500", ""));
    assert_false(pl_reversal_error_unacted("", "ERROR", "150", ""));
    /* An outcome the resolver read from the bureau's record of it (its reader's default for a
     * record that failed: ERROR 150), or an operator's `error`, decision or none. */
    assert_false(pl_reversal_error_unacted("CYB", "ERROR", "150", PL_REVERSAL_SETTLED_BY_QUERY));
    assert_false(pl_reversal_error_unacted("CYB", "", "", PL_REVERSAL_SETTLED_BY_OPERATOR));
    assert_false(pl_reversal_error_unacted("CYB", "ERROR", "150", PL_REVERSAL_SETTLED_BY_OPERATOR));
    /* An answer the worker read otherwise (a decision the vendor response table mapped). */
    assert_false(pl_reversal_error_unacted("CYB", "ACCEPT", "100", ""));
    assert_false(pl_reversal_error_unacted("CYB", "REJECT", "237", ""));
    assert_false(pl_reversal_error_unacted("CYB", "SOMETHING", "999", ""));

    /* 1, 5 and 30 minutes, then none. */
    assert_int_equal(pl_reversal_again_delay_s(0), 60);
    assert_int_equal(pl_reversal_again_delay_s(1), 300);
    assert_int_equal(pl_reversal_again_delay_s(2), 1800);
    assert_int_equal(pl_reversal_again_delay_s(PL_REVERSAL_MAX_AGAIN), -1);
    assert_int_equal(pl_reversal_again_delay_s(-1), -1);
}

/* An authorization paylink holds a history row of, approved with a transaction id, nothing
 * claimed. */
static pl_reversal_auth_facts held_auth(const char *status)
{
    return (pl_reversal_auth_facts){.found = true, .status = status, .transaction_id = "741966"};
}

/*
 * Why paylink-reversal refuses a reversal, and which refusals last: one for a claim or a timeout
 * reversal in flight ends (asked again then), one of an authorization never approved (a hard
 * decline, an error the issuer did not authorize) or without a bureau transaction id never does
 * (its resolver tells an operator at once), even while a claim on it lasts. Before, the resolver
 * could not tell them apart and asked each three times.
 */
static void test_refusals_that_last(void **state)
{
    (void)state;
    static const char *const holds[] = {"approved", "review", "rejected", "voided"};
    for (size_t i = 0; i < sizeof holds / sizeof holds[0]; i++) {
        pl_reversal_auth_facts a = held_auth(holds[i]);
        assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_GOES);
        assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_GOES);
        /* A claim in flight, then a timeout reversal: refused now, not for good. */
        a.pending = 1;
        assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_CLAIMED);
        assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_GOES);
        a.pending = 0;
        a.timeout_in_flight = true;
        assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_TIMEOUT_IN_FLIGHT);
        assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_GOES);
    }
    /* Never approved: a hard decline, an error, whatever is in flight on it. */
    pl_reversal_auth_facts a = held_auth("declined");
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_NOT_APPROVED);
    a.pending = 1;
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_CLAIMED);
    assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_REFUSED_NOT_APPROVED);
    a = held_auth("error");
    a.timeout_in_flight = true;
    assert_int_equal(pl_reversal_refusal_lasting(&a, false), PL_REVERSAL_REFUSED_NOT_APPROVED);
    /* Unless the issuer holds it: a soft decline, a decline or error it authorized. */
    a = held_auth("declined");
    a.soft_declined = true;
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_GOES);
    a = held_auth("declined");
    a.issuer_authorized = true;
    assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_GOES);
    a = held_auth("error");
    a.issuer_authorized = true;
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_GOES);
    /* No bureau transaction id, NULL or "". */
    a = held_auth("approved");
    a.transaction_id = "";
    a.pending = 1;
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_CLAIMED);
    assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_REFUSED_NO_TRANSACTION_ID);
    a.transaction_id = NULL;
    a.pending = 0;
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_NO_TRANSACTION_ID);
    /* Reversed and captured come first, and last. */
    a = held_auth("reversed");
    a.pending = 1;
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_REVERSED);
    assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_REFUSED_REVERSED);
    a = held_auth("approved");
    a.deposited = 1;
    a.timeout_in_flight = true;
    assert_int_equal(pl_reversal_refusal_of(&a, true), PL_REVERSAL_REFUSED_CAPTURED);
    assert_int_equal(pl_reversal_refusal_lasting(&a, true), PL_REVERSAL_REFUSED_CAPTURED);
    /* No row: refused when named by request id; a manual authorization goes (the bureau
     * decides). */
    const pl_reversal_auth_facts none = {0};
    assert_int_equal(pl_reversal_refusal_of(&none, true), PL_REVERSAL_REFUSED_UNKNOWN);
    assert_int_equal(pl_reversal_refusal_lasting(&none, true), PL_REVERSAL_REFUSED_UNKNOWN);
    assert_int_equal(pl_reversal_refusal_of(&none, false), PL_REVERSAL_GOES);
    assert_int_equal(pl_reversal_refusal_lasting(&none, false), PL_REVERSAL_GOES);
}

/* The issuer's hold on a refused authorization, read from its history row as paylink-reversal
 * reads it: on CyberSource only, a soft decline's reasonCode or the issuer_authorized flag of a
 * decline or an error. */
static void test_facts_issuer(void **state)
{
    (void)state;
    pl_reversal_auth_facts a = held_auth("declined");
    pl_reversal_auth_facts_issuer(&a, "CYB", "200", false);
    assert_true(a.soft_declined);
    assert_false(a.issuer_authorized);
    pl_reversal_auth_facts_issuer(&a, "CYB", "102", true);
    assert_false(a.soft_declined);
    assert_true(a.issuer_authorized);
    pl_reversal_auth_facts_issuer(&a, "CYB", "203", false);
    assert_false(a.soft_declined || a.issuer_authorized);
    /* Another bureau's codes say nothing of it. */
    pl_reversal_auth_facts_issuer(&a, "EXT", "200", true);
    assert_false(a.soft_declined || a.issuer_authorized);
    pl_reversal_auth_facts_issuer(&a, NULL, NULL, true);
    assert_false(a.soft_declined || a.issuer_authorized);
    /* An error the issuer authorized (064); an approval needs neither. */
    a = held_auth("error");
    pl_reversal_auth_facts_issuer(&a, "CYB", "150", true);
    assert_true(a.issuer_authorized);
    assert_false(a.soft_declined);
    a = held_auth("approved");
    pl_reversal_auth_facts_issuer(&a, "CYB", "200", true);
    assert_false(a.soft_declined || a.issuer_authorized);
    /* No row, no status. */
    pl_reversal_auth_facts none = {0};
    pl_reversal_auth_facts_issuer(&none, "CYB", "200", true);
    assert_false(none.soft_declined || none.issuer_authorized);
}

/* paylink's `.rev` of a paylink authorization, sent for 100.00, approved for `reversed`. */
static pl_reversal_answered rev_of_auth(int64_t reversed)
{
    return (pl_reversal_answered){.request_id = "auth-77.rev",
                                  .auth_request_id = "auth-77",
                                  .history = true,
                                  .held_recorded = true,
                                  .approved = true,
                                  .sent = 10000,
                                  .reversed = reversed};
}

/* The rest asked of what a reversal's settler knows: the same id, amount and authorization,
 * named as the reversal named it. */
static void test_rest_for_asks_the_rest(void **state)
{
    (void)state;
    pl_reversal_rest_request rest;
    pl_reversal_answered a = rev_of_auth(3000);
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 1);
    assert_string_equal(rest.request_id, "auth-77.rev.rest");
    assert_string_equal(rest.amount, "70.00");
    assert_int_equal(rest.rests, 0);
    assert_false(rest.unrecorded);
    assert_string_equal(rest.of.auth_request_id, "auth-77");
    assert_null(rest.of.transaction_id);
    assert_null(rest.of.amount);

    /* The second rest of a chain, named after the first. */
    a.request_id = "auth-77.rev.rest";
    a.sent = 7000;
    a.reversed = 2000;
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 1);
    assert_string_equal(rest.request_id, "auth-77.rev.rest.rest");
    assert_string_equal(rest.amount, "50.00");
    assert_int_equal(rest.rests, 1);

    /* A manual authorization named inline (the `.sdr` of a refused auth+capture, no history
     * row): named inline again, with its amount. */
    pl_reversal_answered m = {.request_id = "d-9.sdr",
                              .transaction_id = "7000000000000000000009",
                              .request_token = "Axj/tok",
                              .number = "123456",
                              .date = "2026-12-01",
                              .has_auth_amount = true,
                              .auth_amount = 10000,
                              .made_by = "d-9",
                              .approved = true,
                              .sent = 10000,
                              .reversed = 4000};
    assert_int_equal(pl_reversal_rest_for(&m, &rest), 1);
    assert_string_equal(rest.request_id, "d-9.sdr.rest");
    assert_string_equal(rest.amount, "60.00");
    assert_null(rest.of.auth_request_id);
    assert_string_equal(rest.of.transaction_id, "7000000000000000000009");
    assert_string_equal(rest.of.request_token, "Axj/tok");
    assert_string_equal(rest.of.number, "123456");
    assert_string_equal(rest.of.date, "2026-12-01");
    assert_string_equal(rest.of.amount, "100.00");
    /* Without its amount (none in the request): none named. */
    m.has_auth_amount = false;
    assert_int_equal(pl_reversal_rest_for(&m, &rest), 1);
    assert_null(rest.of.amount);
}

/* None asked: not approved for less, not paylink's own, CyberSource's timeout reversal (it
 * releases the authorization whole); left to an operator (-1) at the end of the chain, when
 * nothing was reversed, and when the history row records no amount held. */
static void test_rest_for_asks_none(void **state)
{
    (void)state;
    pl_reversal_rest_request rest;
    pl_reversal_answered a = rev_of_auth(10000);
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 0);
    a.reversed = 12000;
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 0);
    a = rev_of_auth(3000);
    a.approved = false;
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 0);
    a = rev_of_auth(3000);
    a.request_id = "rev-1"; /* the order system's: it read the reply */
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 0);
    assert_string_equal(rest.request_id, "");
    a = rev_of_auth(3000);
    a.request_id = "auth-77.tor";
    a.timeout = true;
    a.history = false;
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 0);

    a = rev_of_auth(3000);
    a.request_id = "auth-77.rev.rest.rest.rest";
    assert_int_equal(pl_reversal_rest_for(&a, &rest), -1);
    assert_int_equal(rest.rests, PL_REVERSAL_MAX_RESTS);
    assert_string_equal(rest.amount, "70.00");
    assert_string_equal(rest.request_id, "");
    assert_false(rest.unrecorded);

    a = rev_of_auth(0);
    assert_int_equal(pl_reversal_rest_for(&a, &rest), -1);
    assert_string_equal(rest.amount, "100.00");
    assert_false(rest.unrecorded);

    /* A Decision Manager reject's history row records no amount held: the approval booked the
     * authorization reversed, and a rest would be refused 237. */
    a = rev_of_auth(3000);
    a.held_recorded = false;
    assert_int_equal(pl_reversal_rest_for(&a, &rest), -1);
    assert_true(rest.unrecorded);
    assert_string_equal(rest.amount, "70.00");
    assert_string_equal(rest.request_id, "");
    /* No history row at all (a manual authorization): the bureau decides, the rest is asked. */
    a.history = false;
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 1);
}

/* The message: the bytes paylink-reversal published for a rest before (pl_job_publish_reversal's
 * fields, in its order), by request id or inline; no amount, no currency. */
static void test_request_json(void **state)
{
    (void)state;
    const pl_reversal_of by_id = {.auth_request_id = "auth-77"};
    pl_reversal_message m = {.request_id = "auth-77.rev.rest",
                             .company = 7,
                             .order = "ORD-1",
                             .pay_seq = 2,
                             .service = "EXT",
                             .amount = "70.00",
                             .currency = "USD",
                             .of = &by_id};
    char *j = pl_reversal_request_json(&m);
    assert_non_null(j);
    assert_string_equal(
        j, "{\"v\":1,\"request_id\":\"auth-77.rev.rest\",\"type\":\"reversal\",\"company\":7,"
           "\"order\":\"ORD-1\",\"pay_seq\":2,\"service\":\"EXT\",\"amount\":\"70.00\","
           "\"currency\":\"USD\",\"auth_ref\":{\"request_id\":\"auth-77\"}}");
    free(j);

    const pl_reversal_of manual = {.transaction_id = "7000000000000000000009",
                                   .request_token = "",
                                   .number = "123456",
                                   .date = "2026-12-01T10:00:00Z",
                                   .amount = "100.00"};
    m.of = &manual;
    m.amount = NULL;
    j = pl_reversal_request_json(&m);
    assert_non_null(j);
    assert_string_equal(
        j, "{\"v\":1,\"request_id\":\"auth-77.rev.rest\",\"type\":\"reversal\",\"company\":7,"
           "\"order\":\"ORD-1\",\"pay_seq\":2,\"service\":\"EXT\",\"auth_ref\":{"
           "\"transaction_id\":\"7000000000000000000009\",\"number\":\"123456\","
           "\"date\":\"2026-12-01\",\"amount\":\"100.00\"}}");
    free(j);

    /* The resolver's reversal requests name the transaction's pay type, after the amount and
     * currency, before auth_ref (as its own builder did before it used this one). */
    m.of = &by_id;
    m.amount = "70.00";
    m.pay_type = "CC";
    j = pl_reversal_request_json(&m);
    assert_non_null(j);
    assert_string_equal(
        j, "{\"v\":1,\"request_id\":\"auth-77.rev.rest\",\"type\":\"reversal\",\"company\":7,"
           "\"order\":\"ORD-1\",\"pay_seq\":2,\"service\":\"EXT\",\"amount\":\"70.00\","
           "\"currency\":\"USD\",\"pay_type\":\"CC\",\"auth_ref\":{\"request_id\":\"auth-77\"}}");
    free(j);

    char key[64];
    pl_reversal_request_key(7, "ORD-1", key, sizeof key);
    assert_string_equal(key, "7-ORD-1");
}

/* The log lines of (a capture of) pl_reversal_rest_log. */
static char g_log[4096];

static const char *logged(const char *rid, const char *auth, int k,
                          const pl_reversal_rest_request *rest)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    pl_log_init("test_reversal_own", f);
    pl_log_set_level(PL_LOG_INFO);
    pl_reversal_rest_log(rid, auth, k, rest);
    pl_log_init("test_reversal_own", NULL);
    fflush(f);
    rewind(f);
    size_t n = fread(g_log, 1, sizeof g_log - 1, f);
    g_log[n] = '\0';
    fclose(f);
    return g_log;
}

/* An operator is told, in an error naming the authorization and what is still held, why no rest
 * is asked; the rest asked is an info line; nothing for no rest at all. */
static void test_rest_log(void **state)
{
    (void)state;
    pl_reversal_rest_request rest;
    pl_reversal_answered a = rev_of_auth(3000);
    a.held_recorded = false;
    assert_int_equal(pl_reversal_rest_for(&a, &rest), -1);
    const char *log = logged("auth-77.rev", "auth-77", -1, &rest);
    assert_non_null(strstr(log, "\"level\":\"error\""));
    assert_non_null(strstr(log, "authorization auth-77 was approved for less than sent: 70.00 is "
                                "still held"));
    assert_non_null(strstr(log, "records no amount held"));
    a = rev_of_auth(3000);
    a.request_id = "auth-77.rev.rest.rest.rest";
    assert_int_equal(pl_reversal_rest_for(&a, &rest), -1);
    assert_non_null(strstr(logged(a.request_id, "auth-77", -1, &rest), "reached the limit"));
    a = rev_of_auth(0);
    assert_int_equal(pl_reversal_rest_for(&a, &rest), -1);
    assert_non_null(strstr(logged(a.request_id, "auth-77", -1, &rest), "nothing was reversed"));

    a = rev_of_auth(3000);
    assert_int_equal(pl_reversal_rest_for(&a, &rest), 1);
    log = logged("auth-77.rev", "auth-77", 1, &rest);
    assert_non_null(strstr(log, "\"level\":\"info\""));
    assert_non_null(strstr(log, "reversal auth-77.rev.rest requested for the 70.00 authorization "
                                "auth-77 still holds (rest 1 of at most 3)"));
    assert_string_equal(logged("auth-77.rev", "auth-77", 0, &rest), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_reversals_and_their_rests),
        cmocka_unit_test(test_own_root),
        cmocka_unit_test(test_own_reversals_asked_again),
        cmocka_unit_test(test_error_unacted_and_delays),
        cmocka_unit_test(test_refusals_that_last),
        cmocka_unit_test(test_facts_issuer),
        cmocka_unit_test(test_rest_decision),
        cmocka_unit_test(test_rest_for_asks_the_rest),
        cmocka_unit_test(test_rest_for_asks_none),
        cmocka_unit_test(test_request_json),
        cmocka_unit_test(test_rest_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
