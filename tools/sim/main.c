/*
 * paylink-bureau-sim: an HTTPS payment bureau simulator for tests and the demo.
 *
 * Speaks the CyberSource Simple Order SOAP API (and its Decision Manager Conversion Detail
 * Report), the Customer Engagement stored value messages and the External Payment Service's
 * JSON endpoints with the deterministic outcomes of
 * CONTRACT.md §3, keeps a ledger of every effect, and serves the /__sim/ control endpoints
 * (sim_server.h). Logs JSON lines on stderr. SIGTERM or SIGINT stops it cleanly; SIGUSR1 logs
 * (at warn) how many answers it holds back now and its delays, and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <libxml/parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "card.h"
#include "log.h"
#include "sim_ext.h"
#include "sim_log.h"
#include "sim_proto.h"
#include "sim_server.h"

#define MAX_MS (24u * 3600u * 1000u)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: paylink-bureau-sim --port N --state-dir DIR [options]\n"
            "  --port N                 TCP port; 0 picks a free one\n"
            "  --state-dir DIR          holds ca.pem, server.pem, server-key.pem (made if absent)\n"
            "  --bind ADDR              listen address (default 127.0.0.1)\n"
            "  --latency-ms L           delay of every bureau answer (default 0)\n"
            "  --latency-jitter-ms J    plus a uniform random 0..J ms (default 0)\n"
            "  --timeout-hold-ms H      how long a 901 or 905 request is held before its\n"
            "                           connection is closed without an answer (default 60000)\n"
            "  --port-file FILE         write the bound port to FILE once listening\n"
            "  --threads T              server threads (default: one per CPU, at least 2)\n"
            "  --log-level LEVEL        debug, info, warn, error (default info)\n"
            "  --ext-token-ttl S        External Payment Service access token lifetime in\n"
            "                           seconds (default 3600)\n"
            "  --ext-client-secret-file FILE  the EXT OAuth client secret the token endpoint\n"
            "                           requires (default: any secret but \"bad-key\")\n"
            "  --dm-password-file FILE  the CyberSource report user's password the Decision\n"
            "                           Manager Conversion Detail Report and the Query\n"
            "                           (/ebctest/Query, /ebc/Query) require (default: any\n"
            "                           password but \"bad-password\")\n");
}

static int parse_ms(const char *opt, const char *v, unsigned *out)
{
    if (pl_sim_parse_uint(v, MAX_MS, out) < 0) {
        fprintf(stderr, "paylink-bureau-sim: %s wants milliseconds (0-%u), not '%s'\n", opt, MAX_MS,
                v);
        return -1;
    }
    return 0;
}

/*
 * Reads a secret (the EXT client secret, the CyberSource report password): the file's
 * first line (a trailing CR/LF dropped), 1-511 bytes. what names it in the complaint. Returns
 * 0 or -1 (told on stderr).
 */
static int read_secret_file(const char *path, const char *what, char *out, size_t outsize)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "paylink-bureau-sim: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    bool ok = fgets(out, (int)outsize, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\r\n")] = '\0';
    if (!ok || !out[0]) {
        fprintf(stderr, "paylink-bureau-sim: %s holds no %s\n", path, what);
        return -1;
    }
    return 0;
}

/* Writes the port through a temporary file and a rename, so a reader never sees it half written. */
static int write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%u\n", port) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"state-dir", required_argument, NULL, 's'},
        {"bind", required_argument, NULL, 'b'},
        {"latency-ms", required_argument, NULL, 'l'},
        {"latency-jitter-ms", required_argument, NULL, 'j'},
        {"timeout-hold-ms", required_argument, NULL, 'H'},
        {"port-file", required_argument, NULL, 'f'},
        {"threads", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'L'},
        {"ext-token-ttl", required_argument, NULL, 'T'},
        {"ext-client-secret-file", required_argument, NULL, 'S'},
        {"dm-password-file", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pl_sim_server_cfg cfg = {.bind_addr = "127.0.0.1", .hold_ms = 60000};
    const char *port_file = NULL;
    bool have_port = false;
    pl_log_level level = PL_LOG_INFO;
    char ext_secret[512];
    char dm_password[512];

    /*
     * stderr is unbuffered: pl_log's line and its newline were two write(2)s, one more system
     * call in every answer. Line-buffered, each log line is still written whole at once.
     */
    setvbuf(stderr, NULL, _IOLBF, BUFSIZ);
    pl_log_init("sim", NULL);
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (pl_sim_parse_uint(optarg, 65535, &cfg.port) < 0) {
                fprintf(stderr, "paylink-bureau-sim: bad --port '%s'\n", optarg);
                return 2;
            }
            have_port = true;
            break;
        case 's':
            cfg.state_dir = optarg;
            break;
        case 'b':
            cfg.bind_addr = optarg;
            break;
        case 'l':
            if (parse_ms("--latency-ms", optarg, &cfg.latency_ms) < 0)
                return 2;
            break;
        case 'j':
            if (parse_ms("--latency-jitter-ms", optarg, &cfg.jitter_ms) < 0)
                return 2;
            break;
        case 'H':
            if (parse_ms("--timeout-hold-ms", optarg, &cfg.hold_ms) < 0)
                return 2;
            break;
        case 'f':
            port_file = optarg;
            break;
        case 't':
            if (pl_sim_parse_uint(optarg, 256, &cfg.threads) < 0 || cfg.threads == 0) {
                fprintf(stderr, "paylink-bureau-sim: bad --threads '%s'\n", optarg);
                return 2;
            }
            break;
        case 'L':
            if (pl_log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "paylink-bureau-sim: bad --log-level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'T':
            if (pl_sim_parse_uint(optarg, PL_SIM_EXT_TOKEN_TTL_MAX, &cfg.ext_token_ttl_s) < 0 ||
                cfg.ext_token_ttl_s == 0) {
                fprintf(stderr,
                        "paylink-bureau-sim: --ext-token-ttl wants seconds (1-%u), not '%s'\n",
                        PL_SIM_EXT_TOKEN_TTL_MAX, optarg);
                return 2;
            }
            break;
        case 'S':
            if (read_secret_file(optarg, "client secret", ext_secret, sizeof ext_secret) < 0)
                return 2;
            cfg.ext_client_secret = ext_secret;
            break;
        case 'D':
            if (read_secret_file(optarg, "password", dm_password, sizeof dm_password) < 0)
                return 2;
            cfg.dm_password = dm_password;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !have_port || !cfg.state_dir) {
        usage(stderr);
        return 2;
    }
    pl_log_set_level(level);

    /*
     * The signals are blocked before any thread starts, so every server thread inherits the
     * mask and only sigwait below receives them. Writes to a closed socket must not kill
     * the process either.
     */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGUSR1); /* what it holds, like paylink's workers (not a stop) */
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    pl_sim_server *srv = NULL;
    int started = pl_sim_server_start(&cfg, &srv, err, sizeof err);
    /* The server keeps its own copies of the secrets. */
    pl_card_wipe(ext_secret, sizeof ext_secret);
    pl_card_wipe(dm_password, sizeof dm_password);
    if (started < 0) {
        pl_sim_log(PL_LOG_ERROR, NULL, "cannot start: %s", err);
        return 1;
    }
    unsigned port = pl_sim_server_port(srv);
    if (port_file && write_port_file(port_file, port) < 0) {
        pl_sim_log(PL_LOG_ERROR, NULL, "cannot write the port file %s: %s", port_file,
                   strerror(errno));
        pl_sim_server_stop(srv);
        return 1;
    }
    pl_sim_log(PL_LOG_INFO, NULL,
               "listening on https://%s:%u (CA %s/ca.pem) latency_ms=%u jitter_ms=%u hold_ms=%u "
               "ext_token_ttl=%u",
               cfg.bind_addr, port, cfg.state_dir, cfg.latency_ms, cfg.jitter_ms, cfg.hold_ms,
               cfg.ext_token_ttl_s ? cfg.ext_token_ttl_s : PL_SIM_EXT_TOKEN_TTL_DEFAULT);

    int sig = 0;
    while (sigwait(&stop_set, &sig) != 0 || sig == SIGUSR1) {
        if (sig != SIGUSR1)
            continue;
        sig = 0;
        pl_sim_server_stats st;
        pl_sim_server_stats_get(srv, &st);
        unsigned lat, jit, hold;
        pl_sim_server_get_delays(srv, &lat, &jit, &hold);
        pl_sim_log(PL_LOG_WARN, NULL,
                   "SIGUSR1: %u answer(s) held back now (%lu since the start); latency_ms=%u "
                   "jitter_ms=%u hold_ms=%u",
                   st.waiting, st.parked, lat, jit, hold);
    }
    pl_sim_log(PL_LOG_INFO, NULL, "signal %d: stopping", sig);
    pl_sim_server_stop(srv);
    xmlCleanupParser();
    pl_sim_log(PL_LOG_INFO, NULL, "stopped");
    return 0;
}
