/*
 * paylink-devbroker: a throwaway Kafka cluster on loopback for development and tests.
 *
 * Starts librdkafka's mock cluster with the paylink topics (devbroker.h), writes its bootstrap
 * servers to --bootstrap-file, prints {"bootstrap":"127.0.0.1:NNNN","control_port":M} on
 * stdout, serves the outage-injection endpoint (control.h) and runs until SIGTERM or SIGINT.
 * All topics and offsets live in memory and die with the process: outage tests take brokers
 * down and up through the control endpoint rather than restarting it.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control.h"
#include "devbroker.h"
#include "log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(void)
{
    fputs("usage: paylink-devbroker [options]\n"
          "  --brokers N             mock brokers (default 1, at most 16)\n"
          "  --partitions N          partitions of every created topic (default 32)\n"
          "  --prefix P              topic prefix (default paylink)\n"
          "  --topics a,b,c          extra topics to create, as named\n"
          "  --bootstrap-file FILE   write the bootstrap servers there (atomically, no newline)\n"
          "  --control-port N        control HTTP port on 127.0.0.1 (default 0: pick one)\n"
          "  --control-port-file F   write the control port there (atomically)\n"
          "  --log-level L           debug, info (default), warn or error\n"
          "Prints {\"bootstrap\":...,\"control_port\":...} on stdout when ready; runs until\n"
          "SIGTERM or SIGINT, then removes the files it wrote. Topics nobody created are\n"
          "auto-created by producers with the mock's default of 4 partitions.\n",
          stdout);
}

typedef struct options {
    pl_devbroker_config cfg;
    const char *bootstrap_file;
    const char *control_port_file;
    long control_port;
} options;

/* Returns 0, 1 when --help was asked for, or PL_ERR_INVALID after logging why. */
static int parse_options(int argc, char **argv, options *o)
{
    enum {
        OPT_BROKERS = 256,
        OPT_PARTITIONS,
        OPT_PREFIX,
        OPT_TOPICS,
        OPT_BOOTSTRAP_FILE,
        OPT_CONTROL_PORT,
        OPT_CONTROL_PORT_FILE,
        OPT_LOG_LEVEL,
        OPT_HELP
    };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"topics", required_argument, NULL, OPT_TOPICS},
        {"bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE},
        {"control-port", required_argument, NULL, OPT_CONTROL_PORT},
        {"control-port-file", required_argument, NULL, OPT_CONTROL_PORT_FILE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    long v;
    int c;

    memset(o, 0, sizeof(*o));
    opterr = 0; /* we report bad options ourselves, as JSON log lines */
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BROKERS:
            if (pl_devbroker_parse_long(optarg, 1, PL_DEVBROKER_MAX_BROKERS, &v) != 0) {
                PL_ERROR(NULL, "--brokers must be 1..%d", PL_DEVBROKER_MAX_BROKERS);
                return PL_ERR_INVALID;
            }
            o->cfg.brokers = (int)v;
            break;
        case OPT_PARTITIONS:
            if (pl_devbroker_parse_long(optarg, 1, PL_DEVBROKER_MAX_PARTITIONS, &v) != 0) {
                PL_ERROR(NULL, "--partitions must be 1..%d", PL_DEVBROKER_MAX_PARTITIONS);
                return PL_ERR_INVALID;
            }
            o->cfg.partitions = (int)v;
            break;
        case OPT_PREFIX:
            o->cfg.prefix = optarg;
            break;
        case OPT_TOPICS:
            o->cfg.extra_topics = optarg;
            break;
        case OPT_BOOTSTRAP_FILE:
            o->bootstrap_file = optarg;
            break;
        case OPT_CONTROL_PORT:
            if (pl_devbroker_parse_long(optarg, 0, 65535, &o->control_port) != 0) {
                PL_ERROR(NULL, "--control-port must be 0..65535");
                return PL_ERR_INVALID;
            }
            break;
        case OPT_CONTROL_PORT_FILE:
            o->control_port_file = optarg;
            break;
        case OPT_LOG_LEVEL: {
            pl_log_level level;
            if (pl_log_level_parse(optarg, &level) != 0) {
                PL_ERROR(NULL, "--log-level must be debug, info, warn or error");
                return PL_ERR_INVALID;
            }
            pl_log_set_level(level);
            break;
        }
        case OPT_HELP:
            usage();
            return 1;
        default:
            PL_ERROR(NULL, "unknown option or missing value: %s (see --help)", argv[optind - 1]);
            return PL_ERR_INVALID;
        }
    }
    if (optind < argc) {
        PL_ERROR(NULL, "unexpected argument %s (see --help)", argv[optind]);
        return PL_ERR_INVALID;
    }
    return 0;
}

/* The one line a launcher reads from stdout, built with json-c. */
static int print_ready_line(const char *bootstrap, unsigned port)
{
    struct json_object *obj = json_object_new_object();
    int rc = 0;

    if (obj == NULL)
        return PL_ERR_NOMEM;
    json_object_object_add(obj, "bootstrap", json_object_new_string(bootstrap));
    json_object_object_add(obj, "control_port", json_object_new_int((int)port));
    if (printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN)) < 0 ||
        fflush(stdout) != 0)
        rc = PL_ERR_IO;
    json_object_put(obj);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    pl_devbroker *db = NULL;
    pl_devbroker_control *ctl = NULL;
    char errstr[512] = "";
    char portbuf[16];
    struct sigaction sa;
    sigset_t sigs, oldsigs;
    int wrote_bootstrap = 0, wrote_port = 0;
    int rc, status = 1;

    pl_log_init("devbroker", NULL);
    rc = parse_options(argc, argv, &o);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return 2;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* Block the stop signals while librdkafka starts its threads, which inherit the mask, so
     * the signals reach the main thread and interrupt its wait rather than a broker thread. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &oldsigs);

    if ((rc = pl_devbroker_new(&db, &o.cfg, errstr, sizeof(errstr))) != 0) {
        PL_ERROR(NULL, "cannot start the mock cluster: %s", errstr);
        goto out;
    }
    if ((rc = pl_devbroker_control_new(&ctl, db, (int)o.control_port, errstr, sizeof(errstr))) !=
        0) {
        PL_ERROR(NULL, "cannot start the control endpoint: %s", errstr);
        goto out;
    }
    pthread_sigmask(SIG_SETMASK, &oldsigs, NULL);

    if (o.bootstrap_file != NULL) {
        if ((rc = pl_devbroker_write_file(o.bootstrap_file, pl_devbroker_bootstraps(db), errstr,
                                          sizeof(errstr))) != 0) {
            PL_ERROR(NULL, "cannot write the bootstrap file: %s", errstr);
            goto out;
        }
        wrote_bootstrap = 1;
    }
    if (o.control_port_file != NULL) {
        snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)pl_devbroker_control_port(ctl));
        if ((rc = pl_devbroker_write_file(o.control_port_file, portbuf, errstr, sizeof(errstr))) !=
            0) {
            PL_ERROR(NULL, "cannot write the control port file: %s", errstr);
            goto out;
        }
        wrote_port = 1;
    }
    if (print_ready_line(pl_devbroker_bootstraps(db), pl_devbroker_control_port(ctl)) != 0) {
        PL_ERROR(NULL, "cannot write to stdout");
        goto out;
    }
    PL_INFO(NULL, "ready: bootstrap %s, %d broker(s), %zu topics, control on 127.0.0.1:%u",
            pl_devbroker_bootstraps(db), pl_devbroker_broker_count(db),
            pl_devbroker_topic_count(db), (unsigned)pl_devbroker_control_port(ctl));

    while (!stop_requested) {
        /* A short wait bounds how long a signal that lands between the flag test and the
         * wait can go unnoticed. */
        if (pl_devbroker_control_run(ctl, 200) != 0) {
            PL_ERROR(NULL, "the control endpoint failed");
            goto out;
        }
        pl_devbroker_serve_logs(db);
    }
    PL_INFO(NULL, "stopping");
    status = 0;
out:
    if (wrote_bootstrap)
        unlink(o.bootstrap_file);
    if (wrote_port)
        unlink(o.control_port_file);
    pl_devbroker_control_destroy(ctl);
    pl_devbroker_destroy(db);
    return status;
}
