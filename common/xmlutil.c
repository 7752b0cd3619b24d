/*
 * xmlutil.c: safe reading (bureau documents without a DTD, CyberSource report documents with
 * a DOCTYPE never loaded), element look-ups, text in and out with card numbers masked or
 * wiped, serialisation and the redact copy for the XML bureau adapters. The manual is
 * xmlutil.h.
 */
#include "xmlutil.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/dict.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlsave.h>

#include "money.h"

/*
 * Free text from outside into a fixed buffer: card numbers masked, as the profile asks. The
 * full scan (pl_card_scrub_copy_full): a bureau's text (a fault string, a description) goes
 * into replies, rows and logs, and may split a number with characters its messages drop, write
 * it in full-width digits or glue its expiry to it. These texts are short: the scan costs one
 * look at each byte more than the Luhn scan's.
 */
static size_t copy_free(char *out, size_t outsize, const char *src, size_t srclen,
                        const pl_xml_profile *p)
{
    size_t n = pl_card_scrub_copy_full(out, outsize, src, srclen, PL_MASK_LAST4);
    if (p->mask_more)
        p->mask_more(out, n, PL_MASK_LAST4);
    return n;
}

/* The refusals pl_xml_read and pl_xml_read_stream make before parsing: 0 or PL_ERR_PARSE. */
static int check_body(const char *body, size_t len, const pl_xml_profile *p, char *errstr,
                      size_t errstr_size)
{
    if (!body || len == 0)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "empty body");
    if (len > p->max_len || len > INT_MAX)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "body of %zu bytes is over the %zu limit", len, p->max_len);
    return 0;
}

/* check_body, then a new parser context: 0 with *ctxt, or PL_ERR_PARSE. */
static int start_read(const char *body, size_t len, const pl_xml_profile *p, xmlParserCtxtPtr *ctxt,
                      char *errstr, size_t errstr_size)
{
    int rc = check_body(body, len, p, errstr, errstr_size);
    if (rc)
        return rc;
    *ctxt = xmlNewParserCtxt();
    if (!*ctxt)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "out of memory");
    return 0;
}

/*
 * Parser contexts kept between stream reads. Making one (its dictionary, input and node
 * stacks, SAX handler block) and freeing it again cost ~10,000 instructions, a tenth of
 * reading a CyberSource answer. A stream read takes one from here and puts it back after a
 * parse that ended well; xmlCtxtReadMemory resets it before the next document. Kept: at most
 * PARSERS_KEPT, and only while their dictionary (the element and attribute names of the
 * documents read, never their text: the text is each parse's own buffer, freed with it) holds
 * at most PARSER_DICT_MAX names, so that a bureau's answers cannot grow it without bound. A
 * context whose parse failed or was stopped is freed: its last error quotes the document.
 */
#define PARSERS_KEPT 4
#define PARSER_DICT_MAX 2048

static pthread_mutex_t parsers_lock = PTHREAD_MUTEX_INITIALIZER;
static xmlParserCtxtPtr parsers[PARSERS_KEPT];
static size_t nparsers;
static bool parsers_at_exit;

static void parsers_free(void)
{
    pthread_mutex_lock(&parsers_lock);
    while (nparsers > 0)
        xmlFreeParserCtxt(parsers[--nparsers]);
    pthread_mutex_unlock(&parsers_lock);
}

size_t pl_xml_stream_parsers_kept(void)
{
    pthread_mutex_lock(&parsers_lock);
    size_t n = nparsers;
    pthread_mutex_unlock(&parsers_lock);
    return n;
}

/* A kept parser context, or a new one; NULL when there is no memory for one. */
static xmlParserCtxtPtr parser_take(void)
{
    xmlParserCtxtPtr ctxt = NULL;
    pthread_mutex_lock(&parsers_lock);
    if (nparsers > 0)
        ctxt = parsers[--nparsers];
    pthread_mutex_unlock(&parsers_lock);
    return ctxt ? ctxt : xmlNewParserCtxt();
}

/*
 * Puts ctxt back for the next stream read, or frees it (see PARSERS_KEPT). Either way the
 * parser's copy of the document (it may quote a card number) is wiped and freed now, not when
 * the context is next used.
 */
static void parser_give_back(xmlParserCtxtPtr ctxt, bool reusable)
{
    for (int i = 0; i < ctxt->inputNr; i++) {
        xmlParserInputPtr in = ctxt->inputTab[i];
        if (in && in->base && in->end > in->base)
            pl_card_wipe((void *)in->base, (size_t)(in->end - in->base));
    }
    if (reusable && ctxt->dict && xmlDictSize(ctxt->dict) <= PARSER_DICT_MAX) {
        xmlCtxtReset(ctxt);
        pthread_mutex_lock(&parsers_lock);
        if (nparsers < PARSERS_KEPT) {
            parsers[nparsers++] = ctxt;
            ctxt = NULL;
            if (!parsers_at_exit)
                parsers_at_exit = atexit(parsers_free) == 0;
        }
        pthread_mutex_unlock(&parsers_lock);
    }
    if (ctxt)
        xmlFreeParserCtxt(ctxt);
}

/* The refusal of a document libxml2 found not well-formed, with its (masked) message. */
static int not_xml(xmlParserCtxtPtr ctxt, const pl_xml_profile *p, char *errstr, size_t errstr_size)
{
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char what[160] = "not XML";
    if (e && e->message) {
        /* libxml2 quotes names and text of the document, which may hold a card number. */
        size_t n = copy_free(what, sizeof what, e->message, strlen(e->message), p);
        while (n > 0 && (what[n - 1] == '\n' || what[n - 1] == ' '))
            what[--n] = '\0';
    }
    return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "not XML (line %d): %s", e ? e->line : 0,
                      what);
}

static int no_dtd(const pl_xml_profile *p, char *errstr, size_t errstr_size)
{
    return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "a DTD is not allowed in %s", p->doc_name);
}

int pl_xml_read(const char *body, size_t len, const pl_xml_profile *p, xmlDocPtr *doc, char *errstr,
                size_t errstr_size)
{
    *doc = NULL;
    xmlParserCtxtPtr ctxt;
    int rc = start_read(body, len, p, &ctxt, errstr, errstr_size);
    if (rc)
        return rc;
    xmlDocPtr d = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL, PL_XML_READ_OPTIONS);
    if (!d) {
        rc = not_xml(ctxt, p, errstr, errstr_size);
    } else if (d->intSubset || d->extSubset) {
        rc = no_dtd(p, errstr, errstr_size);
        pl_xml_free_doc(d);
    } else {
        *doc = d;
    }
    xmlFreeParserCtxt(ctxt);
    return rc;
}

/* What pl_xml_read_stream's SAX handlers share: the parser context's _private. */
typedef struct stream_state {
    const pl_xml_stream *h;
    void *ctx;
    bool dtd;    /* a DOCTYPE was seen: the parse was stopped there */
    bool failed; /* h->text returned false: the parse was stopped there */
} stream_state;

/*
 * Tells the reader an attribute. libxml2 hands an attribute's value over with every reference
 * replaced but one that stands for '&' (&amp;, &#38;, &#x26;), which it writes as "&#38;" for
 * the tree builder to decode; with no DTD allowed, no other '&' can remain in it. Decoded here,
 * so the reader sees the value a tree's attribute holds. Returns false when there was no memory
 * for the decoded copy.
 */
static bool stream_attr(const stream_state *st, const char *local_name, const char *value,
                        size_t len)
{
    if (!memchr(value, '&', len)) {
        st->h->attr(st->ctx, local_name, value, len);
        return true;
    }
    char small[256] = {0}; /* (rare: only a value holding '&' comes here) */
    char *out = len <= sizeof small ? small : malloc(len);
    if (!out)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        out[n++] = value[i];
        if (value[i] == '&' && len - i >= 5 && memcmp(value + i, "&#38;", 5) == 0)
            i += 4;
    }
    st->h->attr(st->ctx, local_name, out, n);
    pl_card_wipe(out, n);
    if (out != small)
        free(out);
    return true;
}

/* An attribute's decoded copy could not be made: the parse stops as for a reader's refusal. */
static void stream_attr_failed(xmlParserCtxtPtr ctxt)
{
    ((stream_state *)ctxt->_private)->failed = true;
    xmlStopParser(ctxt);
}

static void stream_start(void *c, const xmlChar *local_name, const xmlChar *prefix,
                         const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                         int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    (void)prefix;
    (void)uri;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_defaulted;
    stream_state *st = ((xmlParserCtxtPtr)c)->_private;
    st->h->start(st->ctx, (const char *)local_name);
    if (!st->h->attr)
        return;
    /* Five pointers an attribute: local name, prefix, URI, value, end of value. */
    for (int i = 0; i < nb_attributes; i++) {
        const xmlChar **a = attributes + 5 * i;
        if (!stream_attr(st, (const char *)a[0], (const char *)a[3], (size_t)(a[4] - a[3]))) {
            stream_attr_failed(c);
            return;
        }
    }
}

static void stream_end(void *c, const xmlChar *local_name, const xmlChar *prefix,
                       const xmlChar *uri)
{
    (void)local_name;
    (void)prefix;
    (void)uri;
    stream_state *st = ((xmlParserCtxtPtr)c)->_private;
    st->h->end(st->ctx);
}

/*
 * The same two on libxml2's SAX1 interface, which reads names as written ("c:replyMessage") and
 * leaves namespaces alone. The reader gets the local name as SAX2's QName split makes it: what
 * follows the first colon when there is a prefix before it and a letter, '_' or a non-ASCII
 * byte after it, else the whole name. A reader is never told a namespace, and an undeclared
 * prefix is only a namespace warning to SAX2 (the document stays well-formed), so the two read
 * documents whose names are qualified names the same way; of names that are not (libxml2's
 * SAX2 refuses "a:b:1", SAX1 reads it as "b:1"), what reaches the reader keeps a colon or is
 * the whole name, never an element a reader looks for. SAX1 skips the namespace bookkeeping and
 * the URI parse of every xmlns declaration: ~25,000 of the ~110,000 instructions of reading a
 * CyberSource answer.
 */
static const char *local_part(const char *name)
{
    const char *colon = strchr(name, ':');
    if (!colon || colon == name)
        return name;
    unsigned char c = (unsigned char)colon[1];
    bool starts_name = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    return starts_name ? colon + 1 : name;
}

static void stream_start1(void *c, const xmlChar *name, const xmlChar **attributes)
{
    stream_state *st = ((xmlParserCtxtPtr)c)->_private;
    st->h->start(st->ctx, local_part((const char *)name));
    if (!st->h->attr || !attributes)
        return;
    /* Name and value pairs, NULL after the last; SAX1 passes namespace declarations among
     * them, which SAX2 (and a tree) keep apart. */
    for (size_t i = 0; attributes[i]; i += 2) {
        const char *an = (const char *)attributes[i];
        if (strncmp(an, "xmlns", 5) == 0 && (an[5] == '\0' || an[5] == ':'))
            continue;
        const char *value = attributes[i + 1] ? (const char *)attributes[i + 1] : "";
        if (!stream_attr(st, local_part(an), value, strlen(value))) {
            stream_attr_failed(c);
            return;
        }
    }
}

static void stream_end1(void *c, const xmlChar *name)
{
    (void)name;
    stream_state *st = ((xmlParserCtxtPtr)c)->_private;
    st->h->end(st->ctx);
}

static void stream_text(void *c, const xmlChar *text, int len)
{
    xmlParserCtxtPtr ctxt = c;
    stream_state *st = ctxt->_private;
    if (len > 0 && !st->h->text(st->ctx, (const char *)text, (size_t)len)) {
        st->failed = true;
        xmlStopParser(ctxt);
    }
}

/* A DOCTYPE: refused before its internal subset is read (no entity is ever declared). */
static void stream_doctype(void *c, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id)
{
    (void)name;
    (void)external_id;
    (void)system_id;
    xmlParserCtxtPtr ctxt = c;
    ((stream_state *)ctxt->_private)->dtd = true;
    xmlStopParser(ctxt);
}

int pl_xml_read_stream(const char *body, size_t len, const pl_xml_profile *p,
                       const pl_xml_stream *h, void *ctx, char *errstr, size_t errstr_size)
{
    int rc = check_body(body, len, p, errstr, errstr_size);
    if (rc)
        return rc;
    xmlParserCtxtPtr ctxt = parser_take();
    if (!ctxt)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "out of memory");
    /* Only these handlers: no tree, no entity table, nothing loaded (the externalSubset and
     * resolveEntity hooks stay NULL); whitespace goes where all other text goes, as in a tree.
     * Set again for every parse: a kept context may have read with another reader. */
    stream_state st = {.h = h, .ctx = ctx};
    memset(ctxt->sax, 0, sizeof *ctxt->sax);
    if (xmlHasFeature(XML_WITH_SAX1)) {
        /* Not XML_SAX2_MAGIC, no Ns handlers: libxml2 then parses with SAX1 (xmlDetectSAX2). */
        ctxt->sax->initialized = 1;
        ctxt->sax->startElement = stream_start1;
        ctxt->sax->endElement = stream_end1;
    } else {
        ctxt->sax->initialized = XML_SAX2_MAGIC;
        ctxt->sax->startElementNs = stream_start;
        ctxt->sax->endElementNs = stream_end;
    }
    ctxt->sax->characters = stream_text;
    ctxt->sax->ignorableWhitespace = stream_text;
    ctxt->sax->cdataBlock = stream_text;
    ctxt->sax->internalSubset = stream_doctype;
    ctxt->_private = &st;
    /* Returns no document: there is no tree to return. It resets the context first. */
    (void)xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL, PL_XML_READ_OPTIONS);
    if (st.dtd)
        rc = no_dtd(p, errstr, errstr_size);
    else if (st.failed)
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "out of memory");
    else if (!ctxt->wellFormed)
        rc = not_xml(ctxt, p, errstr, errstr_size);
    ctxt->_private = NULL;
    parser_give_back(ctxt, rc == 0);
    return rc;
}

void pl_xml_gather_init(pl_xml_gather *g)
{
    g->text = g->small;
    g->len = 0;
    g->cap = sizeof g->small;
    g->small[0] = '\0';
}

bool pl_xml_gather_append(pl_xml_gather *g, const char *text, size_t len)
{
    if (g->len + len >= g->cap) {
        size_t cap = g->cap * 2;
        while (cap <= g->len + len)
            cap *= 2;
        char *grown = malloc(cap);
        if (!grown)
            return false;
        memcpy(grown, g->text, g->len);
        pl_card_wipe(g->text, g->cap);
        if (g->text != g->small)
            free(g->text);
        g->text = grown;
        g->cap = cap;
    }
    memcpy(g->text + g->len, text, len);
    g->len += len;
    return true;
}

const char *pl_xml_gather_str(pl_xml_gather *g)
{
    g->text[g->len] = '\0';
    return g->text;
}

void pl_xml_gather_clear(pl_xml_gather *g)
{
    pl_card_wipe(g->text, g->len);
    g->len = 0;
}

void pl_xml_gather_release(pl_xml_gather *g)
{
    pl_card_wipe(g->text, g->cap);
    if (g->text != g->small)
        free(g->text);
    pl_xml_gather_init(g);
}

void pl_xml_wipe_text(xmlNodePtr n)
{
    for (; n; n = n->next) {
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content)
            pl_card_wipe(n->content, strlen((const char *)n->content));
        else if (n->type == XML_ELEMENT_NODE)
            pl_xml_wipe_text(n->children);
    }
}

void pl_xml_free_doc(xmlDocPtr doc)
{
    if (doc) {
        pl_xml_wipe_text(doc->children);
        xmlFreeDoc(doc);
    }
}

bool pl_xml_is(xmlNodePtr n, const char *local_name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local_name) == 0;
}

xmlNodePtr pl_xml_first_element(xmlNodePtr n)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

xmlNodePtr pl_xml_child(xmlNodePtr parent, const char *local_name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (pl_xml_is(c, local_name))
            return c;
    return NULL;
}

/* s[0, *len) without its leading and trailing white space: *len bytes from the returned
 * pointer. */
static const char *trim_n(const char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && pl_xml_is_space(*s))
        s++, n--;
    while (n > 0 && pl_xml_is_space(s[n - 1]))
        n--;
    *len = n;
    return s;
}

/* s without its leading and trailing white space: *len bytes from the returned pointer. */
static const char *trim(const char *s, size_t *len)
{
    *len = strlen(s);
    return trim_n(s, len);
}

int pl_xml_copy_exact_n(const char *s, size_t len, char *out, size_t outsize)
{
    s = trim_n(s, &len);
    if (len >= outsize) {
        pl_card_wipe(out, outsize);
        return PL_ERR_PARSE;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

int pl_xml_copy_exact(const char *s, char *out, size_t outsize)
{
    return pl_xml_copy_exact_n(s, strlen(s), out, outsize);
}

/* The text content of n (NULL when there is none); free it with pl_xml_free_content. */
static xmlChar *content_of(xmlNodePtr n)
{
    return n ? xmlNodeGetContent(n) : NULL;
}

void pl_xml_free_content(xmlChar *content)
{
    if (content) {
        pl_card_wipe(content, strlen((const char *)content));
        xmlFree(content);
    }
}

int pl_xml_text_exact(xmlNodePtr n, char *out, size_t outsize)
{
    out[0] = '\0';
    xmlChar *content = content_of(n);
    if (!content)
        return 0;
    int rc = pl_xml_copy_exact((const char *)content, out, outsize);
    pl_xml_free_content(content);
    return rc;
}

void pl_xml_copy_free(const char *s, char *out, size_t outsize, const pl_xml_profile *p)
{
    size_t len;
    s = trim(s, &len);
    copy_free(out, outsize, s, len, p);
}

void pl_xml_text_free(xmlNodePtr n, char *out, size_t outsize, const pl_xml_profile *p)
{
    out[0] = '\0';
    xmlChar *content = content_of(n);
    if (!content)
        return;
    pl_xml_copy_free((const char *)content, out, outsize, p);
    pl_xml_free_content(content);
}

void pl_xml_read_fault(xmlNodePtr fault, char *code, size_t code_size, char *string,
                       size_t string_size, const pl_xml_profile *p)
{
    xmlNodePtr n;
    if ((n = pl_xml_child(fault, "faultcode")))
        pl_xml_text_free(n, code, code_size, p);
    if ((n = pl_xml_child(fault, "faultstring")))
        pl_xml_text_free(n, string, string_size, p);
}

/* pl_xml_add_clean_text, its card number check made when check is set. */
static int add_clean_text(xmlNodePtr el, const char *value, bool check)
{
    if (!value || !*value)
        return 0;
    /* Request values are short: their cleaned copy lives on the stack unless one is not. */
    char small[256];
    size_t len = strlen(value);
    char *clean = len < sizeof small ? small : malloc(len + 1);
    if (!clean)
        return PL_ERR_NOMEM;
    memcpy(clean, value, len + 1);
    int rc = 0;
    size_t n = pl_card_keyboard_clean(clean);
    /* With its expiry date glued on, as the request decoder refuses it: a card number and its
     * MMYY in one run of 20 or 21 digits ("41111111111111111225", or one only the cleaning
     * joins). A run of 22 digits or more (a CyberSource request ID) is still let through. */
    if (n > 0 && check && pl_card_contains_with_expiry(clean, n)) {
        rc = PL_ERR_INVALID;
    } else if (n > 0) {
        /* xmlNewDocText keeps the text as it is; it is escaped on output. */
        xmlNodePtr t = xmlNewDocText(el->doc, BAD_CAST clean);
        if (t) {
            xmlAddChild(el, t);
            rc = 1;
        } else {
            rc = PL_ERR_NOMEM;
        }
    }
    pl_card_wipe(clean, len + 1);
    if (clean != small)
        free(clean);
    return rc;
}

int pl_xml_add_clean_text(xmlNodePtr el, const char *value)
{
    return add_clean_text(el, value, true);
}

int pl_xml_add_clean_text_unchecked(xmlNodePtr el, const char *value)
{
    return add_clean_text(el, value, false);
}

int pl_xml_add_money(xmlNodePtr el, int64_t minor)
{
    char buf[24];
    if (pl_money_format(minor, buf, sizeof buf) != 0)
        return PL_ERR_INVALID;
    /* Unchecked: an amount of paylink's own formatting is no card number, even one of 13
     * digits and its cents that passes Luhn. */
    return add_clean_text(el, buf, false) < 0 ? PL_ERR_NOMEM : 0;
}

void pl_xml_set_text(xmlNodePtr el, const char *text)
{
    pl_xml_wipe_text(el->children);
    xmlNodeSetContent(el, NULL);
    if (*text)
        xmlNodeAddContent(el, BAD_CAST text);
}

/* A malloc'd, NUL-terminated copy of mem[0, len), or NULL. */
static char *copy_out(const xmlChar *mem, size_t len)
{
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, mem, len);
        out[len] = '\0';
    }
    return out;
}

int pl_xml_serialize(xmlDocPtr doc, bool declaration, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (declaration) {
        xmlChar *mem = NULL;
        int size = 0;
        xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
        if (mem && size > 0 && (*out = copy_out(mem, (size_t)size)))
            *out_len = (size_t)size;
        if (mem) {
            pl_card_wipe(mem, size > 0 ? (size_t)size : 0);
            xmlFree(mem);
        }
        return *out ? 0 : PL_ERR_NOMEM;
    }
    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf)
        return PL_ERR_NOMEM;
    xmlSaveCtxtPtr save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL);
    if (save) {
        long written = xmlSaveDoc(save, doc);
        xmlSaveClose(save);
        int len = xmlBufferLength(buf);
        const xmlChar *content = xmlBufferContent(buf);
        if (written >= 0 && len > 0 && content && (*out = copy_out(content, (size_t)len)))
            *out_len = (size_t)len;
        if (content && len > 0)
            pl_card_wipe((void *)content, (size_t)len);
    }
    xmlBufferFree(buf);
    return *out ? 0 : PL_ERR_NOMEM;
}

/*
 * pl_card_scrub_dup_full, with mask_more run on the copy when given. Full: the message log holds
 * a bureau's words as it sent them, where a card number split by characters off the keyboard,
 * in full-width digits or with its expiry glued is as readable as any. A bureau message of ours
 * holds no byte off the keyboard (pl_xml_add_clean_text), so most cost the Luhn scan's and one
 * look at each byte more.
 */
static char *scrub_dup(const char *text, size_t len, pl_mask_mode mode,
                       void (*mask_more)(char *, size_t, pl_mask_mode))
{
    size_t n;
    char *copy = pl_card_scrub_dup_full(text, len, mode, &n);
    if (copy && mask_more)
        mask_more(copy, n, mode);
    return copy;
}

char *pl_xml_redact(const char *body, size_t len, int mode, const pl_xml_profile *p,
                    void (*mask_tree)(xmlNodePtr first, pl_mask_mode mode))
{
    /* Anything but the last-four mode removes the number: the safer reading. */
    pl_mask_mode m = mode == PL_MASK_LAST4 ? PL_MASK_LAST4 : PL_MASK_REMOVED;
    if (!body)
        return NULL;
    xmlDocPtr doc;
    if (pl_xml_read(body, len, p, &doc, NULL, 0) != 0)
        return scrub_dup(body, len, m, p->mask_more);

    mask_tree(doc->children, m);
    char *out;
    size_t out_len;
    int rc = pl_xml_serialize(doc, p->declaration, &out, &out_len);
    pl_xml_free_doc(doc);
    if (rc)
        return NULL;
    /* The second net; the profile's mask_more is not run on a tree mask_tree has seen, whose
     * identifiers (request IDs, authorization numbers) are long runs of digits too. */
    char *copy = scrub_dup(out, out_len, m, NULL);
    pl_card_wipe(out, out_len);
    free(out);
    return copy;
}

/* ---------------------------------------------------------------------------------------- */
/* CyberSource report documents */

/* The longest excerpt of a report quoted in a PL_ERR_PARSE message (a name, a text's head). */
#define EXCERPT_MAX 40

/* The longest libxml2 message quoted in a PL_ERR_PARSE message of a report. */
#define XML_MESSAGE_MAX 120

size_t pl_xml_sanitize_text(const char *src, size_t len, char *out, size_t outsize, size_t maxchars)
{
    char work[PL_XML_SANITIZE_MAX + 64 + 1];
    if (maxchars > PL_XML_SANITIZE_MAX)
        maxchars = PL_XML_SANITIZE_MAX;
    size_t n = 0;
    bool space = false;
    for (size_t i = 0; i < len && n < sizeof work - 1; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = n > 0;
        } else if (c < 0x7f) {
            if (space && n < sizeof work - 2)
                work[n++] = ' ';
            space = false;
            work[n++] = (char)c;
        }
    }
    work[n] = '\0';
    /* The Luhn scan is enough: what is left is printable ASCII, as a bureau message would
     * carry it (a number split by characters off the keyboard is whole again, one split by
     * control characters spaced), and the runs of 10 digits or more masked below take a number
     * with its expiry glued. */
    n = pl_card_scrub(work, sizeof work, PL_MASK_LAST4);
    pl_card_mask_digit_runs(work, n, PL_XML_SANITIZE_DIGIT_RUN, PL_MASK_LAST4);
    if (n > maxchars)
        n = pl_card_cut_tail(work, maxchars);
    while (n > 0 && work[n - 1] == ' ')
        n--;
    work[n] = '\0';
    if (outsize > 0) {
        if (n >= outsize)
            n = pl_card_cut_tail(work, outsize - 1);
        memcpy(out, work, n + 1);
    }
    pl_card_wipe(work, sizeof work);
    return n;
}

/* What the SAX hooks of read_report_doc saw; the parser context's _private. */
typedef struct report_state {
    bool entity_declared;
    bool entity_referenced;
    char entity[EXCERPT_MAX + 1]; /* its name, sanitised */
} report_state;

/*
 * The internal subset declares an entity: refused before libxml2 records it. Without this a
 * document could declare entities that expand to gigabytes (billion laughs), whether or not
 * they are substituted, and libxml2 would at least check them.
 */
static void refuse_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                               const xmlChar *system_id, xmlChar *content)
{
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    xmlParserCtxtPtr ctxt = ctx;
    report_state *st = ctxt->_private;
    st->entity_declared = true;
    pl_xml_sanitize_text((const char *)name, strlen((const char *)name), st->entity,
                         sizeof st->entity, EXCERPT_MAX);
    xmlStopParser(ctxt);
}

/*
 * A reference to an entity that is not one of the five predefined ones (libxml2 resolves those
 * itself and never asks). Declared ones are refused above; an undeclared one would silently
 * vanish from text and attribute values (the DTD that might declare it is not loaded), so a
 * value could be read as something other than what was sent.
 */
static xmlEntityPtr refuse_entity_ref(void *ctx, const xmlChar *name)
{
    xmlParserCtxtPtr ctxt = ctx;
    report_state *st = ctxt->_private;
    if (!st->entity_referenced && !st->entity_declared) {
        st->entity_referenced = true;
        pl_xml_sanitize_text((const char *)name, strlen((const char *)name), st->entity,
                             sizeof st->entity, EXCERPT_MAX);
    }
    xmlStopParser(ctxt);
    return NULL;
}

/*
 * Parses body as XML with PL_XML_READ_OPTIONS and the hooks above. The DOCTYPE is kept as a
 * node but its external subset is never asked for: the externalSubset hook is removed, so not
 * even an option added later could load it. Returns 0 with *doc, PL_ERR_PARSE or NOMEM.
 */
static int read_report_doc(const char *body, size_t len, xmlDocPtr *doc, char *errstr,
                           size_t errstr_size)
{
    *doc = NULL;
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(body, (int)len);
    if (!ctxt)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    report_state st = {0};
    xmlCtxtUseOptions(ctxt, PL_XML_READ_OPTIONS);
    ctxt->_private = &st;
    ctxt->sax->entityDecl = refuse_entity_decl;
    ctxt->sax->getEntity = refuse_entity_ref;
    ctxt->sax->getParameterEntity = refuse_entity_ref;
    ctxt->sax->externalSubset = NULL;
    ctxt->sax->resolveEntity = NULL;

    int rc = 0;
    xmlParseDocument(ctxt);
    xmlDocPtr d = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (st.entity_declared) {
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                        "the DTD declares an entity (%s): entity declarations are refused",
                        st.entity);
    } else if (st.entity_referenced) {
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                        "a reference to the entity %s: only the predefined entities are accepted",
                        st.entity);
    } else if (!ctxt->wellFormed || !d) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        char what[XML_MESSAGE_MAX + 1] = "not well-formed";
        /* libxml2 quotes names and text of the document, which may hold a card number. */
        if (e && e->message)
            pl_xml_sanitize_text(e->message, strlen(e->message), what, sizeof what,
                                 XML_MESSAGE_MAX);
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "not XML (line %d): %s", e ? e->line : 0,
                        what);
    } else if (d->intSubset && (d->intSubset->entities || d->intSubset->pentities)) {
        /* Unreachable while the hook above works; a second net that costs nothing. */
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                        "the DTD declares entities: entity declarations are refused");
    } else if (d->extSubset) {
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "an external DTD was loaded");
    }
    if (rc == 0)
        *doc = d;
    else
        pl_xml_free_doc(d);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

/* True when body[0, len) begins like an XML document: '<' after a BOM and white space. */
static bool looks_like_xml(const char *body, size_t len)
{
    size_t i = 0;
    /* A UTF-16 document is left to libxml2 to read (or refuse). */
    if (len >= 2 && ((unsigned char)body[0] == 0xfe || (unsigned char)body[0] == 0xff))
        return true;
    if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && pl_xml_is_space(body[i]))
        i++;
    return i < len && body[i] == '<';
}

static bool blank(const char *body, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!pl_xml_is_space(body[i]))
            return false;
    return true;
}

/* A body that is not XML: the service's own text, or something else. */
static int read_plain_text(const char *body, size_t len, const pl_xml_report_profile *p,
                           char *errstr, size_t errstr_size)
{
    char text[PL_XML_SANITIZE_MAX + 1];
    if (len > p->plain_text_max) {
        pl_xml_sanitize_text(body, len, text, sizeof text, EXCERPT_MAX);
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "not XML: a text of %zu bytes beginning \"%s\"", len, text);
    }
    if (pl_xml_sanitize_text(body, len, text, sizeof text, PL_XML_SANITIZE_MAX) == 0)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "not XML, and no readable text");
    if (!p->is_refusal || p->is_refusal(text))
        return pl_err_set(PL_ERR_AUTH, errstr, errstr_size, "%s", text);
    /* Unknown text is never taken for an answer: read as "nothing found" by a transaction query,
     * it could invite a second charge. */
    return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "not %s: \"%s\"", p->doc_name, text);
}

int pl_xml_read_report(const char *body, size_t len, const pl_xml_report_profile *p, void *out,
                       char *errstr, size_t errstr_size)
{
    if (errstr && errstr_size > 0)
        errstr[0] = '\0';
    if (!body || blank(body, len))
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "empty body");
    if (len > p->max_len || len > INT_MAX)
        return pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                          "body of %zu bytes is over the %zu limit", len, p->max_len);
    if (!looks_like_xml(body, len))
        return read_plain_text(body, len, p, errstr, errstr_size);

    xmlDocPtr doc = NULL;
    int rc = read_report_doc(body, len, &doc, errstr, errstr_size);
    if (rc != 0)
        return rc;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (pl_xml_is(root, "Report")) {
        rc = p->read(root, out, errstr, errstr_size);
    } else {
        char name[EXCERPT_MAX + 1] = "";
        if (root)
            pl_xml_sanitize_text((const char *)root->name, strlen((const char *)root->name), name,
                                 sizeof name, EXCERPT_MAX);
        rc = pl_err_set(PL_ERR_PARSE, errstr, errstr_size,
                        "not %s: the root element is <%s>, not <Report>", p->doc_name, name);
    }
    pl_xml_free_doc(doc);
    return rc == 0 || rc == PL_ERR_NOMEM ? rc : PL_ERR_PARSE;
}

int pl_xml_only_attr(xmlNodePtr el, const char *local_name, xmlAttrPtr *attr, const char *what,
                     char *errstr, size_t errstr_size)
{
    *attr = NULL;
    for (xmlAttrPtr a = el->properties; a; a = a->next) {
        if (a->type != XML_ATTRIBUTE_NODE || strcmp((const char *)a->name, local_name) != 0)
            continue;
        if (*attr) {
            *attr = NULL;
            return pl_err_set(PL_ERR_PARSE, errstr, errstr_size, "%s appears twice", what);
        }
        *attr = a;
    }
    return 0;
}
