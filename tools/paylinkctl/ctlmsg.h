/*
 * ctlmsg.h: how `paylinkctl send --wait` and `paylinkctl tail` read and print messages.
 *
 * Every message is printed as one JSON line: JSON payloads compacted, anything else as a JSON
 * string. Messages on topics paylink writes for others (replies, decision events) are already
 * masked and print as they are, but for the new stored value card number a generate's first
 * reply carries in full (svc.card_number), shown only for the reply of a request named
 * (reveal_generated: `send --wait`, `tail --request-id`); anything else (request topics,
 * dead-letter topics) may carry card data from upstream and is redacted first (pl_request_redact:
 * card number masked, CVV and 3-D Secure values removed; non-JSON text scrubbed of card numbers).
 * Text that is not JSON is scrubbed on every topic.
 *
 * Memory: returned strings are malloc'd; the caller frees them. Pure functions.
 */
#ifndef PL_CTLMSG_H
#define PL_CTLMSG_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/*
 * True when the message is a JSON object whose "request_id" is id, at the top level or in an
 * object nested up to 4 levels deep, also inside a string member that holds a JSON object
 * (the dead-letter topic's {"error": ..., "request": "<the request's text>"}). Text that is not
 * a JSON object never matches.
 */
bool pl_ctlmsg_has_request_id(const char *payload, size_t len, const char *id);

/*
 * True for topics whose messages paylink itself wrote for upstream systems and masked:
 * names ending in ".reply" or ".decision".
 */
bool pl_ctlmsg_topic_is_masked(const char *topic);

/*
 * One output line (no newline) for a message: compact JSON, redacted unless `masked` says the
 * topic is already masked; on such a topic a reply's svc.card_number is masked too unless
 * reveal_generated (`send --wait`, `tail --request-id`). Returns a malloc'd string, or NULL
 * when out of memory.
 */
char *pl_ctlmsg_format(const char *payload, size_t len, bool masked, bool reveal_generated);

#endif
