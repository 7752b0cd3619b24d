/*
 * xmlutil.h: the libxml2 plumbing the XML bureau adapters share (bureau_cybersource.c,
 * bureau_relate.c), and the reader of CyberSource's report documents (dm_report.c,
 * cyb_query.c).
 *
 * Everything here is something every adapter must get right the same way: reading a document
 * that came from outside into a tree or as a stream of elements and text (size cap, no network,
 * no entity substitution, no DTD at all; for a report, a DOCTYPE that is never loaded and no
 * entity declared or referenced), finding
 * elements by local name whatever their namespace prefix, copying text out of a tree into fixed
 * buffers (an identifier exactly or not at all; free text trimmed, cut to fit and with card
 * numbers masked), text quoted in errstr sanitised, building text cleaned of non-keyboard
 * characters, zeroing every text of a tree before it is freed (libxml2's memory may hold a card
 * number), serialising into malloc'd memory, and the message-log copy of the redact op of
 * bureau.h.
 *
 * A pl_xml_profile holds what differs from one bureau to the next: the size cap, the name a
 * DTD refusal gives the document, whether serialised copies carry an XML declaration, and what
 * free text needs masked beyond the Luhn scrubber of card.h.
 *
 * Memory: a document pl_xml_read or pl_xml_read_report returns is the caller's and is freed with
 * pl_xml_free_doc; strings returned are malloc'd and freed with free(); nodes point into their
 * document; out buffers are the caller's. Threads: no state of its own; any thread, once
 * xmlInitParser has run on the main thread (before threads are started).
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

/* XML's white space (the S production: space, tab, carriage return, line feed). */
static inline bool pl_xml_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

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

/*
 * What pl_xml_read_stream tells a reader as the document goes by, in document order. Elements
 * are named by their local name (namespace and prefix are not passed, as pl_xml_is ignores
 * them); comments and processing instructions are not passed, attributes only to attr (below). text
 * is character data or CDATA of the innermost open element, in pieces (one element's text may come
 * in several calls), not NUL-terminated; it is libxml2's memory and is not kept after the call.
 * text returns false when the reader cannot go on (no memory): the parse stops. attr, when set, is
 * told each attribute of the element start has just begun, in document order, by its local name (as
 * an element's), with its value as libxml2 normalises it (references replaced), len bytes, not
 * NUL-terminated; namespace declarations (xmlns, xmlns:p) are not attributes and are not passed.
 */
typedef struct pl_xml_stream {
    void (*start)(void *ctx, const char *local_name);
    void (*end)(void *ctx);
    bool (*text)(void *ctx, const char *text, size_t len);
    void (*attr)(void *ctx, const char *local_name, const char *value, size_t len);
} pl_xml_stream;

/*
 * pl_xml_read without the tree: the document goes through h (libxml2's SAX1 parser where the
 * library has it, its SAX2 parser otherwise; no node is made) with the same checks and the same
 * refusals in errstr as pl_xml_read, except that a DTD is refused as soon as its DOCTYPE is seen,
 * before its internal subset is read. The reader's callbacks may have run before a refusal: what
 * they gathered is the caller's to discard when this returns an error. Returns 0, or PL_ERR_PARSE
 * (also when h->text returned false: "out of memory"). errstr may be NULL.
 */
int pl_xml_read_stream(const char *body, size_t len, const pl_xml_profile *p,
                       const pl_xml_stream *h, void *ctx, char *errstr,
                       size_t errstr_size) PL_MUSTCHECK;

/*
 * The text a stream reader gathers for an element across its pieces: in small until it outgrows
 * it, then on the heap (bounded by the document's size). It may be anything the bureau sent: it
 * is wiped whenever it is emptied or released. text always has room for a NUL after len bytes.
 */
typedef struct pl_xml_gather {
    char *text;
    size_t len, cap;
    char small[512];
} pl_xml_gather;

void pl_xml_gather_init(pl_xml_gather *g);
/* Appends len bytes; false when there was no memory for them (nothing appended). */
bool pl_xml_gather_append(pl_xml_gather *g, const char *text, size_t len) PL_MUSTCHECK;
/* The text gathered, NUL-terminated (until the next append). */
const char *pl_xml_gather_str(pl_xml_gather *g);
/* Wipes the text and empties it; its memory is kept. */
void pl_xml_gather_clear(pl_xml_gather *g);
/* Wipes the text and frees its memory; g may be initialised again. */
void pl_xml_gather_release(pl_xml_gather *g);

/*
 * The parser contexts pl_xml_read_stream keeps for its next reads (at most 4): one is put back
 * after a read that ended well, unless the names of the documents it read have grown its
 * dictionary past 2,048; a context whose read failed is freed. For tests and diagnostics.
 */
size_t pl_xml_stream_parsers_kept(void);

/*
 * CyberSource's report services (the Decision Manager Conversion Detail Report of dm_report.h,
 * the Single Transaction Query's Transaction Detail Report of cyb_query.h) answer a document
 * whose DOCTYPE names a DTD on CyberSource's server, which pl_xml_read would refuse, or a line of
 * plain text when they refuse the login. pl_xml_read_report reads either.
 */

/* The longest text pl_xml_sanitize_text writes, in characters (without the NUL). */
#define PL_XML_SANITIZE_MAX 200

/*
 * Runs of this many digits are masked by pl_xml_sanitize_text, Luhn or not: a stored value
 * card number has no check digit (the adapters' SVC_MIN_DIGITS).
 */
#define PL_XML_SANITIZE_DIGIT_RUN 10

/*
 * Copies src[0, len) (any bytes; src may be NULL only when len is 0) into out as text fit for a
 * log or an error message: printable ASCII only (line ends, tabs, other control characters
 * and runs of spaces become one space; other bytes are dropped), trimmed, card numbers
 * (pl_card_scrub) and runs of PL_XML_SANITIZE_DIGIT_RUN or more digits masked to their last
 * four, at most maxchars characters (maxchars above PL_XML_SANITIZE_MAX counts as that).
 * Masking runs on up to maxchars + 64 characters before the cut, so a card number that begins
 * before the cut is whole when it is masked; the cut then drops a masked number's remaining
 * digits (pl_card_cut_tail), as does a cut to fit out. Writes nothing when outsize is 0.
 * Returns the length of out (with outsize 0, the length it would have had).
 */
size_t pl_xml_sanitize_text(const char *src, size_t len, char *out, size_t outsize,
                            size_t maxchars);

/* How one report service's answers are read. Modules keep one as a static constant. */
typedef struct pl_xml_report_profile {
    size_t max_len;        /* the longest body read, at most INT_MAX bytes */
    size_t plain_text_max; /* a body that is not XML and at most this long is the service's text */
    const char *doc_name;  /* the document in errstr: "a Conversion Detail Report" */
    /*
     * Whether such a text (sanitised, never "") refuses the login: true gives PL_ERR_AUTH,
     * false PL_ERR_PARSE. NULL: every short text is a login refusal.
     */
    bool (*is_refusal)(const char *text);
    /*
     * Copies what the caller needs from the Report element report into out (the out argument
     * of pl_xml_read_report). Returns 0, or a negative pl_err with the reason in errstr.
     * Nodes must not be kept: the tree is wiped and freed when it returns.
     */
    int (*read)(xmlNodePtr report, void *out, char *errstr, size_t errstr_size);
} pl_xml_report_profile;

/*
 * Reads the answer body[0, len) (need not be NUL-terminated) of a report service into out
 * with p->read. The parser never uses the network, loads no DTD (the externalSubset hook is
 * removed, so not even an option added later could) and substitutes no entity
 * (PL_XML_READ_OPTIONS); the DOCTYPE stays a node of the document. A document whose internal
 * subset declares an entity is refused before libxml2 records it (billion laughs), and so is a
 * reference to any entity but the five predefined ones (XXE; an undeclared one would silently
 * vanish from a value, which could then read as something the service never sent). When the
 * document's root element is Report (any namespace), p->read runs on it; the tree is then
 * wiped and freed (pl_xml_free_doc). Returns:
 *   0: p->read returned 0.
 *   PL_ERR_AUTH: the body is not XML (its first character, after a byte order mark and white
 *      space, is not '<'), at most p->plain_text_max bytes, and p->is_refusal calls it a login
 *      refusal. errstr is the text, sanitised (pl_xml_sanitize_text, PL_XML_SANITIZE_MAX).
 *   PL_ERR_PARSE: anything else, the reason in errstr, which quotes only sanitised excerpts:
 *      "empty body" (NULL or blank), "body of N bytes is over the M limit", a longer text ("not
 *      XML: a text of N bytes beginning "...""), "not XML, and no readable text", another
 *      short text ("not <doc_name>: "<the text>""), "not XML (line N): <libxml2's message>",
 *      "the DTD declares an entity (<name>): ...", "a reference to the entity <name>: ...",
 *      another root ("not <doc_name>: the root element is <X>, not <Report>"), or p->read
 *      failed with anything but PL_ERR_NOMEM (its errstr stays): whatever failed, the caller
 *      cannot use the report.
 *   PL_ERR_NOMEM: out of memory.
 * p->read does not run unless the document was read; when it fails, out may be half filled
 * (the caller discards it). errstr may be NULL.
 */
int pl_xml_read_report(const char *body, size_t len, const pl_xml_report_profile *p, void *out,
                       char *errstr, size_t errstr_size) PL_MUSTCHECK;

/*
 * The attribute local_name (any namespace) of the element el, read from el itself only:
 * xmlGetProp would also take a default from an ATTLIST of a document's internal subset, a
 * value nobody sent. Returns 0 with *attr (NULL when el has none), or PL_ERR_PARSE with *attr
 * NULL and "<what> appears twice" in errstr when el has two (in different namespaces): which
 * one was meant is not the reader's to guess. errstr may be NULL.
 */
int pl_xml_only_attr(xmlNodePtr el, const char *local_name, xmlAttrPtr *attr, const char *what,
                     char *errstr, size_t errstr_size) PL_MUSTCHECK;

/* Zeroes every text and CDATA node of n, its following siblings and all their descendants. */
void pl_xml_wipe_text(xmlNodePtr n);

/* Zeroes every text of doc (pl_xml_wipe_text), then frees it. doc may be NULL. */
void pl_xml_free_doc(xmlDocPtr doc);

/*
 * Zeroes and frees a string libxml2 returned (xmlNodeGetContent, xmlGetProp): text from
 * outside may be a card number. content may be NULL.
 */
void pl_xml_free_content(xmlChar *content);

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
/* The same for the len bytes at s (not NUL-terminated: an attribute's value in a stream). */
int pl_xml_copy_exact_n(const char *s, size_t len, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * Copies the free text s (NUL-terminated) into out as pl_xml_text_free does: trimmed, card
 * numbers masked (pl_card_scrub_copy_full, then p->mask_more), cut without leaving the head of a
 * card number. outsize must be at least 1.
 */
void pl_xml_copy_free(const char *s, char *out, size_t outsize, const pl_xml_profile *p);

/*
 * pl_xml_copy_exact on the text content of n (all its descendant text). n NULL or without
 * content gives "". libxml2's copy of the content is wiped (it may be a card number).
 */
int pl_xml_text_exact(xmlNodePtr n, char *out, size_t outsize) PL_MUSTCHECK;

/*
 * The text content of n, trimmed, as free text (a fault string, a description, a date): card
 * numbers are masked to their last four (pl_card_scrub_copy_full, then p->mask_more), and a text
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
 * number). What is left is what the bureau gets, so that is what is looked at: when it holds
 * a card number, also one with its expiry date glued on (pl_card_contains_with_expiry, as the
 * request decoder refuses), nothing is added and PL_ERR_INVALID is returned, whatever
 * hid it before the cleaning ("5555é5555é5555é4444" cleans to 5555555555554444). The request
 * decoder refuses such a value first; this is the net for one it did not see. Returns 1 when
 * a text was added, 0 when value is NULL or nothing is left of it once cleaned,
 * PL_ERR_INVALID, or PL_ERR_NOMEM.
 */
int pl_xml_add_clean_text(xmlNodePtr el, const char *value) PL_MUSTCHECK;

/*
 * pl_xml_add_clean_text without the card number check, for the few values that may hold one
 * by design: the card number itself (CyberSource accountNumber, Relate CardNumber), the 3-D
 * Secure cryptograms the decoder does not search (request.c says why), and a digit identifier
 * of paylink's own (the merchantTransactionIdentifier, 15 digits, a tenth of which pass Luhn).
 * Returns 1, 0 or PL_ERR_NOMEM as pl_xml_add_clean_text does.
 */
int pl_xml_add_clean_text_unchecked(xmlNodePtr el, const char *value) PL_MUSTCHECK;

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
 * serialised (p->declaration), then scrubbed with pl_card_scrub_full as a second net for card
 * numbers in unexpected places. Text that is not XML is scrubbed instead, and p->mask_more
 * runs on it too. mode is PL_MASK_LAST4 or else PL_MASK_REMOVED (the safer reading of any
 * other value). Embedded NULs become '.' so that the scrubber sees the whole text. Returns a
 * malloc'd NUL-terminated copy (the caller frees it), or NULL when body is NULL or memory ran
 * out.
 */
char *pl_xml_redact(const char *body, size_t len, int mode, const pl_xml_profile *p,
                    void (*mask_tree)(xmlNodePtr first, pl_mask_mode mode));

#endif
