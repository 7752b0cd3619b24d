/*
 * err.h: the one error convention of paylink.
 *
 * Every fallible function returns 0 on success or a negative pl_err code, and writes a human
 * message into a caller-supplied buffer (char *errstr, size_t errstr_size) when it has one.
 * Fallible functions are marked PL_MUSTCHECK so a forgotten check breaks the build.
 * Any thread may call pl_err_str.
 */
#ifndef PL_ERR_H
#define PL_ERR_H

#include <stddef.h>

#define PL_MUSTCHECK __attribute__((warn_unused_result))
#define PL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

typedef enum pl_err {
    PL_OK = 0,
    PL_ERR_INVALID = -1,  /* bad input: a request, an argument, a bureau answer */
    PL_ERR_NOMEM = -2,    /* allocation failed */
    PL_ERR_IO = -3,       /* a file or socket failed */
    PL_ERR_PARSE = -4,    /* a document could not be parsed */
    PL_ERR_NOTFOUND = -5, /* the thing looked for does not exist */
    PL_ERR_TOOBIG = -6,   /* a size cap was reached */
    PL_ERR_STATE = -7,    /* the call is not allowed in the current state */
    PL_ERR_DB = -8,       /* PostgreSQL failed */
    PL_ERR_KAFKA = -9,    /* Kafka failed */
    PL_ERR_HTTP = -10,    /* an HTTP transfer failed */
    PL_ERR_CONFIG = -11,  /* configuration is missing or wrong */
    PL_ERR_AUTH = -12,    /* a service refused our credentials or account */
} pl_err;

/* A static English name for an error code; never NULL. */
const char *pl_err_str(int err);

/* Formats into errstr (if errstr is not NULL and errstr_size > 0) and returns err. */
int pl_err_set(int err, char *errstr, size_t errstr_size, const char *fmt, ...) PL_PRINTF(4, 5);

#endif
