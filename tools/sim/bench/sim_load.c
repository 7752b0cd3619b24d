/*
 * sim_load: a small load generator for paylink-bureau-sim (not part of the CMake build).
 *
 * Keeps C connections busy for D seconds with CyberSource auth requests (one libcurl multi
 * handle, keep-alive, TLS verified against the simulator's CA) and prints requests/s and
 * latency percentiles. With latency L ms, C connections can do at most C / L·1000 requests/s
 * (Little's law): 200 connections at 100 ms cap at 2,000/s, whatever the server.
 *
 *   cc -O2 -o sim_load tools/sim/bench/sim_load.c $(pkg-config --cflags --libs libcurl)
 *   ./sim_load https://localhost:PORT CA.pem CONNECTIONS SECONDS
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Header>"
    "<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken>"
    "<wsse:Username>load</wsse:Username><wsse:Password>key</wsse:Password>"
    "</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body>"
    "<requestMessage xmlns=\"urn:schemas-cybersource-com:transaction-data-1.121\">"
    "<merchantID>load</merchantID><merchantReferenceCode>load-1</merchantReferenceCode>"
    "<billTo><postalCode>02110</postalCode></billTo>"
    "<purchaseTotals><currency>USD</currency><grandTotalAmount>120.00</grandTotalAmount>"
    "</purchaseTotals><card><accountNumber>4111111111111111</accountNumber>"
    "<expirationMonth>12</expirationMonth><expirationYear>2035</expirationYear></card>"
    "<ccAuthService run=\"true\"/></requestMessage></soap:Body></soap:Envelope>\n";

typedef struct slot {
    CURL *easy;
    struct timespec started;
} slot;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sim_load URL CA CONNECTIONS SECONDS\n");
        return 2;
    }
    char url[512];
    snprintf(url, sizeof url, "%s/commerce/1.x/transactionProcessor", argv[1]);
    int conns = (int)strtol(argv[3], NULL, 10);
    double seconds = strtod(argv[4], NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns);
    slot *slots = calloc((size_t)conns, sizeof *slots);
    size_t cap = 1 << 20, nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: text/xml");
    for (int i = 0; i < conns; i++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_CAINFO, argv[2]);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof body - 1));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
        slots[i].easy = e;
        clock_gettime(CLOCK_MONOTONIC, &slots[i].started);
        curl_multi_add_handle(multi, e);
    }
    /* The first second (every connection's TLS handshake) is reported apart from the steady state.
     */
    double t0 = now_s(), t_end = t0 + seconds, t_warm = t0 + 1.0;
    long ok = 0, bad = 0, ok_warm = -1;
    int running = 1;
    int active = conns;
    while (active > 0) {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int q;
        while ((m = curl_multi_info_read(multi, &q))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot *s;
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            double started = (double)s->started.tv_sec + s->started.tv_nsec / 1e9;
            if (m->data.result == CURLE_OK && code == 200) {
                ok++;
                if (nlat < cap)
                    lat[nlat++] = now_s() - started;
            } else {
                if (bad++ < 5)
                    fprintf(stderr, "failed: %s, HTTP %ld\n", curl_easy_strerror(m->data.result),
                            code);
            }
            curl_multi_remove_handle(multi, m->easy_handle);
            if (now_s() < t_end) {
                clock_gettime(CLOCK_MONOTONIC, &s->started);
                curl_multi_add_handle(multi, m->easy_handle);
            } else {
                active--;
            }
        }
        if (ok_warm < 0 && now_s() >= t_warm)
            ok_warm = ok;
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double elapsed = now_s() - t0;
    qsort(lat, nlat, sizeof *lat, cmp);
    printf("connections=%d seconds=%.1f ok=%ld failed=%ld rate=%.0f/s", conns, elapsed, ok, bad,
           ok / elapsed);
    if (ok_warm >= 0 && elapsed > 1.0)
        printf(" steady=%.0f/s", (ok - ok_warm) / (elapsed - 1.0));
    if (nlat)
        printf(" p50=%.1fms p99=%.1fms max=%.1fms", lat[nlat / 2] * 1e3,
               lat[(size_t)(nlat * 0.99)] * 1e3, lat[nlat - 1] * 1e3);
    printf("\n");
    return bad ? 1 : 0;
}
