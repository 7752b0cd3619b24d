/* config.c: worker settings from the environment and secret references (see config.h). */
#include "config.h"

#include <errno.h>
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

static int read_file(const char *path, char *out, size_t outsize, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return PL_ERR_IO;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        errno = EINVAL;
        return PL_ERR_IO;
    }
    size_t n = fread(out, 1, outsize - 1, f);
    bool failed = ferror(f) != 0;
    bool more = !failed && fgetc(f) != EOF;
    fclose(f);
    if (failed)
        return PL_ERR_IO;
    if (more)
        return PL_ERR_TOOBIG;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    *len = n;
    return 0;
}

int pl_secret_resolve(const char *ref, char *out, size_t outsize, char *errstr, size_t errstr_size)
{
    size_t len;
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
    int rc = read_file(path, out, outsize, &len);
    if (rc == PL_ERR_TOOBIG)
        return pl_err_set(rc, errstr, errstr_size, "secret %s: file too large", ref);
    if (rc != 0)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: cannot read %s: %s", ref,
                          path, strerror(errno));
    if (len == 0)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size, "secret %s: file is empty", ref);
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
        (rc = env_int("PAYLINK_KAFKA_FETCH_WAIT_MS", 500, 1, 60000, &c->fetch_wait_ms, errstr,
                      errstr_size)) ||
        (rc = env_int("PAYLINK_DRAIN_TIMEOUT_MS", 30000, 0, 600000, &c->drain_timeout_ms, errstr,
                      errstr_size)) ||
        (rc =
             env_int("PAYLINK_CONFIG_REFRESH_S", 60, 1, 86400, &c->refresh_s, errstr, errstr_size)))
        return rc;

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
    rc = pl_secret_resolve(ref, key, sizeof key, errstr, errstr_size);
    if (rc != 0)
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "card hash key: set PAYLINK_HASH_KEY_FILE (or PAYLINK_HASH_KEY)");
    size_t klen = strlen(key);
    if (klen < 16) {
        pl_card_wipe(key, sizeof key);
        return pl_err_set(PL_ERR_CONFIG, errstr, errstr_size,
                          "card hash key must be at least 16 characters");
    }
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
