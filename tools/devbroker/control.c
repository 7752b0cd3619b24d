/*
 * control.c: the dev broker's outage-injection endpoint over libmicrohttpd.
 *
 * MHD runs in "external select" mode, driven by pl_devbroker_control_run from the tool's main
 * loop. That keeps every handler, and so every log line and every mock call, on the main
 * thread: log.h is single-threaded, and the tool has nothing else to do while it waits.
 */
#include "control.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "log.h"

struct pl_devbroker_control {
    pl_devbroker *db;
    struct MHD_Daemon *mhd;
    uint16_t port;
};

/*
 * Per-connection state without allocation: MHD's con_cls points at one of these markers, so
 * the handler can tell the first call of a request from the later ones, and remember a body.
 */
static int marker_started;
static int marker_body;

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    /* MHD's messages end with a newline of their own; a JSON log line must not. */
    buf[strcspn(buf, "\r\n")] = '\0';
    PL_WARN(NULL, "control http: %s", buf);
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned int status, const char *type,
                                 const char *body)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_NO) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* {"ok":true} or {"error":msg}; built with json-c, never by pasting strings. */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned int status,
                                 const char *error)
{
    struct json_object *obj = json_object_new_object();
    enum MHD_Result ret;

    if (obj == NULL)
        return MHD_NO;
    if (error == NULL)
        json_object_object_add(obj, "ok", json_object_new_boolean(1));
    else
        json_object_object_add(obj, "error", json_object_new_string(error));
    ret = send_text(conn, status, "application/json",
                    json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
    json_object_put(obj);
    return ret;
}

static unsigned int status_of(int rc)
{
    switch (rc) {
    case 0:
        return MHD_HTTP_OK;
    case PL_ERR_INVALID:
        return MHD_HTTP_BAD_REQUEST;
    case PL_ERR_NOTFOUND:
        return MHD_HTTP_NOT_FOUND;
    case PL_ERR_STATE:
        return MHD_HTTP_CONFLICT;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/*
 * Reads query argument key as an integer in [min, max] into *out, or leaves *out alone when
 * the argument is absent and not required. Returns 0 or PL_ERR_INVALID.
 */
static int query_long(struct MHD_Connection *conn, const char *key, int required, long min,
                      long max, long *out, char *errstr, size_t errstr_size)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);

    if (v == NULL) {
        if (!required)
            return 0;
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing query argument %s", key);
    }
    if (pl_devbroker_parse_long(v, min, max, out) != 0)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                          "query argument %s must be an integer %ld..%ld", key, min, max);
    return 0;
}

static int do_brokers(pl_devbroker_control *ctl, struct MHD_Connection *conn, const char *what,
                      char *errstr, size_t errstr_size)
{
    long id = -1, ms = 0;
    int rc;

    if ((rc = query_long(conn, "id", 0, -1, PL_DEVBROKER_MAX_BROKERS, &id, errstr, errstr_size)) !=
        0)
        return rc;
    if (strcmp(what, "down") == 0) {
        rc = pl_devbroker_broker_down(ctl->db, (int32_t)id, errstr, errstr_size);
    } else if (strcmp(what, "up") == 0) {
        rc = pl_devbroker_broker_up(ctl->db, (int32_t)id, errstr, errstr_size);
    } else {
        if ((rc = query_long(conn, "ms", 1, 0, 600000, &ms, errstr, errstr_size)) != 0)
            return rc;
        rc = pl_devbroker_broker_rtt(ctl->db, (int32_t)id, (int)ms, errstr, errstr_size);
    }
    if (rc == 0) {
        char who[32];

        if (id == -1)
            snprintf(who, sizeof(who), "all brokers");
        else
            snprintf(who, sizeof(who), "broker %ld", id);
        if (strcmp(what, "rtt") == 0)
            PL_INFO(NULL, "control: %s rtt %ld ms", who, ms);
        else
            PL_INFO(NULL, "control: %s %s", who, what);
    }
    return rc;
}

/* POST /errors?code=N[&count=M]: the next M Produce requests fail with protocol error N. */
static int do_errors(pl_devbroker_control *ctl, struct MHD_Connection *conn, char *errstr,
                     size_t errstr_size)
{
    long code = 0, count = 1;
    int rc;
    if ((rc = query_long(conn, "code", 1, 1, 200, &code, errstr, errstr_size)) != 0 ||
        (rc = query_long(conn, "count", 0, 1, 1000, &count, errstr, errstr_size)) != 0)
        return rc;
    rc = pl_devbroker_produce_errors(ctl->db, (int)code, (int)count, errstr, errstr_size);
    if (rc == 0)
        PL_INFO(NULL, "control: the next %ld Produce request(s) fail with error %ld", count, code);
    return rc;
}

static int do_topics(pl_devbroker_control *ctl, struct MHD_Connection *conn, char *errstr,
                     size_t errstr_size)
{
    const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
    long partitions = PL_DEVBROKER_DEFAULT_PARTITIONS;
    int rc;

    if (name == NULL)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "missing query argument name");
    if ((rc = query_long(conn, "partitions", 0, 1, PL_DEVBROKER_MAX_PARTITIONS, &partitions, errstr,
                         errstr_size)) != 0)
        return rc;
    rc = pl_devbroker_topic_create(ctl->db, name, (int)partitions, errstr, errstr_size);
    if (rc == 0)
        PL_INFO(NULL, "control: created topic %s with %ld partitions", name, partitions);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    pl_devbroker_control *ctl = cls;
    char errstr[256] = "";
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    int rc;

    (void)version;
    (void)upload_data;
    /* MHD calls once with the headers, then once per body chunk, then once more with no
     * data: the answer goes out on the last call. */
    if (*con_cls == NULL) {
        *con_cls = &marker_started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *con_cls = &marker_body;
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (strcmp(url, "/health") == 0) {
        if (!is_get)
            return send_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return send_text(conn, MHD_HTTP_OK, "text/plain", "ok");
    }

    if (strcmp(url, "/brokers/down") != 0 && strcmp(url, "/brokers/up") != 0 &&
        strcmp(url, "/brokers/rtt") != 0 && strcmp(url, "/topics") != 0 &&
        strcmp(url, "/errors") != 0)
        return send_json(conn, MHD_HTTP_NOT_FOUND, "no such route");
    if (!is_post)
        return send_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    if (*con_cls == &marker_body)
        return send_json(conn, MHD_HTTP_BAD_REQUEST,
                         "no request body expected: pass arguments in the query string");

    if (strcmp(url, "/topics") == 0)
        rc = do_topics(ctl, conn, errstr, sizeof(errstr));
    else if (strcmp(url, "/errors") == 0)
        rc = do_errors(ctl, conn, errstr, sizeof(errstr));
    else
        rc = do_brokers(ctl, conn, url + strlen("/brokers/"), errstr, sizeof(errstr));
    if (rc != 0)
        PL_WARN(NULL, "control: %s %s: %s", method, url, errstr);
    return send_json(conn, status_of(rc), rc == 0 ? NULL : errstr);
}

int pl_devbroker_control_new(pl_devbroker_control **out, pl_devbroker *db, int port, char *errstr,
                             size_t errstr_size)
{
    pl_devbroker_control *ctl;
    struct sockaddr_in sin;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    if (port < 0 || port > 65535)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "control port must be 0..65535");
    ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
    ctl->db = db;

    /* Loopback only: the endpoint can take the whole cluster down and has no authentication. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* No MHD_USE_INTERNAL_POLLING_THREAD: requests are served in pl_devbroker_control_run.
     * The logger goes first, or MHD prints the messages about the other options itself. */
    ctl->mhd = MHD_start_daemon(
        MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, ctl, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)32, MHD_OPTION_END);
    if (ctl->mhd == NULL) {
        free(ctl);
        return pl_err_set(PL_ERR_IO, errstr, errstr_size,
                          "cannot listen on 127.0.0.1:%d for the control endpoint", port);
    }
    info = MHD_get_daemon_info(ctl->mhd, MHD_DAEMON_INFO_BIND_PORT);
    ctl->port = info != NULL ? info->port : (uint16_t)port;
    if (ctl->port == 0) {
        pl_devbroker_control_destroy(ctl);
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "cannot learn the control port");
    }
    *out = ctl;
    return 0;
}

uint16_t pl_devbroker_control_port(const pl_devbroker_control *ctl)
{
    return ctl->port;
}

int pl_devbroker_control_run(pl_devbroker_control *ctl, int timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (MHD_run_wait(ctl->mhd, timeout_ms) != MHD_YES)
        return PL_ERR_IO;
    return 0;
}

void pl_devbroker_control_destroy(pl_devbroker_control *ctl)
{
    if (ctl == NULL)
        return;
    MHD_stop_daemon(ctl->mhd);
    free(ctl);
}
