/* The http floor: a single-threaded epoll HTTP/1.1 keep-alive responder (architecture.md, rule 5).
 *
 * POST <any path> answers 200 with the request body; GET <any path> answers 200 with `{}` (the
 * health a readiness probe needs). It parses only what framing needs: the end of the head and
 * Content-Length. A request it cannot frame (no Content-Length on a POST with a body, chunked,
 * a head over 64 KiB, a body over 16 MiB + 64 KiB) gets 400 or 413 and the connection is closed;
 * every other connection goes on being served. Usage: floor-http --host H --port P
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_HEAD (64 * 1024)
#define MAX_BODY (16 * 1024 * 1024 + 64 * 1024)

typedef struct {
    int fd;
    char *in;           /* what has been read and not yet answered */
    size_t in_len, in_cap;
    char *out;          /* what could not be written yet */
    size_t out_len, out_off, out_cap;
    int closing;        /* close once `out` is written */
} conn_t;

static volatile sig_atomic_t stop_flag = 0;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static int reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16384;
    while (n < need) n *= 2;
    char *p = realloc(*buf, n);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static void conn_free(int ep, conn_t *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Queue `n` bytes after what is pending; 0 or -1 when memory ran out. */
static int queue_out(conn_t *c, const char *p, size_t n) {
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (reserve(&c->out, &c->out_cap, c->out_len + n)) return -1;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* Write head + body now (writev); whatever the socket does not take is queued. */
static int reply(conn_t *c, const char *head, size_t hlen, const char *body, size_t blen) {
    if (c->out_len > c->out_off) {  /* earlier bytes are still waiting: keep the order */
        return queue_out(c, head, hlen) || queue_out(c, body, blen) ? -1 : 0;
    }
    struct iovec iov[2] = {{(void *)head, hlen}, {(void *)body, blen}};
    ssize_t w = writev(c->fd, iov, blen ? 2 : 1);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) return -1;
        w = 0;
    }
    size_t done = (size_t)w;
    if (done < hlen) {
        if (queue_out(c, head + done, hlen - done)) return -1;
        done = hlen;
    }
    if (done - hlen < blen) return queue_out(c, body + (done - hlen), blen - (done - hlen));
    return 0;
}

static void error_reply(conn_t *c, int status, const char *reason, const char *code, const char *msg) {
    char body[256], head[256];
    int bl = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}", code, msg);
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n", status, reason, bl);
    reply(c, head, (size_t)hl, body, (size_t)bl);
    c->closing = 1;
}

/* The value of header `name` (lower case, with its colon) in head[0..len), or NULL. */
static const char *header(const char *head, size_t len, const char *name, size_t nlen) {
    const char *p = head, *end = head + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0) {
            p += nlen;
            while (p < eol && (*p == ' ' || *p == '\t')) p++;
            return p;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Answer every whole request in c->in; 0 to go on, -1 to drop the connection. */
static int serve(conn_t *c) {
    size_t pos = 0;
    while (!c->closing) {
        char *start = c->in + pos;
        size_t avail = c->in_len - pos;
        char *eoh = avail >= 4 ? memmem(start, avail, "\r\n\r\n", 4) : NULL;
        if (!eoh) {
            if (avail > MAX_HEAD) error_reply(c, 431, "Request Header Fields Too Large", "bad_request",
                                              "the request head is over 64 KiB");
            break;
        }
        size_t hlen = (size_t)(eoh - start) + 4;
        size_t blen = 0;
        const char *cl = header(start, hlen, "content-length:", 15);
        if (cl) {
            char *endp;
            unsigned long long v = strtoull(cl, &endp, 10);
            if (endp == cl || (*endp != '\r' && *endp != ' ' && *endp != '\t')) {
                error_reply(c, 400, "Bad Request", "bad_request", "Content-Length is not a number");
                break;
            }
            if (v > MAX_BODY) {
                error_reply(c, 413, "Payload Too Large", "too_large", "the body is over 16 MiB");
                break;
            }
            blen = (size_t)v;
        } else if (header(start, hlen, "transfer-encoding:", 18)) {
            error_reply(c, 400, "Bad Request", "bad_request", "the floor reads Content-Length bodies only");
            break;
        }
        if (avail < hlen + blen) {
            if (reserve(&c->in, &c->in_cap, pos + hlen + blen)) return -1;
            break;
        }
        const char *conn_hdr = header(start, hlen, "connection:", 11);
        int close_after = conn_hdr && strncasecmp(conn_hdr, "close", 5) == 0;
        const char *body = start + hlen;
        size_t out = blen;
        if (start[0] == 'G') {  /* GET: the health a readiness probe reads */
            body = "{}";
            out = 2;
        }
        char head[128];
        int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         "Content-Length: %zu\r\n%s\r\n", out, close_after ? "Connection: close\r\n" : "");
        if (reply(c, head, (size_t)n, body, out)) return -1;
        if (close_after) c->closing = 1;
        pos += hlen + blen;
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    return 0;
}

static int flush_out(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

static void watch(int ep, conn_t *c) {
    struct epoll_event ev = {.events = EPOLLIN | (c->out_len > c->out_off ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
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
        fprintf(stderr, "floor-http: --host %s is not an IPv4 address\n", host);
        return 2;
    }
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 512)) {
        fprintf(stderr, "floor-http: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    printf("floor http (C, epoll) on %s:%d\n", host, port);
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
                    if (!c) { close(fd); continue; }
                    c->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            int had_out = c->out_len > c->out_off;
            if ((evs[i].events & EPOLLOUT) && flush_out(c)) { conn_free(ep, c); continue; }
            if (c->closing) {
                if (c->out_len == c->out_off) conn_free(ep, c);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                int dead = 0;
                for (;;) {
                    if (c->in_cap - c->in_len < 16384 && reserve(&c->in, &c->in_cap, c->in_len + 16384)) {
                        dead = 1;
                        break;
                    }
                    ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
                    if (r > 0) {
                        c->in_len += (size_t)r;
                        if ((size_t)r < c->in_cap - c->in_len + (size_t)r) break;  /* drained */
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR)) dead = 1;
                    break;
                }
                if (!dead && serve(c)) dead = 1;
                if (dead) { conn_free(ep, c); continue; }
                if (c->closing && c->out_len == c->out_off) { conn_free(ep, c); continue; }
            }
            if (had_out != (c->out_len > c->out_off)) watch(ep, c);
        }
    }
    return 0;
}
