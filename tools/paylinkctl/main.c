/*
 * main.c: paylinkctl, the operator's command line for paylink.
 *
 *   paylinkctl migrate   apply (or --status: list) the SQL migrations of schema/migrations/
 *   paylinkctl send      put one request on a worker's request topic, optionally wait for its reply
 *   paylinkctl tail      print a worker's replies (or any topic) as JSON lines
 *   paylinkctl bench     drive a running system and measure it (bench.h)
 *   paylinkctl topics    create the Kafka topics, or bring existing ones to their settings
 *                        (topics.h)
 *   paylinkctl deposits  settle (through the resolver), confirm or resubmit deposits
 *                        (deposits.h)
 *   paylinkctl svc       mark orders closed; list the unused stored value authorizations of
 *                        closed or cancelled orders to void (svcctl.h)
 *   paylinkctl bureau    show, change (audited) and audit a service bureau's settings
 *                        (bureau.h)
 *   paylinkctl wreq      list and show the required responses (WREQ), settle one with an
 *                        operator's outcome, ask the bureau again (opsctl.h)
 *   paylinkctl order     show an order's payment records in time order (opsctl.h)
 *   paylinkctl stats     outcomes by bureau and vendor response, open required responses
 *                        (opsctl.h)
 *   paylinkctl dlq       list a worker's dead letters, and replay them (opsctl.h)
 *
 * It reads the variables the workers read (PAYLINK_DB, PAYLINK_KAFKA_BROKERS,
 * PAYLINK_TOPIC_PREFIX), so a shell that sourced .dev/env needs no flags. Exit status: 0 done,
 * 1 error, 2 timed out (no reply, fewer messages than --count, topics not ready in time) or,
 * for bureau, refused (nothing changed), or, for wreq, order, stats and dlq, a command line not
 * accepted; 3, for wreq resolve and retry, the database or Kafka cannot be used.
 *
 * Card numbers typed on the command line are copied, then overwritten in argv so later `ps`
 * listings do not show them, and are never printed: only the request id and replies (which
 * the workers mask) are.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench.h"
#include "bureauctl.h"
#include "ctldb.h"
#include "ctlkafka.h"
#include "ctlmsg.h"
#include "deposits.h"
#include "log.h"
#include "migrate.h"
#include "opsctl.h"
#include "reqbuild.h"
#include "svcctl.h"
#include "topics.h"

enum { EXIT_DONE = 0, EXIT_ERROR = 1, EXIT_TIMEOUT = 2 };

/* parse_args: go on and run the command (any other value is the exit status). */
#define PARSE_RUN (-1)

#define DEFAULT_TIMEOUT_S 30
#define MAX_TIMEOUT_S 86400

typedef struct opts {
    const char *command;
    const char *db, *brokers, *prefix;
    const char *dir; /* migrate */
    bool status;     /* migrate */
    const char *worker, *file, *topic, *filter_id;
    const char *group; /* offsets */
    bool wait, from_beginning;
    long long since_s; /* tail --since: -1 when not given */
    long timeout_s;    /* -1: not given */
    long count;        /* -1: not given */
    pl_reqbuild req;
    pl_topics_opts topics;
} opts;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out)
{
    fputs("usage: paylinkctl [--db CONNINFO] [--brokers HOST:PORT,...] [--prefix PREFIX] "
          "COMMAND [OPTIONS]\n"
          "\n"
          "commands:\n"
          "  migrate [--dir DIR] [--status]\n"
          "      Apply the pending SQL migrations NNN_name.sql of DIR in numeric order, each in\n"
          "      its own transaction, recorded in schema_migrations; refuses when an applied\n"
          "      file changed. --status lists them instead. DIR defaults to\n"
          "      $PAYLINK_SCHEMA_DIR, else the source tree's schema/migrations.\n"
          "  send --worker auth|deposit|reversal|svc [--file F | REQUEST FLAGS] [--wait]\n"
          "       [--timeout S]\n"
          "      Produce one request to <prefix>.<worker>.request with key <company>-<order>\n"
          "      and print its request_id. The request is the JSON object in F ('-' or no\n"
          "      --file and no request flags: stdin), or is built from the request flags:\n",
          out);
    pl_reqbuild_print_flags(out);
    fputs("      (v is 1; request_id defaults to a new unique id; type to the worker's usual\n"
          "      one.) --wait: read <prefix>.<worker>.reply until the reply with that\n"
          "      request_id arrives and print it as one JSON line on stdout (the request_id\n"
          "      then goes to stderr); exit 2 after --timeout seconds (default 30).\n"
          "  tail --worker W | --topic T [--from-beginning | --since D] [--request-id ID]\n"
          "       [--count N] [--timeout S]\n"
          "      Print the messages of W's reply topic (or of topic T) as JSON lines, new ones\n"
          "      only unless --from-beginning (all) or --since D (those stamped in the last\n"
          "      D: 90s, 5m, 1h30m; Apache Kafka: librdkafka's mock broker finds no offsets by\n"
          "      time); only those carrying request_id ID; stop after N messages or S seconds\n"
          "      (exit 2 when --count was not reached). Messages of topics other than replies\n"
          "      and decisions are printed redacted.\n"
          "  bench --worker auth|deposit|reversal|svc --requests N [...]\n"
          "      Drive a running system with N requests and report throughput and latency\n"
          "      (options: paylinkctl bench --help). Global options go before the word bench.\n"
          "  offsets --worker W [--group G]\n"
          "      For each partition of W's request topic, the offset its consumer group\n"
          "      (default paylink-W) has committed and the partition's end, as JSON lines:\n"
          "      the difference is what the workers have not finished.\n"
          "  deposits receive [--request-id ID] [--by NAME]\n"
          "      Ask the bureau now about every deposit whose outcome is unknown (its open or\n"
          "      escalated required response), through the resolver: settled from the\n"
          "      bureau's record and the final reply published, or still open, or escalated\n"
          "      (deposits.h).\n"
          "  svc close-order --company C --order O --reason closed|cancelled [--by NAME]\n"
          "      The order system marks an order closed or cancelled (table order_closed).\n"
          "  svc reverse-unused --company C --pay-type P [--older-than-days N] [--dry-run]\n"
          "                     [--by NAME]\n"
          "      The approved stored value authorizations of closed or cancelled orders that\n"
          "      still hold money, as JSON lines with the reversal request the order system\n"
          "      sends with the card added (svcctl.h; paylinkctl svc --help). The pay type\n"
          "      must be a stored value pay type of the company (pay_type) on an RLT or an\n"
          "      enabled External Payment Service bureau, and not its M25 netting pay type.\n"
          "  bureau show CODE\n"
          "  bureau set CODE --by NAME FIELD=VALUE [FIELD=VALUE ...]\n"
          "  bureau audit [CODE] [--limit N]\n"
          "      A service bureau's settings (auth_service, and external_service as ext.*;\n"
          "      secrets as their references), the one supported way to change them (checked\n"
          "      first: https:// URLs, the seed's password rule, strict booleans and numbers;\n"
          "      one transaction, audited under NAME), and the audit of changes, newest first\n"
          "      (bureau.h; paylinkctl bureau --help lists the fields). Exit 2: refused,\n"
          "      nothing changed.\n",
          out);
    pl_opsctl_usage(out);
    fputs("  topics [--partitions N] [--replication R] [--min-isr M] [--timeout S]\n"
          "         [--extra NAME[,NAME...]]\n"
          "      Create the paylink topics with the settings of deploy/kafka/create-topics.sh\n"
          "      (N partitions, default 32; replication factor R, default 1;\n"
          "      min.insync.replicas M <= R, default 1), or bring existing ones to them: their\n"
          "      settings are set again, fewer partitions raised to N (more are left, with a\n"
          "      warning). --extra adds topics (repeatable) with the settings of a reply topic.\n"
          "      Then waits until every topic has a leader for each partition. One line per\n"
          "      topic: NAME: created|updated, N partitions, retention.ms=MS. Exit 2 when\n"
          "      that took more than S seconds (default 30, the bound of the whole run).\n"
          "  help\n"
          "      This text.\n"
          "\n"
          "environment: PAYLINK_DB (libpq connection string), PAYLINK_KAFKA_BROKERS,\n"
          "PAYLINK_TOPIC_PREFIX (default paylink), PAYLINK_SCHEMA_DIR, PAYLINK_LOG_MASK\n"
          "(last4|removed: how card numbers in non-JSON messages are masked), PAYLINK_CA_FILE\n"
          "(the bureaus' CA bundle, for the transaction queries of wreq retry and deposits\n"
          "receive).\n"
          "exit status: 0 done, 1 error, 2 timed out (bureau: refused; wreq, order, stats,\n"
          "dlq: the command line was not accepted), 3 (wreq resolve, retry) the database or\n"
          "Kafka cannot be used.\n",
          out);
}

static int fail(const char *fmt, ...) PL_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("paylinkctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_ERROR;
}

static bool is_bool_flag(const char *name)
{
    return strcmp(name, "--wait") == 0 || strcmp(name, "--from-beginning") == 0 ||
           strcmp(name, "--status") == 0 || strcmp(name, "--help") == 0;
}

/* A non-negative whole number up to max, for --timeout and --count. */
static bool parse_long(const char *s, long max, long *out)
{
    char *end = NULL;
    if (!s || *s < '0' || *s > '9')
        return false;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* The index of the first argument that is neither a flag nor a flag's value, or 0. */
static int find_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return i;
        if (!is_bool_flag(a) && !strchr(a, '='))
            i++;
    }
    return 0;
}

/* Applies one flag of the known command; returns 0, or EXIT_ERROR after saying why. */
static int take_flag(opts *o, const char *name, const char *value)
{
    const char *cmd = o->command;
    bool send = strcmp(cmd, "send") == 0, tail = strcmp(cmd, "tail") == 0;
    bool migrate = strcmp(cmd, "migrate") == 0;
    bool offsets = strcmp(cmd, "offsets") == 0;
    bool topics = strcmp(cmd, "topics") == 0;

    if (strcmp(name, "--db") == 0)
        o->db = value;
    else if (strcmp(name, "--brokers") == 0)
        o->brokers = value;
    else if (strcmp(name, "--prefix") == 0)
        o->prefix = value;
    else if (migrate && strcmp(name, "--dir") == 0)
        o->dir = value;
    else if (migrate && strcmp(name, "--status") == 0)
        o->status = true;
    else if ((send || tail || offsets) && strcmp(name, "--worker") == 0)
        o->worker = value;
    else if (offsets && strcmp(name, "--group") == 0)
        o->group = value;
    else if ((send || tail) && strcmp(name, "--timeout") == 0) {
        if (!parse_long(value, MAX_TIMEOUT_S, &o->timeout_s))
            return fail("--timeout: expected seconds, 0 to %d", MAX_TIMEOUT_S);
    } else if (send && strcmp(name, "--file") == 0)
        o->file = value;
    else if (send && strcmp(name, "--wait") == 0)
        o->wait = true;
    else if (tail && strcmp(name, "--topic") == 0)
        o->topic = value;
    else if (tail && strcmp(name, "--from-beginning") == 0)
        o->from_beginning = true;
    else if (tail && strcmp(name, "--since") == 0) {
        if (!pl_opsctl_parse_duration(value, &o->since_s))
            return fail("--since: expected a duration such as 90s, 5m or 1h30m");
    } else if (tail && strcmp(name, "--request-id") == 0)
        o->filter_id = value;
    else if (tail && strcmp(name, "--count") == 0) {
        if (!parse_long(value, 1000000000L, &o->count) || o->count == 0)
            return fail("--count: expected a positive number");
    } else if (send) {
        char errstr[256];
        int rc = pl_reqbuild_set(&o->req, name, value, errstr, sizeof errstr);
        if (rc == PL_ERR_NOTFOUND)
            return fail("unknown option %s for send (see paylinkctl help)", name);
        if (rc != PL_OK)
            return fail("%s", errstr);
    } else if (topics) {
        char errstr[256];
        int rc = pl_topics_opts_set(&o->topics, name, value, errstr, sizeof errstr);
        if (rc == PL_ERR_NOTFOUND)
            return fail("unknown option %s for topics (see paylinkctl help)", name);
        if (rc != PL_OK)
            return fail("%s", errstr);
    } else {
        fprintf(stderr, "paylinkctl: unknown option %s for %s (see paylinkctl help)\n", name, cmd);
        return EXIT_ERROR;
    }
    return 0;
}

/* The look-up commands of opsctl.h. */
static bool is_ops_command(const char *cmd)
{
    return strcmp(cmd, "wreq") == 0 || strcmp(cmd, "order") == 0 || strcmp(cmd, "stats") == 0 ||
           strcmp(cmd, "dlq") == 0;
}

/* Parses argv into o; returns PARSE_RUN, or an exit status after printing why or the help. */
static int parse_args(int argc, char **argv, opts *o)
{
    int command_at = find_command(argc, argv);
    o->command = command_at ? argv[command_at] : NULL;
    if (!o->command || strcmp(o->command, "help") == 0 || strcmp(o->command, "-h") == 0) {
        usage(o->command ? stdout : stderr);
        return o->command ? EXIT_DONE : EXIT_ERROR;
    }
    /* bench, deposits, svc, bureau and the look-up commands parse their own options (bench.h,
     * deposits.h, svcctl.h, bureau.h, opsctl.h): only the global ones may come before the
     * command's word. */
    bool bench = strcmp(o->command, "bench") == 0 || strcmp(o->command, "deposits") == 0 ||
                 strcmp(o->command, "svc") == 0 || strcmp(o->command, "bureau") == 0 ||
                 is_ops_command(o->command);
    int end = bench ? command_at : argc;
    for (int i = 1; i < end; i++) {
        char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (i == command_at)
                continue;
            /* Not echoed: a stray positional argument may be a card number. */
            return fail("unexpected argument #%d (see paylinkctl help)", i);
        }
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return EXIT_DONE;
        }
        char name[64];
        char *value = NULL;
        char *eq = strchr(a, '=');
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof name)
                return fail("unknown option %.40s...", a);
            memcpy(name, a, n);
            name[n] = '\0';
            value = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (!is_bool_flag(name)) {
                if (i + 1 >= argc)
                    return fail("%s needs a value", name);
                value = argv[++i];
            }
        }
        if (is_bool_flag(name) && eq)
            return fail("%s takes no value", name);
        if (bench && strcmp(name, "--db") != 0 && strcmp(name, "--brokers") != 0 &&
            strcmp(name, "--prefix") != 0)
            return fail("%s: options of %s go after the word %s", name, o->command, o->command);
        int rc = take_flag(o, name, value);
        /* The value is copied by now; take card data out of the process's visible argv. */
        if (value && pl_reqbuild_is_secret(name))
            memset(value, '*', strlen(value));
        if (rc != 0)
            return rc;
    }
    return PARSE_RUN;
}

static const char *env_or(const char *flag, const char *var, const char *dflt)
{
    if (flag)
        return flag;
    const char *v = getenv(var);
    return v && *v ? v : dflt;
}

/* ---- offsets ----------------------------------------------------------------------------- */

static int cmd_offsets(const opts *o)
{
    const char *brokers = env_or(o->brokers, "PAYLINK_KAFKA_BROKERS", NULL);
    const char *prefix = env_or(o->prefix, "PAYLINK_TOPIC_PREFIX", "paylink");
    if (!brokers)
        return fail("no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers");
    if (!o->worker || !*o->worker || strchr(o->worker, '.'))
        return fail("offsets needs --worker auth|deposit|reversal|svc");
    char topic[200], group[200], errstr[512];
    snprintf(topic, sizeof topic, "%s.%s.request", prefix, o->worker);
    if (o->group)
        snprintf(group, sizeof group, "%s", o->group);
    else
        snprintf(group, sizeof group, "paylink-%s", o->worker);
    if (pl_ctlkafka_committed(brokers, group, topic, 10000, stdout, errstr, sizeof errstr) != 0)
        return fail("offsets: %s", errstr);
    return EXIT_DONE;
}

/* ---- topics ------------------------------------------------------------------------------ */

static int cmd_topics(const opts *o)
{
    char errstr[256];
    const char *brokers = env_or(o->brokers, "PAYLINK_KAFKA_BROKERS", NULL);
    const char *prefix = env_or(o->prefix, "PAYLINK_TOPIC_PREFIX", "paylink");
    if (!brokers)
        return fail("no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers");
    if (pl_topics_opts_check(&o->topics, errstr, sizeof errstr) != PL_OK)
        return fail("topics: %s", errstr);
    return pl_topics_run(brokers, prefix, &o->topics, stdout, stderr, &g_stop);
}

/* ---- migrate ----------------------------------------------------------------------------- */

static int cmd_migrate(const opts *o)
{
    char errstr[1024];
    const char *db = env_or(o->db, "PAYLINK_DB", NULL);
    const char *dir = env_or(o->dir, "PAYLINK_SCHEMA_DIR", PAYLINK_SOURCE_DIR "/schema/migrations");
    PGconn *conn = pl_ctldb_connect(db, stderr);
    if (!conn)
        return EXIT_ERROR;
    int rc = o->status ? pl_migrate_status(conn, dir, stdout, errstr, sizeof errstr)
                       : pl_migrate_apply(conn, dir, stdout, errstr, sizeof errstr);
    PQfinish(conn);
    if (rc != PL_OK)
        return fail("migrate: %s", errstr);
    return EXIT_DONE;
}

/* ---- send / tail ------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline (never negative), capped at slice_ms. */
static int remaining_ms(double deadline, int slice_ms)
{
    double left = (deadline - now_s()) * 1000.0;
    if (left <= 0)
        return 0;
    return left < slice_ms ? (int)left + 1 : slice_ms;
}

static void print_message(const char *payload, size_t len, bool masked, bool reveal_generated)
{
    char *line =
        pl_ctlmsg_format(payload ? payload : "", payload ? len : 0, masked, reveal_generated);
    if (line) {
        printf("%s\n", line);
        fflush(stdout);
    }
    free(line);
}

/* Waits for the reply carrying request_id on an open reader; returns the exit status. */
static int wait_reply(pl_ctlkafka_reader *reader, const char *request_id, long timeout_s)
{
    double deadline = now_s() + (double)timeout_s;
    while (!g_stop) {
        int ms = remaining_ms(deadline, 250);
        if (ms == 0)
            break;
        const char *payload = NULL;
        size_t len = 0;
        if (pl_ctlkafka_reader_next(reader, ms, &payload, &len) == 1 && payload &&
            pl_ctlmsg_has_request_id(payload, len, request_id)) {
            /* The reply to this very request: a generated card number is shown (README). */
            print_message(payload, len, true, true);
            return EXIT_DONE;
        }
    }
    fprintf(stderr, "paylinkctl: no reply for %s within %ld s\n", request_id, timeout_s);
    return EXIT_TIMEOUT;
}

/* Reads and checks the request text; *text is malloc'd, *req the parsed object. */
static int read_request(const opts *o, char **text, size_t *len, json_object **req)
{
    char errstr[512];
    bool from_stdin = !o->file || strcmp(o->file, "-") == 0;
    const char *path = from_stdin ? "/dev/stdin" : o->file;
    if (from_stdin && isatty(STDIN_FILENO))
        fputs("paylinkctl: reading one JSON request from stdin (end with Ctrl-D)\n", stderr);
    if (pl_migrate_read_file(path, text, len, errstr, sizeof errstr) != PL_OK)
        return fail("%s", errstr);
    /* A trailing newline is an artefact of the file, not part of the message. */
    while (*len > 0 && strchr(" \t\r\n", (*text)[*len - 1]))
        (*text)[--*len] = '\0';
    if (pl_reqbuild_parse(*text, *len, req, errstr, sizeof errstr) != PL_OK)
        return fail("request: %s", errstr);
    return 0;
}

static int cmd_send(opts *o)
{
    char errstr[512], topic[256], reply_topic[256], key[128];
    int status = EXIT_ERROR;
    char *text = NULL;
    size_t len = 0;
    json_object *req = NULL;
    pl_ctlkafka_reader *reader = NULL;
    const char *brokers = env_or(o->brokers, "PAYLINK_KAFKA_BROKERS", NULL);
    const char *prefix = env_or(o->prefix, "PAYLINK_TOPIC_PREFIX", "paylink");
    long timeout_s = o->timeout_s >= 0 ? o->timeout_s : DEFAULT_TIMEOUT_S;

    if (!o->worker || !pl_reqbuild_worker_ok(o->worker))
        return fail("send: --worker must be auth, deposit, reversal or svc");
    if (o->file && !pl_reqbuild_empty(&o->req))
        return fail("send: give either --file or request flags, not both");
    if (!brokers)
        return fail("no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers");
    if (pl_reqbuild_topic(prefix, o->worker, PL_TOPIC_REQUEST, topic, sizeof topic) != PL_OK ||
        pl_reqbuild_topic(prefix, o->worker, PL_TOPIC_REPLY, reply_topic, sizeof reply_topic) !=
            PL_OK)
        return fail("send: topic prefix too long: %s", prefix);

    if (o->file || pl_reqbuild_empty(&o->req)) {
        if (read_request(o, &text, &len, &req) != 0)
            goto out;
    } else {
        if (pl_reqbuild_json(&o->req, o->worker, &req, errstr, sizeof errstr) != PL_OK) {
            fail("send: %s", errstr);
            goto out;
        }
        const char *json = json_object_to_json_string_length(
            req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        text = json ? strdup(json) : NULL;
        if (!text) {
            fail("send: out of memory");
            goto out;
        }
    }

    const char *request_id = pl_reqbuild_request_id(req);
    if (o->wait && !request_id) {
        fail("send: the request has no request_id to wait for");
        goto out;
    }
    const char *msg_key = key;
    if (pl_reqbuild_key(req, key, sizeof key) != PL_OK) {
        /* Allowed on purpose: tests send incomplete requests to see the invalid reply. */
        fputs("paylinkctl: warning: the request has no company/order; sending it without a "
              "key\n",
              stderr);
        msg_key = NULL;
    }

    /* Open the reader first: its end offsets then lie before any reply to this request. */
    if (o->wait && pl_ctlkafka_reader_open(brokers, reply_topic, PL_CTLKAFKA_FROM_END, 10000,
                                           &reader, errstr, sizeof errstr) != PL_OK) {
        fail("send: %s", errstr);
        goto out;
    }
    int32_t partition = -1;
    int64_t offset = -1;
    /* librdkafka reads a message timeout of 0 as "forever": deliver within a second at least. */
    int delivery_ms = timeout_s > 0 ? (int)timeout_s * 1000 : 1000;
    if (pl_ctlkafka_produce(brokers, topic, msg_key, text, len, delivery_ms, &partition, &offset,
                            errstr, sizeof errstr) != PL_OK) {
        fail("send: %s", errstr);
        goto out;
    }
    if (!o->wait) {
        printf("%s\n", request_id ? request_id : "");
        status = EXIT_DONE;
        goto out;
    }
    fprintf(stderr, "paylinkctl: sent %s to %s [%d] at offset %lld; waiting for the reply\n",
            request_id, topic, (int)partition, (long long)offset);
    status = wait_reply(reader, request_id, timeout_s);
out:
    pl_ctlkafka_reader_destroy(reader);
    json_object_put(req);
    if (text) {
        explicit_bzero(text, len);
        free(text);
    }
    return status;
}

static int cmd_tail(const opts *o)
{
    char errstr[512], topic_buf[256];
    const char *brokers = env_or(o->brokers, "PAYLINK_KAFKA_BROKERS", NULL);
    const char *prefix = env_or(o->prefix, "PAYLINK_TOPIC_PREFIX", "paylink");
    const char *topic = o->topic;

    if (!brokers)
        return fail("no Kafka brokers: set PAYLINK_KAFKA_BROKERS or give --brokers");
    if (!topic) {
        if (!o->worker)
            return fail("tail: give --worker or --topic");
        if (pl_reqbuild_topic(prefix, o->worker, PL_TOPIC_REPLY, topic_buf, sizeof topic_buf) !=
            PL_OK)
            return fail("tail: unknown worker %s", o->worker);
        topic = topic_buf;
    }

    if (o->from_beginning && o->since_s >= 0)
        return fail("tail: --from-beginning or --since, not both");
    int64_t from = o->from_beginning ? PL_CTLKAFKA_FROM_BEGINNING : PL_CTLKAFKA_FROM_END;
    if (o->since_s >= 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        from = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - o->since_s * 1000;
        if (from < 0)
            from = 0;
    }
    pl_ctlkafka_reader *reader = NULL;
    if (pl_ctlkafka_reader_open(brokers, topic, from, 10000, &reader, errstr, sizeof errstr) !=
        PL_OK)
        return fail("tail: %s", errstr);

    bool masked = pl_ctlmsg_topic_is_masked(topic);
    double deadline = o->timeout_s >= 0 ? now_s() + (double)o->timeout_s : 0;
    long printed = 0;
    while (!g_stop && (o->count < 0 || printed < o->count)) {
        int ms = o->timeout_s >= 0 ? remaining_ms(deadline, 250) : 250;
        if (ms == 0)
            break;
        const char *payload = NULL;
        size_t len = 0;
        if (pl_ctlkafka_reader_next(reader, ms, &payload, &len) != 1)
            continue;
        if (o->filter_id && !(payload && pl_ctlmsg_has_request_id(payload, len, o->filter_id)))
            continue;
        /* A generated card number is shown for the reply of a request named (--request-id:
         * the one reply asked for, as send --wait shows its own), masked when tailing a topic
         * (--from-beginning would print every number still on it). */
        print_message(payload, len, masked, o->filter_id != NULL);
        printed++;
    }
    pl_ctlkafka_reader_destroy(reader);
    if (o->count >= 0 && printed < o->count)
        return EXIT_TIMEOUT;
    return EXIT_DONE;
}

int main(int argc, char **argv)
{
    opts o = {.timeout_s = -1, .count = -1, .since_s = -1};
    pl_topics_opts_init(&o.topics);
    int status = parse_args(argc, argv, &o);
    if (status != PARSE_RUN) {
        pl_reqbuild_free(&o.req);
        pl_topics_opts_free(&o.topics);
        return status;
    }

    /* The J16 mode the workers use also decides how paylinkctl masks non-JSON text. */
    const char *mask = getenv("PAYLINK_LOG_MASK");
    if (mask && strcmp(mask, "removed") == 0)
        pl_log_set_mask_mode(PL_MASK_REMOVED);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (strcmp(o.command, "bench") == 0) {
        /* The brokers are checked after bench's own options, so that --help needs none. */
        int at = find_command(argc, argv);
        status =
            pl_bench_main(argc - at, argv + at, env_or(o.brokers, "PAYLINK_KAFKA_BROKERS", NULL),
                          env_or(o.prefix, "PAYLINK_TOPIC_PREFIX", "paylink"));
    } else if (strcmp(o.command, "deposits") == 0) {
        int at = find_command(argc, argv);
        status = pl_deposits_main(argc - at, argv + at, env_or(o.db, "PAYLINK_DB", NULL),
                                  env_or(o.brokers, "PAYLINK_KAFKA_BROKERS", NULL),
                                  env_or(o.prefix, "PAYLINK_TOPIC_PREFIX", "paylink"));
    } else if (strcmp(o.command, "svc") == 0) {
        int at = find_command(argc, argv);
        status = pl_svcctl_main(argc - at, argv + at, env_or(o.db, "PAYLINK_DB", NULL),
                                env_or(o.prefix, "PAYLINK_TOPIC_PREFIX", "paylink"));
    } else if (strcmp(o.command, "bureau") == 0) {
        int at = find_command(argc, argv);
        status = pl_bureau_main(argc - at, argv + at, env_or(o.db, "PAYLINK_DB", NULL));
    } else if (is_ops_command(o.command)) {
        int at = find_command(argc, argv);
        status = pl_opsctl_main(argc - at, argv + at, env_or(o.db, "PAYLINK_DB", NULL),
                                env_or(o.brokers, "PAYLINK_KAFKA_BROKERS", NULL),
                                env_or(o.prefix, "PAYLINK_TOPIC_PREFIX", "paylink"));
    } else if (strcmp(o.command, "migrate") == 0)
        status = cmd_migrate(&o);
    else if (strcmp(o.command, "send") == 0)
        status = cmd_send(&o);
    else if (strcmp(o.command, "tail") == 0)
        status = cmd_tail(&o);
    else if (strcmp(o.command, "offsets") == 0)
        status = cmd_offsets(&o);
    else if (strcmp(o.command, "topics") == 0)
        status = cmd_topics(&o);
    else
        status = fail("unknown command %s (see paylinkctl help)", o.command);
    pl_reqbuild_free(&o.req);
    pl_topics_opts_free(&o.topics);
    return status;
}
