/*
 * sim_xml.h: the libxml2 helpers every simulated XML bureau uses, SOAP or not (sim_cyb.c,
 * sim_relate.c, and the envelopes of sim_soap.c): reading what a client sent (safely, and
 * element by element), and writing answers element by element with one sticky error, down to
 * the frame of CyberSource's report documents (sim_dm.c, sim_query.c).
 *
 * Reading never touches the network, refuses documents with a DTD (entity tricks) and keeps
 * libxml2 from printing to stderr. Documents returned are owned by the caller (xmlFreeDoc, or
 * pl_xml_free_doc of xmlutil.h when they may hold a card number); nodes point into them.
 * Call xmlInitParser() once from the main thread before using these from several threads.
 * Any thread; no state.
 */
#ifndef PL_SIM_XML_H
#define PL_SIM_XML_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sim_proto.h"

/*
 * Parses len bytes of text a client sent. name is the document's URL in libxml2's messages
 * ("request.xml"); what names it in the DTD refusal ("a SOAP message"). Returns 0 with *doc the
 * document (the caller frees it), or PL_ERR_PARSE with *doc NULL and the reason in errstr
 * (may be NULL): "line N: <libxml2's message>" or "not well-formed XML", "a DTD is not allowed
 * in <what>", or "empty request body" for no text at all.
 */
int pl_sim_xml_read(const char *text, size_t len, const char *name, const char *what,
                    xmlDocPtr *doc, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* True when n is an element whose local name is name, in namespace ns (NULL: any namespace,
 * including none). n may be NULL. */
bool pl_sim_xml_is(xmlNodePtr n, const char *ns, const char *name);

/* The first element child of parent, or NULL. parent may be NULL. */
xmlNodePtr pl_sim_xml_first_element(xmlNodePtr parent);

/*
 * The first element child of parent whose local name is name and whose namespace is ns
 * (ns NULL: any namespace, including none). NULL when there is none; parent may be NULL.
 */
xmlNodePtr pl_sim_xml_child(xmlNodePtr parent, const char *ns, const char *name);

/*
 * Follows a '/'-separated path of local names ("billTo/postalCode"), every step in namespace
 * ns (NULL: any), and copies the text of the element found, trimmed of surrounding
 * whitespace, into buf. Returns 1 when found, 0 when absent (buf = ""), PL_ERR_TOOBIG when
 * the text does not fit (buf = "").
 */
int pl_sim_xml_text(xmlNodePtr parent, const char *ns, const char *path, char *buf,
                    size_t bufsize) PL_MUSTCHECK;

/*
 * Writes an answer element by element, every element in namespace ns (NULL: the parent's).
 * Start with ok true; once a call fails (only allocation can), ok turns false and every later
 * call does nothing, so the element list reads like the answer's layout and the error is
 * checked once at the end.
 */
typedef struct pl_sim_xml_builder {
    xmlNsPtr ns;
    bool ok;
} pl_sim_xml_builder;

/* Appends <name>text</name> (text escaped; NULL: an element without content) to parent and
 * returns it; NULL when parent is NULL or after an error. */
xmlNodePtr pl_sim_xml_add_text(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name,
                               const char *text);

/* Appends <name> with v in decimal ("42", "-7"). */
void pl_sim_xml_add_int(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name, long v);

/* Appends <name> with an amount in minor units as "1234.56" (pl_money_format). */
void pl_sim_xml_add_amount(pl_sim_xml_builder *b, xmlNodePtr parent, const char *name,
                           int64_t minor);

/* Sets the attribute name="value" (escaped when serialised) on n; n NULL or an allocation
 * failure turns b->ok false, and after an error it does nothing. */
void pl_sim_xml_set_attr(pl_sim_xml_builder *b, xmlNodePtr n, const char *name, const char *value);

/* One attribute, name="value" (pl_sim_xml_report_new). */
typedef struct pl_sim_xml_attr {
    const char *name;
    const char *value;
} pl_sim_xml_attr;

/*
 * Starts a CyberSource report document, the frame the report services share (the Conversion
 * Detail Report of sim_dm.h, the Transaction Detail Report of sim_query.h): DOCTYPE Report
 * SYSTEM dtd; then, when stylesheet is not NULL, the processing instruction
 * <?xml-stylesheet stylesheet?>; then the root element Report, whose default namespace is dtd
 * (the DTD's URL, as CyberSource writes it), with the nattrs attributes of attrs in that order.
 * Returns the document, its Report the root element (xmlDocGetRootElement) and *b ready to add
 * elements in Report's namespace (ok true); or NULL when out of memory. The caller hands it to
 * pl_sim_xml_report_answer (or frees it with xmlFreeDoc).
 */
xmlDocPtr pl_sim_xml_report_new(const char *dtd, const char *stylesheet,
                                const pl_sim_xml_attr *attrs, size_t nattrs, pl_sim_xml_builder *b);

/*
 * Answers a report of pl_sim_xml_report_new: HTTP 200 application/xml, the document in UTF-8
 * with its XML declaration (indent: one element a line, indented, as the seed's Conversion
 * Detail Report; else all on one line). b is the document's builder: after a failed addition
 * (b->ok false) nothing is answered. Frees doc in every case; libxml2's copy of the text is
 * wiped. Returns 0 with resp filled, or PL_ERR_NOMEM.
 */
int pl_sim_xml_report_answer(xmlDocPtr doc, const pl_sim_xml_builder *b, bool indent,
                             pl_sim_response *resp) PL_MUSTCHECK;

#endif
