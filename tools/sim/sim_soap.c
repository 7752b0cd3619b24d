/*
 * sim_soap.c: SOAP envelopes in and out for the simulated bureaus (see sim_soap.h).
 */
#include "sim_soap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_ids.h"
#include "sim_log.h"

int pl_sim_soap_parse(const char *body, size_t len, xmlDocPtr *doc, xmlNodePtr *header,
                      xmlNodePtr *payload, char *errstr, size_t errstr_size)
{
    *doc = NULL;
    *header = *payload = NULL;
    xmlDocPtr d;
    int rc = pl_sim_xml_read(body, len, "request.xml", "a SOAP message", &d, errstr, errstr_size);
    if (rc < 0)
        return rc;
    rc = PL_ERR_PARSE;
    xmlNodePtr env = xmlDocGetRootElement(d);
    if (!pl_sim_xml_is(env, PL_SOAP_ENV_NS, "Envelope")) {
        pl_err_set(rc, errstr, errstr_size, "the root element is not a SOAP 1.1 Envelope");
        goto fail;
    }
    xmlNodePtr b = pl_sim_xml_child(env, PL_SOAP_ENV_NS, "Body");
    if (!b) {
        pl_err_set(rc, errstr, errstr_size, "the SOAP Envelope has no Body");
        goto fail;
    }
    xmlNodePtr p = pl_sim_xml_first_element(b);
    if (!p) {
        pl_err_set(rc, errstr, errstr_size, "the SOAP Body is empty");
        goto fail;
    }
    *doc = d;
    *header = pl_sim_xml_child(env, PL_SOAP_ENV_NS, "Header");
    *payload = p;
    return PL_OK;
fail:
    xmlFreeDoc(d);
    return rc;
}

int pl_sim_soap_read_request(const char *protocol, const pl_sim_http_req *req, xmlDocPtr *doc,
                             xmlNodePtr *header, xmlNodePtr *payload, char *fault_text,
                             size_t fault_text_size)
{
    char err[200];
    int rc = pl_sim_soap_parse(req->body, req->body_len, doc, header, payload, err, sizeof err);
    if (rc < 0) {
        snprintf(fault_text, fault_text_size, "Could not parse the request: %s", err);
        pl_sim_log(PL_LOG_WARN, NULL, "%s malformed request: %s", protocol, err);
    }
    return rc;
}

xmlDocPtr pl_sim_soap_new_reply(xmlNodePtr *body)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    if (!doc)
        return NULL;
    xmlNodePtr env = xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL);
    if (!env)
        goto fail;
    xmlDocSetRootElement(doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST PL_SOAP_ENV_NS, BAD_CAST "soap");
    if (!soap)
        goto fail;
    xmlSetNs(env, soap);

    xmlNodePtr hdr = xmlNewChild(env, soap, BAD_CAST "Header", NULL);
    xmlNodePtr sec = hdr ? xmlNewChild(hdr, NULL, BAD_CAST "Security", NULL) : NULL;
    xmlNsPtr wsse = sec ? xmlNewNs(sec, BAD_CAST PL_WSSE_NS, BAD_CAST "wsse") : NULL;
    if (!wsse)
        goto fail;
    xmlSetNs(sec, wsse);
    xmlNodePtr ts = xmlNewChild(sec, NULL, BAD_CAST "Timestamp", NULL);
    xmlNsPtr wsu = ts ? xmlNewNs(ts, BAD_CAST PL_WSU_NS, BAD_CAST "wsu") : NULL;
    if (!wsu)
        goto fail;
    xmlSetNs(ts, wsu);
    char id[32];
    snprintf(id, sizeof id, "Timestamp-%u", (unsigned)pl_sim_ids_random(2000000000u));
    char now[40];
    pl_sim_ids_now(true, now, sizeof now);
    if (!xmlNewNsProp(ts, wsu, BAD_CAST "Id", BAD_CAST id) ||
        !xmlNewTextChild(ts, wsu, BAD_CAST "Created", BAD_CAST now))
        goto fail;

    *body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
    if (!*body)
        goto fail;
    return doc;
fail:
    xmlFreeDoc(doc);
    return NULL;
}

int pl_sim_soap_finish(xmlDocPtr doc, unsigned status, pl_sim_response *resp)
{
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpMemoryEnc(doc, &mem, &size, "utf-8");
    xmlFreeDoc(doc);
    if (!mem || size <= 0) {
        xmlFree(mem);
        return PL_ERR_NOMEM;
    }
    static const char type[] = "text/xml; charset=utf-8";
    /*
     * With libxml2's default allocator (malloc's, unless someone called xmlMemSetup) its buffer
     * can be the answer as it is: no second copy of every reply.
     */
    xmlFreeFunc xml_free = NULL;
    xmlMallocFunc xml_malloc;
    xmlReallocFunc xml_realloc;
    xmlStrdupFunc xml_strdup;
    if (xmlMemGet(&xml_free, &xml_malloc, &xml_realloc, &xml_strdup) == 0 && xml_free == free) {
        pl_sim_response_take(resp, status, type, (char *)mem, (size_t)size);
        return PL_OK;
    }
    int rc = pl_sim_response_set(resp, status, type, (const char *)mem, (size_t)size);
    xmlFree(mem);
    return rc;
}

/*
 * xmlNewChild with a NULL namespace inherits the parent's (soap:) one; fault children are
 * unqualified, so they are made free-standing and attached. The text is escaped.
 */
static xmlNodePtr add_unqualified(xmlNodePtr parent, const char *name, const char *text)
{
    xmlNodePtr n = xmlNewDocNode(parent->doc, NULL, BAD_CAST name, NULL);
    if (!n)
        return NULL;
    xmlNodeAddContent(n, BAD_CAST text);
    return xmlAddChild(parent, n);
}

int pl_sim_soap_fault(pl_sim_response *resp, const char *faultcode, const char *faultstring)
{
    xmlNodePtr body;
    xmlDocPtr doc = pl_sim_soap_new_reply(&body);
    if (!doc)
        return PL_ERR_NOMEM;
    xmlNodePtr fault = xmlNewChild(body, body->ns, BAD_CAST "Fault", NULL);
    if (!fault ||
        !xmlNewNs(fault, BAD_CAST "urn:schemas-cybersource-com:transaction-data-1.0",
                  BAD_CAST "c") ||
        !xmlNewNs(fault, BAD_CAST PL_WSSE_NS, BAD_CAST "wsse") ||
        !add_unqualified(fault, "faultcode", faultcode) ||
        !add_unqualified(fault, "faultstring", faultstring)) {
        xmlFreeDoc(doc);
        return PL_ERR_NOMEM;
    }
    return pl_sim_soap_finish(doc, 500, resp);
}
