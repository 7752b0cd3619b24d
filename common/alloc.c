/*
 * alloc.c: the allocator's name and the settings the workers give jemalloc. The manual is
 * alloc.h.
 */
#include "alloc.h"

#include <dlfcn.h>
#include <stdio.h>

/*
 * Read by jemalloc when it starts (a weak symbol in the library, which this definition
 * overrides); glibc's malloc has no use for it. MALLOC_CONF in the environment wins over it.
 */
const char *malloc_conf = PL_JEMALLOC_CONF;

typedef int (*mallctl_fn)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

const char *pl_allocator_name(char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
#if defined(__SANITIZE_ADDRESS__)
    snprintf(buf, size, "AddressSanitizer");
#else
    /* jemalloc's control interface, present only when the process runs on it. */
    mallctl_fn mallctl = NULL;
    *(void **)&mallctl = dlsym(RTLD_DEFAULT, "mallctl");
    const char *version = NULL;
    size_t len = sizeof version;
    if (mallctl && mallctl("version", &version, &len, NULL, 0) == 0 && version)
        snprintf(buf, size, "jemalloc %s", version);
    else
        snprintf(buf, size, "glibc malloc");
#endif
    return buf;
}
