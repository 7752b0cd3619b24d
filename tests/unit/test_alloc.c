/*
 * test_alloc.c: the allocator the process runs on. Built twice: test_alloc as every unit test
 * is (glibc's malloc, or AddressSanitizer's in the sanitizer build) and, when the build links
 * the workers with jemalloc, test_alloc_jemalloc linked as the workers are
 * (PAYLINK_TEST_EXPECT_JEMALLOC): jemalloc is then the process's allocator, with the workers'
 * settings, for the memory of every library, whichever library frees it.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "alloc.h"

typedef int (*mallctl_fn)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

static mallctl_fn find_mallctl(void)
{
    mallctl_fn f = NULL;
    *(void **)&f = dlsym(RTLD_DEFAULT, "mallctl");
    return f;
}

static void test_name(void **state)
{
    (void)state;
    char buf[96];
    const char *name = pl_allocator_name(buf, sizeof buf);
    assert_ptr_equal(name, buf);
#if defined(PAYLINK_TEST_EXPECT_JEMALLOC)
    assert_non_null(find_mallctl());
    if (strncmp(buf, "jemalloc 5.", 11) != 0)
        fail_msg("allocator: \"%s\", not jemalloc 5.x", buf);
#elif defined(__SANITIZE_ADDRESS__)
    assert_string_equal(buf, "AddressSanitizer");
#else
    assert_null(find_mallctl());
    assert_string_equal(buf, "glibc malloc");
#endif
    /* Cut to the buffer, always terminated; nothing written without room. */
    char small[4] = "xxx";
    pl_allocator_name(small, sizeof small);
    assert_int_equal(strlen(small), 3);
    char none[1] = {'x'};
    pl_allocator_name(none, 0);
    assert_int_equal(none[0], 'x');
    assert_null(pl_allocator_name(NULL, 8));
}

/* The symbol jemalloc reads its settings from (alloc.c). */
extern const char *malloc_conf;

/* alloc.c hands jemalloc alloc.h's settings, and (on jemalloc) jemalloc took them. */
static void test_settings(void **state)
{
    (void)state;
    assert_string_equal(malloc_conf, PL_JEMALLOC_CONF);
#if defined(PAYLINK_TEST_EXPECT_JEMALLOC)
    mallctl_fn mallctl = find_mallctl();
    unsigned narenas = 0;
    size_t len = sizeof narenas;
    assert_int_equal(mallctl("opt.narenas", &narenas, &len, NULL, 0), 0);
    assert_int_equal(narenas, 1);
    ssize_t decay = 0;
    len = sizeof decay;
    assert_int_equal(mallctl("opt.dirty_decay_ms", &decay, &len, NULL, 0), 0);
    assert_int_equal(decay, 5000);
#endif
}

/* What this thread has allocated so far, from jemalloc's counters; 0 elsewhere. */
static uint64_t thread_allocated(void)
{
    mallctl_fn mallctl = find_mallctl();
    uint64_t n = 0;
    size_t len = sizeof n;
    if (!mallctl || mallctl("thread.allocated", &n, &len, NULL, 0) != 0)
        return 0;
    return n;
}

/*
 * Memory that libc, libxml2, json-c and OpenSSL allocate inside is freed by free() or by the
 * library, and what we allocate the libraries free: one allocator for all (with jemalloc, its
 * counters grow with their allocations). Many rounds, so that a mix-up would show.
 */
static void test_libraries_share_it(void **state)
{
    (void)state;
    uint64_t before = thread_allocated();
    for (int round = 0; round < 500; round++) {
        /* libc's own allocations. */
        char *s = strdup("a string of some length to copy");
        assert_non_null(s);
        free(s);
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        fprintf(f, "round %d: %0500d", round, round);
        fclose(f);
        assert_true(size > 500);
        free(buf);
        char *p = NULL;
        assert_true(asprintf(&p, "%d-%s", round, "x") > 0);
        free(p);

        /* libxml2: a tree, and a string we allocate that libxml2 frees. */
        const char *xml = "<a><b c=\"d\">text</b><e/></a>";
        xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
        assert_non_null(doc);
        xmlNodePtr root = xmlDocGetRootElement(doc);
        xmlChar *mine = malloc(8);
        assert_non_null(mine);
        memcpy(mine, "mine", 5);
        xmlNodeSetContent(root->children, NULL);
        xmlNodeAddContent(root->children, mine);
        free(mine);
        xmlChar *dumped = NULL;
        int dlen = 0;
        xmlDocDumpMemory(doc, &dumped, &dlen);
        assert_non_null(strstr((const char *)dumped, "mine"));
        free(dumped); /* xmlFree is free */
        xmlFreeDoc(doc);

        /* json-c. */
        json_object *o = json_tokener_parse("{\"k\":[1,2,{\"x\":\"y\"}],\"s\":\"text\"}");
        assert_non_null(o);
        json_object_object_add(o, "added", json_object_new_string("value"));
        char *copy = strdup(json_object_to_json_string(o));
        json_object_put(o);
        free(copy);

        /* OpenSSL. */
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_non_null(md);
        unsigned char out[32];
        unsigned outlen = 0;
        assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
        assert_int_equal(EVP_DigestUpdate(md, "abc", 3), 1);
        assert_int_equal(EVP_DigestFinal_ex(md, out, &outlen), 1);
        assert_int_equal(outlen, 32);
        EVP_MD_CTX_free(md);
    }
    uint64_t after = thread_allocated();
#if defined(PAYLINK_TEST_EXPECT_JEMALLOC)
    /* 500 rounds of at least the memstream's 500 bytes went through jemalloc. */
    assert_true(after - before >= 500u * 500u);
#else
    assert_true(after == 0 && before == 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_libraries_share_it),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
