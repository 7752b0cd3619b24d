/*
 * test_xmlutil.c: the libxml2 plumbing of the XML bureau adapters (common/xmlutil.h): the safe
 * reader and its refusals, element look-ups by local name, text copied out exactly or as free
 * text with card numbers masked, text built cleaned of non-keyboard characters, wiping,
 * serialisation, and the redact copy with its fallback for text that is not XML.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xml_test_helpers.h"
#include "xmlutil.h"

/* A Luhn-valid card number, and a stored value card number that fails Luhn. */
#define PAN "4111111111111111"
#define SVC "9117230675152172"

/* Runs of 10 or more digits, masked as a stored value adapter does. */
static void mask_runs(char *text, size_t len, pl_mask_mode mode)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] >= '0' && text[j] <= '9')
            j++;
        if (j - i >= 10)
            for (size_t k = i; k < j - (mode == PL_MASK_LAST4 ? 4 : 0); k++)
                text[k] = '*';
        i = j > i ? j : i + 1;
    }
}

static const pl_xml_profile LUHN = {
    .max_len = 4096, .doc_name = "a test document", .declaration = true, .mask_more = NULL};
static const pl_xml_profile DIGITS = {.max_len = 4096,
                                      .doc_name = "a stored value answer",
                                      .declaration = false,
                                      .mask_more = mask_runs};

static xmlDocPtr read_ok(const char *text, const pl_xml_profile *p)
{
    xmlDocPtr doc = NULL;
    char err[200] = "";
    int rc = pl_xml_read(text, strlen(text), p, &doc, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: %s", text, err);
    assert_non_null(doc);
    return doc;
}

static int read_refused(const char *text, size_t len, const pl_xml_profile *p, char *err,
                        size_t errsize)
{
    xmlDocPtr doc = (xmlDocPtr)1;
    err[0] = '\0';
    int rc = pl_xml_read(text, len, p, &doc, err, errsize);
    assert_null(doc);
    assert_true(err[0] != '\0');
    return rc;
}

static void test_read(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(read_refused(NULL, 0, &LUHN, err, sizeof err), PL_ERR_PARSE);
    assert_string_equal(err, "empty body");
    assert_int_equal(read_refused("<a/>", 0, &LUHN, err, sizeof err), PL_ERR_PARSE);
    assert_string_equal(err, "empty body");

    /* The size cap is checked before anything is parsed. */
    char *big = malloc(LUHN.max_len + 1);
    assert_non_null(big);
    memset(big, ' ', LUHN.max_len + 1);
    assert_int_equal(read_refused(big, LUHN.max_len + 1, &LUHN, err, sizeof err), PL_ERR_PARSE);
    assert_string_equal(err, "body of 4097 bytes is over the 4096 limit");
    free(big);

    /* libxml2's message quotes the document: card numbers in it are masked as the profile
     * says, a stored value number only where the profile masks runs of digits. */
    const char *quoting = "<a" PAN SVC ">x</b>";
    assert_int_equal(read_refused(quoting, strlen(quoting), &LUHN, err, sizeof err), PL_ERR_PARSE);
    assert_non_null(strstr(err, "not XML (line 1): "));
    const char *pan_quoted = "<a" PAN ">x</b>";
    assert_int_equal(read_refused(pan_quoted, strlen(pan_quoted), &LUHN, err, sizeof err),
                     PL_ERR_PARSE);
    assert_null(strstr(err, PAN));
    assert_non_null(strstr(err, "************1111"));
    const char *svc_quoted = "<a" SVC ">x</b>";
    assert_int_equal(read_refused(svc_quoted, strlen(svc_quoted), &LUHN, err, sizeof err),
                     PL_ERR_PARSE);
    assert_non_null(strstr(err, SVC));
    assert_int_equal(read_refused(svc_quoted, strlen(svc_quoted), &DIGITS, err, sizeof err),
                     PL_ERR_PARSE);
    assert_null(strstr(err, SVC));
    assert_non_null(strstr(err, "************2172"));
    /* No line end at the end of the message. */
    assert_true(err[strlen(err) - 1] != '\n');

    /* No DTD at all: no entity of any kind is ever expanded. */
    const char *dtd = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
                      "\"file:///etc/passwd\">]><r>&x;</r>";
    assert_int_equal(read_refused(dtd, strlen(dtd), &LUHN, err, sizeof err), PL_ERR_PARSE);
    assert_string_equal(err, "a DTD is not allowed in a test document");
    assert_int_equal(read_refused(dtd, strlen(dtd), &DIGITS, err, sizeof err), PL_ERR_PARSE);
    assert_string_equal(err, "a DTD is not allowed in a stored value answer");

    /* Without an error buffer, and a document that is read. */
    xmlDocPtr doc = NULL;
    assert_int_equal(pl_xml_read("<r", 2, &LUHN, &doc, NULL, 0), PL_ERR_PARSE);
    assert_null(doc);
    doc = read_ok("<r><a>1</a></r>", &LUHN);
    assert_string_equal((const char *)xmlDocGetRootElement(doc)->name, "r");
    pl_xml_free_doc(doc);
    pl_xml_free_doc(NULL);
}

static void test_elements(void **state)
{
    (void)state;
    xmlDocPtr doc = read_ok("<s:Envelope xmlns:s=\"urn:s\"><s:Header/><s:Body><!-- c -->\n  text"
                            "<p:Fault xmlns:p=\"urn:p\"><code>1</code></p:Fault></s:Body>"
                            "</s:Envelope>",
                            &LUHN);
    xmlNodePtr env = xmlDocGetRootElement(doc);
    assert_true(pl_xml_is(env, "Envelope"));
    assert_false(pl_xml_is(env, "Body"));
    assert_false(pl_xml_is(NULL, "Envelope"));
    /* Local names, whatever the prefix or namespace. */
    xmlNodePtr body = pl_xml_child(env, "Body");
    assert_non_null(body);
    assert_null(pl_xml_child(env, "Fault"));
    assert_null(pl_xml_child(NULL, "Body"));
    /* A comment and text come before the first element. */
    assert_false(pl_xml_is(body->children, "Fault"));
    xmlNodePtr fault = pl_xml_first_element(body->children);
    assert_true(pl_xml_is(fault, "Fault"));
    assert_non_null(pl_xml_child(fault, "code"));
    assert_null(pl_xml_first_element(NULL));
    assert_null(pl_xml_first_element(pl_xml_child(fault, "code")->children));
    pl_xml_free_doc(doc);
}

static void test_text_exact(void **state)
{
    (void)state;
    xmlDocPtr doc = read_ok("<r><id> \t12 34\r\n</id><long>abcdef</long><empty/>"
                            "<nested><a>x</a><b>y</b></nested></r>",
                            &LUHN);
    xmlNodePtr r = xmlDocGetRootElement(doc);
    char out[8];
    assert_int_equal(pl_xml_text_exact(pl_xml_child(r, "id"), out, sizeof out), 0);
    assert_string_equal(out, "12 34");
    assert_int_equal(pl_xml_text_exact(pl_xml_child(r, "empty"), out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(pl_xml_text_exact(pl_xml_child(r, "nested"), out, sizeof out), 0);
    assert_string_equal(out, "xy");
    assert_int_equal(pl_xml_text_exact(NULL, out, sizeof out), 0);
    assert_string_equal(out, "");

    /* An identifier is never cut: it does not fit, and nothing of it is left. */
    char small[6];
    memset(small, 'z', sizeof small);
    assert_int_equal(pl_xml_text_exact(pl_xml_child(r, "long"), small, sizeof small), PL_ERR_PARSE);
    for (size_t i = 0; i < sizeof small; i++)
        assert_int_equal(small[i], 0);
    assert_int_equal(pl_xml_copy_exact("  abcde \n", small, sizeof small), 0);
    assert_string_equal(small, "abcde");
    assert_int_equal(pl_xml_copy_exact("abcdef", small, sizeof small), PL_ERR_PARSE);
    assert_int_equal(pl_xml_copy_exact("", small, sizeof small), 0);
    assert_string_equal(small, "");
    pl_xml_free_doc(doc);
}

static void test_text_free(void **state)
{
    (void)state;
    xmlDocPtr doc = read_ok("<r><d>  Card " PAN " and " SVC " refused \n</d>"
                            "<cut>xxxxxxxxxx " PAN "</cut></r>",
                            &LUHN);
    xmlNodePtr r = xmlDocGetRootElement(doc);
    char out[128];
    pl_xml_text_free(pl_xml_child(r, "d"), out, sizeof out, &LUHN);
    assert_string_equal(out, "Card ************1111 and " SVC " refused");
    pl_xml_text_free(pl_xml_child(r, "d"), out, sizeof out, &DIGITS);
    assert_string_equal(out, "Card ************1111 and ************2172 refused");
    pl_xml_text_free(NULL, out, sizeof out, &LUHN);
    assert_string_equal(out, "");

    /* Cut to fit, and never with the head of a card number left at the end. */
    char small[20];
    pl_xml_text_free(pl_xml_child(r, "cut"), small, sizeof small, &LUHN);
    assert_true(strlen(small) < sizeof small);
    assert_null(strstr(small, "4111"));
    assert_true(strncmp(small, "xxxxxxxxxx", 10) == 0);
    pl_xml_free_doc(doc);
}

static void test_read_fault(void **state)
{
    (void)state;
    xmlDocPtr doc = read_ok("<Fault><faultcode> soap:Server </faultcode><faultstring>Card " SVC
                            " not authorized</faultstring></Fault>",
                            &DIGITS);
    char code[32] = "", string[64] = "";
    pl_xml_read_fault(xmlDocGetRootElement(doc), code, sizeof code, string, sizeof string, &DIGITS);
    assert_string_equal(code, "soap:Server");
    assert_string_equal(string, "Card ************2172 not authorized");
    pl_xml_free_doc(doc);

    /* What the fault does not carry is left as it was. */
    doc = read_ok("<Fault><faultstring>x</faultstring></Fault>", &LUHN);
    snprintf(code, sizeof code, "kept");
    pl_xml_read_fault(xmlDocGetRootElement(doc), code, sizeof code, string, sizeof string, &LUHN);
    assert_string_equal(code, "kept");
    assert_string_equal(string, "x");
    pl_xml_free_doc(doc);
}

/* doc serialised without a declaration, for comparing what was built. */
static char *serialized(xmlDocPtr doc)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(pl_xml_serialize(doc, false, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_building(void **state)
{
    (void)state;
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr r = xmlNewDocNode(doc, NULL, BAD_CAST "r", NULL);
    xmlDocSetRootElement(doc, r);
    xmlNodePtr a = xmlNewChild(r, NULL, BAD_CAST "a", NULL);
    xmlNodePtr b = xmlNewChild(r, NULL, BAD_CAST "b", NULL);
    xmlNodePtr c = xmlNewChild(r, NULL, BAD_CAST "c", NULL);
    xmlNodePtr m = xmlNewChild(r, NULL, BAD_CAST "m", NULL);
    /* seed: only standard keyboard characters; markup characters are escaped, not lost. */
    assert_int_equal(pl_xml_add_clean_text(a, "Zo\xc3\xab & <Sons>"), 1);
    assert_int_equal(pl_xml_add_clean_text(b, "\xc3\xa9\t"), 0);
    assert_int_equal(pl_xml_add_clean_text(b, ""), 0);
    assert_int_equal(pl_xml_add_clean_text(c, NULL), 0);
    assert_null(b->children);
    assert_int_equal(pl_xml_add_money(m, 12345), 0);
    char *out = serialized(doc);
    assert_string_equal(out, "<r><a>Zo &amp; &lt;Sons&gt;</a><b/><c/><m>123.45</m></r>\n");
    free(out);

    /* Replaced text is stored as it is, the old text gone. */
    pl_xml_set_text(a, "**&**");
    pl_xml_set_text(m, "");
    out = serialized(doc);
    assert_string_equal(out, "<r><a>**&amp;**</a><b/><c/><m/></r>\n");
    free(out);

    /* With the declaration. */
    size_t len = 0;
    assert_int_equal(pl_xml_serialize(doc, true, &out, &len), 0);
    assert_string_equal(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<r><a>**&amp;**</a><b/><c/><m/></r>\n");
    assert_int_equal(strlen(out), len);
    free(out);
    pl_xml_free_doc(doc);
}

static void test_wipe(void **state)
{
    (void)state;
    xmlDocPtr doc = read_ok("<r>" PAN "<a>" SVC "<b><![CDATA[" PAN "]]></b></a></r>", &LUHN);
    xmlNodePtr r = xmlDocGetRootElement(doc);
    xmlNodePtr texts[] = {r->children, r->children->next->children,
                          r->children->next->children->next->children};
    size_t lens[3];
    for (size_t i = 0; i < 3; i++)
        lens[i] = strlen((const char *)texts[i]->content);
    pl_xml_wipe_text(doc->children);
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < lens[i]; k++)
            assert_int_equal(texts[i]->content[k], 0);
    pl_xml_free_doc(doc);
}

static int tree_calls;
static pl_mask_mode tree_mode;

/* A redact tree of the test: every <secret> emptied. */
static void mask_secrets(xmlNodePtr n, pl_mask_mode mode)
{
    tree_calls++;
    tree_mode = mode;
    for (; n; n = n->next) {
        if (pl_xml_is(n, "secret"))
            pl_xml_set_text(n, "");
        else if (n->type == XML_ELEMENT_NODE)
            mask_secrets(n->children, mode);
    }
}

static void test_redact(void **state)
{
    (void)state;
    const char *xml = "<r><secret>737</secret><note>pay with " PAN " or " SVC "</note></r>";
    tree_calls = 0;
    char *red = pl_xml_redact(xml, strlen(xml), PL_MASK_LAST4, &DIGITS, mask_secrets);
    assert_non_null(red);
    assert_true(tree_calls >= 1);
    assert_int_equal(tree_mode, PL_MASK_LAST4);
    /* The tree's own masking, then the Luhn scrubber as a second net (runs of digits that do
     * not pass Luhn are the tree's business). */
    assert_string_equal(red, "<r><secret/><note>pay with ************1111 or " SVC "</note></r>\n");
    free(red);

    /* Any mode but the last four removes. */
    red = pl_xml_redact(xml, strlen(xml), 7, &LUHN, mask_secrets);
    assert_int_equal(tree_mode, PL_MASK_REMOVED);
    assert_non_null(strstr(red, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    assert_non_null(strstr(red, "pay with ***REMOVED*** or"));
    free(red);

    /* Text that is not XML is scrubbed, and masked as the profile says; NULs become '.'. */
    const char broken[] = "<r><note>" PAN "\0" SVC "</no";
    tree_calls = 0;
    red = pl_xml_redact(broken, sizeof broken - 1, PL_MASK_LAST4, &DIGITS, mask_secrets);
    assert_int_equal(tree_calls, 0);
    assert_string_equal(red, "<r><note>************1111.************2172</no");
    free(red);
    red = pl_xml_redact(broken, sizeof broken - 1, PL_MASK_LAST4, &LUHN, mask_secrets);
    assert_string_equal(red, "<r><note>************1111." SVC "</no");
    free(red);

    red = pl_xml_redact("", 0, PL_MASK_LAST4, &LUHN, mask_secrets);
    assert_string_equal(red, "");
    free(red);
    assert_null(pl_xml_redact(NULL, 0, PL_MASK_LAST4, &LUHN, mask_secrets));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),       cmocka_unit_test(test_elements),
        cmocka_unit_test(test_text_exact), cmocka_unit_test(test_text_free),
        cmocka_unit_test(test_read_fault), cmocka_unit_test(test_building),
        cmocka_unit_test(test_wipe),       cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, xml_test_group_setup, xml_test_group_teardown);
}
