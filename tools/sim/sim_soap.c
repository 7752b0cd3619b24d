/*
 * sim_soap.c: SOAP envelopes in and out for the simulated bureaus (see sim_soap.h).
 */
#include "sim_soap.h"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_ids.h"

static bool ns_is(xmlNodePtr node, const char *ns)
{
    if (!ns)
        return true;
    return node->ns && node->ns->href && strcmp((const char *)node->ns->href, ns) == 0;
}

xmlNodePtr pl_sim_xml_child(xmlNodePtr parent, const char *ns, const char *name)
{
    if (!parent)
        return NULL;
    for (xmlNodePtr c = parent->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0 && ns_is(c, ns))
            return c;
    }
    return NULL;
}

static xmlNodePtr first_element(xmlNodePtr parent)
{
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

int pl_sim_soap_parse(const char *body, size_t len, xmlDocPtr *doc, xmlNodePtr *header,
                      xmlNodePtr *payload, char *errstr, size_t errstr_size)
{
    *doc = NULL;
    *header = *payload = NULL;
    if (!body || len == 0 || len > INT32_MAX)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "empty request body");

    xmlResetLastError();
    xmlDocPtr d = xmlReadMemory(body, (int)len, "request.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d) {
        const xmlError *e = xmlGetLastError();
        char msg[160] = "not well-formed XML";
        if (e && e->message) {
            snprintf(msg, sizeof msg, "line %d: %s", e->line, e->message);
            /* libxml2 messages end in a newline; a fault string should not. */
            msg[strcspn(msg, "\n")] = '\0';
        }
        xmlResetLastError();
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s", msg);
    }
    int rc = PL_ERR_PARSE;
    if (d->intSubset || d->extSubset) {
        pl_err_set(rc, errstr, errstr_size, "a DTD is not allowed in a SOAP message");
        goto fail;
    }
    xmlNodePtr env = xmlDocGetRootElement(d);
    if (!env || strcmp((const char *)env->name, "Envelope") != 0 || !ns_is(env, PL_SOAP_ENV_NS)) {
        pl_err_set(rc, errstr, errstr_size, "the root element is not a SOAP 1.1 Envelope");
        goto fail;
    }
    xmlNodePtr b = pl_sim_xml_child(env, PL_SOAP_ENV_NS, "Body");
    if (!b) {
        pl_err_set(rc, errstr, errstr_size, "the SOAP Envelope has no Body");
        goto fail;
    }
    xmlNodePtr p = first_element(b);
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

int pl_sim_xml_text(xmlNodePtr parent, const char *ns, const char *path, char *buf, size_t bufsize)
{
    buf[0] = '\0';
    xmlNodePtr node = parent;
    const char *p = path;
    while (node && *p) {
        char step[64];
        size_t n = strcspn(p, "/");
        if (n >= sizeof step)
            return 0;
        memcpy(step, p, n);
        step[n] = '\0';
        node = pl_sim_xml_child(node, ns, step);
        p += n;
        if (*p == '/')
            p++;
    }
    if (!node)
        return 0;

    xmlChar *content = xmlNodeGetContent(node);
    if (!content)
        return 0;
    const char *s = (const char *)content;
    const char *end = s + strlen(s);
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    size_t len = (size_t)(end - s);
    int rc = 1;
    if (len >= bufsize) {
        rc = PL_ERR_TOOBIG;
    } else {
        memcpy(buf, s, len);
        buf[len] = '\0';
    }
    xmlFree(content);
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
    int rc = pl_sim_response_set(resp, status, "text/xml; charset=utf-8", (const char *)mem,
                                 (size_t)size);
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
