/*
 * test_http_dns.c: a bureau host whose name lookup hangs must not stall the other calls (http.h).
 *
 * libcurl resolves names on a thread of its own. When a call's time runs out while that lookup
 * is still running, libcurl 7.88 ends the transfer by waiting for the lookup thread, unless the
 * handle says CURLOPT_QUICK_EXIT; and it does so inside curl_multi_socket_action, on the
 * engine's one loop thread. Every other call in flight then waits too, and when the loop
 * resumes libcurl checks each call's deadline before reading its socket: answers the bureaus
 * sent in the meantime would be reported as timeouts (unknown outcomes).
 *
 * The hang is made here, in the test executable: it defines getaddrinfo, which the dynamic
 * linker binds libcurl's call to (the executable comes first in the lookup order; libcurl calls
 * getaddrinfo through its PLT, and the linker exports the executable's definition because
 * libcurl, a library on the link line, refers to it). Every name but HANG_HOST goes on to the
 * next definition (AddressSanitizer's interceptor or the C library's). A lookup of HANG_HOST
 * waits until the test lets it go (hang_release), or HANG_MAX_MS at the most: far longer than
 * any call's time in this test, so that a loop that waited for it cannot have kept a deadline.
 *
 * The server is https_test_server.h's. Its /held answer waits until the test releases it, and
 * the test releases it only once the hung call has ended: so the other call's answer can only
 * arrive in time when the loop did not wait for the lookup. No assertion measures time.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "http.h"
#include "https_test_server.h"

#define HANG_HOST "slow.invalid"
/* How long a lookup of HANG_HOST hangs unless released. Longer than ANSWER_MS, with room. */
#define HANG_MAX_MS 60000
/* The hung call's time: short, it is the call that times out. */
#define LOOKUP_MS 1000
/* The other call's time: far more than it needs even under valgrind, far less than a hang. */
#define ANSWER_MS 30000
_Static_assert(2 * ANSWER_MS <= HANG_MAX_MS, "a hang outlasts the other call's deadline");
/* Deadlines against hanging only (the test fails, it does not measure). */
#define DRIVE_MS 120000
#define HELD_MAX_MS 300000

/* ---- the hanging name lookup ------------------------------------------------------------ */

static pthread_mutex_t hang_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hang_cv = PTHREAD_COND_INITIALIZER;
static bool hang_released; /* under hang_mu */
/* Lookups of HANG_HOST begun, and ended (released or given up). */
static atomic_int hang_entered, hang_left;

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (node && strcmp(node, HANG_HOST) == 0) {
        atomic_fetch_add(&hang_entered, 1);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += HANG_MAX_MS / 1000;
        pthread_mutex_lock(&hang_mu);
        while (!hang_released && pthread_cond_timedwait(&hang_cv, &hang_mu, &until) == 0)
            ;
        pthread_mutex_unlock(&hang_mu);
        atomic_fetch_add(&hang_left, 1);
        return EAI_NONAME;
    }
    /* Looked up on every call: dlsym is thread-safe, and a cached pointer would need a lock or
     * an atomic for no gain here. */
    getaddrinfo_fn next = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (!next)
        return EAI_SYSTEM;
    return next(node, service, hints, res);
}

/* Lets every hung lookup return, and waits until they have (or DRIVE_MS passed). Later lookups
 * hang again. */
static void hang_release_all(void)
{
    pthread_mutex_lock(&hang_mu);
    hang_released = true;
    pthread_cond_broadcast(&hang_cv);
    pthread_mutex_unlock(&hang_mu);
    int64_t deadline = https_test_now_ms() + DRIVE_MS;
    while (atomic_load(&hang_left) < atomic_load(&hang_entered) && https_test_now_ms() < deadline)
        https_test_sleep_ms(10);
    pthread_mutex_lock(&hang_mu);
    hang_released = false;
    pthread_mutex_unlock(&hang_mu);
}

/* Waits until want lookups of HANG_HOST have begun: libcurl's lookup thread may start late on a
 * loaded machine, and a test must not end before its lookup is in (see teardown). */
static void wait_entered(int want)
{
    int64_t deadline = https_test_now_ms() + DRIVE_MS;
    while (atomic_load(&hang_entered) < want) {
        if (https_test_now_ms() > deadline)
            fail_msg("no lookup of %s after %d ms: getaddrinfo was not interposed", HANG_HOST,
                     DRIVE_MS);
        https_test_sleep_ms(10);
    }
}

/* ---- the server ------------------------------------------------------------------------- */

static atomic_int held_generation, hits_held;
static char g_dir[64];
static char *cert_pem, *key_pem;
static char ca_path[128];
static https_test_server srv;

static enum MHD_Result on_request(struct MHD_Connection *c, const char *url, const char *method,
                                  const char *body)
{
    (void)method;
    (void)body;
    if (strcmp(url, "/held") == 0)
        https_test_hold(&held_generation, &hits_held, HELD_MAX_MS);
    static const char answer[] = "<ok/>";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(answer), (void *)answer, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static int group_setup(void **state)
{
    (void)state;
    if (https_test_dir_new(g_dir, sizeof g_dir, "test_http_dns") != 0)
        return -1;
    if (https_test_make_cert(g_dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1", &cert_pem,
                             &key_pem, ca_path, sizeof ca_path) != 0) {
        fprintf(stderr, "cannot generate certificates with openssl\n");
        return -1;
    }
    if (https_test_server_start(&srv, cert_pem, key_pem, on_request) != 0) {
        fprintf(stderr, "cannot start the HTTPS test server\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    https_test_release(&held_generation);
    https_test_server_stop(&srv);
    free(cert_pem);
    free(key_pem);
    /* The lookup threads libcurl left behind return now; the process may end while they tidy
     * up (libcurl frees their memory on them). */
    hang_release_all();
    return https_test_dir_remove(g_dir);
}

/* ---- the client side -------------------------------------------------------------------- */

typedef struct rec {
    int calls;
    pl_http_outcome outcome;
    long status;
    char body[64];
    int attempts;
    int lookups_over; /* hang_left when the callback fired */
} rec;

static void on_done(void *arg, const pl_http_response *r)
{
    rec *x = arg;
    x->calls++;
    x->outcome = r->outcome;
    x->status = r->status;
    snprintf(x->body, sizeof x->body, "%s", r->body ? r->body : "(null)");
    x->attempts = r->attempts;
    x->lookups_over = atomic_load(&hang_left);
}

/* The running test's client and records: static, so that a failed test's calls still in
 * flight write to memory that lasts (teardown ends them). */
static pl_http *client;
static rec bureau, hung;

static pl_http *new_client(void)
{
    char err[256] = "";
    client = pl_http_new(ca_path, 64 * 1024, err, sizeof err);
    if (!client)
        fail_msg("pl_http_new: %s", err);
    memset(&bureau, 0, sizeof bureau);
    memset(&hung, 0, sizeof hung);
    return client;
}

static int teardown(void **state)
{
    (void)state;
    https_test_release(&held_generation);
    pl_http_destroy(client);
    client = NULL;
    hang_release_all();
    return 0;
}

static pl_http_call make_call(const char *url, long timeout_ms)
{
    pl_http_call c = {
        .url = url,
        .body = "<ping/>",
        .body_len = 7,
        .content_type = "text/xml; charset=utf-8",
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms,
        .connect_attempts = 1,
    };
    return c;
}

/* Drives h as the engine does until *counter reaches want (max DRIVE_MS). */
static void drive_until(pl_http *h, const atomic_int *counter, int want)
{
    int64_t deadline = https_test_now_ms() + DRIVE_MS;
    while (atomic_load(counter) < want) {
        if (https_test_now_ms() > deadline)
            fail_msg("counter still %d (want %d)", atomic_load(counter), want);
        assert_int_equal(pl_http_wait(h, NULL, 0, 20), 0);
    }
}

/*
 * A call whose host name does not resolve in its time ends at its deadline, not when the
 * lookup gives up; and a call to another bureau, whose answer comes after that deadline but
 * well within its own, gets its answer.
 */
static void test_hung_lookup_does_not_stall_others(void **state)
{
    (void)state;
    pl_http *h = new_client();
    int entered = atomic_load(&hang_entered), left = atomic_load(&hang_left);

    /* The other bureau's call first, until its request has reached the server (sent: it can
     * only end as an answer or an unknown outcome). */
    int held = atomic_load(&hits_held);
    pl_http_call a = make_call(https_test_url(0, "127.0.0.1", srv.port, "/held"), ANSWER_MS);
    assert_int_equal(pl_http_submit(h, &a, on_done, &bureau), 0);
    drive_until(h, &hits_held, held + 1);

    pl_http_call b = make_call("https://" HANG_HOST "/x", LOOKUP_MS);
    assert_int_equal(pl_http_submit(h, &b, on_done, &hung), 0);
    https_test_drive_until(h, &hung.calls, 1, DRIVE_MS);

    /* Only now does the server answer the first call. */
    https_test_release(&held_generation);
    https_test_drive_until(h, &bureau.calls, 1, DRIVE_MS);
    assert_int_equal(bureau.calls, 1);
    assert_string_equal(pl_http_outcome_name(bureau.outcome), pl_http_outcome_name(PL_HTTP_OK));
    assert_int_equal(bureau.status, 200);
    assert_string_equal(bureau.body, "<ok/>");

    /* The hung call: never sent, one attempt, ended while its lookup still hung. */
    assert_int_equal(hung.calls, 1);
    assert_string_equal(pl_http_outcome_name(hung.outcome), pl_http_outcome_name(PL_HTTP_NOT_SENT));
    assert_int_equal(hung.attempts, 1);
    assert_int_equal(hung.lookups_over, left);
    wait_entered(entered + 1);
    https_test_drive_idle(h, DRIVE_MS);
    assert_int_equal(bureau.calls + hung.calls, 2);
}

/* Shutting down with a call whose lookup hangs cancels it without waiting for the lookup. */
static void test_destroy_with_lookup_hung(void **state)
{
    (void)state;
    pl_http *h = new_client();
    int entered = atomic_load(&hang_entered), left = atomic_load(&hang_left);
    pl_http_call b = make_call("https://" HANG_HOST "/x", ANSWER_MS);
    assert_int_equal(pl_http_submit(h, &b, on_done, &hung), 0);
    /* Driven until its lookup is under way. */
    drive_until(h, &hang_entered, entered + 1);
    client = NULL;
    pl_http_destroy(h);
    assert_int_equal(hung.calls, 1);
    assert_string_equal(pl_http_outcome_name(hung.outcome),
                        pl_http_outcome_name(PL_HTTP_CANCELLED));
    assert_int_equal(hung.lookups_over, left);
    assert_int_equal(atomic_load(&hang_left), left);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_hung_lookup_does_not_stall_others, teardown),
        cmocka_unit_test_teardown(test_destroy_with_lookup_hung, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
