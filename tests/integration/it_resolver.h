/*
 * it_resolver.h: the group setup the resolver's integration tests share (test_resolver.c,
 * test_replay_hold.c, test_resolver_captured_escalated.c). Include it after cmocka.h.
 */
#ifndef PL_IT_RESOLVER_H
#define PL_IT_RESOLVER_H

#include <curl/curl.h>
#include <libpq-fe.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/*
 * Opens a resolver test program's group: the plain connection to PAYLINK_DB (*conninfo,
 * *admin), libcurl and libxml2 made ready (resolvers query the bureau from several threads at
 * once), the log named program at level warn, and prefix "it-<tag>-p<pid>-t<time>-" for every
 * request id of the run with like its LIKE pattern (prefix%). When t0 is not NULL it gets the
 * server's clock now (when the run started), and quiet_ms how recently the running workers'
 * resolvers must have finished a pass for a test to act unseen: they pass every
 * PAYLINK_RESOLVER_INTERVAL_MS (default 2000), and the test acts within the first third of the
 * pause after one. Returns 0, or -1 said on stderr.
 */
static inline int it_resolver_open(const char *program, const char *tag, const char **conninfo,
                                   PGconn **admin, char *prefix, size_t prefix_size, char *like,
                                   size_t like_size, char *t0, size_t t0_size, int *quiet_ms)
{
    *conninfo = getenv("PAYLINK_DB");
    if (!*conninfo || !**conninfo) {
        fprintf(stderr, "PAYLINK_DB is not set: integration tests need a migrated database\n");
        return -1;
    }
    *admin = PQconnectdb(*conninfo);
    if (PQstatus(*admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to PAYLINK_DB: %s", PQerrorMessage(*admin));
        return -1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    pl_log_init(program, NULL);
    pl_log_set_level(PL_LOG_WARN);
    /* Letters between the numbers: "<pid>-<time>-<n>" read as one number of 13 digits or more
     * passed the Luhn check about once in ten, and the log and the request decoder took such a
     * request id for a card number (masked, refused). */
    snprintf(prefix, prefix_size, "it-%s-p%ld-t%ld-", tag, (long)getpid(),
             (long)time(NULL) % 1000000);
    snprintf(like, like_size, "%s%%", prefix);
    if (t0) {
        PGresult *r = PQexec(*admin, "SELECT now()::text");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            return -1;
        }
        snprintf(t0, t0_size, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (quiet_ms) {
        const char *iv = getenv("PAYLINK_RESOLVER_INTERVAL_MS");
        long interval = iv && *iv ? strtol(iv, NULL, 10) : 2000;
        *quiet_ms = interval > 0 && interval <= 3600000 ? (int)(interval / 3) : 1000;
    }
    return 0;
}

#endif
