/*
 * it_sim_cyb.h: CyberSource requests sent to the bureau simulator by an integration test itself
 * (not through a worker), so that the simulator lists them in its Single Transaction Query, which
 * the resolver's step asks (test_resolver_captured_escalated.c, test_reversal_many.c). Include it
 * after cmocka.h; the test fails (fail_msg) on anything unexpected.
 */
#ifndef PL_IT_SIM_CYB_H
#define PL_IT_SIM_CYB_H

#include <curl/curl.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bureau.h"
#include "money.h"

#define IT_SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define IT_WSSE_NS                                                                                 \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define IT_CYB_NS "urn:schemas-cybersource-com:transaction-data-1.121"

/* Adds <name>text</name> in ns under parent. */
static inline void it_sim_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    assert_non_null(xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text));
}

/*
 * A new SOAP request in *doc from merchant paylink_demo (the rows' merchant ID; the simulator's
 * test transaction key) under merchant reference ref: returns its requestMessage, whose namespace
 * *ns gets, for the caller to add the services to.
 */
static inline xmlNodePtr it_sim_cyb_message(xmlDocPtr *doc, const char *ref, xmlNsPtr *ns)
{
    *doc = xmlNewDoc(BAD_CAST "1.0");
    assert_non_null(*doc);
    xmlNodePtr env = xmlNewDocNode(*doc, NULL, BAD_CAST "Envelope", NULL);
    xmlDocSetRootElement(*doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST IT_SOAP_NS, BAD_CAST "soap");
    xmlSetNs(env, soap);
    xmlNodePtr hdr = xmlNewChild(env, soap, BAD_CAST "Header", NULL);
    xmlNodePtr sec = xmlNewChild(hdr, NULL, BAD_CAST "Security", NULL);
    xmlNsPtr wsse = xmlNewNs(sec, BAD_CAST IT_WSSE_NS, BAD_CAST "wsse");
    xmlSetNs(sec, wsse);
    xmlNodePtr tok = xmlNewChild(sec, wsse, BAD_CAST "UsernameToken", NULL);
    it_sim_child(tok, wsse, "Username", "paylink_demo");
    it_sim_child(tok, wsse, "Password", "it-transaction-key");
    xmlNodePtr body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
    xmlNodePtr msg = xmlNewChild(body, NULL, BAD_CAST "requestMessage", NULL);
    *ns = xmlNewNs(msg, BAD_CAST IT_CYB_NS, NULL);
    xmlSetNs(msg, *ns);
    it_sim_child(msg, *ns, "merchantID", "paylink_demo");
    it_sim_child(msg, *ns, "merchantReferenceCode", ref);
    return msg;
}

/* The simulator's answer, read whole (at most one call's). */
typedef struct it_sim_answer {
    char body[16384];
    size_t n;
} it_sim_answer;

static inline size_t it_sim_on_answer(char *d, size_t size, size_t nmemb, void *arg)
{
    it_sim_answer *a = arg;
    size_t n = size * nmemb;
    if (n > sizeof a->body - 1 - a->n)
        return 0; /* longer than any answer of one call: the transfer fails */
    memcpy(a->body + a->n, d, n);
    a->n += n;
    a->body[a->n] = '\0';
    return n;
}

/* The amount a request sends: its purchaseTotals/grandTotalAmount under n (minor units; 0 when
 * it names none), which the adapter compares a partial approval's part with. */
static inline int64_t it_sim_cyb_sent(xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrcmp(n->name, BAD_CAST "grandTotalAmount") == 0) {
            xmlChar *text = xmlNodeGetContent(n);
            int64_t minor = 0;
            if (!text || pl_money_parse_decimal((const char *)text, &minor) != 0)
                minor = 0;
            xmlFree(text);
            return minor;
        }
        int64_t minor = it_sim_cyb_sent(n->children);
        if (minor)
            return minor;
    }
    return 0;
}

/*
 * Posts doc (freed, and its text wiped: it may hold the test card's number) to url (the CYB
 * service's test URL: the simulator, trusted by PAYLINK_CA_FILE when set) and reads the answer
 * as paylink's adapter does for a call of op into res. Fails the test (naming ref and what) when
 * the transfer fails, the status is not 200 or the answer is unreadable.
 */
static inline void it_sim_cyb_send(const char *url, xmlDocPtr doc, const char *ref,
                                   const char *what, pl_bureau_op op, pl_bureau_result *res)
{
    xmlChar *xml = NULL;
    int len = 0;
    int64_t sent = it_sim_cyb_sent(xmlDocGetRootElement(doc));
    xmlDocDumpMemory(doc, &xml, &len);
    xmlFreeDoc(doc);
    assert_non_null(xml);

    it_sim_answer *a = calloc(1, sizeof *a);
    assert_non_null(a);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)xml);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_sim_on_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    const char *ca = getenv("PAYLINK_CA_FILE");
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    /* The card number is not left in freed memory. */
    memset(xml, 0, (size_t)len);
    xmlFree(xml);
    if (cc != CURLE_OK || status != 200) {
        free(a);
        fail_msg("the simulator's %s of %s: %s, HTTP %ld", what, ref, curl_easy_strerror(cc),
                 status);
    }
    pl_bureau_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    pl_bureau_call call;
    memset(&call, 0, sizeof call);
    call.op = op;
    call.amount = sent;
    char err[256] = "";
    int rc = pl_bureau_cybersource.parse(&cfg, &call, status, a->body, a->n, res, err, sizeof err);
    free(a);
    if (rc != 0)
        fail_msg("the simulator's answer to %s is unreadable: %s", ref, err);
}

#endif
