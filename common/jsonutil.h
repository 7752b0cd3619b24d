/*
 * jsonutil.h: a whole text read as one JSON value with json-c — what every reader of a message,
 * an answer or a dead letter needs and json-c leaves to its caller: that nothing but white space
 * follows the value, and that the tokener's own buffer (which holds the last string it read: a
 * card number, an access token) is wiped before it is freed.
 *
 * Pure functions; any thread.
 */
#ifndef PL_JSONUTIL_H
#define PL_JSONUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* Flags of pl_json_parse_whole. */
#define PL_JSON_STRICT 1u /* json-c's strict mode (RFC 8259 only) */
#define PL_JSON_UTF8 2u   /* text that is not UTF-8 is refused */
#define PL_JSON_WIPE 4u   /* the tokener's buffer is wiped before it is freed */

/* JSON's white space (RFC 8259): space, tab, line feed, carriage return. */
bool pl_json_space(char c);

/*
 * text[0..len) as exactly one JSON value followed by nothing but JSON white space, or NULL (also
 * for empty text, a NUL byte anywhere, more than INT_MAX bytes, a value nested deeper than depth,
 * out of memory). depth: json-c's nesting bound (0: json-c's default). A number that ends the
 * text is not read (json-c waits for what ends it; every text paylink reads is an object). The
 * caller owns the value (json_object_put).
 */
json_object *pl_json_parse_whole(const char *text, size_t len, int depth, unsigned flags);

/* Member key of object o as a string (json-c's rendering of a number or boolean), or NULL when o
 * is NULL or has no such member (also a JSON null). Owned by o. */
const char *pl_json_str(json_object *o, const char *key);

#endif
