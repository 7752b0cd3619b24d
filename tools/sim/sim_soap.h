/*
 * sim_soap.h: SOAP 1.1 plumbing shared by the simulated SOAP bureaus (CyberSource, and the
 * Customer Engagement ProcessXML service): reading an envelope safely, and building reply
 * envelopes and faults with libxml2 (never by pasting strings). The element helpers both use
 * (pl_sim_xml_child, pl_sim_xml_text, the answer builder) are sim_xml.h's.
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
#include "sim_xml.h"

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
 * pl_sim_soap_parse on the body of a request, as every SOAP bureau starts a request. When the
 * envelope cannot be read, logs "<protocol> malformed request: <reason>" (warning) and puts
 * the faultstring the bureau answers with, "Could not parse the request: <reason>", into
 * fault_text. Returns 0 or PL_ERR_PARSE, as pl_sim_soap_parse.
 */
int pl_sim_soap_read_request(const char *protocol, const pl_sim_http_req *req, xmlDocPtr *doc,
                             xmlNodePtr *header, xmlNodePtr *payload, char *fault_text,
                             size_t fault_text_size) PL_MUSTCHECK;

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
