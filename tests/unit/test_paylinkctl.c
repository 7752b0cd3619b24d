/*
 * test_paylinkctl.c: the pure parts of paylinkctl: requests built from flags, request text
 * checks, message keys and topic names (reqbuild), migration file names, ordering and checksums
 * (migrate), and how consumed messages are matched and printed (ctlmsg). The database and
 * Kafka sides are exercised end to end (tests/e2e/test_paylinkctl_migrate.sh, test_smoke.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlmsg.h"
#include "deposits.h"
#include "migrate.h"
#include "reqbuild.h"

#define PAN "4111111111111111"

/* ---- helpers ----------------------------------------------------------------------------- */

static void set_flag(pl_reqbuild *b, const char *flag, const char *value)
{
    char errstr[128];
    assert_int_equal(pl_reqbuild_set(b, flag, value, errstr, sizeof errstr), PL_OK);
}

static char *compact(json_object *obj)
{
    const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
    assert_non_null(s);
    char *copy = strdup(s);
    assert_non_null(copy);
    return copy;
}

static void write_file(const char *dir, const char *name, const char *content, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *make_dir(void)
{
    char tmpl[] = "/tmp/test_paylinkctl.XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char *copy = strdup(dir);
    assert_non_null(copy);
    return copy;
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

/* ---- reqbuild: requests from flags ------------------------------------------------------------
 */

static void test_flags_build_full_auth(void **state)
{
    (void)state;
    pl_reqbuild b = {0};
    char errstr[128];
    set_flag(&b, "--request-id", "r-1");
    set_flag(&b, "--company", "1");
    set_flag(&b, "--order", "O1");
    set_flag(&b, "--pay-seq", "2");
    set_flag(&b, "--service", "CYB");
    set_flag(&b, "--amount", "120.00");
    set_flag(&b, "--currency", "USD");
    set_flag(&b, "--card-number", PAN);
    set_flag(&b, "--exp-month", "12");
    set_flag(&b, "--exp-year", "2030");
    set_flag(&b, "--cvv", "987");
    set_flag(&b, "--card-type", "VI");
    set_flag(&b, "--mode", "online");
    set_flag(&b, "--postal-code", "00000");
    set_flag(&b, "--bill-country", "US");

    json_object *req = NULL;
    assert_int_equal(pl_reqbuild_json(&b, "auth", &req, errstr, sizeof errstr), PL_OK);
    char *text = compact(req);
    /* Integers stay integers, amounts and postal codes stay strings, in the table's order. */
    assert_string_equal(text, "{\"v\":1,\"request_id\":\"r-1\",\"type\":\"auth\",\"company\":1,"
                              "\"order\":\"O1\",\"pay_seq\":2,\"service\":\"CYB\","
                              "\"amount\":\"120.00\",\"currency\":\"USD\",\"mode\":\"online\","
                              "\"card\":{\"number\":\"" PAN "\",\"exp_month\":12,"
                              "\"exp_year\":2030,\"cvv\":\"987\",\"type\":\"VI\"},"
                              "\"bill_to\":{\"postal_code\":\"00000\",\"country\":\"US\"}}");
    free(text);

    char key[64];
    assert_int_equal(pl_reqbuild_key(req, key, sizeof key), PL_OK);
    assert_string_equal(key, "1-O1");
    assert_string_equal(pl_reqbuild_request_id(req), "r-1");
    json_object_put(req);
    pl_reqbuild_free(&b);
    assert_true(pl_reqbuild_empty(&b));
}

static void test_flags_follow_on_refs(void **state)
{
    (void)state;
    pl_reqbuild b = {0};
    char errstr[128];
    set_flag(&b, "--request-id", "d-1");
    set_flag(&b, "--auth-ref", "a-1");
    set_flag(&b, "--token", "tok123");
    json_object *req = NULL;
    assert_int_equal(pl_reqbuild_json(&b, "deposit", &req, errstr, sizeof errstr), PL_OK);
    char *text = compact(req);
    assert_string_equal(text, "{\"v\":1,\"request_id\":\"d-1\",\"type\":\"debit\","
                              "\"card\":{\"token\":\"tok123\"},"
                              "\"auth_ref\":{\"request_id\":\"a-1\"}}");
    free(text);
    json_object_put(req);
    pl_reqbuild_free(&b);
}

static void test_flags_default_type_per_worker(void **state)
{
    (void)state;
    static const struct {
        const char *worker, *type;
    } cases[] = {{"auth", "auth"}, {"deposit", "debit"}, {"reversal", "reversal"}};
    char errstr[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_reqbuild b = {0};
        set_flag(&b, "--company", "3");
        json_object *req = NULL, *type = NULL;
        assert_int_equal(pl_reqbuild_json(&b, cases[i].worker, &req, errstr, sizeof errstr), PL_OK);
        assert_true(json_object_object_get_ex(req, "type", &type));
        assert_string_equal(json_object_get_string(type), cases[i].type);
        json_object_put(req);
        pl_reqbuild_free(&b);
    }

    /* Stored value has seven types and no usual one: --type is required. */
    pl_reqbuild b = {0};
    json_object *req = NULL;
    set_flag(&b, "--company", "3");
    assert_int_equal(pl_reqbuild_json(&b, "svc", &req, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_null(req);
    assert_non_null(strstr(errstr, "--type"));
    set_flag(&b, "--type", "balance");
    assert_int_equal(pl_reqbuild_json(&b, "svc", &req, errstr, sizeof errstr), PL_OK);
    json_object_put(req);
    pl_reqbuild_free(&b);
}

/* Stored value requests from flags: the svc object, its card as card data. */
static void test_flags_svc(void **state)
{
    (void)state;
    char errstr[128];
    pl_reqbuild b = {0};
    set_flag(&b, "--request-id", "s-1");
    set_flag(&b, "--type", "activate");
    set_flag(&b, "--amount", "50.00");
    set_flag(&b, "--svc-card-number", "8574906000000001");
    set_flag(&b, "--order-line", "1");
    set_flag(&b, "--issue-amount", "50.00");
    set_flag(&b, "--virtual", "true");
    json_object *req = NULL;
    assert_int_equal(pl_reqbuild_json(&b, "svc", &req, errstr, sizeof errstr), PL_OK);
    assert_string_equal(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
                        "{\"v\":1,\"request_id\":\"s-1\",\"type\":\"activate\","
                        "\"amount\":\"50.00\",\"svc\":{\"card_number\":\"8574906000000001\","
                        "\"order_line\":1,\"issue_amount\":\"50.00\",\"virtual\":true}}");
    json_object_put(req);
    assert_true(pl_reqbuild_is_secret("--svc-card-number"));
    assert_false(pl_reqbuild_is_secret("--issue-amount"));
    pl_reqbuild_free(&b);

    pl_reqbuild c = {0};
    set_flag(&c, "--type", "generate");
    set_flag(&c, "--virtual", "yes");
    assert_int_equal(pl_reqbuild_json(&c, "svc", &req, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "--virtual"));
    pl_reqbuild_free(&c);
}

static bool id_chars_ok(const char *id)
{
    for (const char *p = id; *p; p++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", *p))
            return false;
    }
    return true;
}

static void test_flags_generated_request_id(void **state)
{
    (void)state;
    char errstr[128];
    pl_reqbuild b = {0};
    set_flag(&b, "--company", "1");
    json_object *r1 = NULL, *r2 = NULL;
    assert_int_equal(pl_reqbuild_json(&b, "auth", &r1, errstr, sizeof errstr), PL_OK);
    assert_int_equal(pl_reqbuild_json(&b, "auth", &r2, errstr, sizeof errstr), PL_OK);
    const char *id1 = pl_reqbuild_request_id(r1), *id2 = pl_reqbuild_request_id(r2);
    assert_non_null(id1);
    assert_non_null(id2);
    assert_string_not_equal(id1, id2);
    assert_memory_equal(id1, "ctl-", 4);
    assert_true(strlen(id1) >= 1 && strlen(id1) <= 50);
    assert_true(id_chars_ok(id1));
    json_object_put(r1);
    json_object_put(r2);
    pl_reqbuild_free(&b);

    char small[16];
    assert_int_equal(pl_reqbuild_new_id(small, sizeof small), PL_ERR_TOOBIG);
}

static void test_flags_bad_integer_never_echoes_value(void **state)
{
    (void)state;
    static const char *const flags[] = {"--company", "--pay-seq", "--exp-month", "--exp-year"};
    static const char *const values[] = {"abc", "12x", "", "1.5", PAN, "--"};
    char errstr[256];
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            pl_reqbuild b = {0};
            set_flag(&b, flags[f], values[v]);
            json_object *req = NULL;
            errstr[0] = '\0';
            assert_int_equal(pl_reqbuild_json(&b, "auth", &req, errstr, sizeof errstr),
                             PL_ERR_INVALID);
            assert_null(req);
            assert_non_null(strstr(errstr, flags[f]));
            assert_null(strstr(errstr, PAN));
            assert_null(strstr(errstr, "4111"));
            pl_reqbuild_free(&b);
        }
    }
    /* Negative numbers pass through: the worker, not the CLI, judges them. */
    pl_reqbuild b = {0};
    set_flag(&b, "--company", "-5");
    json_object *req = NULL, *company = NULL;
    assert_int_equal(pl_reqbuild_json(&b, "auth", &req, errstr, sizeof errstr), PL_OK);
    assert_true(json_object_object_get_ex(req, "company", &company));
    assert_int_equal(json_object_get_int(company), -5);
    json_object_put(req);
    pl_reqbuild_free(&b);
}

static void test_flags_unknown_duplicate_secret(void **state)
{
    (void)state;
    char errstr[128];
    pl_reqbuild b = {0};
    assert_true(pl_reqbuild_empty(&b));
    assert_int_equal(pl_reqbuild_set(&b, "--worker", "auth", errstr, sizeof errstr),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_reqbuild_set(&b, "amount", "1.00", errstr, sizeof errstr), PL_ERR_NOTFOUND);
    assert_true(pl_reqbuild_empty(&b));
    set_flag(&b, "--card-number", PAN);
    assert_false(pl_reqbuild_empty(&b));
    errstr[0] = '\0';
    assert_int_equal(
        pl_reqbuild_set(&b, "--card-number", "5555555555554444", errstr, sizeof errstr),
        PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "twice"));
    assert_null(strstr(errstr, "5555"));

    assert_true(pl_reqbuild_is_secret("--card-number"));
    assert_true(pl_reqbuild_is_secret("--cvv"));
    assert_false(pl_reqbuild_is_secret("--amount"));
    assert_false(pl_reqbuild_is_secret("--nope"));
    pl_reqbuild_free(&b);
    pl_reqbuild_free(&b); /* twice is fine */
    assert_true(pl_reqbuild_empty(&b));
}

/* ---- reqbuild: request text, keys, topics ------------------------------------------------------
 */

static void test_parse_request_text(void **state)
{
    (void)state;
    char errstr[256];
    json_object *obj = NULL;
    const char *ok = " {\"request_id\":\"x\",\"card\":{\"number\":\"" PAN "\"}}\n\t ";
    assert_int_equal(pl_reqbuild_parse(ok, strlen(ok), &obj, errstr, sizeof errstr), PL_OK);
    assert_string_equal(pl_reqbuild_request_id(obj), "x");
    json_object_put(obj);

    static const char *const bad[] = {
        "",
        "   ",
        "{\"card\":{\"number\":\"" PAN "\"}",    /* truncated */
        "{\"card\":{\"number\":\"" PAN "\"}} x", /* trailing text */
        "{\"a\":1}{\"b\":2}",                    /* two objects */
        "[1,2]",
        "\"" PAN "\"",
        "not json " PAN,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        obj = NULL;
        errstr[0] = '\0';
        assert_int_equal(pl_reqbuild_parse(bad[i], strlen(bad[i]), &obj, errstr, sizeof errstr),
                         PL_ERR_PARSE);
        assert_null(obj);
        assert_true(strlen(errstr) > 0);
        assert_null(strstr(errstr, "4111"));
    }
}

static void test_message_key(void **state)
{
    (void)state;
    char key[32];
    json_object *obj = json_tokener_parse("{\"company\":12,\"order\":\"A-7\"}");
    assert_int_equal(pl_reqbuild_key(obj, key, sizeof key), PL_OK);
    assert_string_equal(key, "12-A-7");
    json_object_put(obj);

    obj = json_tokener_parse("{\"company\":\"3\",\"order\":991}");
    assert_int_equal(pl_reqbuild_key(obj, key, sizeof key), PL_OK);
    assert_string_equal(key, "3-991");
    json_object_put(obj);

    obj = json_tokener_parse("{\"company\":3}");
    assert_int_equal(pl_reqbuild_key(obj, key, sizeof key), PL_ERR_NOTFOUND);
    json_object_put(obj);

    obj = json_tokener_parse("{\"company\":[3],\"order\":\"x\"}");
    assert_int_equal(pl_reqbuild_key(obj, key, sizeof key), PL_ERR_NOTFOUND);
    json_object_put(obj);

    obj = json_tokener_parse("{\"company\":123,\"order\":\"ABCDEFGHIJKLMNOPQRST\"}");
    char small[8];
    assert_int_equal(pl_reqbuild_key(obj, small, sizeof small), PL_ERR_TOOBIG);
    json_object_put(obj);
}

static void test_topic_names(void **state)
{
    (void)state;
    char t[64];
    assert_int_equal(pl_reqbuild_topic("paylink", "auth", PL_TOPIC_REQUEST, t, sizeof t), PL_OK);
    assert_string_equal(t, "paylink.auth.request");
    assert_int_equal(pl_reqbuild_topic("paylink", "deposit", PL_TOPIC_REPLY, t, sizeof t), PL_OK);
    assert_string_equal(t, "paylink.deposit.reply");
    assert_int_equal(pl_reqbuild_topic("p2", "svc", PL_TOPIC_DLQ, t, sizeof t), PL_OK);
    assert_string_equal(t, "p2.svc.request.dlq");
    assert_int_equal(pl_reqbuild_topic("paylink", "dmupdate", PL_TOPIC_REPLY, t, sizeof t), PL_OK);
    assert_string_equal(t, "paylink.dm.decision");
    assert_int_equal(pl_reqbuild_topic("paylink", "dm", PL_TOPIC_REPLY, t, sizeof t), PL_OK);
    assert_string_equal(t, "paylink.dm.decision");
    assert_int_equal(pl_reqbuild_topic("paylink", "dmupdate", PL_TOPIC_REQUEST, t, sizeof t),
                     PL_ERR_INVALID);
    assert_int_equal(pl_reqbuild_topic("paylink", "bogus", PL_TOPIC_REPLY, t, sizeof t),
                     PL_ERR_INVALID);
    char small[10];
    assert_int_equal(pl_reqbuild_topic("paylink", "auth", PL_TOPIC_REPLY, small, sizeof small),
                     PL_ERR_TOOBIG);

    assert_true(pl_reqbuild_worker_ok("reversal"));
    assert_false(pl_reqbuild_worker_ok("dmupdate"));
    assert_false(pl_reqbuild_worker_ok(""));
}

/* ---- migrate: file names, checksums, ordering
 * ---------------------------------------------------- */

static void test_migration_filenames(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int rc, version;
        const char *name;
    } cases[] = {
        {"001_service_bureau.sql", PL_OK, 1, "service_bureau"},
        {"10_c.sql", PL_OK, 10, "c"},
        {"0042_add-index.v2.sql", PL_OK, 42, "add-index.v2"},
        {"999999999_last.sql", PL_OK, 999999999, "last"},
        {"README.md", PL_ERR_NOTFOUND, 0, NULL},
        {"001_a.sql.orig", PL_ERR_NOTFOUND, 0, NULL},
        {".001_a.sql", PL_ERR_NOTFOUND, 0, NULL},
        {"sql", PL_ERR_NOTFOUND, 0, NULL},
        {"foo.sql", PL_ERR_INVALID, 0, NULL},
        {"000_zero.sql", PL_ERR_INVALID, 0, NULL},
        {"001_.sql", PL_ERR_INVALID, 0, NULL},
        {"001.sql", PL_ERR_INVALID, 0, NULL},
        {"001-a.sql", PL_ERR_INVALID, 0, NULL},
        {"001_a b.sql", PL_ERR_INVALID, 0, NULL},
        {"1234567890_big.sql", PL_ERR_INVALID, 0, NULL},
        {".sql", PL_ERR_NOTFOUND, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int version = -1;
        char name[128] = "";
        int rc = pl_migrate_parse_filename(cases[i].file, &version, name, sizeof name);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, expected %d", cases[i].file, rc, cases[i].rc);
        if (rc == PL_OK) {
            assert_int_equal(version, cases[i].version);
            assert_string_equal(name, cases[i].name);
        }
    }
    /* A name longer than the caller's buffer is refused, not cut. */
    int version;
    char tiny[4];
    assert_int_equal(pl_migrate_parse_filename("001_toolong.sql", &version, tiny, sizeof tiny),
                     PL_ERR_INVALID);
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(pl_migrate_sha256_hex("abc", 3, hex), PL_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(pl_migrate_sha256_hex("", 0, hex), PL_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_scan_orders_numerically(void **state)
{
    (void)state;
    char *dir = make_dir();
    write_file(dir, "10_c.sql", "CREATE TABLE c ();\n", 19);
    write_file(dir, "2_b.sql", "", 0);
    write_file(dir, "001_a.sql", "abc", 3);
    write_file(dir, "README.md", "not a migration", 15);
    write_file(dir, ".001_hidden.sql", "x", 1);

    pl_migration_list list = {0};
    char errstr[256];
    assert_int_equal(pl_migrate_scan(dir, &list, errstr, sizeof errstr), PL_OK);
    assert_int_equal(list.n, 3);
    assert_int_equal(list.v[0].version, 1);
    assert_int_equal(list.v[1].version, 2);
    assert_int_equal(list.v[2].version, 10);
    assert_string_equal(list.v[0].name, "a");
    assert_string_equal(list.v[2].file, "10_c.sql");
    char path[512];
    snprintf(path, sizeof path, "%s/001_a.sql", dir);
    assert_string_equal(list.v[0].path, path);
    assert_string_equal(list.v[0].checksum,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(list.v[1].checksum,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    pl_migrate_list_free(&list);
    pl_migrate_list_free(&list);
    assert_null(list.v);

    /* One changed byte, another checksum: what makes migrate refuse an edited file. */
    write_file(dir, "001_a.sql", "abd", 3);
    assert_int_equal(pl_migrate_scan(dir, &list, errstr, sizeof errstr), PL_OK);
    assert_string_not_equal(list.v[0].checksum,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pl_migrate_list_free(&list);
    remove_dir(dir);
}

static void test_scan_refuses_bad_directories(void **state)
{
    (void)state;
    char errstr[256];
    pl_migration_list list = {0};

    char *dir = make_dir();
    assert_int_equal(pl_migrate_scan(dir, &list, errstr, sizeof errstr), PL_OK);
    assert_int_equal(list.n, 0); /* empty is fine: nothing to apply */

    write_file(dir, "001_a.sql", "a", 1);
    write_file(dir, "1_b.sql", "b", 1);
    assert_int_equal(pl_migrate_scan(dir, &list, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "same version 1"));
    assert_null(list.v);
    remove_dir(dir);

    dir = make_dir();
    write_file(dir, "001_a.sql", "a", 1);
    write_file(dir, "seed.sql", "b", 1);
    assert_int_equal(pl_migrate_scan(dir, &list, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "seed.sql"));
    remove_dir(dir);

    dir = make_dir();
    write_file(dir, "001_nul.sql", "SELECT 1;\0DROP TABLE x;", 23);
    assert_int_equal(pl_migrate_scan(dir, &list, errstr, sizeof errstr), PL_ERR_INVALID);
    assert_non_null(strstr(errstr, "NUL"));
    remove_dir(dir);

    assert_int_equal(pl_migrate_scan("/nonexistent/paylink", &list, errstr, sizeof errstr),
                     PL_ERR_IO);
    assert_non_null(strstr(errstr, "/nonexistent/paylink"));
}

static void test_read_file(void **state)
{
    (void)state;
    char *dir = make_dir();
    /* Larger than the first buffer, so the growth path runs. */
    size_t len = 20000;
    char *big = malloc(len);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++)
        big[i] = (char)('a' + i % 26);
    write_file(dir, "001_big.sql", big, len);

    char path[512], errstr[256], *data = NULL;
    size_t got = 0;
    snprintf(path, sizeof path, "%s/001_big.sql", dir);
    assert_int_equal(pl_migrate_read_file(path, &data, &got, errstr, sizeof errstr), PL_OK);
    assert_int_equal(got, len);
    assert_memory_equal(data, big, len);
    assert_int_equal(data[len], '\0');
    free(data);
    free(big);
    remove_dir(dir);
}

/* ---- ctlmsg: matching and printing -------------------------------------------------------------
 */

static void test_match_request_id(void **state)
{
    (void)state;
    const char *reply = "{\"request_id\":\"r1\",\"status\":\"approved\"}";
    assert_true(pl_ctlmsg_has_request_id(reply, strlen(reply), "r1"));
    assert_false(pl_ctlmsg_has_request_id(reply, strlen(reply), "r"));
    assert_false(pl_ctlmsg_has_request_id(reply, strlen(reply), "r10"));

    const char *dlq = "{\"error\":\"x\",\"request\":{\"request_id\":\"r10\"}}";
    assert_true(pl_ctlmsg_has_request_id(dlq, strlen(dlq), "r10"));
    assert_false(pl_ctlmsg_has_request_id(dlq, strlen(dlq), "r1"));

    /* The dead-letter topic carries the request as text inside its wrapper. */
    const char *wrapped = "{\"error\":\"x\",\"request\":\"{\\\"request_id\\\":\\\"r7\\\"}\"}";
    assert_true(pl_ctlmsg_has_request_id(wrapped, strlen(wrapped), "r7"));
    assert_false(pl_ctlmsg_has_request_id(wrapped, strlen(wrapped), "r"));
    const char *text_member = "{\"request\":\"request_id r7\"}";
    assert_false(pl_ctlmsg_has_request_id(text_member, strlen(text_member), "r7"));

    const char *number = "{\"request_id\":10}";
    assert_false(pl_ctlmsg_has_request_id(number, strlen(number), "10"));
    const char *text = "request_id r1";
    assert_false(pl_ctlmsg_has_request_id(text, strlen(text), "r1"));
    /* Only the first len bytes count. */
    assert_false(pl_ctlmsg_has_request_id(reply, 10, "r1"));
}

static void test_masked_topics(void **state)
{
    (void)state;
    assert_true(pl_ctlmsg_topic_is_masked("paylink.auth.reply"));
    assert_true(pl_ctlmsg_topic_is_masked("paylink.dm.decision"));
    assert_false(pl_ctlmsg_topic_is_masked("paylink.auth.request"));
    assert_false(pl_ctlmsg_topic_is_masked("paylink.auth.request.dlq"));
    assert_false(pl_ctlmsg_topic_is_masked("reply"));
}

static void test_format_messages(void **state)
{
    (void)state;
    /* A reply: compacted to one line, nothing else changed. */
    const char *reply =
        "{\n  \"request_id\": \"r1\",\n  \"card\": {\"masked\": \"411111******1111\"}\n}";
    char *line = pl_ctlmsg_format(reply, strlen(reply), true, false);
    assert_non_null(line);
    assert_string_equal(line, "{\"request_id\":\"r1\",\"card\":{\"masked\":\"411111******1111\"}}");
    free(line);

    /* A request (as on a request or dead-letter topic): no card number, no CVV. */
    const char *req = "{\"request_id\":\"r2\",\"card\":{\"number\":\"" PAN "\",\"cvv\":\"987\"}}";
    line = pl_ctlmsg_format(req, strlen(req), false, false);
    assert_non_null(line);
    assert_null(strstr(line, PAN));
    assert_null(strstr(line, "987"));
    assert_non_null(strstr(line, "\"request_id\":\"r2\""));
    assert_null(strchr(line, '\n'));
    json_object *obj = json_tokener_parse(line);
    assert_non_null(obj);
    json_object_put(obj);
    free(line);

    /* Text that is not JSON: a JSON string, card numbers scrubbed, on any topic. */
    const char *text = "garbage " PAN " end\n";
    for (int masked = 0; masked <= 1; masked++) {
        line = pl_ctlmsg_format(text, strlen(text), masked, false);
        assert_non_null(line);
        assert_null(strstr(line, PAN));
        assert_non_null(strstr(line, "garbage"));
        obj = json_tokener_parse(line);
        assert_non_null(obj);
        assert_true(json_object_is_type(obj, json_type_string));
        json_object_put(obj);
        free(line);
    }

    /* Also a card number the Luhn scrub does not see (split by characters a bureau message
     * drops, or with its expiry glued), which the worker refused: masked, the last four kept. */
    const char *hidden = "garbage 4111\xc3\xa9"
                         "1111\xc3\xa9"
                         "1111\xc3\xa9"
                         "1111 and 41111111111111111225 end";
    for (int masked = 0; masked <= 1; masked++) {
        line = pl_ctlmsg_format(hidden, strlen(hidden), masked, false);
        assert_non_null(line);
        assert_null(strstr(line, "4111"));
        assert_null(strstr(line, "1225"));
        assert_non_null(strstr(line, "garbage"));
        free(line);
    }
    line = pl_ctlmsg_format(hidden, strlen(hidden), true, false);
    assert_string_equal(line, "\"garbage ****\xc3\xa9****\xc3\xa9****\xc3\xa9"
                              "1111 and ************1111**** end\"");
    free(line);

    /* A generate's first reply carries the new stored value card number in full: `tail` masks
     * it (before, printed as is into terminals and logs); `send --wait`, the reply to the
     * operator's own request, shows it. */
    const char *generated = "{\"request_id\":\"s1\",\"type\":\"generate\",\"svc\":{\"card_number\":"
                            "\"8574906000000001\"}}";
    line = pl_ctlmsg_format(generated, strlen(generated), true, false);
    assert_non_null(line);
    assert_null(strstr(line, "8574906000000001"));
    assert_non_null(strstr(line, "0001"));
    free(line);
    line = pl_ctlmsg_format(generated, strlen(generated), true, true);
    assert_non_null(line);
    assert_non_null(strstr(line, "8574906000000001"));
    free(line);

    /* An empty message is an empty JSON string. */
    line = pl_ctlmsg_format("", 0, true, false);
    assert_non_null(line);
    assert_string_equal(line, "\"\"");
    free(line);
}

/* What fn(argc, argv) writes to stderr (fd 2 sent to a temporary file meanwhile), malloc'd. */
static char *stderr_of(int (*fn)(int, char **, const char *, const char *, const char *), int argc,
                       char **argv, const char *conninfo, int *rc)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    *rc = fn(argc, argv, conninfo, "", "paylink");
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    long n = ftell(tmp);
    assert_true(n >= 0);
    char *out = calloc((size_t)n + 1, 1);
    assert_non_null(out);
    rewind(tmp);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return out;
}

/* `deposits confirm --request-id` refuses what the decoder refuses in a request_id before it
 * connects (no database is reachable here): a card number the Luhn scan does not see too. */
static void test_deposits_request_id_checked(void **state)
{
    (void)state;
    static const char *const ids[] = {PAN, "41111111111111111225",
                                      "4111\xc3\xa9"
                                      "1111\xc3\xa9"
                                      "1111\xc3\xa9"
                                      "1111"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *argv[] = {"deposits", "confirm", "--request-id", (char *)ids[i], "--by", "t", NULL};
        int rc;
        char *err =
            stderr_of(pl_deposits_main, 6, argv, "host=/nonexistent-paylink-unit-test", &rc);
        if (!strstr(err, "--request-id: expected a request_id"))
            fail_msg("case %zu: %s", i, err);
        assert_int_equal(rc, 1);
        assert_null(strstr(err, "1111"));
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_build_full_auth),
        cmocka_unit_test(test_flags_follow_on_refs),
        cmocka_unit_test(test_flags_default_type_per_worker),
        cmocka_unit_test(test_flags_generated_request_id),
        cmocka_unit_test(test_flags_bad_integer_never_echoes_value),
        cmocka_unit_test(test_flags_unknown_duplicate_secret),
        cmocka_unit_test(test_flags_svc),
        cmocka_unit_test(test_parse_request_text),
        cmocka_unit_test(test_message_key),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_migration_filenames),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_scan_orders_numerically),
        cmocka_unit_test(test_scan_refuses_bad_directories),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_match_request_id),
        cmocka_unit_test(test_masked_topics),
        cmocka_unit_test(test_format_messages),
        cmocka_unit_test(test_deposits_request_id_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
