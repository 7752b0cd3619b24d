/* resolver_run.c: the resolver's thread in a worker (see resolver_run.h). */
#include "resolver_run.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card.h"
#include "kafka.h"
#include "log.h"
#include "resolver.h"

/* How long a final reply may take to be acknowledged before the publish counts as failed (the
 * row stays reply_pending and is published by a later pass). */
#define PUBLISH_WAIT_MS 30000
#define MAX_ROWS_PER_PASS 32

struct pl_resolver_runner {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop; /* under mu */
    int interval_ms;
    pl_resolver *res;
    rd_kafka_t *producer;
    pl_config cfg; /* for a new producer after a fatal error (its keys wiped: not needed) */
};

static int publish(void *arg, const char *topic, const char *key, const char *payload, char *err,
                   size_t errsz)
{
    pl_resolver_runner *run = arg;
    /* A producer a fatal error broke fails every produce at once; the worker's own producer's
     * fatal error stops the worker, this one's would only leave every final reply and timeout
     * reversal unpublished: it is made anew (each earlier message had its report: waited for
     * below). */
    if (pl_kafka_producer_renew_if_fatal(&run->producer, &run->cfg, run, pl_kafka_on_delivery,
                                         PL_RESOLVER_PUBLISH_TIMEOUT_MS, err, errsz) != 0)
        return -1;
    pl_kafka_delivery d = {0};
    rd_kafka_resp_err_t e = rd_kafka_producev(
        run->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    if (e) {
        snprintf(err, errsz, "%s", rd_kafka_err2str(e));
        return -1;
    }
    /* The delivery report comes within message.timeout.ms; wait for it (d lives on this stack,
     * so the wait is never cut short while the message is still queued). */
    for (int waited = 0; !d.done; waited += 100) {
        rd_kafka_poll(run->producer, 100);
        if (waited >= PUBLISH_WAIT_MS && !d.done)
            rd_kafka_flush(run->producer, 1000);
    }
    if (d.err) {
        snprintf(err, errsz, "%s", rd_kafka_err2str(d.err));
        return -1;
    }
    return 0;
}

static void *main_fn(void *arg)
{
    pl_resolver_runner *run = arg;
    pthread_mutex_lock(&run->mu);
    while (!run->stop) {
        pthread_mutex_unlock(&run->mu);
        int n = pl_resolver_pass(run->res, MAX_ROWS_PER_PASS);
        pthread_mutex_lock(&run->mu);
        if (n >= MAX_ROWS_PER_PASS)
            continue; /* more may be due */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += run->interval_ms / 1000;
        until.tv_nsec += (long)(run->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!run->stop && pthread_cond_timedwait(&run->cv, &run->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&run->mu);
    return NULL;
}

int pl_resolver_interval_ms(void)
{
    const char *v = getenv("PAYLINK_RESOLVER_INTERVAL_MS");
    if (!v || !*v)
        return PL_RESOLVER_DEFAULT_INTERVAL_MS;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 3600000)
        return -1;
    return (int)n;
}

pl_resolver_runner *pl_resolver_runner_start(const pl_config *cfg, const char *worker,
                                             pl_metrics *metrics, char *err, size_t errsz)
{
    int interval = pl_resolver_interval_ms();
    if (interval < 0) {
        snprintf(err, errsz, "PAYLINK_RESOLVER_INTERVAL_MS must be 0 (off) to 3600000");
        return NULL;
    }
    if (interval == 0) {
        if (errsz)
            err[0] = '\0';
        PL_WARN(NULL, "the resolver of unknown outcomes is off (PAYLINK_RESOLVER_INTERVAL_MS=0)");
        return NULL;
    }
    pl_resolver_runner *run = calloc(1, sizeof *run);
    if (!run) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    run->interval_ms = interval;
    run->cfg = *cfg;
    pl_card_wipe(run->cfg.hash_key, sizeof run->cfg.hash_key);
    pl_card_wipe(run->cfg.prev_keys, sizeof run->cfg.prev_keys);
    char owner[160];
    snprintf(owner, sizeof owner, "%.100s/resolver", cfg->instance);
    if (!(run->producer = pl_kafka_producer_new_bounded(
              cfg, run, pl_kafka_on_delivery, NULL, PL_RESOLVER_PUBLISH_TIMEOUT_MS, err, errsz))) {
        free(run);
        return NULL;
    }
    pl_resolver_config rc = {.conninfo = cfg->db,
                             .worker = worker,
                             .owner = owner,
                             .topic_prefix = cfg->topic_prefix,
                             .ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL,
                             .publish = publish,
                             .publish_arg = run,
                             .metrics = metrics};
    if (!(run->res = pl_resolver_new(&rc, err, errsz))) {
        rd_kafka_destroy(run->producer);
        free(run);
        return NULL;
    }
    if (pthread_mutex_init(&run->mu, NULL) != 0 || pthread_cond_init(&run->cv, NULL) != 0 ||
        pthread_create(&run->thread, NULL, main_fn, run) != 0) {
        pl_resolver_destroy(run->res);
        rd_kafka_destroy(run->producer);
        free(run);
        snprintf(err, errsz, "cannot start the resolver thread");
        return NULL;
    }
    return run;
}

bool pl_resolver_runner_stop(pl_resolver_runner *run)
{
    if (!run)
        return true;
    pthread_mutex_lock(&run->mu);
    run->stop = true;
    pthread_cond_signal(&run->cv);
    pthread_mutex_unlock(&run->mu);
    /* A pass stuck on a bureau query (at most its timeout) or a frozen database must not hold
     * up the shutdown for long: what it holds is a lease, which expires. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    if (pthread_timedjoin_np(run->thread, NULL, &until) != 0) {
        PL_WARN(NULL, "the resolver is still busy; not joined (its lease expires)");
        pthread_detach(run->thread);
        return false; /* the thread keeps run; the process exits */
    }
    pl_resolver_destroy(run->res);
    rd_kafka_flush(run->producer, 5000);
    rd_kafka_destroy(run->producer);
    pthread_mutex_destroy(&run->mu);
    pthread_cond_destroy(&run->cv);
    free(run);
    return true;
}
