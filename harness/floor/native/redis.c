/* The redis floor: the reliable-list protocol of CONTRACT.md ("redis") with nothing else in it.
 *
 * A worker holds its own connection and, per message, makes one round trip to redis-server: the
 * reply to the previous message (LPUSH + EXPIRE), its LREM from <queue>:processing and the next
 * BLMOVE go out in one write (a pipeline), and the BLMOVE's answer is the next message. Several
 * such workers (--connections, default 2, as many as the Python service's) each have a thread with
 * blocking I/O: per message one `read` and one `write`. At start whatever
 * a crashed worker left in <queue>:processing goes back to the queue (LMOVE ... RIGHT RIGHT until
 * empty). A message whose header cannot be parsed goes to <queue>:dead. echo answers the body,
 * health `{}`, any other op the body too (the floor does no work).
 * Usage: floor-redis --redis-url redis://H:P[/db] --queue Q [--connections N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64

typedef struct {
    char *p;
    size_t len, cap, off;
} buf_t;

typedef struct {
    int fd;
    buf_t in, out;
    int skip;  /* replies to ignore (LPUSH, EXPIRE, LREM) before the next BLMOVE's */
} conn_t;


static const char *queue, *processing, *dead;

static void die(const char *what) {
    fprintf(stderr, "floor-redis: %s\n", what);
    exit(1);
}

static void reserve(buf_t *b, size_t need) {
    if (need <= b->cap) return;
    size_t n = b->cap ? b->cap : 65536;
    while (n < need) n *= 2;
    b->p = realloc(b->p, n);
    if (!b->p) die("out of memory");
    b->cap = n;
}

static void put(buf_t *b, const void *p, size_t n) {
    reserve(b, b->len + n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Append one RESP command of `argc` arguments. */
static void command(buf_t *b, int argc, const char **argv, const size_t *lens) {
    char num[32];
    put(b, num, (size_t)snprintf(num, sizeof num, "*%d\r\n", argc));
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        put(b, num, (size_t)snprintf(num, sizeof num, "$%zu\r\n", n));
        put(b, argv[i], n);
        put(b, "\r\n", 2);
    }
}

/* One reply at in[off..len): its length, 0 when incomplete. `kind` is its type byte; a bulk
 * string's payload is [*data, *data + *dlen), a nil has *dlen == (size_t)-1. */
static size_t parse_reply(const buf_t *in, char *kind, const char **data, size_t *dlen) {
    const char *s = in->p + in->off;
    size_t avail = in->len - in->off;
    const char *eol = avail ? memmem(s, avail, "\r\n", 2) : NULL;
    if (!eol) return 0;
    size_t line = (size_t)(eol - s) + 2;
    *kind = s[0];
    *data = s + 1;
    *dlen = line - 3;
    if (s[0] == '$' || s[0] == '*') {
        long n = strtol(s + 1, NULL, 10);
        if (n < 0) {
            *dlen = (size_t)-1;
            return line;
        }
        if (s[0] == '*') die("unexpected array reply (the floor sends no command that returns one)");
        if (avail < line + (size_t)n + 2) return 0;
        *data = s + line;
        *dlen = (size_t)n;
        return line + (size_t)n + 2;
    }
    return line;
}

static void blmove(buf_t *out) {
    const char *argv[] = {"BLMOVE", queue, processing, "RIGHT", "LEFT", "0"};
    command(out, 6, argv, NULL);
}

/* A header "<op> <id> <reply-key>": three non-empty ASCII fields, single spaces, within 1024 bytes. */
static int parse_header(const char *m, size_t n, const char *f[3], size_t fl[3], size_t *hlen) {
    const char *nl = memchr(m, '\n', n < 1024 ? n : 1024);
    if (!nl) return -1;
    int k = 0;
    const char *start = m;
    for (const char *p = m; p <= nl; p++) {
        if (p < nl && (unsigned char)*p >= 0x80) return -1;
        if (p == nl || *p == ' ') {
            if (p == start || k == 3) return -1;
            f[k] = start;
            fl[k++] = (size_t)(p - start);
            start = p + 1;
        }
    }
    if (k != 3) return -1;
    *hlen = (size_t)(nl - m) + 1;
    return 0;
}

/* The next message arrived: queue its reply, its LREM and the next BLMOVE. */
static void answer(conn_t *c, const char *m, size_t n) {
    const char *f[3];
    size_t fl[3], hlen;
    if (parse_header(m, n, f, fl, &hlen)) {
        const char *argv[] = {"LPUSH", dead, NULL};
        size_t lens[] = {5, strlen(dead), n};
        argv[2] = m;
        command(&c->out, 3, argv, lens);
        c->skip = 2;
    } else {
        int health = fl[0] == 6 && memcmp(f[0], "health", 6) == 0;
        const char *body = health ? "{}" : m + hlen;
        size_t blen = health ? 2 : n - hlen;
        char num[64];
        /* LPUSH <reply-key> "ok <id>\n<body>", written by hand to copy the body once */
        put(&c->out, num, (size_t)snprintf(num, sizeof num, "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n", fl[2]));
        put(&c->out, f[2], fl[2]);
        put(&c->out, num, (size_t)snprintf(num, sizeof num, "\r\n$%zu\r\nok ", 4 + fl[1] + blen));
        put(&c->out, f[1], fl[1]);
        put(&c->out, "\n", 1);
        put(&c->out, body, blen);
        put(&c->out, "\r\n", 2);
        const char *ex[] = {"EXPIRE", f[2], "60"};
        size_t exl[] = {6, fl[2], 2};
        command(&c->out, 3, ex, exl);
        c->skip = 3;
    }
    const char *lrem[] = {"LREM", processing, "1", m};
    size_t lreml[] = {4, strlen(processing), 1, n};
    command(&c->out, 4, lrem, lreml);
    blmove(&c->out);
}

static int flush_out(conn_t *c) {
    while (c->out.off < c->out.len) {
        ssize_t w = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (w < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->out.off += (size_t)w;
    }
    c->out.off = c->out.len = 0;
    return 0;
}

static int dial(const char *host, const char *port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai)) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Send what is queued and wait, blocking, for one reply (start-up only). */
static size_t roundtrip(conn_t *c, char *kind, const char **data, size_t *dlen) {
    if (flush_out(c)) die("lost the connection to redis-server");
    for (;;) {
        size_t used = parse_reply(&c->in, kind, data, dlen);
        if (used) return used;
        reserve(&c->in, c->in.len + 65536);
        ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (r <= 0) die("lost the connection to redis-server");
        c->in.len += (size_t)r;
    }
}

/* One connection's loop, blocking: read what redis-server answered, queue the next batch, write it. */
static void *worker(void *arg) {
    conn_t *c = arg;
    char kind;
    const char *data;
    size_t dlen;
    c->in.len = c->in.off = 0;
    blmove(&c->out);
    if (flush_out(c)) die("lost the connection to redis-server");
    for (;;) {
        reserve(&c->in, c->in.len + 65536);
        ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (r == 0) die("redis-server closed the connection");
        if (r < 0) {
            if (errno == EINTR) continue;
            die("lost the connection to redis-server");
        }
        c->in.len += (size_t)r;
        for (;;) {
            size_t used = parse_reply(&c->in, &kind, &data, &dlen);
            if (!used) break;
            if (kind == '-') {
                fprintf(stderr, "floor-redis: redis-server answered %.*s\n", (int)dlen, data);
                exit(1);
            }
            if (c->skip) c->skip--;
            else if (dlen == (size_t)-1) blmove(&c->out); /* the blocking call timed out: wait again */
            else answer(c, data, dlen);
            c->in.off += used;
        }
        if (c->in.off) { /* keep only the partial reply still arriving */
            memmove(c->in.p, c->in.p + c->in.off, c->in.len - c->in.off);
            c->in.len -= c->in.off;
            c->in.off = 0;
        }
        if (flush_out(c)) die("lost the connection to redis-server");
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *url = NULL;
    int nconn = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--redis-url")) url = argv[i + 1];
        else if (!strcmp(argv[i], "--queue")) queue = argv[i + 1];
        else if (!strcmp(argv[i], "--connections")) nconn = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: %s --redis-url redis://H:P --queue Q [--connections N]\n", argv[0]); return 2; }
    }
    if (!url || !queue || !*queue || nconn < 1 || nconn > MAX_CONNS) {
        fprintf(stderr, "usage: %s --redis-url redis://H:P --queue Q [--connections 1..%d]\n", argv[0], MAX_CONNS);
        return 2;
    }
    char host[256] = "127.0.0.1", port[16] = "6379";
    int db = 0;
    if (strncmp(url, "redis://", 8) || sscanf(url + 8, "%255[^:/]:%15[0-9]/%d", host, port, &db) < 2) {
        fprintf(stderr, "floor-redis: --redis-url %s is not redis://host:port[/db]\n", url);
        return 2;
    }
    size_t ql = strlen(queue);
    char *pq = malloc(ql + 16), *dq = malloc(ql + 16);
    snprintf(pq, ql + 16, "%s:processing", queue);
    snprintf(dq, ql + 16, "%s:dead", queue);
    processing = pq;
    dead = dq;
    /* SIGTERM keeps its default action: the workers block in read(), a message in flight stays in
     * <queue>:processing and the next start puts it back on the queue. */
    signal(SIGPIPE, SIG_IGN);

    conn_t *conns = calloc((size_t)nconn, sizeof *conns);
    char kind, dbs[16];
    const char *data;
    size_t dlen;
    snprintf(dbs, sizeof dbs, "%d", db);
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &conns[i];
        if ((c->fd = dial(host, port)) < 0) {
            fprintf(stderr, "floor-redis: cannot connect to %s:%s: %s\n", host, port, strerror(errno));
            return 1;
        }
        if (db) {
            const char *sel[] = {"SELECT", dbs};
            command(&c->out, 2, sel, NULL);
            c->in.off += roundtrip(c, &kind, &data, &dlen);
            if (kind == '-') die("SELECT failed");
        }
    }
    /* Recovery: what a crashed worker left in <queue>:processing goes back to be served next. */
    int recovered = 0;
    for (;;) {
        const char *mv[] = {"LMOVE", processing, queue, "RIGHT", "RIGHT"};
        command(&conns[0].out, 5, mv, NULL);
        conns[0].in.off += roundtrip(&conns[0], &kind, &data, &dlen);
        if (kind == '-') die("LMOVE failed (redis-server 6.2 or later is needed)");
        if (dlen == (size_t)-1) break;
        recovered++;
    }
    conns[0].in.len = conns[0].in.off = 0;
    printf("floor redis (C, %d connections, a thread each) on %s queue %s; %d message(s) recovered\n", nconn, url,
           queue, recovered);
    fflush(stdout);
    pthread_t *threads = calloc((size_t)nconn, sizeof *threads);
    for (int i = 0; i < nconn; i++) pthread_create(&threads[i], NULL, worker, &conns[i]);
    for (int i = 0; i < nconn; i++) pthread_join(threads[i], NULL);
    return 0;
}
