/*
 * test_svc_store_many.c: paylink-svc's merged store and mark (svc_store:many and
 * svc_mark_sent:many, db.h "NAME:many") against the real schema of PAYLINK_DB. Storing a batch
 * of answers in one statement leaves, for each request, the rows svc_store leaves run one at a
 * time — svc_trans column for column, the authorization a deposit settles (claim released,
 * amount deposited, remainder voided: the svc_trans_settle_deposit trigger) and the Stored
 * Value Card row a generate, an activation or a recharge writes — but the request ids, the card
 * hashes and the moments, and returns a row for the same requests: an answer is stored once, on
 * a row still 'sent' or 'unknown'.
 *
 * And the reason for pl_svc_touch_key: two answers on one card row, or two deposits on one
 * authorization, in one batch do not share a merged statement (an INSERT … ON CONFLICT or an
 * UPDATE … FROM changes a row once however many executions name it), and leave what they leave
 * one at a time.
 *
 * Marking a batch of requests sent in one statement marks and claims what svc_mark_sent does
 * one at a time (a claim that fits, none over what remains; a next call's mark taking over its
 * own; an attempt's mark again claiming nothing twice) and returns a row for the same requests;
 * two deposits of one authorization in one batch go in statements of their own, in order.
 *
 * The statements run through pl_db as the engine runs them, under request ids and card hashes
 * of the test's own, deleted at the end.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db.h"
#include "it_unit.h"
#include "svc.h"

static PGconn *g_admin;
static pl_db *g_db;
static char g_prefix[48];
/* The test's card hashes start with this (64 hex digits in all): the process id's digits. */
static char g_hash_prefix[24];

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_hash_prefix, sizeof g_hash_prefix, "%08lx", (unsigned long)getpid() & 0xffffffffu);
    return it_open_spec(&pl_svc_spec, "svcstore", &g_admin, &g_db, g_prefix, sizeof g_prefix);
}

static int group_teardown(void **state)
{
    (void)state;
    pl_db_destroy(g_db);
    if (g_admin) {
        char like[64];
        snprintf(like, sizeof like, "%s%%", g_hash_prefix);
        PQclear(PQexecParams(g_admin, "DELETE FROM stored_value_card WHERE card_hash LIKE $1", 1,
                             NULL, (const char *const[]){like}, NULL, NULL, 0));
        static const char *const tables[] = {"svc_trans"};
        it_delete_prefixed(g_admin, g_prefix, tables, sizeof tables / sizeof tables[0]);
        PQfinish(g_admin);
    }
    return 0;
}

static void rid(char *out, size_t outsize, const char *set, const char *what, int i)
{
    snprintf(out, outsize, "%s%s-%s%d", g_prefix, set, what, i);
}

/* Card k of set `set` (its own hash: two sets never share a card row). */
static void hash_of(char *out, size_t outsize, const char *set, int k)
{
    unsigned s = 0;
    for (const char *c = set; *c; c++)
        s = s * 31u + (unsigned char)*c;
    snprintf(out, outsize, "%.8s%08x%048x", g_hash_prefix, s, (unsigned)k & 0xffffu);
}

/* A stored value row `req` of type `type` (operation op), 'sent' (or `status`), amount 10.00
 * USD of card `hash` (NULL: none, a generate), drawing on `ref` with claim `claim` (deposits). */
static void sent_row(const char *req, const char *type, const char *op, const char *status,
                     const char *hash, bool is_virtual, const char *ref, const char *claim,
                     bool void_remainder)
{
    const char *p[] = {req,    type,  op,
                       status, hash,  is_virtual ? "true" : "false",
                       ref,    claim, void_remainder ? "true" : "false"};
    it_exec(g_admin,
            "INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
            "order_number, pay_seq, service_bureau, pay_type, amount, currency, card_masked, "
            "card_hash, order_line, issue_amount, is_virtual, status, ref_request_id, "
            "claim_amount, void_remainder, sent_at, sent_by) "
            "VALUES ($1, repeat('5', 64), $2::text, $3, 7, 'IT-SSM', 1, 'RLT', 'SV', "
            "CASE WHEN $2 IN ('generate', 'balance') THEN NULL ELSE 10.00 END, "
            "CASE WHEN $2 IN ('generate', 'balance') THEN NULL ELSE 'USD' END, "
            "CASE WHEN $5::text IS NULL THEN '' ELSE '************0001' END, $5, "
            "CASE WHEN $2 IN ('generate', 'activate') THEN 2 END, "
            "CASE WHEN $2 IN ('generate', 'activate') THEN 25.00 END, $6::boolean, $4, $7, "
            "$8::numeric, $9::boolean, now(), 'it/1')",
            9, p);
}

/* An approved stored value authorization `req` of 30.00 with `pending` claimed on it. */
static void auth_row(const char *req, const char *hash, const char *pending)
{
    const char *p[] = {req, hash, pending};
    it_exec(g_admin,
            "INSERT INTO svc_trans (request_id, fingerprint, request_type, operation, company, "
            "order_number, pay_seq, service_bureau, pay_type, amount, currency, card_masked, "
            "card_hash, status, amount_approved, amount_pending, svc_transaction_id, "
            "auth_number, sent_at, answered_at) "
            "VALUES ($1, repeat('5', 64), 'auth', 'svc_preauth', 7, 'IT-SSM', 1, 'RLT', 'SV', "
            "30.00, 'USD', '************0001', $2, 'approved', 30.00, $3::numeric, 'sv-1', "
            "'4471', now(), now())",
            3, p);
}

/* A card row of hash `hash`, generated (virtual) and not yet active. */
static void card_row(const char *hash, bool is_virtual)
{
    const char *p[] = {hash, is_virtual ? "true" : "false"};
    it_exec(g_admin,
            "INSERT INTO stored_value_card (service_bureau, company, order_number, order_line, "
            "card_masked, card_hash, virtual, issue_amount, currency, status) "
            "VALUES ('RLT', 7, 'IT-SSM', 2, '************0001', $1, $2::boolean, 25.00, 'USD', "
            "'generated')",
            2, p);
}

enum { N = 10 };

/* Case i: what the row is, and the answer stored on it. */
typedef struct store_case {
    const char *type, *op, *status; /* the row */
    bool is_virtual, card_row;      /* a card row there before */
    const char *claim;              /* a deposit's claim on its authorization */
    bool void_remainder;
    const char *answer, *vendor, *error, *approved; /* the answer */
} store_case;

static const store_case cases[N] = {
    {"auth", "svc_preauth", "sent", false, false, NULL, false, "approved", "00", "", "10.00"},
    {"deposit", "svc_postauth", "sent", false, false, "10.00", false, "approved", "00", "",
     "10.00"},
    {"deposit", "svc_postauth", "sent", false, false, "10.00", true, "approved", "00", "", "10.00"},
    {"deposit", "svc_postauth", "sent", false, false, "10.00", false, "declined", "NOFUNDS",
     "INSUFFICIENT_FUNDS", NULL},
    {"generate", "svc_generate", "sent", true, false, NULL, false, "approved", "00", "", NULL},
    {"activate", "svc_activate", "sent", false, false, NULL, false, "approved", "00", "", "25.00"},
    {"activate", "svc_activate", "sent", false, true, NULL, false, "declined", "INACTIVE",
     "CARD_INACTIVE", NULL},
    {"recharge", "svc_recharge", "sent", true, true, NULL, false, "approved", "00", "", "25.00"},
    {"balance", "svc_inquiry", "unknown", false, false, NULL, false, "approved", "00", "", NULL},
    {"return", "svc_return", "sent", false, false, NULL, false, "error", "", "", NULL},
};

static bool has_card(int i)
{
    return strcmp(cases[i].type, "generate") != 0;
}

static bool is_deposit(int i)
{
    return strcmp(cases[i].type, "deposit") == 0;
}

static bool writes_card(int i)
{
    const char *t = cases[i].type;
    return !strcmp(t, "generate") || !strcmp(t, "activate") || !strcmp(t, "recharge");
}

/* Every case's rows of set `set`: its authorization (deposits), its card row, its own row. */
static void prepare(const char *set)
{
    for (int i = 0; i < N; i++) {
        const store_case *c = &cases[i];
        char req[96], auth[96], hash[65];
        rid(req, sizeof req, set, "svc", i);
        rid(auth, sizeof auth, set, "auth", i);
        hash_of(hash, sizeof hash, set, i);
        if (is_deposit(i))
            auth_row(auth, hash, c->claim);
        if (c->card_row)
            card_row(hash, c->is_virtual);
        sent_row(req, c->type, c->op, c->status, has_card(i) ? hash : NULL, c->is_virtual,
                 is_deposit(i) ? auth : NULL, c->claim, c->void_remainder);
    }
}

/* Submits case i of set `set`'s answer as the spec's store sends it (its touch key too). */
static void submit_case(void *ctx, int i, it_unit_rec *r)
{
    const char *set = ctx;
    const store_case *c = &cases[i];
    char req[96], auth[96], hash[65], key[128];
    rid(req, sizeof req, set, "svc", i);
    rid(auth, sizeof auth, set, "auth", i);
    hash_of(hash, sizeof hash, set, i);
    bool generated = !has_card(i) && !strcmp(c->answer, "approved");
    pl_svc_touch_key(is_deposit(i) ? auth : NULL, "RLT", writes_card(i) ? hash : NULL, key,
                     sizeof key);
    const char *p[18] = {req,
                         c->answer,
                         c->vendor,
                         c->error,
                         "",
                         c->approved,
                         "sv-tx-7",
                         !strcmp(c->answer, "approved") ? "4471" : "",
                         !strcmp(c->answer, "approved") ? "2026-12-05T02:00:00Z" : "",
                         "ACC-9",
                         !strcmp(c->type, "balance") ? "42.50" : NULL,
                         !strcmp(c->answer, "declined") ? "AT" : "",
                         c->error[0] ? "the bureau said so" : "",
                         "{\"v\":1,\"status\":\"x\",\"message\":\"caf\xc3\xa9 \\u00e9\"}",
                         generated ? hash : NULL,
                         generated ? "************0001" : NULL,
                         "85749",
                         "06"};
    it_submit(g_db, "svc_store", 18, p, key, r);
}

/* The columns that name a set's own rows, cards or moments. */
#define DROP                                                                                       \
    "{request_id,ref_request_id,card_hash,card_id,generated_by,activated_by,received_at,"          \
    "sent_at,answered_at,created_at,updated_at,activation_date}"

static void expect_same(const char *table, const char *col, const char *a, const char *b, bool some)
{
    static char x[16384], y[16384];
    it_rows(g_admin, table, col, a, DROP, x, sizeof x);
    it_rows(g_admin, table, col, b, DROP, y, sizeof y);
    if (strcmp(x, y) != 0)
        fail_msg("%s %s vs %s:\n%s\n%s", table, a, b, x, y);
    if (some && strcmp(x, "[]") == 0)
        fail_msg("%s: no rows for %s", table, a);
}

/* Every row the two sets' case i left alike: its own, its authorization's, its card's. */
static void expect_alike(int i)
{
    char a[96], b[96];
    rid(a, sizeof a, "one", "svc", i);
    rid(b, sizeof b, "many", "svc", i);
    expect_same("svc_trans", "request_id", a, b, true);
    rid(a, sizeof a, "one", "auth", i);
    rid(b, sizeof b, "many", "auth", i);
    expect_same("svc_trans", "request_id", a, b, is_deposit(i));
    hash_of(a, sizeof a, "one", i);
    hash_of(b, sizeof b, "many", i);
    expect_same("stored_value_card", "card_hash", a, b, writes_card(i));
}

/* What the authorization `req` holds: pending|deposited|voided. */
static void expect_amounts(const char *req, const char *want)
{
    char v[128];
    it_value(g_admin,
             "SELECT concat_ws('|', amount_pending, amount_deposited, amount_voided) FROM "
             "svc_trans WHERE request_id = $1",
             req, NULL, v, sizeof v);
    assert_string_equal(v, want);
}

static void test_same_rows_either_way(void **state)
{
    (void)state;
    it_unit_rec r1[N], rn[N];
    prepare("one");
    prepare("many");
    it_run_cases(g_db, N, false, submit_case, (void *)"one", r1);
    it_run_cases(g_db, N, true, submit_case, (void *)"many", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 1);
        assert_int_equal(rn[i].ntuples, 1);
        char b[96];
        rid(b, sizeof b, "many", "svc", i);
        assert_string_equal(rn[i].key, b);
        expect_alike(i);
    }
    /* What the answers did, as the merged statement left it. */
    char v[256], x[96];
    rid(x, sizeof x, "many", "auth", 1);
    expect_amounts(x, "0.00|10.00|0.00");
    rid(x, sizeof x, "many", "auth", 2); /* the remainder voided */
    expect_amounts(x, "0.00|10.00|20.00");
    rid(x, sizeof x, "many", "auth", 3); /* declined: the claim released */
    expect_amounts(x, "0.00|0.00|0.00");
    static const struct {
        int i;
        const char *want;
    } cards[] = {{4, "generated|t|85749|06|"},
                 {5, "active|f|||00"},
                 {6, "generated|f|||INACTIVE"},
                 {7, "active|t|||00"}};
    for (size_t k = 0; k < sizeof cards / sizeof cards[0]; k++) {
        hash_of(x, sizeof x, "many", cards[k].i);
        it_value(g_admin,
                 "SELECT concat_ws('|', status, virtual, card_prefix, card_series, response_code) "
                 "FROM stored_value_card WHERE card_hash = $1",
                 x, NULL, v, sizeof v);
        if (strcmp(v, cards[k].want) != 0)
            fail_msg("case %d's card: %s, not %s", cards[k].i, v, cards[k].want);
    }

    /* A row already final takes no second answer, either way, and nothing changes. */
    it_run_cases(g_db, N, false, submit_case, (void *)"one", r1);
    it_run_cases(g_db, N, true, submit_case, (void *)"many", rn);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r1[i].ntuples, 0);
        assert_int_equal(rn[i].ntuples, 0);
        expect_alike(i);
    }
}

/*
 * Units that touch one row never share a merged statement, and keep their order: a recharge
 * declined then one approved on one card (the approved one activates it, its response code
 * last), and two deposits on one authorization (both settled, the second voiding what
 * remains). Merged or one at a time: the same rows.
 */
static void test_one_row_two_answers(void **state)
{
    (void)state;
    for (int merged = 0; merged < 2; merged++) {
        const char *set = merged ? "tmany" : "tone";
        char card[65], auth[96], req[4][96];
        hash_of(card, sizeof card, set, 0);
        rid(auth, sizeof auth, set, "auth", 0);
        card_row(card, true);
        auth_row(auth, card, "20.00");
        for (int k = 0; k < 4; k++)
            rid(req[k], sizeof req[k], set, "two", k);
        sent_row(req[0], "recharge", "svc_recharge", "sent", card, true, NULL, NULL, false);
        sent_row(req[1], "recharge", "svc_recharge", "sent", card, true, NULL, NULL, false);
        sent_row(req[2], "deposit", "svc_postauth", "sent", card, false, auth, "10.00", false);
        sent_row(req[3], "deposit", "svc_postauth", "sent", card, false, auth, "10.00", true);

        pl_db_counts before = pl_db_get_counts(g_db);
        it_unit_rec r[4];
        for (int k = 0; k < 4; k++) {
            char key[128];
            pl_svc_touch_key(k >= 2 ? auth : NULL, "RLT", k < 2 ? card : NULL, key, sizeof key);
            bool declined = k == 0;
            const char *p[18] = {req[k],
                                 declined ? "declined" : "approved",
                                 declined ? "INACTIVE" : "00",
                                 declined ? "CARD_INACTIVE" : "",
                                 "",
                                 declined ? NULL
                                 : k == 3 ? "7.00"
                                          : "10.00",
                                 "sv-tx-8",
                                 "",
                                 "",
                                 "",
                                 NULL,
                                 "",
                                 "",
                                 "{\"v\":1}",
                                 NULL,
                                 NULL,
                                 "85749",
                                 "06"};
            it_submit(g_db, "svc_store", 18, p, key, &r[k]);
            if (!merged)
                it_drive(g_db);
        }
        it_drive(g_db);
        pl_db_counts after = pl_db_get_counts(g_db);
        for (int k = 0; k < 4; k++) {
            assert_int_equal(r[k].calls, 1);
            if (r[k].err != 0)
                fail_msg("unit %d: %s", k, r[k].msg);
            assert_int_equal(r[k].ntuples, 1);
        }
        /* Merged, a recharge goes with a deposit (which pairs is db.c's gather's choice), never
         * two units of one card or one authorization together: at least one merged statement,
         * so the merged path is the one tested. (Without the keys both recharges share a
         * statement and the approved one is lost: the card stays 'generated', INACTIVE.) */
        unsigned long long merged_now = after.merged_executions - before.merged_executions;
        if (merged)
            assert_true(merged_now >= 2);
        else
            assert_int_equal(merged_now, 0);
    }
    /* Both sets alike, card and authorization: the approved recharge activated the card last;
     * the first deposit took 10.00 of its claim, the second 7.00 and voided what remained. */
    char a[96], b[96], v[256];
    hash_of(a, sizeof a, "tone", 0);
    hash_of(b, sizeof b, "tmany", 0);
    expect_same("stored_value_card", "card_hash", a, b, true);
    it_value(g_admin,
             "SELECT concat_ws('|', status, response_code) FROM stored_value_card WHERE "
             "card_hash = $1",
             b, NULL, v, sizeof v);
    assert_string_equal(v, "active|00");
    rid(a, sizeof a, "tone", "auth", 0);
    rid(b, sizeof b, "tmany", "auth", 0);
    expect_same("svc_trans", "request_id", a, b, true);
    expect_amounts(b, "0.00|17.00|13.00");
}

/* ---- svc_mark_sent:many --------------------------------------------------------------------- */

enum { M = 7 };

/* Mark case i: the row, and the mark made on it by attempt "it/7". */
typedef struct mark_case {
    const char *type, *status; /* the row (sent ones by attempt "it/1") */
    const char *claim;         /* what the mark claims on the row's authorization; NULL: none */
    const char *pending;       /* claimed on that authorization (of 30.00) before */
    bool next_call;            /* J19's next call: takes over the row attempt "it/1" marked */
    bool void_remainder;
} mark_case;

static const mark_case marks[M] = {
    {"deposit", "received", "10.00", "0.00", false, false},
    {"deposit", "received", "25.00", "10.00", false, false}, /* 20.00 remains: not marked */
    {"deposit", "received", NULL, NULL, false, false},       /* an authorization paylink lacks */
    {"deposit", "received", "30.00", "0.00", false, true},   /* all of it, the rest voided */
    {"auth", "sent", NULL, NULL, true, false},
    {"deposit", "sent", "10.00", "10.00", false, false},    /* another attempt's: not taken */
    {"deposit", "approved", "10.00", "0.00", false, false}, /* answered: not marked */
};

/* Every mark case's rows of set `set`: its authorization (deposits that claim), its own row. */
static void prepare_marks(const char *set)
{
    for (int i = 0; i < M; i++) {
        const mark_case *c = &marks[i];
        char req[96], auth[96], hash[65];
        rid(req, sizeof req, set, "mark", i);
        rid(auth, sizeof auth, set, "auth", i);
        hash_of(hash, sizeof hash, set, i);
        if (c->claim)
            auth_row(auth, hash, c->pending);
        bool claimed = c->claim && strcmp(c->status, "received") != 0;
        sent_row(req, c->type, strcmp(c->type, "auth") ? "svc_postauth" : "svc_inquiry", c->status,
                 hash, false, c->claim ? auth : NULL, claimed ? c->claim : NULL, false);
    }
}

/* Submits mark case i of set ctx as svc_mark_sent makes it, by attempt `x->attempt`, with the
 * spec's touch key (the authorization a claim is on). */
typedef struct mark_run {
    const char *set, *attempt;
} mark_run;

static void submit_mark(void *ctx, int i, it_unit_rec *r)
{
    const mark_run *x = ctx;
    const mark_case *c = &marks[i];
    char req[96], auth[96], key[128];
    rid(req, sizeof req, x->set, "mark", i);
    rid(auth, sizeof auth, x->set, "auth", i);
    pl_svc_touch_key(c->claim ? auth : NULL, NULL, NULL, key, sizeof key);
    const char *p[8] = {req,
                        strcmp(c->type, "auth") ? "svc_postauth" : "svc_preauth",
                        x->attempt,
                        c->claim,
                        c->claim ? auth : NULL,
                        c->next_call ? "it/1" : "",
                        c->void_remainder ? "true" : "false",
                        "it_merchant"};
    it_submit(g_db, "svc_mark_sent", 8, p, key, r);
}

/* Every row the two sets' mark case i left alike: its own and its authorization's. */
static void expect_marks_alike(int i)
{
    char a[96], b[96];
    rid(a, sizeof a, "mone", "mark", i);
    rid(b, sizeof b, "mmany", "mark", i);
    expect_same("svc_trans", "request_id", a, b, true);
    rid(a, sizeof a, "mone", "auth", i);
    rid(b, sizeof b, "mmany", "auth", i);
    expect_same("svc_trans", "request_id", a, b, marks[i].claim != NULL);
}

/*
 * svc_mark_sent:many marks and claims what svc_mark_sent does one at a time: a claim that fits,
 * not one over what remains; no claim where the deposit names an authorization paylink does
 * not hold; a next call's mark taking over its own previous one; not a row another attempt
 * marked or one answered. Marked again by the same attempt: returned, claimed once; by another
 * attempt: nothing.
 */
static void test_marks_same_either_way(void **state)
{
    (void)state;
    static const int want[M] = {1, 0, 1, 1, 1, 0, 0};
    prepare_marks("mone");
    prepare_marks("mmany");
    static const char *const attempts[] = {"it/7", "it/7", "it/8"};
    for (size_t round = 0; round < sizeof attempts / sizeof attempts[0]; round++) {
        it_unit_rec r1[M], rn[M];
        mark_run one = {"mone", attempts[round]}, many = {"mmany", attempts[round]};
        it_run_cases(g_db, M, false, submit_mark, &one, r1);
        it_run_cases(g_db, M, true, submit_mark, &many, rn);
        for (int i = 0; i < M; i++) {
            int w = round < 2 ? want[i] : 0;
            if (r1[i].err || rn[i].err)
                fail_msg("round %zu case %d: %s%s", round, i, r1[i].msg, rn[i].msg);
            if (r1[i].ntuples != w || rn[i].ntuples != w)
                fail_msg("round %zu case %d: %d and %d rows, not %d", round, i, r1[i].ntuples,
                         rn[i].ntuples, w);
            if (w) {
                char b[96];
                rid(b, sizeof b, "mmany", "mark", i);
                assert_string_equal(rn[i].key, b);
            }
            expect_marks_alike(i);
        }
    }
    /* What the marks claimed, as the merged statement left it. */
    char x[96];
    rid(x, sizeof x, "mmany", "auth", 0);
    expect_amounts(x, "10.00|0.00|0.00");
    rid(x, sizeof x, "mmany", "auth", 1);
    expect_amounts(x, "10.00|0.00|0.00");
    rid(x, sizeof x, "mmany", "auth", 3);
    expect_amounts(x, "30.00|0.00|0.00");
    char v[256];
    rid(x, sizeof x, "mmany", "mark", 4);
    it_value(g_admin,
             "SELECT concat_ws('|', status, operation, sent_by) FROM svc_trans "
             "WHERE request_id = $1",
             x, NULL, v, sizeof v);
    assert_string_equal(v, "sent|svc_preauth|it/7");
}

/* Two deposits of one authorization in one batch: each fits alone, not both. They never share a
 * merged statement (an UPDATE … FROM changes the authorization once however many executions
 * join it: both would be marked on one claim), so only the first is marked, as one at a time. */
static void test_two_deposits_on_one_authorization(void **state)
{
    (void)state;
    char auth[96], hash[65], req[2][96];
    rid(auth, sizeof auth, "mtwo", "auth", 0);
    hash_of(hash, sizeof hash, "mtwo", 0);
    auth_row(auth, hash, "0.00");
    for (int k = 0; k < 2; k++) {
        rid(req[k], sizeof req[k], "mtwo", "dep", k);
        sent_row(req[k], "deposit", "svc_postauth", "received", hash, false, auth, NULL, false);
    }
    pl_db_counts before = pl_db_get_counts(g_db);
    it_unit_rec r[2];
    for (int k = 0; k < 2; k++) {
        char key[128];
        pl_svc_touch_key(auth, NULL, NULL, key, sizeof key);
        const char *p[8] = {req[k], "svc_postauth", "it/7", "20.00", auth, "", "false", ""};
        it_submit(g_db, "svc_mark_sent", 8, p, key, &r[k]);
    }
    it_drive_apart(g_db, before, r, 2);
    assert_int_equal(r[0].ntuples, 1);
    assert_int_equal(r[1].ntuples, 0);
    expect_amounts(auth, "20.00|0.00|0.00");
}

/* The authorization's deferred void (056): whose it is, "(null)" when none. */
static void expect_deferred(const char *req, const char *want)
{
    char v[128];
    it_value(g_admin, "SELECT void_deferred_by FROM svc_trans WHERE request_id = $1", req, NULL, v,
             sizeof v);
    assert_string_equal(v, want);
}

/* Settles deposit req as a store (or the resolver, or an operator) does: `status`, approving
 * `approved` (NULL: nothing). */
static void settle(const char *req, const char *status, const char *approved)
{
    it_exec(g_admin,
            "UPDATE svc_trans SET status = $2, amount_approved = $3::numeric, answered_at = now() "
            "WHERE request_id = $1",
            3, (const char *[]){req, status, approved});
}

/*
 * A deposit sent with voidRemainder while another deposit of the same authorization is in
 * flight (056): the bureau released whatever the first did not deposit, the other's claim too.
 * Its approval voids what no claim holds, and the rest once the other claim ends, whichever
 * way it ends: declined (the remainder gone at the bureau), or approved for part of it. Before,
 * the other's claim came back as money left on the authorization: a next deposit was sent for
 * it, and `svc reverse-unused` listed it. A voidRemainder deposit declined voids nothing, and
 * one approved with no other claim voids the whole remainder at once, with no mark.
 */
static void test_void_remainder_beside_another_deposit(void **state)
{
    (void)state;
    static const struct {
        const char *other, *other_approved, *after;
    } ends[] = {
        {"declined", NULL, "0.00|10.00|20.00"},
        {"approved", "3.00", "0.00|13.00|17.00"},
        {"error", NULL, "0.00|10.00|20.00"},
    };
    for (int k = 0; k < 3; k++) {
        char auth[96], hash[65], vr[96], other[96], set[16];
        snprintf(set, sizeof set, "dvr%d", k);
        rid(auth, sizeof auth, set, "auth", 0);
        rid(vr, sizeof vr, set, "dep", 0);
        rid(other, sizeof other, set, "dep", 1);
        hash_of(hash, sizeof hash, set, 0);
        auth_row(auth, hash, "15.00"); /* 30.00 approved; the two claims below */
        sent_row(vr, "deposit", "svc_postauth", "sent", hash, false, auth, "10.00", true);
        sent_row(other, "deposit", "svc_postauth", "sent", hash, false, auth, "5.00", false);

        settle(vr, "approved", "10.00");
        /* 10.00 deposited; of 20.00 left, 15.00 voided now, 5.00 when the other ends. */
        expect_amounts(auth, "5.00|10.00|15.00");
        expect_deferred(auth, vr);

        settle(other, ends[k].other, ends[k].other_approved);
        expect_amounts(auth, ends[k].after);
        expect_deferred(auth, "(null)");
    }

    /* Declined: nothing voided, no mark; approved alone: the whole remainder, no mark. */
    char auth[96], hash[65], vr[96], other[96];
    rid(auth, sizeof auth, "dvrx", "auth", 0);
    rid(vr, sizeof vr, "dvrx", "dep", 0);
    rid(other, sizeof other, "dvrx", "dep", 1);
    hash_of(hash, sizeof hash, "dvrx", 0);
    auth_row(auth, hash, "15.00");
    sent_row(vr, "deposit", "svc_postauth", "sent", hash, false, auth, "10.00", true);
    sent_row(other, "deposit", "svc_postauth", "sent", hash, false, auth, "5.00", true);
    settle(vr, "declined", NULL);
    expect_amounts(auth, "5.00|0.00|0.00");
    expect_deferred(auth, "(null)");
    settle(other, "approved", "5.00");
    expect_amounts(auth, "0.00|5.00|25.00");
    expect_deferred(auth, "(null)");
}

/* svc_mark_sent of request req (operation op) by attempt `attempt`, claiming `amount` on `ref`,
 * alone, its unit touching `key`: the rows it returned. */
static int mark_one(const char *req, const char *op, const char *attempt, const char *amount,
                    const char *ref, const char *key)
{
    it_unit_rec one;
    pl_db_counts before = pl_db_get_counts(g_db);
    it_submit(g_db, "svc_mark_sent", 8,
              (const char *[]){req, op, attempt, amount, ref, "", "false", ""}, key, &one);
    it_drive_apart(g_db, before, &one, 1);
    return one.ntuples;
}

/* mark_one touching the row it claims on, as the spec's touch key declares it. */
static int mark_alone(const char *req, const char *op, const char *attempt, const char *amount,
                      const char *ref)
{
    char key[128];
    pl_svc_touch_key(ref, NULL, NULL, key, sizeof key);
    return mark_one(req, op, attempt, amount, ref, key);
}

/* A return naming the deposit it refunds claims on the deposit (042): two returns of one
 * deposit of 20.00 in one batch, each fitting alone, not both: only the first is marked. Its
 * approval, written by whoever (here a plain UPDATE, as an operator's or the resolver's), adds
 * what it returned to the deposit's amount_returned and releases the claim; a third return fits
 * what is left, and its decline releases its claim and returns nothing. A return naming an
 * authorization, or a deposit naming a deposit, claims nothing and is not marked. */
static void test_returns_on_one_deposit(void **state)
{
    (void)state;
    char auth[96], dep[96], hash[65], ret[3][96], bad[96];
    rid(auth, sizeof auth, "rtwo", "auth", 0);
    rid(dep, sizeof dep, "rtwo", "dep", 0);
    hash_of(hash, sizeof hash, "rtwo", 0);
    auth_row(auth, hash, "0.00");
    sent_row(dep, "deposit", "svc_postauth", "sent", hash, false, auth, "20.00", false);
    it_exec(g_admin,
            "UPDATE svc_trans SET status = 'approved', amount_approved = 20.00 "
            "WHERE request_id = $1",
            1, (const char *[]){dep});
    expect_amounts(auth, "0.00|20.00|0.00");
    for (int k = 0; k < 3; k++) {
        rid(ret[k], sizeof ret[k], "rtwo", "ret", k);
        sent_row(ret[k], "return", "svc_return", "received", hash, false, dep, NULL, false);
    }
    char v[128];
    const char *returned_sql = "SELECT concat_ws('|', amount_pending, amount_returned) FROM "
                               "svc_trans WHERE request_id = $1";
    pl_db_counts before = pl_db_get_counts(g_db);
    it_unit_rec r[2];
    char key[128];
    pl_svc_touch_key(dep, NULL, NULL, key, sizeof key);
    for (int k = 0; k < 2; k++) {
        const char *p[8] = {ret[k], "svc_return", "it/7", "15.00", dep, "", "false", ""};
        it_submit(g_db, "svc_mark_sent", 8, p, key, &r[k]);
    }
    it_drive_apart(g_db, before, r, 2);
    assert_int_equal(r[0].ntuples, 1);
    assert_int_equal(r[1].ntuples, 0);
    it_value(g_admin, returned_sql, dep, NULL, v, sizeof v);
    assert_string_equal(v, "15.00|0.00");
    it_value(g_admin, "SELECT status || '|' || claim_amount FROM svc_trans WHERE request_id = $1",
             ret[0], NULL, v, sizeof v);
    assert_string_equal(v, "sent|15.00");

    it_exec(g_admin,
            "UPDATE svc_trans SET status = 'approved', amount_approved = 15.00 "
            "WHERE request_id = $1",
            1, (const char *[]){ret[0]});
    it_value(g_admin, returned_sql, dep, NULL, v, sizeof v);
    assert_string_equal(v, "0.00|15.00");
    expect_amounts(auth, "0.00|20.00|0.00"); /* the authorization is not touched */

    /* 5.01 does not fit what is left (5.00); 5.00 does. */
    assert_int_equal(mark_alone(ret[1], "svc_return", "it/8", "5.01", dep), 0);
    assert_int_equal(mark_alone(ret[2], "svc_return", "it/9", "5.00", dep), 1);
    it_value(g_admin, returned_sql, dep, NULL, v, sizeof v);
    assert_string_equal(v, "5.00|15.00");
    it_exec(g_admin, "UPDATE svc_trans SET status = 'declined' WHERE request_id = $1", 1,
            (const char *[]){ret[2]});
    it_value(g_admin, returned_sql, dep, NULL, v, sizeof v);
    assert_string_equal(v, "0.00|15.00");

    /* A return naming an authorization claims nothing there, nor a deposit naming a deposit. */
    rid(bad, sizeof bad, "rtwo", "bad", 0);
    sent_row(bad, "return", "svc_return", "received", hash, false, auth, NULL, false);
    assert_int_equal(mark_alone(bad, "svc_return", "it/10", "1.00", auth), 0);
    rid(bad, sizeof bad, "rtwo", "bad", 1);
    sent_row(bad, "deposit", "svc_postauth", "received", hash, false, dep, NULL, false);
    assert_int_equal(mark_alone(bad, "svc_postauth", "it/11", "1.00", dep), 0);
    expect_amounts(auth, "0.00|20.00|0.00");
    it_value(g_admin, returned_sql, dep, NULL, v, sizeof v);
    assert_string_equal(v, "0.00|15.00");

    /* A return recorded before 042 (its row names no deposit) and marked after: its claim names
     * the deposit on its row, so that its outcome releases it. */
    char old[96];
    rid(old, sizeof old, "rtwo", "old", 0);
    sent_row(old, "return", "svc_return", "received", hash, false, NULL, NULL, false);
    assert_int_equal(mark_alone(old, "svc_return", "it/12", "1.00", dep), 1);
    it_value(g_admin,
             "SELECT ref_request_id || '|' || claim_amount FROM svc_trans "
             "WHERE request_id = $1",
             old, NULL, v, sizeof v);
    char want[128];
    snprintf(want, sizeof want, "%s|1.00", dep);
    assert_string_equal(v, want);
    it_exec(g_admin, "UPDATE svc_trans SET status = 'error' WHERE request_id = $1", 1,
            (const char *[]){old});
    it_value(g_admin, returned_sql, dep, NULL, v, sizeof v);
    assert_string_equal(v, "0.00|15.00");
}

/* An activation's mark claims its card row (043): of two activations of one card in one batch
 * only the first is marked (the card row held: activation_pending); a third is not marked while
 * the first is in flight. The first's final outcome, written by whoever (here a plain UPDATE),
 * releases the card row; an activation of a card made active meanwhile is not marked, one of a
 * card without a row is (the bureau judges). */
static void test_activation_claims_its_card(void **state)
{
    (void)state;
    char hash[65], none[65], act[5][96], key[128], v[128];
    hash_of(hash, sizeof hash, "acl", 0);
    hash_of(none, sizeof none, "acl", 1);
    card_row(hash, true);
    /* Issued for what these activations are for (10.00 USD; the end of the test: another). */
    it_exec(g_admin, "UPDATE stored_value_card SET issue_amount = 10.00 WHERE card_hash = $1", 1,
            (const char *[]){hash});
    for (int k = 0; k < 5; k++) {
        rid(act[k], sizeof act[k], "acl", "act", k);
        sent_row(act[k], "activate", "svc_recharge", "received", k == 4 ? none : hash, true, NULL,
                 NULL, false);
    }
    const char *pending_sql = "SELECT status || '|' || coalesce(activation_pending, 'none') FROM "
                              "stored_value_card WHERE card_hash = $1";
    pl_svc_touch_key(NULL, "RLT", hash, key, sizeof key);
    pl_db_counts before = pl_db_get_counts(g_db);
    it_unit_rec r[2];
    for (int k = 0; k < 2; k++)
        it_submit(g_db, "svc_mark_sent", 8,
                  (const char *[]){act[k], "svc_recharge", "it/a", NULL, NULL, "", "false", ""},
                  key, &r[k]);
    it_drive_apart(g_db, before, r, 2);
    assert_int_equal(r[0].ntuples, 1);
    assert_int_equal(r[1].ntuples, 0);
    it_value(g_admin, pending_sql, hash, NULL, v, sizeof v);
    char want[128];
    snprintf(want, sizeof want, "generated|%s", act[0]);
    assert_string_equal(v, want);
    /* The same attempt's mark again (a unit re-sent): still its own. */
    assert_int_equal(mark_one(act[0], "svc_recharge", "it/a", NULL, NULL, key), 1);
    assert_int_equal(mark_one(act[2], "svc_recharge", "it/b", NULL, NULL, key), 0);

    /* Released by the claim itself, also when the card's row moved to a newer hash key
     * meanwhile (040). */
    char moved[65];
    hash_of(moved, sizeof moved, "acl", 2);
    it_exec(g_admin, "UPDATE stored_value_card SET card_hash = $2 WHERE card_hash = $1", 2,
            (const char *[]){hash, moved});
    it_exec(g_admin, "UPDATE svc_trans SET status = 'error' WHERE request_id = $1", 1,
            (const char *[]){act[0]});
    it_value(g_admin, pending_sql, moved, NULL, v, sizeof v);
    assert_string_equal(v, "generated|none");
    it_exec(g_admin, "UPDATE stored_value_card SET card_hash = $1 WHERE card_hash = $2", 2,
            (const char *[]){hash, moved});
    assert_int_equal(mark_one(act[2], "svc_recharge", "it/c", NULL, NULL, key), 1);
    it_exec(g_admin, "UPDATE stored_value_card SET status = 'active' WHERE card_hash = $1", 1,
            (const char *[]){hash});
    it_exec(g_admin, "UPDATE svc_trans SET status = 'approved' WHERE request_id = $1", 1,
            (const char *[]){act[2]});
    it_value(g_admin, pending_sql, hash, NULL, v, sizeof v);
    assert_string_equal(v, "active|none");
    assert_int_equal(mark_one(act[3], "svc_recharge", "it/d", NULL, NULL, key), 0);

    pl_svc_touch_key(NULL, "RLT", none, key, sizeof key);
    assert_int_equal(mark_one(act[4], "svc_recharge", "it/e", NULL, NULL, key), 1);

    /* A card issued for 25.00 USD is claimed only by an activation for 25.00 USD (the spec
     * refuses the others before the mark; the mark re-checks on the card row's newest version):
     * the others are not marked and hold nothing. */
    char issued[65], other[96];
    hash_of(issued, sizeof issued, "acl", 3);
    card_row(issued, true);
    rid(other, sizeof other, "acl", "act", 5);
    sent_row(other, "activate", "svc_recharge", "received", issued, true, NULL, NULL, false);
    pl_svc_touch_key(NULL, "RLT", issued, key, sizeof key);
    const char *set_sql = "UPDATE svc_trans SET amount = $2::numeric, currency = $3 "
                          "WHERE request_id = $1";
    assert_int_equal(mark_one(other, "svc_recharge", "it/f", NULL, NULL, key), 0); /* 10.00 */
    it_exec(g_admin, set_sql, 3, (const char *[]){other, "25.00", "EUR"});
    assert_int_equal(mark_one(other, "svc_recharge", "it/f", NULL, NULL, key), 0);
    it_value(g_admin, pending_sql, issued, NULL, v, sizeof v);
    assert_string_equal(v, "generated|none");
    it_value(g_admin, "SELECT status FROM svc_trans WHERE request_id = $1", other, NULL, v,
             sizeof v);
    assert_string_equal(v, "received");
    it_exec(g_admin, set_sql, 3, (const char *[]){other, "25.00", "USD"});
    assert_int_equal(mark_one(other, "svc_recharge", "it/f", NULL, NULL, key), 1);
    it_value(g_admin, pending_sql, issued, NULL, v, sizeof v);
    snprintf(want, sizeof want, "generated|%s", other);
    assert_string_equal(v, want);

    /* A card whose row records no issue amount or currency (generated without them): any. */
    char bare[65], third[96];
    hash_of(bare, sizeof bare, "acl", 4);
    card_row(bare, true);
    it_exec(
        g_admin,
        "UPDATE stored_value_card SET issue_amount = NULL, currency = NULL WHERE card_hash = $1", 1,
        (const char *[]){bare});
    rid(third, sizeof third, "acl", "act", 6);
    sent_row(third, "activate", "svc_recharge", "received", bare, true, NULL, NULL, false);
    pl_svc_touch_key(NULL, "RLT", bare, key, sizeof key);
    assert_int_equal(mark_one(third, "svc_recharge", "it/g", NULL, NULL, key), 1);
}

/* Card k of set "apart": a physical card without a row (0, 2) or a generated one (1, 3). */
static void submit_part(void *ctx, int k, it_unit_rec *r)
{
    const char *set = ctx;
    char req[96], hash[65], key[128];
    rid(req, sizeof req, set, "act", k);
    hash_of(hash, sizeof hash, set, k);
    pl_svc_touch_key(NULL, "RLT", hash, key, sizeof key);
    const char *p[18] = {req,
                         "approved",
                         "00",
                         "",
                         "",
                         "4.00",
                         "sv-tx-8",
                         "4472",
                         "2026-12-05T02:00:00Z",
                         "ACC-9",
                         NULL,
                         "",
                         "",
                         "{\"v\":1,\"status\":\"approved\"}",
                         NULL,
                         NULL,
                         "85749",
                         "06"};
    it_submit(g_db, "svc_store", 18, p, key, r);
}

/*
 * An activation approved for part of its amount (an External Payment Service activateGift
 * accepted for less than it sent; Customer Engagement's answer is refused) loaded the card with
 * that part: the card's issue amount is the part (4.00 of the 10.00 sent), whether its row is
 * recorded now (the request's svc.issue_amount, 25.00, not taken) or was before (a generated
 * card's 25.00 replaced) — merged with other activations' answers or one at a time. Before,
 * 25.00 both.
 */
static void test_activation_approved_for_part(void **state)
{
    (void)state;
    static const char *const sets[] = {"apone", "apmany"};
    for (int m = 0; m < 2; m++) {
        char req[96], hash[65], v[128];
        for (int k = 0; k < 4; k++) {
            rid(req, sizeof req, sets[m], "act", k);
            hash_of(hash, sizeof hash, sets[m], k);
            if (k % 2)
                card_row(hash, true);
            sent_row(req, "activate", k % 2 ? "svc_recharge" : "svc_activate", "sent", hash,
                     k % 2 != 0, NULL, NULL, false);
        }
        it_unit_rec r[4];
        it_run_cases(g_db, 4, m == 1, submit_part, (void *)sets[m], r);
        for (int k = 0; k < 4; k++) {
            assert_int_equal(r[k].ntuples, 1);
            hash_of(hash, sizeof hash, sets[m], k);
            it_value(g_admin,
                     "SELECT concat_ws('|', status, issue_amount, virtual) FROM stored_value_card "
                     "WHERE card_hash = $1",
                     hash, NULL, v, sizeof v);
            assert_string_equal(v, k % 2 ? "active|4.00|t" : "active|4.00|f");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_rows_either_way),
        cmocka_unit_test(test_one_row_two_answers),
        cmocka_unit_test(test_marks_same_either_way),
        cmocka_unit_test(test_two_deposits_on_one_authorization),
        cmocka_unit_test(test_void_remainder_beside_another_deposit),
        cmocka_unit_test(test_returns_on_one_deposit),
        cmocka_unit_test(test_activation_claims_its_card),
        cmocka_unit_test(test_activation_approved_for_part),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
