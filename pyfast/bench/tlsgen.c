/* tlsgen: the TLS load generator of pyfast.bench's TLS scenarios
 * (tls-echo-1k, tls-connect, https).
 *
 * Bench-only C linked with OpenSSL (libssl, libcrypto); pyfast's wheel
 * does not build or need it: pyfast.bench.cbuild compiles it on first use
 * with `cc -O2 tlsgen.c -lssl -lcrypto -lpthread` (Debian: libssl-dev).
 *
 *   tlsgen HOST PORT MODE CONNS SIZE SECONDS [WARMUP [MARK_FD]]
 *
 * MODE echo:    CONNS threads, each one TLS 1.3 connection (one handshake)
 *               sending SIZE bytes (the last one '\n') and reading SIZE
 *               bytes back, as fast as answered.
 * MODE connect: CONNS threads, each a new TLS connection per request:
 *               connect, handshake, SIZE bytes out, SIZE bytes back, close
 *               (the client closes first; no session resumption).
 * MODE http:    as echo, each request "GET / HTTP/1.1" (keep-alive), the
 *               reply read to the end of its Content-Length body (SIZE is
 *               the read buffer's size).
 *
 * The load runs WARMUP seconds (default 0), then the measure window of
 * SECONDS; with MARK_FD, one byte is written to it when the window opens
 * and one when it closes (pyfast.bench.runner samples the server's CPU
 * time there).  Only requests completed inside the window are counted.
 *
 * Prints one line: "requests N errors E p50_us P p99_us Q p90_us R max_us M
 * warmup_errors W elapsed_s S gen_cpu G hist US:COUNT,..." (latency of a
 * request; in connect mode, connect to reply; gen_cpu: this process's CPU
 * seconds per second of the window; hist: latencies in buckets of 2
 * significant digits).  Certificates are not verified (loopback bench).
 * Returns 0, or 1 on bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PF_TLSGEN_MAX_SAMPLES 200000

enum { PF_PHASE_WARMUP, PF_PHASE_MEASURE, PF_PHASE_STOP };

static int pf_phase = PF_PHASE_WARMUP;

typedef struct {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int connect_mode;
    int http_mode;
    size_t size;
    SSL_CTX *ctx;
    long requests;
    long errors;
    long warmup_errors;
    uint32_t *lat_us;       /* samples, at most PF_TLSGEN_MAX_SAMPLES */
    long nlat;
} pf_tlsgen_worker;

static double pf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pf_phase_now(void)
{
    return __atomic_load_n(&pf_phase, __ATOMIC_ACQUIRE);
}

static SSL *pf_tlsgen_open(pf_tlsgen_worker *w, int *fdp)
{
    int one = 1;
    int fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&w->addr, w->addrlen) < 0) {
        close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(w->ctx);
    if (ssl == NULL) {
        close(fd);
        return NULL;
    }
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    *fdp = fd;
    return ssl;
}

static void pf_tlsgen_close(SSL *ssl, int fd)
{
    SSL_free(ssl);
    close(fd);
}

/* One request on ssl: 0, or -1 when the connection failed. */
static int pf_tlsgen_request(SSL *ssl, const char *out, char *in, size_t size)
{
    size_t got = 0;
    if (SSL_write(ssl, out, (int)size) != (int)size)
        return -1;
    while (got < size) {
        int n = SSL_read(ssl, in + got, (int)(size - got));
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static const char pf_tlsgen_get[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

/* One HTTP/1.1 request on ssl, its response read whole: 0, or -1. */
static int pf_tlsgen_http(SSL *ssl, char *in, size_t size)
{
    size_t got = 0;
    int len = (int)(sizeof pf_tlsgen_get - 1);
    if (SSL_write(ssl, pf_tlsgen_get, len) != len)
        return -1;
    for (;;) {
        if (got + 1 >= size)
            return -1;
        int n = SSL_read(ssl, in + got, (int)(size - 1 - got));
        if (n <= 0)
            return -1;
        got += (size_t)n;
        in[got] = '\0';
        char *end = strstr(in, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strcasestr(in, "\r\nContent-Length:");
        if (cl == NULL || cl > end)
            return -1;
        size_t want = (size_t)(end + 4 - in) + (size_t)atol(cl + 17);
        if (got >= want)
            return 0;
    }
}

static void pf_tlsgen_count(pf_tlsgen_worker *w, double t0, int ok)
{
    int phase = pf_phase_now();
    if (!ok) {
        if (phase == PF_PHASE_MEASURE)
            w->errors++;
        else if (phase == PF_PHASE_WARMUP)
            w->warmup_errors++;
        return;
    }
    if (phase != PF_PHASE_MEASURE)
        return;
    w->requests++;
    if (w->nlat < PF_TLSGEN_MAX_SAMPLES)
        w->lat_us[w->nlat++] = (uint32_t)((pf_now() - t0) * 1e6);
}

static void *pf_tlsgen_run(void *arg)
{
    pf_tlsgen_worker *w = arg;
    char *out = malloc(w->size), *in = malloc(w->size);
    SSL *ssl = NULL;
    int fd = -1;
    if (out == NULL || in == NULL)
        goto done;
    memset(out, 'x', w->size);
    out[w->size - 1] = '\n';
    while (pf_phase_now() != PF_PHASE_STOP) {
        double t0 = pf_now();
        if (ssl == NULL) {
            ssl = pf_tlsgen_open(w, &fd);
            if (ssl == NULL) {
                pf_tlsgen_count(w, t0, 0);
                usleep(1000);
                continue;
            }
        }
        if ((w->http_mode ? pf_tlsgen_http(ssl, in, w->size)
                          : pf_tlsgen_request(ssl, out, in, w->size)) < 0) {
            pf_tlsgen_count(w, t0, 0);
            pf_tlsgen_close(ssl, fd);
            ssl = NULL;
            continue;
        }
        pf_tlsgen_count(w, t0, 1);
        if (w->connect_mode) {
            pf_tlsgen_close(ssl, fd);
            ssl = NULL;
        }
    }
    if (ssl != NULL)
        pf_tlsgen_close(ssl, fd);
done:
    free(out);
    free(in);
    return NULL;
}

static int pf_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* us rounded down to 2 significant digits: the histogram's bucket. */
static uint32_t pf_bucket(uint32_t us)
{
    uint32_t scale = 1;
    while (us / scale >= 100)
        scale *= 10;
    return us / scale * scale;
}

static double pf_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
         + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void pf_sleep(double seconds)
{
    struct timespec ts;
    if (seconds <= 0)
        return;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0)
        ;   /* EINTR: sleep the rest */
}

static void pf_mark(int fd)
{
    if (fd >= 0) {
        ssize_t n;
        do
            n = write(fd, "m", 1);
        while (n < 0 && errno == EINTR);
    }
}

int main(int argc, char **argv)
{
    if (argc < 7 || argc > 9) {
        fprintf(stderr, "usage: tlsgen HOST PORT echo|connect|http CONNS SIZE SECONDS [WARMUP [MARK_FD]]\n");
        return 1;
    }
    int conns = atoi(argv[4]);
    long size = atol(argv[5]);
    double seconds = atof(argv[6]);
    double warmup = argc > 7 ? atof(argv[7]) : 0.0;
    int mark_fd = argc > 8 ? atoi(argv[8]) : -1;
    if (conns <= 0 || size <= 0 || seconds <= 0 || warmup < 0) {
        fprintf(stderr, "tlsgen: CONNS, SIZE and SECONDS must be positive\n");
        return 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "tlsgen: bad address %s port %s\n", argv[1], argv[2]);
        return 1;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return 1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  /* full handshakes */

    pf_tlsgen_worker *ws = calloc((size_t)conns, sizeof *ws);
    pthread_t *ts = calloc((size_t)conns, sizeof *ts);
    if (ws == NULL || ts == NULL)
        return 1;
    for (int i = 0; i < conns; i++) {
        pf_tlsgen_worker *w = &ws[i];
        memcpy(&w->addr, ai->ai_addr, ai->ai_addrlen);
        w->addrlen = ai->ai_addrlen;
        w->connect_mode = strcmp(argv[3], "connect") == 0;
        w->http_mode = strcmp(argv[3], "http") == 0;
        w->size = (size_t)size;
        w->ctx = ctx;
        w->lat_us = malloc(PF_TLSGEN_MAX_SAMPLES * sizeof(uint32_t));
        if (w->lat_us == NULL || pthread_create(&ts[i], NULL, pf_tlsgen_run, w) != 0)
            return 1;
    }
    freeaddrinfo(ai);
    pf_sleep(warmup);
    double cpu0 = pf_cpu_s(), t0 = pf_now();
    __atomic_store_n(&pf_phase, PF_PHASE_MEASURE, __ATOMIC_RELEASE);
    pf_mark(mark_fd);
    pf_sleep(seconds);
    __atomic_store_n(&pf_phase, PF_PHASE_STOP, __ATOMIC_RELEASE);
    pf_mark(mark_fd);
    double elapsed = pf_now() - t0, cpu = pf_cpu_s() - cpu0;
    long requests = 0, errors = 0, warmup_errors = 0, nlat = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ts[i], NULL);
        requests += ws[i].requests;
        errors += ws[i].errors;
        warmup_errors += ws[i].warmup_errors;
        nlat += ws[i].nlat;
    }
    uint32_t *all = malloc((size_t)(nlat ? nlat : 1) * sizeof *all);
    if (all == NULL)
        return 1;
    long k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, ws[i].lat_us, (size_t)ws[i].nlat * sizeof *all);
        k += ws[i].nlat;
        free(ws[i].lat_us);
    }
    qsort(all, (size_t)nlat, sizeof *all, pf_cmp_u32);
    printf("requests %ld errors %ld p50_us %u p99_us %u p90_us %u max_us %u "
           "warmup_errors %ld elapsed_s %.6f gen_cpu %.4f hist ",
           requests, errors, nlat ? all[nlat / 2] : 0, nlat ? all[(nlat * 99) / 100] : 0,
           nlat ? all[(nlat * 9) / 10] : 0, nlat ? all[nlat - 1] : 0,
           warmup_errors, elapsed, elapsed > 0 ? cpu / elapsed : 0.0);
    for (long i = 0; i < nlat;) {
        uint32_t b = pf_bucket(all[i]);
        long n = 0;
        while (i < nlat && pf_bucket(all[i]) == b) {
            n++;
            i++;
        }
        printf("%s%u:%ld", i - n > 0 ? "," : "", b, n);
    }
    printf("\n");
    free(all);
    free(ws);
    free(ts);
    SSL_CTX_free(ctx);
    return 0;
}
