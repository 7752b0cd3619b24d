/*
 * sim_ids.c: unique IDs and random codes for the simulated bureaus (see sim_ids.h).
 */
#include "sim_ids.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define ID_SUFFIX_MOD UINT64_C(1000000000000) /* 12 digits */

static atomic_uint_fast64_t id_counter;
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

/*
 * Fills buf from the kernel's generator: getrandom(2), or, when that fails (only before the
 * kernel pool is seeded, or on EINTR), a clock-derived fallback. The simulator's IDs need
 * uniqueness (the counter gives it), not secrecy, so the fallback is enough rather than failing
 * the request.
 */
static void os_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n <= 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t x = (uint64_t)ts.tv_nsec * UINT64_C(6364136223846793005) + (uint64_t)len;
            for (; len > 0; len--, p++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *p = (unsigned char)x;
            }
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/*
 * The random codes of an answer (request token, authorization code, reconciliation ID, the
 * SOAP Timestamp's Id) come from a generator of each thread's own, xoshiro256** seeded once per
 * thread from os_random: a getrandom(2) call for each of them was four system calls in every
 * CyberSource answer. The codes only have to look random; nothing keys on their secrecy.
 */
static _Thread_local uint64_t rng_state[4];
static _Thread_local bool rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
    if (!rng_seeded) {
        os_random(rng_state, sizeof rng_state);
        /* The all-zero state is xoshiro's one fixed point. */
        if (!(rng_state[0] | rng_state[1] | rng_state[2] | rng_state[3]))
            rng_state[0] = UINT64_C(0x9E3779B97F4A7C15);
        rng_seeded = true;
    }
    uint64_t *s = rng_state;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void fill_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        uint64_t x = rng_next();
        size_t n = len < sizeof x ? len : sizeof x;
        memcpy(p, &x, n);
        p += n;
        len -= n;
    }
}

static void id_seed(void)
{
    uint64_t start;
    os_random(&start, sizeof start);
    atomic_store(&id_counter, start % ID_SUFFIX_MOD);
}

void pl_sim_ids_request_id(char out[PL_SIM_ID_DIGITS + 1])
{
    pthread_once(&id_once, id_seed);
    uint64_t n = atomic_fetch_add(&id_counter, 1) % ID_SUFFIX_MOD;
    /* Ten digits of seconds hold until the year 2286. */
    uint64_t secs = (uint64_t)time(NULL) % UINT64_C(10000000000);
    snprintf(out, PL_SIM_ID_DIGITS + 1, "%010llu%012llu", (unsigned long long)secs,
             (unsigned long long)n);
}

void pl_sim_ids_request_token(char out[PL_SIM_TOKEN_CHARS + 1])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[PL_SIM_TOKEN_CHARS];
    fill_random(raw, sizeof raw);
    for (size_t i = 0; i < PL_SIM_TOKEN_CHARS; i++)
        out[i] = b64[raw[i] & 63];
    out[PL_SIM_TOKEN_CHARS] = '\0';
}

void pl_sim_ids_auth_code(char out[7])
{
    unsigned char raw[6];
    fill_random(raw, sizeof raw);
    for (size_t i = 0; i < 6; i++)
        out[i] = (char)('0' + raw[i] % 10);
    out[6] = '\0';
}

void pl_sim_ids_reconciliation_id(char out[17])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned char raw[16];
    fill_random(raw, sizeof raw);
    for (size_t i = 0; i < 16; i++)
        out[i] = alphabet[raw[i] % 36];
    out[16] = '\0';
}

uint32_t pl_sim_ids_random(uint32_t bound)
{
    if (bound == 0)
        return 0;
    uint64_t x;
    fill_random(&x, sizeof x);
    return (uint32_t)(x % ((uint64_t)bound + 1));
}

void pl_sim_ids_rfc3339(const struct timespec *ts, bool millis, char *out, size_t outsize)
{
    struct tm tm;
    time_t secs = ts->tv_sec;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (millis)
        snprintf(out, outsize, "%s.%03ldZ", base, (long)(ts->tv_nsec / 1000000));
    else
        snprintf(out, outsize, "%sZ", base);
}

void pl_sim_ids_now(bool millis, char *out, size_t outsize)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pl_sim_ids_rfc3339(&ts, millis, out, outsize);
}
