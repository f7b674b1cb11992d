// breaker-bench: one load generator for breakerd (line-delimited JSON) and Redis (RESP), so both servers are
// driven by the same code. N connections, P requests in flight on each, a warm-up, then a fixed duration;
// prints one JSON line: round trips/s and p50/p99/p99.9 latency in microseconds.
//
//   breaker-bench --target breakerd|redis --port P [--host H] --workload W --connections N --pipeline P
//                 --duration S [--warmup S] [--resources 10000] [--tls-ca FILE]
// Workloads: breakerd: acquire-hot, acquire-spread, acquire-report; redis: ping, evalsha, echo (ECHO of 33 bytes:
// 94 bytes on the wire per round trip, as acquire-hot's 95); both: connect (one connection at a time: connect,
// handshake when TLS, one ping round trip, close; per_second is connections/s).
// --tls-ca: every connection speaks TLS (OpenSSL, the server's certificate verified against FILE), the same way
// for both servers, so their TLS costs compare.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

typedef struct {
    int fd;
    SSL *ssl;            // NULL without --tls-ca
    int inflight;
    uint64_t *sent;      // send times of requests in flight, a ring of `pipeline`
    int head, tail;
    char *in;            // unparsed reply bytes
    size_t inlen, incap;
    char *out;           // unsent request bytes
    size_t outlen, outcap, outoff;
} conn_t;

static const char *target = "breakerd", *host = "127.0.0.1", *workload = "acquire-hot";
static int port = 7433, nconn = 1, pipeline = 1, resources = 10000;
static double duration = 5, warmup = 1;
static char sha[64];
static uint64_t *samples;
static size_t nsamples, capsamples;
static uint64_t rng = 88172645463325252ull;
static const char *tls_ca;
static SSL_CTX *tls_context;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void append(conn_t *c, const char *data, size_t len) {
    if (c->outlen + len > c->outcap) {
        c->outcap = (c->outlen + len) * 2;
        c->out = realloc(c->out, c->outcap);
    }
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
}

// Appends one request of the workload.
static void request(conn_t *c) {
    char buf[256];
    int n = 0;
    if (!strcmp(workload, "acquire-hot")) {
        n = snprintf(buf, sizeof buf, "{\"op\":\"acquire\",\"resource\":\"hot\"}\n");
    } else if (!strcmp(workload, "acquire-spread")) {
        n = snprintf(buf, sizeof buf, "{\"op\":\"acquire\",\"resource\":\"r%llu\"}\n",
                     (unsigned long long)(next_random() % (uint64_t)resources));
    } else if (!strcmp(workload, "acquire-report")) {
        n = snprintf(buf, sizeof buf,
                     "{\"op\":\"acquire\",\"resource\":\"hot\"}\n"
                     "{\"op\":\"report\",\"resource\":\"hot\",\"outcome\":\"success\",\"noreply\":true}\n");
    } else if (!strcmp(workload, "ping")) {
        n = snprintf(buf, sizeof buf, "*1\r\n$4\r\nPING\r\n");
    } else if (!strcmp(workload, "echo")) {
        n = snprintf(buf, sizeof buf, "*2\r\n$4\r\nECHO\r\n$33\r\n%s\r\n", "breaker:hot:acquire:0123456789abc");
    } else if (!strcmp(workload, "evalsha")) {
        n = snprintf(buf, sizeof buf, "*4\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n1\r\n$3\r\nhot\r\n", sha);
    } else {
        fprintf(stderr, "unknown workload %s\n", workload);
        exit(2);
    }
    append(c, buf, (size_t)n);
    c->sent[c->tail] = now_ns();
    c->tail = (c->tail + 1) % pipeline;
    c->inflight++;
}

// Length of one complete reply at the start of buf, or 0 when it is not complete yet.
static size_t reply_length(const char *buf, size_t len) {
    if (!strcmp(target, "breakerd")) {
        const char *nl = memchr(buf, '\n', len);
        return nl ? (size_t)(nl - buf) + 1 : 0;
    }
    const char *crlf = memmem(buf, len, "\r\n", 2);
    if (!crlf) return 0;
    size_t line = (size_t)(crlf - buf) + 2;
    if (buf[0] != '$') return line;  // +simple, -error, :integer
    long n = strtol(buf + 1, NULL, 10);
    if (n < 0) return line;  // null bulk string
    size_t total = line + (size_t)n + 2;
    return len >= total ? total : 0;
}

static int connect_to(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// A blocking TLS handshake on `fd` (verifying the server's certificate for `host`), or NULL without TLS.
static SSL *handshake(int fd) {
    if (!tls_context) return NULL;
    SSL *ssl = SSL_new(tls_context);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, host);
    if (SSL_connect(ssl) != 1) {
        fprintf(stderr, "TLS handshake failed: ");
        ERR_print_errors_fp(stderr);
        exit(2);
    }
    return ssl;
}

// Writes all of `data` (blocking); for setup and the connect workload.
static void write_all(int fd, SSL *ssl, const char *data, size_t len) {
    ssize_t n = ssl ? SSL_write(ssl, data, (int)len) : write(fd, data, len);
    if (n != (ssize_t)len) die("write");
}

static ssize_t read_some(int fd, SSL *ssl, char *buf, size_t len) {
    return ssl ? SSL_read(ssl, buf, (int)len) : read(fd, buf, len);
}

// Sends what is pending on `c` without blocking.
static void flush_out(conn_t *c) {
    while (c->outoff < c->outlen) {
        ssize_t w;
        if (c->ssl) {
            int n = SSL_write(c->ssl, c->out + c->outoff, (int)(c->outlen - c->outoff));
            w = n > 0 ? n : -1;
        } else {
            w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        if (w <= 0) break;
        c->outoff += (size_t)w;
    }
    if (c->outoff == c->outlen) c->outoff = c->outlen = 0;
}

// The connect workload: connections/s, one at a time, each with one ping round trip.
static int connect_loop(void) {
    const char *ping = !strcmp(target, "redis") ? "*1\r\n$4\r\nPING\r\n" : "{\"op\":\"ping\"}\n";
    uint64_t start = now_ns(), measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(duration * 1e9);
    for (;;) {
        uint64_t t0 = now_ns();
        if (t0 >= end) break;
        int fd = connect_to();
        SSL *ssl = handshake(fd);
        write_all(fd, ssl, ping, strlen(ping));
        char buf[256];
        if (read_some(fd, ssl, buf, sizeof buf) <= 0) die("read");
        if (ssl) {
            SSL_shutdown(ssl);
            SSL_free(ssl);
        }
        close(fd);
        uint64_t t1 = now_ns();
        if (t0 >= measure_from && t1 < end) {
            if (nsamples == capsamples) {
                capsamples *= 2;
                samples = realloc(samples, capsamples * sizeof *samples);
            }
            samples[nsamples++] = t1 - t0;
        }
    }
    return 0;
}

// A blocking request on a fresh connection (setup: SCRIPT LOAD, HSET).
static void setup_redis(void) {
    int fd = connect_to();
    SSL *ssl = handshake(fd);
    const char *script = "redis.call('HINCRBY', KEYS[1], 'calls', 1) redis.call('HINCRBY', KEYS[1], 'failures', 0) "
                         "return redis.call('HGET', KEYS[1], 'state')";
    char cmd[1024];
    int n = snprintf(cmd, sizeof cmd, "*4\r\n$4\r\nHSET\r\n$3\r\nhot\r\n$5\r\nstate\r\n$6\r\nclosed\r\n"
                     "*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$%zu\r\n%s\r\n", strlen(script), script);
    write_all(fd, ssl, cmd, (size_t)n);
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t r = read_some(fd, ssl, buf + got, sizeof buf - 1 - got);
        if (r <= 0) die("read");
        got += (size_t)r;
        buf[got] = 0;
        char *bulk = strstr(buf, "$40\r\n");
        if (bulk && strlen(bulk) >= 45) {
            memcpy(sha, bulk + 5, 40);
            sha[40] = 0;
            break;
        }
    }
    if (ssl) SSL_free(ssl);
    close(fd);
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--target")) target = argv[i + 1];
        else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--workload")) workload = argv[i + 1];
        else if (!strcmp(argv[i], "--connections")) nconn = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--pipeline")) pipeline = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration")) duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--resources")) resources = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tls-ca")) tls_ca = argv[i + 1];
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (tls_ca) {
        tls_context = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(tls_context, TLS1_2_VERSION);
        SSL_CTX_set_verify(tls_context, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_mode(tls_context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (SSL_CTX_load_verify_locations(tls_context, tls_ca, NULL) != 1) die("--tls-ca");
    }
    capsamples = 1 << 20;
    samples = malloc(capsamples * sizeof *samples);
    if (!strcmp(target, "redis") && !strcmp(workload, "evalsha")) setup_redis();
    if (!strcmp(workload, "connect")) {
        connect_loop();
        goto report;
    }

    int ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconn, sizeof *conns);
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &conns[i];
        c->fd = connect_to();
        c->ssl = handshake(c->fd);
        if (c->ssl) fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->sent = calloc((size_t)pipeline, sizeof(uint64_t));
        c->incap = 1 << 16;
        c->in = malloc(c->incap);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        for (int p = 0; p < pipeline; p++) request(c);
    }

    uint64_t start = now_ns();
    uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(duration * 1e9);
    struct epoll_event events[256];
    for (;;) {
        // Send what is pending on every connection.
        for (int i = 0; i < nconn; i++) flush_out(&conns[i]);
        uint64_t t = now_ns();
        if (t >= end) break;
        int n = epoll_wait(ep, events, 256, 100);
        for (int e = 0; e < n; e++) {
            conn_t *c = events[e].data.ptr;
            if (c->incap - c->inlen < 65536) {
                c->incap *= 2;
                c->in = realloc(c->in, c->incap);
            }
            ssize_t r;
            if (c->ssl) {
                // Everything decrypted so far: a record may hold more than one read's worth.
                size_t got = 0;
                int n;
                while ((n = SSL_read(c->ssl, c->in + c->inlen + got, (int)(c->incap - c->inlen - got))) > 0) {
                    got += (size_t)n;
                    if (c->incap - c->inlen - got < 16384) {
                        c->incap *= 2;
                        c->in = realloc(c->in, c->incap);
                    }
                }
                int why = SSL_get_error(c->ssl, n);
                if (got == 0 && why == SSL_ERROR_ZERO_RETURN) r = 0;
                else if (got == 0 && why != SSL_ERROR_WANT_READ && why != SSL_ERROR_WANT_WRITE) {
                    fprintf(stderr, "TLS read failed: ");
                    ERR_print_errors_fp(stderr);
                    return 1;
                } else r = (ssize_t)got;
                if (r == 0 && why != SSL_ERROR_ZERO_RETURN) continue;
            } else {
                r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
            }
            if (r == 0) { fprintf(stderr, "server closed a connection\n"); return 1; }
            if (r < 0) continue;
            c->inlen += (size_t)r;
            size_t off = 0, len;
            uint64_t done = now_ns();
            while ((len = reply_length(c->in + off, c->inlen - off)) > 0) {
                if (c->in[off] == '-' || (c->in[off] == '{' && memmem(c->in + off, len, "\"ok\":false", 10))) {
                    fprintf(stderr, "error reply: %.*s\n", (int)len, c->in + off);
                    return 1;
                }
                off += len;
                uint64_t sent = c->sent[c->head];
                c->head = (c->head + 1) % pipeline;
                c->inflight--;
                if (done >= measure_from && sent >= measure_from && done < end) {
                    if (nsamples == capsamples) {
                        capsamples *= 2;
                        samples = realloc(samples, capsamples * sizeof *samples);
                    }
                    samples[nsamples++] = done - sent;
                }
                request(c);
            }
            memmove(c->in, c->in + off, c->inlen - off);
            c->inlen -= off;
        }
    }
report:
    qsort(samples, nsamples, sizeof *samples, compare);
    double secs = duration;
#define PCT(p) (nsamples ? samples[(size_t)((double)(nsamples - 1) * (p))] / 1000.0 : 0)
    printf("{\"target\":\"%s\",\"workload\":\"%s\",\"connections\":%d,\"pipeline\":%d,\"duration_s\":%.1f,"
           "\"round_trips\":%zu,\"per_second\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}\n",
           target, workload, nconn, pipeline, secs, nsamples, nsamples / secs, PCT(0.5), PCT(0.99), PCT(0.999));
    return 0;
}
