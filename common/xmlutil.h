/*
 * xmlutil.h: the libxml2 plumbing the XML bureau adapters share (bureau_cybersource.c,
 * bureau_relate.c).
 *
 * Everything here is something every adapter must get right the same way: reading a document
 * that came from outside (size cap, no network, no entity substitution, no DTD at all), finding
 * elements by local name whatever their namespace prefix, copying text out of a tree into fixed
 * buffers (an identifier exactly or not at all; free text trimmed, cut to fit and with card
 * numbers masked), building text cleaned of non-keyboard characters, zeroing every text of a
 * tree before it is freed (libxml2's memory may hold a card number), serialising into malloc'd
 * memory, and the message-log copy of the redact op of bureau.h.
 *
 * A pl_xml_profile holds what differs from one bureau to the next: the size cap, the name a
 * DTD refusal gives the document, whether serialised copies carry an XML declaration, and what
 * free text needs masked beyond the Luhn scrubber of card.h.
 *
 * Memory: a document pl_xml_read returns is the caller's and is freed with pl_xml_free_doc;
 * strings returned are malloc'd and freed with free(); nodes point into their document; out
 * buffers are the caller's. Threads: no state of its own; any thread, once xmlInitParser has
 * run on the main thread (before threads are started).
 */
#ifndef PL_XMLUTIL_H
#define PL_XMLUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "card.h"
#include "err.h"

/*
 * The parser options of pl_xml_read: no network, no entity substitution (neither NOENT nor
 * DTDLOAD), no dictionary so that the text is each node's own memory and can be masked and
 * wiped in place, and no messages on stderr (errors are read from the parser context).
 */
#define PL_XML_READ_OPTIONS                                                                        \
    (XML_PARSE_NONET | XML_PARSE_NODICT | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* How one bureau's documents are read and written. Adapters keep one as a static constant. */
typedef struct pl_xml_profile {
    size_t max_len;       /* the longest document pl_xml_read accepts, at most INT_MAX bytes */
    const char *doc_name; /* the document in the DTD refusal: "a SOAP message" */
    bool declaration;     /* requests built and redacted copies start with <?xml ...?> */
    /*
     * Masks in place, in mode, what may be a card number in text[0, len) that pl_card_scrub
     * does not find (a stored value card number has no check digit); the length stays. Runs on
     * free text (pl_xml_text_free), on libxml2's messages, and on text that is not XML in
     * pl_xml_redact. NULL: the Luhn scrubber is enough.
     */
    void (*mask_more)(char *text, size_t len, pl_mask_mode mode);
} pl_xml_profile;

/*
 * Parses a document from outside with PL_XML_READ_OPTIONS. Refused with PL_ERR_PARSE and the
 * reason in errstr: body NULL or empty ("empty body"), longer than p->max_len, not
 * well-formed ("not XML (line N): <libxml2's message>", which may quote the document, so card
 * numbers in it are masked as free text is), or with a DTD ("a DTD is not allowed in
 * <p->doc_name>"; refusing any DTD closes XXE and entity expansion bombs), or "out of memory".
 * On success *doc is the document (free it with pl_xml_free_doc); on failure *doc is NULL.
 * errstr may be NULL.
 */
int pl_xml_read(const char *body, size_t len, const pl_xml_profile *p, xmlDocPtr *doc, char *errstr,
                size_t errstr_size) PL_MUSTCHECK;

/* Zeroes every text and CDATA node of n, its following siblings and all their descendants. */
void pl_xml_wipe_text(xmlNodePtr n);

/* Zeroes every text of doc (pl_xml_wipe_text), then frees it. doc may be NULL. */
void pl_xml_free_doc(xmlDocPtr doc);

/* True when n is an element whose local name is local_name, in any namespace. n may be NULL. */
bool pl_xml_is(xmlNodePtr n, const char *local_name);

/* The first element among n and its following siblings, or NULL. n may be NULL. */
xmlNodePtr pl_xml_first_element(xmlNodePtr n);

/* The first child element of parent named local_name (any namespace), or NULL. parent may be
 * NULL. */
xmlNodePtr pl_xml_child(xmlNodePtr parent, const char *local_name);

/*
 * Copies s, trimmed of surrounding spaces, tabs and line ends, into out as it is: an
 * identifier or a code. One that does not fit is an error rather than cut (a cut request ID
 * would make a later capture or void refer to the wrong transaction): PL_ERR_PARSE, out wiped.
 * Returns 0 or PL_ERR_PARSE.
 */
int pl_xml_copy_exact(const char *s, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * pl_xml_copy_exact on the text content of n (all its descendant text). n NULL or without
 * content gives "". libxml2's copy of the content is wiped (it may be a card number).
 */
int pl_xml_text_exact(xmlNodePtr n, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * The text content of n, trimmed, as free text (a fault string, a description, a date): card
 * numbers are masked to their last four (pl_card_scrub_copy, then p->mask_more), and a text
 * that does not fit is cut without leaving the head of a card number. n NULL or without
 * content gives "". libxml2's copy of the content is wiped. outsize must be at least 1.
 */
void pl_xml_text_free(xmlNodePtr n, char *out, size_t outsize, const pl_xml_profile *p);

/*
 * Reads the faultcode and faultstring of a SOAP 1.1 Fault element into code and string, each
 * as free text (pl_xml_text_free); one that is absent leaves its buffer as it was.
 */
void pl_xml_read_fault(xmlNodePtr fault, char *code, size_t code_size, char *string,
                       size_t string_size, const pl_xml_profile *p);

/*
 * Appends value to el as its text, with the characters that are not on a standard keyboard
 * removed (pl_card_keyboard_clean; seed: bureau XML carries only those). The text is stored as
 * it is and escaped when serialised; the cleaned copy is wiped (the value may be a card
 * number). Returns 1 when a text was added, 0 when value is NULL or nothing is left of it once
 * cleaned, or PL_ERR_NOMEM.
 */
int pl_xml_add_clean_text(xmlNodePtr el, const char *value) PL_MUSTCHECK;

/*
 * Appends an amount in minor units to el as its text, "1234.56" (pl_money_format), as both
 * bureaus write amounts. Returns 0, PL_ERR_INVALID (an amount pl_money_format refuses) or
 * PL_ERR_NOMEM.
 */
int pl_xml_add_money(xmlNodePtr el, int64_t minor) PL_MUSTCHECK;

/*
 * Replaces the content of el with text (as it is, escaped when serialised; "" leaves el
 * empty), zeroing the old text first: parsed with PL_XML_READ_OPTIONS, the old text is the
 * node's own memory.
 */
void pl_xml_set_text(xmlNodePtr el, const char *text);

/*
 * Serialises doc in UTF-8, with an XML declaration or without one, into *out: malloc'd,
 * NUL-terminated, *out_len bytes before the NUL (the caller frees with free(); xmlMalloc need
 * not be malloc). libxml2's own copy is wiped. Returns 0, or PL_ERR_NOMEM with *out NULL.
 */
int pl_xml_serialize(xmlDocPtr doc, bool declaration, char **out, size_t *out_len) PL_MUSTCHECK;

/*
 * The message-log copy of a bureau document (the redact op of bureau.h): body parsed again
 * with pl_xml_read, masked in place by mask_tree(first child of the document, mode),
 * serialised (p->declaration), then scrubbed with pl_card_scrub as a second net for card
 * numbers in unexpected places. Text that is not XML is scrubbed instead, and p->mask_more
 * runs on it too. mode is PL_MASK_LAST4 or else PL_MASK_REMOVED (the safer reading of any
 * other value). Embedded NULs become '.' so that the scrubber sees the whole text. Returns a
 * malloc'd NUL-terminated copy (the caller frees it), or NULL when body is NULL or memory ran
 * out.
 */
char *pl_xml_redact(const char *body, size_t len, int mode, const pl_xml_profile *p,
                    void (*mask_tree)(xmlNodePtr first, pl_mask_mode mode));

#endif
