/*
 * alloc.h: which memory allocator the process runs on, and the settings the workers give
 * jemalloc.
 *
 * The workers are linked with jemalloc when the build has it (CMake option PAYLINK_JEMALLOC, on
 * by default; off in the sanitizer build, whose allocator is AddressSanitizer's): per
 * authorization ~360 blocks are allocated and freed (libxml2's trees, json-c's objects,
 * libcurl's and OpenSSL's per-transfer state), and glibc's malloc spent ~14 % of paylink-auth's
 * CPU on them; jemalloc ~9 % less CPU per authorization (docs/perf/ROUNDS.md). Every library
 * of the process allocates through it (glibc supports replacing malloc this way), so memory one
 * library allocates another may free.
 *
 * jemalloc's settings for the workers (the `malloc_conf` it reads at start-up, defined in
 * alloc.c) keep its memory near glibc's: one arena (the event loop allocates nearly all; each
 * librdkafka thread would otherwise get an arena of its own, each with its own cached pages)
 * and freed pages returned after 5 s instead of 10 s. MALLOC_CONF in the environment overrides
 * them (jemalloc's own syntax, e.g. MALLOC_CONF=narenas:2,dirty_decay_ms:10000).
 */
#ifndef PL_ALLOC_H
#define PL_ALLOC_H

#include <stddef.h>

/* The settings alloc.c gives jemalloc (see above). */
#define PL_JEMALLOC_CONF "narenas:1,dirty_decay_ms:5000"

/*
 * The allocator this process runs on, for the start-up log line: "jemalloc <version>" (found
 * by its mallctl), "AddressSanitizer" in a sanitizer build, else "glibc malloc". Writes at most
 * size bytes into buf and returns buf.
 */
const char *pl_allocator_name(char *buf, size_t size);

#endif
