/* A zmq floor without libzmq: ZMTP 3.x (rfc.zeromq.org 23 and 37) spoken directly, NULL security,
 * as a ROUTER would answer REQ and DEALER peers, in one single-threaded epoll loop.
 *
 * libzmq hands every message between its I/O thread and the application's thread; this does not:
 * per request one `epoll_wait`, one `read`, one `write`. Each connection is its own peer, so the
 * reply goes back on the connection the request came on (what a ROUTER does with the identity).
 * A request [b"", op, body] (REQ adds the empty delimiter; a DEALER client sends it itself) is
 * answered [b"", "ok", body] (`{}` for health); any other frame count gets
 * [b"", "error", {"error":"bad_request",...}]. PING commands (heartbeats) are answered PONG.
 * Usage: floor-zmtp --host H --port P
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_MESSAGE (64u * 1024 * 1024)
#define MAX_PARTS 16

typedef struct { char *p; size_t len, cap, off; } buf_t;

typedef struct {
    int fd, state; /* 0: greeting, 1: handshake (READY), 2: messages */
    int closing;
    buf_t in, out;
    size_t part_off[MAX_PARTS], part_len[MAX_PARTS]; /* the frames of the message being read (offsets in `in`) */
    int parts, overflow;
    size_t pos; /* where parsing stopped in `in` */
} conn_t;

static volatile sig_atomic_t stop_flag = 0;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static void reserve(buf_t *b, size_t need) {
    if (need <= b->cap) return;
    size_t n = b->cap ? b->cap : 16384;
    while (n < need) n *= 2;
    char *p = realloc(b->p, n);
    if (!p) { fprintf(stderr, "floor-zmtp: out of memory\n"); exit(1); }
    b->p = p;
    b->cap = n;
}

static void put(buf_t *b, const void *p, size_t n) {
    reserve(b, b->len + n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void frame(buf_t *b, uint8_t flags, const void *p, size_t n) {
    if (n > 255) {
        uint8_t h[9] = {(uint8_t)(flags | 0x02)};
        for (int i = 0; i < 8; i++) h[1 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        put(b, h, 9);
    } else {
        uint8_t h[2] = {flags, (uint8_t)n};
        put(b, h, 2);
    }
    put(b, p, n);
}

static void greeting(buf_t *b) {
    uint8_t g[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0, 'N', 'U', 'L', 'L'};
    g[32] = 1; /* as-server */
    put(b, g, sizeof g);
}

static void ready(buf_t *b) {
    static const char body[] = "\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER";
    frame(b, 0x04, body, sizeof body - 1);
}

static void answer(conn_t *c) {
    static const char bad[] = "{\"error\":\"bad_request\",\"message\":\"a request is two frames [op, body]\"}";
    const char *in = c->in.p;
    /* the envelope ends at the first empty frame (REQ and DEALER peers send exactly one) */
    int env = 0;
    while (env < c->parts && c->part_len[env] != 0) env++;
    int first = env < c->parts ? env + 1 : 0;
    for (int i = 0; i < first; i++) frame(&c->out, 0x01, in + c->part_off[i], c->part_len[i]);
    if (!c->overflow && c->parts - first == 2) {
        frame(&c->out, 0x01, "ok", 2);
        size_t ol = c->part_len[first];
        if (ol == 6 && !memcmp(in + c->part_off[first], "health", 6)) frame(&c->out, 0x00, "{}", 2);
        else frame(&c->out, 0x00, in + c->part_off[first + 1], c->part_len[first + 1]);
    } else {
        frame(&c->out, 0x01, "error", 5);
        frame(&c->out, 0x00, bad, sizeof bad - 1);
    }
}

/* Handle what has arrived; -1 to close the connection. */
static int on_input(conn_t *c) {
    size_t pos = c->pos;
    int rc = 0;
    for (;;) {
        size_t avail = c->in.len - pos;
        const uint8_t *p = (uint8_t *)c->in.p + pos;
        if (c->state == 0) {
            if (avail < 1) break;
            if (p[0] != 0xff) { rc = -1; break; } /* not ZMTP 3 (or a ZMTP 1.0 peer): close */
            if (avail < 64) break;
            if (p[10] < 3 || memcmp(p + 12, "NULL", 4)) { rc = -1; break; }
            pos += 64;
            c->state = 1;
            continue;
        }
        if (avail < 2) break;
        uint8_t flags = p[0];
        size_t hl = flags & 0x02 ? 9 : 2, n;
        if (avail < hl) break;
        if (flags & 0x02) {
            uint64_t v = 0;
            for (int i = 0; i < 8; i++) v = v << 8 | p[1 + i];
            if (v > MAX_MESSAGE) { rc = -1; break; }
            n = (size_t)v;
        } else {
            n = p[1];
        }
        if (avail < hl + n) {
            reserve(&c->in, c->in.len + hl + n);
            break;
        }
        const uint8_t *body = p + hl;
        if (flags & 0x04) { /* a command */
            if (c->state == 1) {
                if (n < 6 || memcmp(body, "\x05READY", 6)) { rc = -1; break; }
                c->state = 2;
            } else if (n >= 5 && !memcmp(body, "\x04PING", 5)) {
                /* PING: TTL (2 bytes) then context; PONG echoes the context */
                char pong[300] = "\x04PONG";
                size_t ctx = n > 7 ? n - 7 : 0;
                if (ctx > 16) ctx = 16;
                memcpy(pong + 5, body + 7, ctx);
                frame(&c->out, 0x04, pong, 5 + ctx);
            }
            pos += hl + n;
            continue;
        }
        if (c->state != 2) { rc = -1; break; }
        /* a message frame: offsets are relative to the start of `in`, stable until the message ends */
        if (c->parts < MAX_PARTS) {
            c->part_off[c->parts] = pos + hl;
            c->part_len[c->parts] = n;
            c->parts++;
        } else {
            c->overflow = 1;
        }
        pos += hl + n;
        if (!(flags & 0x01)) {
            answer(c);
            c->parts = 0;
            c->overflow = 0;
            memmove(c->in.p, c->in.p + pos, c->in.len - pos);
            c->in.len -= pos;
            pos = 0;
        }
    }
    /* keep the frames of an unfinished message in place (its offsets point at them) */
    if (c->parts == 0 && pos) {
        memmove(c->in.p, c->in.p + pos, c->in.len - pos);
        c->in.len -= pos;
        pos = 0;
    }
    c->pos = pos;
    return rc;
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

static void conn_free(int ep, conn_t *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    free(c);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: %s --host H --port P\n", argv[0]); return 2; }
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "floor-zmtp: --host %s is not an IPv4 address\n", host);
        return 2;
    }
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 512)) {
        fprintf(stderr, "floor-zmtp: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    printf("floor zmq (C, epoll, own ZMTP 3 as a ROUTER) on tcp://%s:%d\n", host, port);
    fflush(stdout);
    struct epoll_event evs[64];
    while (!stop_flag) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    greeting(&c->out);
                    ready(&c->out);
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    if (flush_out(c)) conn_free(ep, c);
                }
                continue;
            }
            int had_out = c->out.len > c->out.off, dead = 0;
            if ((evs[i].events & EPOLLOUT) && flush_out(c)) { conn_free(ep, c); continue; }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    reserve(&c->in, c->in.len + 65536);
                    ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
                    if (r > 0) {
                        c->in.len += (size_t)r;
                        if (c->in.len < c->in.cap) break;
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR)) dead = 1;
                    break;
                }
                if (!dead && on_input(c)) dead = 1;
                if (flush_out(c) || dead) { conn_free(ep, c); continue; }
            }
            if (had_out != (c->out.len > c->out.off)) {
                struct epoll_event ev = {.events = EPOLLIN | (c->out.len > c->out.off ? EPOLLOUT : 0), .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
    }
    return 0;
}
