/*
 * test_sim_xml.c: the simulated bureaus' XML helpers (tools/sim/sim_xml.h): reading what a
 * client sent and its refusals, elements by local name and namespace, text at a path, and the
 * answer builder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_xml.h"
#include "xml_test_helpers.h"

static xmlDocPtr read_ok(const char *text)
{
    xmlDocPtr doc = NULL;
    char err[160] = "";
    assert_int_equal(pl_sim_xml_read(text, strlen(text), "t.xml", "a test", &doc, err, sizeof err),
                     0);
    assert_non_null(doc);
    return doc;
}

static void test_read(void **state)
{
    (void)state;
    xmlDocPtr doc = (xmlDocPtr)1;
    char err[160];
    assert_int_equal(pl_sim_xml_read(NULL, 0, "t.xml", "a test", &doc, err, sizeof err),
                     PL_ERR_PARSE);
    assert_null(doc);
    assert_string_equal(err, "empty request body");
    assert_int_equal(pl_sim_xml_read("<a>", 3, "t.xml", "a test", &doc, err, sizeof err),
                     PL_ERR_PARSE);
    assert_null(doc);
    assert_true(strncmp(err, "line 1: ", 8) == 0);
    assert_null(strchr(err, '\n'));
    const char *dtd = "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>";
    assert_int_equal(pl_sim_xml_read(dtd, strlen(dtd), "t.xml", "a test", &doc, err, sizeof err),
                     PL_ERR_PARSE);
    assert_null(doc);
    assert_string_equal(err, "a DTD is not allowed in a test");
    assert_int_equal(pl_sim_xml_read("<a", 2, "t.xml", "a test", &doc, NULL, 0), PL_ERR_PARSE);

    doc = read_ok("<a/>");
    assert_string_equal((const char *)xmlDocGetRootElement(doc)->name, "a");
    xmlFreeDoc(doc);
}

static void test_elements_and_text(void **state)
{
    (void)state;
    xmlDocPtr doc = read_ok("<r xmlns:x=\"urn:x\"><!-- c -->\n<x:a><b> 12 </b></x:a><a>plain</a>"
                            "<c><d>0123456789</d></c></r>");
    xmlNodePtr r = xmlDocGetRootElement(doc);
    assert_true(pl_sim_xml_is(r, NULL, "r"));
    assert_false(pl_sim_xml_is(r, "urn:x", "r"));
    assert_false(pl_sim_xml_is(NULL, NULL, "r"));
    assert_true(pl_sim_xml_is(pl_sim_xml_first_element(r), "urn:x", "a"));
    assert_null(pl_sim_xml_first_element(NULL));
    /* The namespace picks among elements of one name; NULL takes the first of any. */
    assert_true(pl_sim_xml_is(pl_sim_xml_child(r, NULL, "a"), "urn:x", "a"));
    assert_non_null(pl_sim_xml_child(r, "urn:x", "a"));
    assert_null(pl_sim_xml_child(r, "urn:y", "a"));
    assert_null(pl_sim_xml_child(NULL, NULL, "a"));

    char buf[8];
    assert_int_equal(pl_sim_xml_text(r, NULL, "a/b", buf, sizeof buf), 1);
    assert_string_equal(buf, "12");
    assert_int_equal(pl_sim_xml_text(r, "urn:x", "a/b", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(pl_sim_xml_text(r, NULL, "c/e", buf, sizeof buf), 0);
    assert_int_equal(pl_sim_xml_text(r, NULL, "c/d", buf, sizeof buf), PL_ERR_TOOBIG);
    assert_string_equal(buf, "");
    xmlFreeDoc(doc);
}

/*
 * Text read in place (one text node) and through a copy (anything else) is the same: the
 * element's whole text content, trimmed.
 */
static void test_text_shapes(void **state)
{
    (void)state;
    xmlDocPtr doc = read_ok("<r><one> a&amp;b </one><cdata><![CDATA[ 7<8 ]]></cdata>"
                            "<mixed> 12<!-- x -->34<![CDATA[56]]> </mixed>"
                            "<nested><i>1</i><i>2</i></nested><empty/><blank>  </blank></r>");
    xmlNodePtr r = xmlDocGetRootElement(doc);
    static const struct {
        const char *path, *text;
    } cases[] = {
        {"one", "a&b"},   {"cdata", "7<8"}, {"mixed", "123456"},
        {"nested", "12"}, {"empty", ""},    {"blank", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[16];
        assert_int_equal(pl_sim_xml_text(r, NULL, cases[i].path, buf, sizeof buf), 1);
        assert_string_equal(buf, cases[i].text);
    }
    char small[3];
    assert_int_equal(pl_sim_xml_text(r, NULL, "mixed", small, sizeof small), PL_ERR_TOOBIG);
    assert_int_equal(pl_sim_xml_text(r, NULL, "one", small, sizeof small), PL_ERR_TOOBIG);
    xmlFreeDoc(doc);
}

static void test_builder(void **state)
{
    (void)state;
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewDocNode(doc, NULL, BAD_CAST "r", NULL);
    xmlDocSetRootElement(doc, root);
    pl_sim_xml_builder b = {xmlNewNs(root, BAD_CAST "urn:a", NULL), true};
    xmlSetNs(root, b.ns);
    xmlNodePtr n = pl_sim_xml_add_text(&b, root, "n", NULL);
    pl_sim_xml_add_text(&b, n, "t", "a<b&c");
    pl_sim_xml_add_int(&b, n, "i", -42);
    pl_sim_xml_add_amount(&b, n, "m", 25000);
    assert_null(pl_sim_xml_add_text(&b, NULL, "x", "y"));
    assert_true(b.ok);
    /* After an error nothing more is added. */
    b.ok = false;
    assert_null(pl_sim_xml_add_text(&b, root, "late", "z"));
    size_t len;
    char *out = xml_test_dump(doc, &len);
    assert_string_equal(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r xmlns=\"urn:a\"><n>"
                             "<t>a&lt;b&amp;c</t><i>-42</i><m>250.00</m></n></r>\n");
    free(out);
    xmlFreeDoc(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_elements_and_text),
        cmocka_unit_test(test_text_shapes),
        cmocka_unit_test(test_builder),
    };
    return cmocka_run_group_tests(tests, xml_test_group_setup, xml_test_group_teardown);
}
