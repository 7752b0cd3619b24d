/*
 * sim_soap.h: SOAP 1.1 plumbing shared by the simulated SOAP bureaus (CyberSource now, the
 * stored value ProcessXML service later): reading an envelope safely, and building reply
 * envelopes and faults with libxml2 (never by pasting strings).
 *
 * Parsing never touches the network (XML_PARSE_NONET), refuses documents with a DTD (SOAP
 * forbids them, and it shuts the door on entity tricks), and keeps libxml2 from printing to
 * stderr. Call xmlInitParser() once from the main thread before using these from several
 * threads. Documents returned are owned by the caller (xmlFreeDoc); nodes point into them.
 * Any thread.
 */
#ifndef PL_SIM_SOAP_H
#define PL_SIM_SOAP_H

#include <libxml/tree.h>
#include <stddef.h>

#include "err.h"
#include "sim_proto.h"

#define PL_SOAP_ENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define PL_WSSE_NS                                                                                 \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define PL_WSU_NS                                                                                  \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

/*
 * Parses a SOAP 1.1 envelope. On success *doc is the document (caller frees), *header the
 * soap:Header element or NULL, *payload the first element inside soap:Body.
 * Returns 0, or PL_ERR_PARSE with a reason in errstr (not well-formed, a DTD, not an
 * Envelope, no Body, empty Body); *doc is NULL then.
 */
int pl_sim_soap_parse(const char *body, size_t len, xmlDocPtr *doc, xmlNodePtr *header,
                      xmlNodePtr *payload, char *errstr, size_t errstr_size) PL_MUSTCHECK;

/*
 * The first element child of parent whose local name is name and whose namespace is ns
 * (ns NULL: any namespace, including none). NULL when there is none.
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
 * A new reply envelope as the CyberSource service sends it: soap:Envelope > soap:Header >
 * wsse:Security > wsu:Timestamp[@wsu:Id] > wsu:Created (now, UTC, milliseconds), then an
 * empty soap:Body returned in *body. NULL when out of memory.
 */
xmlDocPtr pl_sim_soap_new_reply(xmlNodePtr *body);

/* Serialises doc (UTF-8, with XML declaration) into resp as an answer, then frees doc. */
int pl_sim_soap_finish(xmlDocPtr doc, unsigned status, pl_sim_response *resp) PL_MUSTCHECK;

/*
 * A whole SOAP Fault answer (HTTP 500, as SOAP 1.1 requires for faults): soap:Fault with
 * xmlns:wsse and xmlns:c (transaction-data-1.0) declared, unqualified faultcode and
 * faultstring, e.g. ("wsse:FailedCheck", "Security Data : UsernameToken authentication
 * failed."). 0 or NOMEM.
 */
int pl_sim_soap_fault(pl_sim_response *resp, const char *faultcode,
                      const char *faultstring) PL_MUSTCHECK;

#endif
