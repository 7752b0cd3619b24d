/*
 * xml_test_helpers.h: what the unit tests of the XML bureaus and simulators need on the test
 * side (test_bureau_cybersource.c, test_bureau_relate.c, test_sim_cyb.c, test_sim_relate.c):
 * libxml2 set up once per group, the fixtures of tests/fixtures/<bureau>/, the XSDs, XPath
 * values, and documents serialised for a handler. Header-only (static functions), for tests
 * only; include after <cmocka.h>. Failures are cmocka assertions.
 *
 * PAYLINK_SOURCE_DIR and PAYLINK_XSD_DIR in the environment override the compiled-in paths
 * (CI clones the repository elsewhere, with shared/ beside it).
 */
#ifndef PL_TEST_XML_TEST_HELPERS_H
#define PL_TEST_XML_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>

/* cmocka group fixtures for a test that needs nothing more than libxml2 initialised. */
static inline int xml_test_group_setup(void **state)
{
    (void)state;
    xmlInitParser();
    return 0;
}

static inline int xml_test_group_teardown(void **state)
{
    (void)state;
    xmlCleanupParser();
    return 0;
}

/*
 * The fixture tests/fixtures/<dir>/<name>, NUL-terminated, *len bytes before the NUL; malloc'd
 * (the caller frees). NULL, with a line on stderr, when it cannot be read. Never inlined: the
 * callers assert the result, which the compiler cannot know, and inlined it would warn about
 * the NULL it then sees flow into their format strings.
 */
__attribute__((noinline, unused)) static char *xml_test_read_fixture(const char *dir,
                                                                     const char *name, size_t *len)
{
    const char *src = getenv("PAYLINK_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s/%s", src && *src ? src : PAYLINK_SOURCE_DIR,
             dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The XSD file of the CyberSource reference directory, parsed; NULL (and a line on stderr)
 * when it cannot be loaded. The caller frees it with xmlSchemaFree. */
static inline xmlSchemaPtr xml_test_load_schema(const char *file)
{
    const char *dir = getenv("PAYLINK_XSD_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : PAYLINK_XSD_DIR, file);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
    if (!pc)
        return NULL;
    xmlSchemaPtr s = xmlSchemaParse(pc);
    xmlSchemaFreeParserCtxt(pc);
    if (!s)
        fprintf(stderr, "cannot load the XSD %s (set PAYLINK_XSD_DIR)\n", path);
    return s;
}

/* A bureau's answer: the HTTP status and the body. */
typedef struct xml_test_answer {
    long status;
    const char *body;
} xml_test_answer;

/*
 * Calls check(status, body) on each of the answers no XML bureau adapter can read (not XML, an
 * HTML error page, nothing, white space only, a SOAP envelope with an empty Body), then on the
 * n answers of more, the bureau's own.
 */
static inline void xml_test_each_unreadable(const xml_test_answer *more, size_t n,
                                            void (*check)(long status, const char *body))
{
    static const xml_test_answer answers[] = {
        {200, "not xml"},
        {500, "<html>500</html>"},
        {200, ""},
        {200, "   \n"},
        {200, "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
              "<soap:Body/></soap:Envelope>"},
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++)
        check(answers[i].status, answers[i].body);
    for (size_t i = 0; i < n; i++)
        check(more[i].status, more[i].body);
}

/* The value of an XPath expression; never NULL (asserted). The caller frees it. */
static inline xmlXPathObjectPtr xml_test_eval(xmlXPathContextPtr xp, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, xp);
    assert_non_null(o);
    return o;
}

/*
 * The string value of an XPath expression ("" when absent), in a buffer of the calling thread
 * that the next call overwrites.
 */
static inline const char *xml_test_xstr(xmlXPathContextPtr xp, const char *expr)
{
    static _Thread_local char buf[256];
    xmlXPathObjectPtr o = xml_test_eval(xp, expr);
    snprintf(buf, sizeof buf, "%s", o->stringval ? (const char *)o->stringval : "");
    xmlXPathFreeObject(o);
    return buf;
}

/* The number of nodes an XPath expression selects. */
static inline int xml_test_count(xmlXPathContextPtr xp, const char *expr)
{
    xmlXPathObjectPtr o = xml_test_eval(xp, expr);
    int n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(o);
    return n;
}

/* doc serialised in UTF-8 with its XML declaration: malloc'd, NUL-terminated, *len bytes. */
static inline char *xml_test_dump(xmlDocPtr doc, size_t *len)
{
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
    assert_true(size > 0);
    char *out = malloc((size_t)size + 1);
    assert_non_null(out);
    memcpy(out, mem, (size_t)size);
    out[size] = '\0';
    xmlFree(mem);
    *len = (size_t)size;
    return out;
}

#endif
