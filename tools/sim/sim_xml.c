/*
 * sim_xml.c: reading client XML and writing answers for the simulated bureaus (see sim_xml.h).
 */
#include "sim_xml.h"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdio.h>
#include <string.h>

#include "card.h"
#include "money.h"

int pl_sim_xml_read(const char *text, size_t len, const char *name, const char *what,
                    xmlDocPtr *doc, char *errstr, size_t errstr_size)
{
    *doc = NULL;
    if (!text || len == 0 || len > INT32_MAX)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "empty request body");

    xmlResetLastError();
    xmlDocPtr d = xmlReadMemory(text, (int)len, name, NULL,
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
    if (d->intSubset || d->extSubset) {
        xmlFreeDoc(d);
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "a DTD is not allowed in %s", what);
    }
    *doc = d;
    return PL_OK;
}

xmlNodePtr pl_sim_xml_first_element(xmlNodePtr parent)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

bool pl_sim_xml_is(xmlNodePtr n, const char *ns, const char *name)
{
    if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
        return false;
    return !ns || (n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0);
}

xmlNodePtr pl_sim_xml_child(xmlNodePtr parent, const char *ns, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (pl_sim_xml_is(c, ns, name))
            return c;
    return NULL;
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

    /*
     * The usual element holds one text node, whose content is the element's: read in place.
     * Anything else (CDATA, several pieces, nested elements) goes through xmlNodeGetContent,
     * which concatenates it into a copy.
     */
    xmlNodePtr only = node->children;
    bool in_place = only && !only->next && only->type == XML_TEXT_NODE && only->content;
    xmlChar *content = in_place ? NULL : xmlNodeGetContent(node);
    if (!in_place && !content)
        return 0;
    const char *s = in_place ? (const char *)only->content : (const char *)content;
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

xmlNodePtr pl_sim_xml_add_text(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name,
                               const char *text)
{
    if (!b->ok || !parent)
        return NULL;
    xmlNodePtr n = xmlNewTextChild(parent, b->ns, BAD_CAST name, BAD_CAST text);
    if (!n)
        b->ok = false;
    return n;
}

void pl_sim_xml_add_int(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name, long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%ld", v);
    pl_sim_xml_add_text(b, parent, name, buf);
}

void pl_sim_xml_add_amount(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name,
                           int64_t minor)
{
    char buf[32];
    if (pl_money_format(minor, buf, sizeof buf) < 0) {
        b->ok = false;
        return;
    }
    pl_sim_xml_add_text(b, parent, name, buf);
}

void pl_sim_xml_set_attr(pl_sim_xml_builder *b, xmlNodePtr n, const char *name, const char *value)
{
    if (b->ok && (!n || !xmlNewProp(n, BAD_CAST name, BAD_CAST value)))
        b->ok = false;
}

xmlDocPtr pl_sim_xml_report_new(const char *dtd, const char *stylesheet,
                                const pl_sim_xml_attr *attrs, size_t nattrs, pl_sim_xml_builder *b)
{
    *b = (pl_sim_xml_builder){NULL, true};
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    if (!doc)
        return NULL;
    /* Document order: the DOCTYPE, the stylesheet PI, then the root, as in CyberSource's
     * samples (xmlDocSetRootElement appends the root after them). */
    xmlNodePtr pi = NULL, root = NULL;
    if (!xmlCreateIntSubset(doc, BAD_CAST "Report", NULL, BAD_CAST dtd) ||
        (stylesheet && (!(pi = xmlNewDocPI(doc, BAD_CAST "xml-stylesheet", BAD_CAST stylesheet)) ||
                        !xmlAddChild((xmlNodePtr)doc, pi))) ||
        !(root = xmlNewDocNode(doc, NULL, BAD_CAST "Report", NULL))) {
        if (pi && !pi->parent)
            xmlFreeNode(pi);
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlDocSetRootElement(doc, root);
    b->ns = xmlNewNs(root, BAD_CAST dtd, NULL);
    if (!b->ns) {
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlSetNs(root, b->ns);
    for (size_t i = 0; i < nattrs; i++)
        pl_sim_xml_set_attr(b, root, attrs[i].name, attrs[i].value);
    if (!b->ok) {
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

int pl_sim_xml_report_answer(xmlDocPtr doc, const pl_sim_xml_builder *b, bool indent,
                             pl_sim_response *resp)
{
    xmlChar *mem = NULL;
    int size = 0;
    if (b->ok)
        xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", indent ? 1 : 0);
    xmlFreeDoc(doc);
    int rc = PL_ERR_NOMEM;
    if (mem && size > 0)
        rc = pl_sim_response_set(resp, 200, "application/xml", (const char *)mem, (size_t)size);
    if (mem) {
        pl_card_wipe(mem, size > 0 ? (size_t)size : 0);
        xmlFree(mem);
    }
    return rc;
}
