/*
 * fuzz_json.h: what every fuzz target that parses JSON calls from LLVMFuzzerInitialize, so that
 * a seeded run (tools/dev's fuzz smoke) is the same run every time.
 */
#ifndef PL_FUZZ_JSON_H
#define PL_FUZZ_JSON_H

#include <json-c/linkhash.h>

/* json-c's default string hash is seeded from /dev/urandom: which keys share a bucket, and so
 * which strcmp calls json-c makes (libFuzzer's hook records their arguments for its mutations),
 * would differ from run to run, and a seeded run with them. */
static inline void pl_fuzz_json_fixed(void)
{
    json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE);
}

#endif
