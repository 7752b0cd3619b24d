/* config.c: worker settings from the environment and secret references (see config.h). */
#include "config.h"
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int env_str(const char *name, const char *def, char *out, size_t outsize, bool required,
                   char *errstr, size_t errstr_size)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        if (required)
            return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "%s is not set", name);
        v = def ? def : "";
    }
    if (strlen(v) >= outsize)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "%s is too long", name);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int env_int(const char *name, int def, int min, int max, int *out, char *errstr,
                   size_t errstr_size)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "%s must be an integer %d..%d", name,
                          min, max);
    *out = (int)n;
    return 0;
}

/* Reads until size bytes or the end of the file. Returns the bytes read, or -1 with errno. */
static ssize_t read_full(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n < size) {
        ssize_t got = read(fd, buf + n, size - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        n += (size_t)got;
    }
    return (ssize_t)n;
}

/*
 * Reads a secret file into out (trailing line ends removed). The file must be a regular,
 * non-empty file that neither its group nor others may access, as ssh insists for private
 * keys: a secret others can read may already be known to them, so it is refused rather than
 * used. Every check is made on the opened descriptor (fstat), so the file judged is the file
 * read. read(2) straight into out, not stdio, so no library buffer keeps a copy of the secret.
 */
static int read_secret_file(const char *ref, const char *path, char *out, size_t outsize,
                            char *errstr, size_t errstr_size)
{
    int rc = 0;
    ssize_t n = -1, more = 0;
    char extra = '\0';
    /* O_NONBLOCK: a FIFO must not block the open; it is refused below as not regular. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: cannot read %s: %s", ref,
                          path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: cannot read %s: %s", ref,
                        path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: %s is not a regular file",
                        ref, path);
        goto out;
    }
    /* As ssh does: owned by the user reading it or by root. A file another account owns is
     * one that account wrote, and may write again (chmod is the owner's), so it knows the
     * secret whatever the mode says. */
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        rc = pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                        "secret %s: %s is owned by user %u, not by this user (%u) or root; "
                        "refused: chown it",
                        ref, path, (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    if (st.st_mode & 077) {
        rc = pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                        "secret %s: %s has mode %04o, so its group or others may read it; "
                        "refused: make it readable by its owner only (chmod 600 %s)",
                        ref, path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    n = read_full(fd, out, outsize - 1);
    if (n >= 0)
        more = read_full(fd, &extra, 1);
    if (n < 0 || more < 0) {
        rc = pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: cannot read %s: %s", ref,
                        path, strerror(errno));
        goto out;
    }
    if (more > 0) {
        rc = pl_err_set(PL_ERR_TOOBIG, errstr, errstr_size,
                        "secret %s: file too large (at most %zu bytes)", ref, outsize - 1);
        goto out;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    if (n == 0)
        rc = pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: file is empty", ref);
out:
    close(fd);
    pl_card_wipe(&extra, 1);
    if (rc != 0)
        pl_card_wipe(out, outsize);
    return rc;
}

int pl_secret_resolve(const char *ref, char *out, size_t outsize, char *errstr, size_t errstr_size)
{
    if (!ref || !*ref) {
        out[0] = '\0';
        return 0;
    }
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (!v)
            return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: variable not set",
                              ref);
        if (strlen(v) >= outsize)
            return pl_err_set(PL_ERR_TOOBIG, errstr, errstr_size, "secret %s: too long", ref);
        memcpy(out, v, strlen(v) + 1);
        return 0;
    }
    const char *path = NULL;
    if (strncmp(ref, "file:", 5) == 0) {
        path = ref + 5;
    } else if (strncmp(ref, "file-env:", 9) == 0) {
        path = getenv(ref + 9);
        if (!path || !*path)
            return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: variable not set",
                              ref);
    } else {
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "secret reference must start with env:, file: or file-env:");
    }
    return read_secret_file(ref, path, out, outsize, errstr, errstr_size);
}

/* A proxy host as curl reads it before ":port": a host name, an IPv4 address or an IPv6
 * address in brackets. A scheme, a user or a port in it would be misread, so they are refused. */
bool pl_config_proxy_host_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 255)
        return false;
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return false;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
            return false;
    return true;
}

int pl_config_proxy_from_env(char *out, size_t outsize, char *errstr, size_t errstr_size)
{
    const char *host = getenv("PAYLINK_PROXY_HOST");
    const char *port = getenv("PAYLINK_PROXY_PORT");
    bool has_host = host && *host, has_port = port && *port;
    out[0] = '\0';
    if (!has_host && !has_port)
        return 0;
    /* Half a proxy is a mistake, not "direct": calls would bypass the proxy without a word. */
    if (!has_host || !has_port)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "%s is set but %s is not: set both (the proxy of every service bureau "
                          "without its own) or neither (direct)",
                          has_host ? "PAYLINK_PROXY_HOST" : "PAYLINK_PROXY_PORT",
                          has_host ? "PAYLINK_PROXY_PORT" : "PAYLINK_PROXY_HOST");
    if (!pl_config_proxy_host_ok(host))
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "PAYLINK_PROXY_HOST must be a host name, an IPv4 address or an IPv6 "
                          "address in brackets, without scheme, user, port or path");
    int p = 0, rc = env_int("PAYLINK_PROXY_PORT", 0, 1, 65535, &p, errstr, errstr_size);
    if (rc != 0)
        return rc;
    if ((size_t)snprintf(out, outsize, "%s:%d", host, p) >= outsize) {
        out[0] = '\0';
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "PAYLINK_PROXY_HOST is too long");
    }
    return 0;
}

/* PAYLINK_HASH_KEY_PREVIOUS_FILES: earlier card-hash keys, colon-separated file names. */
static int previous_keys(pl_config *c, char *errstr, size_t errstr_size)
{
    const char *list = getenv("PAYLINK_HASH_KEY_PREVIOUS_FILES");
    while (list && *list) {
        const char *end = strchr(list, ':');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        if (n > 0) {
            if (c->n_prev_keys == PL_CONFIG_MAX_PREV_KEYS)
                return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                                  "PAYLINK_HASH_KEY_PREVIOUS_FILES: at most %d keys",
                                  PL_CONFIG_MAX_PREV_KEYS);
            char ref[600], key[sizeof c->prev_keys[0] + 1];
            snprintf(ref, sizeof ref, "file:%.*s", (int)(n < 590 ? n : 590), list);
            int rc = pl_secret_resolve(ref, key, sizeof key, errstr, errstr_size);
            if (rc != 0)
                return rc;
            size_t klen = strlen(key);
            if (klen < 16) {
                pl_card_wipe(key, sizeof key);
                return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                                  "PAYLINK_HASH_KEY_PREVIOUS_FILES: a key is shorter than 16 "
                                  "characters");
            }
            memcpy(c->prev_keys[c->n_prev_keys], key, klen);
            c->prev_key_len[c->n_prev_keys++] = klen;
            pl_card_wipe(key, sizeof key);
        }
        list = end ? end + 1 : NULL;
    }
    return 0;
}

/* Whether environment entry `entry` ("NAME=value") sets librdkafka property `prop` the way
 * kafka.c reads PAYLINK_RDKAFKA_<PROPERTY> (each '_' a '.', any case); its value in *value. */
static bool rdkafka_env_sets(const char *entry, const char *prop, const char **value)
{
    static const char prefix[] = "PAYLINK_RDKAFKA_";
    if (strncmp(entry, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *n = entry + sizeof prefix - 1;
    size_t i = 0;
    for (; prop[i]; i++) {
        char c = n[i] == '_' ? '.' : (char)tolower((unsigned char)n[i]);
        if (!n[i] || n[i] == '=' || c != prop[i])
            return false;
    }
    if (n[i] != '=')
        return false;
    *value = n + i + 1;
    return true;
}

/*
 * The consumer's max.poll.interval.ms as librdkafka will have it: PAYLINK_RDKAFKA_MAX_POLL_
 * INTERVAL_MS (the last entry that sets it, as kafka.c applies them in order), else librdkafka's
 * default. The worker sets none of its own.
 */
static int max_poll_interval(int *out, char *errstr, size_t errstr_size)
{
    extern char **environ;
    const char *v = NULL, *at;
    for (char **e = environ; e && *e; e++)
        if (rdkafka_env_sets(*e, "max.poll.interval.ms", &at))
            v = at;
    *out = PL_CONFIG_MAX_POLL_INTERVAL_MS;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > 86400000)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS must be an integer 1..86400000");
    *out = (int)n;
    return 0;
}

int pl_config_default_metrics_port(const char *worker)
{
    static const char *const names[] = {"auth", "deposit", "reversal", "svc", "dmupdate"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(worker, names[i]) == 0)
            return 9101 + (int)i;
    return 9100;
}

int pl_config_from_env(pl_config *c, const char *worker, char *errstr, size_t errstr_size)
{
    int rc;
    memset(c, 0, sizeof *c);
    snprintf(c->worker, sizeof c->worker, "%s", worker);
    if ((rc = env_str("PAYLINK_KAFKA_BROKERS", NULL, c->brokers, sizeof c->brokers, true, errstr,
                      errstr_size)) ||
        (rc = env_str("PAYLINK_DB", NULL, c->db, sizeof c->db, true, errstr, errstr_size)) ||
        (rc = env_str("PAYLINK_TOPIC_PREFIX", "paylink", c->topic_prefix, sizeof c->topic_prefix,
                      false, errstr, errstr_size)) ||
        (rc = env_str("PAYLINK_CA_FILE", "", c->ca_file, sizeof c->ca_file, false, errstr,
                      errstr_size)) ||
        (rc = env_str("PAYLINK_METRICS_BIND", "0.0.0.0", c->metrics_bind, sizeof c->metrics_bind,
                      false, errstr, errstr_size)) ||
        (rc = env_int("PAYLINK_METRICS_PORT", pl_config_default_metrics_port(worker), 0, 65535,
                      &c->metrics_port, errstr, errstr_size)) ||
        (rc = env_int("PAYLINK_MAX_IN_FLIGHT", 512, 1, 100000, &c->max_in_flight, errstr,
                      errstr_size)) ||
        (rc = env_int("PAYLINK_KAFKA_SESSION_TIMEOUT_MS", 45000, 1000, 300000,
                      &c->session_timeout_ms, errstr, errstr_size)) ||
        (rc = env_int("PAYLINK_KAFKA_FETCH_WAIT_MS", PL_CONFIG_FETCH_WAIT_MS, 1, 60000,
                      &c->fetch_wait_ms, errstr, errstr_size)) ||
        (rc = env_int("PAYLINK_KAFKA_FETCH_MIN_BYTES", PL_CONFIG_FETCH_MIN_BYTES, 1, 1048576,
                      &c->fetch_min_bytes, errstr, errstr_size)) ||
        (rc = env_int("PAYLINK_SLOT_WAIT_RECORD_MS", 1000, 0, 600000, &c->slot_wait_record_ms,
                      errstr, errstr_size)) ||
        (rc = env_int("PAYLINK_SLOT_WAIT_MAX_MS", 10000, 0, 600000, &c->slot_wait_max_ms, errstr,
                      errstr_size)) ||
        (rc = env_int("PAYLINK_DRAIN_TIMEOUT_MS", 30000, 0, 600000, &c->drain_timeout_ms, errstr,
                      errstr_size)) ||
        (rc = env_int("PAYLINK_KAFKA_STALL_MS", 120000, 0, 3600000, &c->fetch_stall_ms, errstr,
                      errstr_size)) ||
        (rc = env_int("PAYLINK_FINGERPRINT_VERSION", PL_FINGERPRINT_VERSION, 1,
                      PL_FINGERPRINT_VERSION, &c->fingerprint_version, errstr, errstr_size)) ||
        (rc = env_int("PAYLINK_CONFIG_REFRESH_S", 60, 1, 86400, &c->refresh_s, errstr,
                      errstr_size)) ||
        (rc = pl_config_proxy_from_env(c->proxy, sizeof c->proxy, errstr, errstr_size)) ||
        (rc = max_poll_interval(&c->max_poll_interval_ms, errstr, errstr_size)))
        return rc;
    /* A revoke drain runs inside the rebalance callback (engine.c on_rebalance), which does not
     * poll the consumer: one longer than max.poll.interval.ms gets this member evicted from its
     * group while it still works on the partitions being revoked, their next owner already at
     * them (two owners: both send, both reply). The margin covers the synchronous commit after
     * the drain (socket.timeout.ms, 10 s, twice) and the loop turn before it. */
    int drain_max = c->max_poll_interval_ms - PL_CONFIG_DRAIN_POLL_MARGIN_MS;
    if (drain_max < 0)
        drain_max = 0;
    if (c->drain_timeout_ms > drain_max)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "PAYLINK_DRAIN_TIMEOUT_MS (%d) must be at most %d: the consumer's "
                          "max.poll.interval.ms (%d%s) less %d, for a partition revocation "
                          "drains without polling the consumer, and past max.poll.interval.ms "
                          "the member is evicted from its group while it still works on the "
                          "partitions (two owners); lower the drain or raise "
                          "PAYLINK_RDKAFKA_MAX_POLL_INTERVAL_MS",
                          c->drain_timeout_ms, drain_max, c->max_poll_interval_ms,
                          c->max_poll_interval_ms == PL_CONFIG_MAX_POLL_INTERVAL_MS
                              ? ", librdkafka's default"
                              : "",
                          PL_CONFIG_DRAIN_POLL_MARGIN_MS);

    char level[16], mask[16];
    if ((rc = env_str("PAYLINK_LOG_LEVEL", "info", level, sizeof level, false, errstr,
                      errstr_size)) ||
        (rc = env_str("PAYLINK_LOG_MASK", "last4", mask, sizeof mask, false, errstr, errstr_size)))
        return rc;
    if (pl_log_level_parse(level, &c->log_level) != 0)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "PAYLINK_LOG_LEVEL must be debug, info, warn or error");
    if (strcmp(mask, "last4") == 0)
        c->log_mask = PL_MASK_LAST4;
    else if (strcmp(mask, "removed") == 0)
        c->log_mask = PL_MASK_REMOVED;
    else
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "PAYLINK_LOG_MASK must be last4 or removed");

    /* The card-hash key: a file (preferred) or the variable itself. */
    char key[sizeof c->hash_key + 1];
    const char *kf = getenv("PAYLINK_HASH_KEY_FILE");
    char ref[600];
    if (kf && *kf)
        snprintf(ref, sizeof ref, "file:%s", kf);
    else
        snprintf(ref, sizeof ref, "env:PAYLINK_HASH_KEY");
    char why[400];
    rc = pl_secret_resolve(ref, key, sizeof key, why, sizeof why);
    if (rc != 0)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "card hash key: %s (set PAYLINK_HASH_KEY_FILE, or PAYLINK_HASH_KEY)",
                          why);
    size_t klen = strlen(key);
    if (klen < 16) {
        pl_card_wipe(key, sizeof key);
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "card hash key must be at least 16 characters");
    }
    /*
     * A key file's trailing line ends are dropped (echo writes one), the variable's value is
     * taken byte for byte, and both have been so since the first release: a variable that ends
     * in a line end (a Kubernetes secretKeyRef of a Secret made from such a file) is a key of
     * its own. It stays one: dropping the line end now would re-key that deployment's every
     * card_hash and request fingerprint without a rotation. It is said, though, at every start:
     * moved to PAYLINK_HASH_KEY_FILE, or listed in PAYLINK_HASH_KEY_PREVIOUS_FILES at a
     * rotation, the same text would become another key.
     */
    if (strncmp(ref, "env:", 4) == 0 && (key[klen - 1] == '\n' || key[klen - 1] == '\r'))
        PL_WARN(NULL,
                "PAYLINK_HASH_KEY ends in a line end, which is part of the key; a key file drops "
                "its line ends, so this key must stay in the variable as it is: written to "
                "PAYLINK_HASH_KEY_FILE or PAYLINK_HASH_KEY_PREVIOUS_FILES it would be another "
                "key (README \"Configuration\")");
    memcpy(c->hash_key, key, klen);
    c->hash_key_len = klen;
    pl_card_wipe(key, sizeof key);
    if ((rc = previous_keys(c, errstr, errstr_size)) != 0)
        return rc;
    if ((rc = env_str("PAYLINK_KAFKA_GROUP", "", c->group, sizeof c->group, false, errstr,
                      errstr_size)))
        return rc;
    if (!c->group[0])
        snprintf(c->group, sizeof c->group, "paylink-%s", worker);

    char host[64] = "paylink";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    const char *inst = getenv("PAYLINK_INSTANCE");
    if (inst && strlen(inst) > PL_CONFIG_INSTANCE_MAX)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "PAYLINK_INSTANCE is longer than %d characters", PL_CONFIG_INSTANCE_MAX);
    if (inst && *inst)
        snprintf(c->instance, sizeof c->instance, "%s", inst);
    else
        snprintf(c->instance, sizeof c->instance, "%s-%ld", host, (long)getpid());
    return 0;
}

void pl_config_free(pl_config *c)
{
    if (c) {
        pl_card_wipe(c->hash_key, sizeof c->hash_key);
        pl_card_wipe(c->prev_keys, sizeof c->prev_keys);
    }
}
