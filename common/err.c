/* err.c: names of the pl_err codes and the errstr helper. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *pl_err_str(int err)
{
    switch (err) {
    case PL_OK:
        return "ok";
    case PL_ERR_INVALID:
        return "invalid";
    case PL_ERR_NOMEM:
        return "out of memory";
    case PL_ERR_IO:
        return "i/o error";
    case PL_ERR_PARSE:
        return "parse error";
    case PL_ERR_NOTFOUND:
        return "not found";
    case PL_ERR_TOOBIG:
        return "too big";
    case PL_ERR_STATE:
        return "wrong state";
    case PL_ERR_DB:
        return "database error";
    case PL_ERR_KAFKA:
        return "kafka error";
    case PL_ERR_HTTP:
        return "http error";
    case PL_ERR_CONFIG:
        return "configuration error";
    case PL_ERR_AUTH:
        return "authentication error";
    }
    return "unknown error";
}

int pl_err_set(int err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
