/*
 * test_dm_password.c: the Decision Manager report password kept across a failed read
 * (pl_dm_password_read, common/dm_report.h), as paylink-dmupdate's report calls and the
 * resolvers' CyberSource queries read it: a password file left unreadable under the same
 * reference (mode 0644, gone while rotated) is answered with the password read before, with one
 * warn line until it can be read again (never the password); a file rotated to a new password
 * gives the new one; a changed reference is read afresh and never answered with the old
 * password, not even when it changes back; bureaus are kept apart; a holder that keeps nothing
 * (NULL), or wiped, only reads; past PL_DM_PASSWORDS_MAX bureaus the rest are only read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dm_report.h"
#include "err.h"
#include "log.h"

static char g_dir[64];
static char g_log[128];

/* The path of file name in the test's directory. */
static const char *path_of(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", g_dir, name);
    return out;
}

/* Writes text to the test's file name, mode 0600 (readable as a secret). */
static void write_secret(const char *name, const char *text)
{
    char p[128];
    path_of(name, p, sizeof p);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(p, 0600), 0);
}

static void set_mode(const char *name, mode_t mode)
{
    char p[128];
    assert_int_equal(chmod(path_of(name, p, sizeof p), mode), 0);
}

/* "file:<the test's file name>". */
static const char *ref_of(const char *name, char *out, size_t size)
{
    char p[128];
    snprintf(out, size, "file:%s", path_of(name, p, sizeof p));
    return out;
}

/* pl_dm_password_read into a 256-byte buffer; *out the password ("" on failure). */
static int read_pw(pl_dm_passwords *k, const char *bureau, const char *ref, char *out)
{
    char err[256] = "";
    int rc = pl_dm_password_read(k, bureau, ref, out, 256, err, sizeof err);
    if (rc != 0) {
        assert_true(err[0] != '\0');
        assert_string_equal(out, "");
    }
    return rc;
}

/* How many lines of the log hold s. */
static int log_lines_with(const char *s)
{
    fflush(NULL);
    FILE *f = fopen(g_log, "r");
    assert_non_null(f);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, s) != NULL;
    fclose(f);
    return n;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/test_dm_password.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_log, sizeof g_log, "%s/log", g_dir);
    FILE *f = fopen(g_log, "w");
    if (!f)
        return -1;
    pl_log_init("test", f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/*
 * Read, then left unreadable under the same reference (mode 0644, then gone while rotated): the
 * password read before, one warn line naming the bureau and the reference, never the password;
 * readable again: its (rotated) content and an info line; unreadable again: warned again.
 */
static void test_kept_across_unreadable(void **state)
{
    (void)state;
    pl_dm_passwords k = {0};
    char ref[160], pw[256];
    write_secret("a.pw", "Old-Secret-1!\n");
    ref_of("a.pw", ref, sizeof ref);
    assert_int_equal(read_pw(&k, "CYB", ref, pw), 0);
    assert_string_equal(pw, "Old-Secret-1!");

    set_mode("a.pw", 0644);
    int warned = log_lines_with("report password cannot be read");
    assert_int_equal(read_pw(&k, "CYB", ref, pw), 0);
    assert_string_equal(pw, "Old-Secret-1!");
    assert_int_equal(log_lines_with("report password cannot be read"), warned + 1);
    assert_int_equal(log_lines_with("CYB"), warned + 1);
    /* The second failure says nothing new. */
    char p[128];
    assert_int_equal(unlink(path_of("a.pw", p, sizeof p)), 0);
    assert_int_equal(read_pw(&k, "CYB", ref, pw), 0);
    assert_string_equal(pw, "Old-Secret-1!");
    assert_int_equal(log_lines_with("report password cannot be read"), warned + 1);

    /* Rotated: the new one, and said. */
    write_secret("a.pw", "New-Secret-2!\n");
    assert_int_equal(read_pw(&k, "CYB", ref, pw), 0);
    assert_string_equal(pw, "New-Secret-2!");
    assert_int_equal(log_lines_with("can be read again"), 1);
    set_mode("a.pw", 0640);
    assert_int_equal(read_pw(&k, "CYB", ref, pw), 0);
    assert_string_equal(pw, "New-Secret-2!");
    assert_int_equal(log_lines_with("report password cannot be read"), warned + 2);

    assert_int_equal(log_lines_with("Secret-"), 0);
    pl_dm_passwords_wipe(&k);
    assert_int_equal(k.n, 0);
    /* Wiped: nothing is kept. */
    assert_true(read_pw(&k, "CYB", ref, pw) != 0);
    pl_dm_passwords_wipe(&k);
}

/* A changed reference is read afresh: the old password is not its answer, and is gone for
 * good (not answered when the reference changes back and cannot be read either). */
static void test_changed_reference_read_afresh(void **state)
{
    (void)state;
    pl_dm_passwords k = {0};
    char ref_a[160], ref_b[160], pw[256];
    write_secret("b1.pw", "First-Pass-1!");
    ref_of("b1.pw", ref_a, sizeof ref_a);
    ref_of("b2.pw", ref_b, sizeof ref_b); /* no such file */
    assert_int_equal(read_pw(&k, "CYB", ref_a, pw), 0);
    assert_string_equal(pw, "First-Pass-1!");

    assert_int_equal(read_pw(&k, "CYB", ref_b, pw), PL_ERR_CONFIG);
    set_mode("b1.pw", 0644);
    assert_int_equal(read_pw(&k, "CYB", ref_a, pw), PL_ERR_CONFIG);

    /* A new reference read is kept for that reference. */
    write_secret("b2.pw", "Second-Pass-2!");
    assert_int_equal(read_pw(&k, "CYB", ref_b, pw), 0);
    assert_string_equal(pw, "Second-Pass-2!");
    set_mode("b2.pw", 0644);
    assert_int_equal(read_pw(&k, "CYB", ref_b, pw), 0);
    assert_string_equal(pw, "Second-Pass-2!");
    pl_dm_passwords_wipe(&k);
}

/* Each bureau has its own; the same reference under another bureau is that bureau's. A holder
 * that keeps nothing (NULL) only reads. */
static void test_bureaus_apart(void **state)
{
    (void)state;
    pl_dm_passwords k = {0};
    char pw[256];
    setenv("PAYLINK_TEST_DM_PW_1", "Env-Pass-1!", 1);
    setenv("PAYLINK_TEST_DM_PW_2", "Env-Pass-2!", 1);
    assert_int_equal(read_pw(&k, "CYB", "env:PAYLINK_TEST_DM_PW_1", pw), 0);
    assert_int_equal(read_pw(&k, "CYB2", "env:PAYLINK_TEST_DM_PW_2", pw), 0);
    unsetenv("PAYLINK_TEST_DM_PW_1");
    unsetenv("PAYLINK_TEST_DM_PW_2");
    assert_int_equal(read_pw(&k, "CYB", "env:PAYLINK_TEST_DM_PW_1", pw), 0);
    assert_string_equal(pw, "Env-Pass-1!");
    assert_int_equal(read_pw(&k, "CYB2", "env:PAYLINK_TEST_DM_PW_2", pw), 0);
    assert_string_equal(pw, "Env-Pass-2!");
    /* Never read under CYB3: nothing kept for it. */
    assert_true(read_pw(&k, "CYB3", "env:PAYLINK_TEST_DM_PW_1", pw) != 0);
    assert_true(read_pw(NULL, "CYB", "env:PAYLINK_TEST_DM_PW_1", pw) != 0);
    setenv("PAYLINK_TEST_DM_PW_1", "Env-Pass-1!", 1);
    assert_int_equal(read_pw(NULL, "CYB", "env:PAYLINK_TEST_DM_PW_1", pw), 0);
    assert_string_equal(pw, "Env-Pass-1!");
    unsetenv("PAYLINK_TEST_DM_PW_1");
    pl_dm_passwords_wipe(&k);
}

/* Past PL_DM_PASSWORDS_MAX bureaus the rest are read each time, nothing kept for them. */
static void test_past_the_last_bureau(void **state)
{
    (void)state;
    pl_dm_passwords k = {0};
    char pw[256], code[9];
    setenv("PAYLINK_TEST_DM_PW_3", "Env-Pass-3!", 1);
    for (int i = 0; i <= PL_DM_PASSWORDS_MAX; i++) {
        snprintf(code, sizeof code, "B%d", i);
        assert_int_equal(read_pw(&k, code, "env:PAYLINK_TEST_DM_PW_3", pw), 0);
    }
    assert_int_equal(k.n, PL_DM_PASSWORDS_MAX);
    unsetenv("PAYLINK_TEST_DM_PW_3");
    assert_int_equal(read_pw(&k, "B0", "env:PAYLINK_TEST_DM_PW_3", pw), 0);
    assert_string_equal(pw, "Env-Pass-3!");
    snprintf(code, sizeof code, "B%d", PL_DM_PASSWORDS_MAX);
    assert_true(read_pw(&k, code, "env:PAYLINK_TEST_DM_PW_3", pw) != 0);
    pl_dm_passwords_wipe(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_across_unreadable),
        cmocka_unit_test(test_changed_reference_read_afresh),
        cmocka_unit_test(test_bureaus_apart),
        cmocka_unit_test(test_past_the_last_bureau),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
