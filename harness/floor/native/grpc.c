/* The grpc floor: unary /bench.v1.Bench/Echo over HTTP/2 with prior knowledge (h2c), the request
 * message sent back as it came (Echo(Blob) returns Blob), in one single-threaded epoll loop.
 *
 * Its own minimal HTTP/2 (RFC 9113) and HPACK decoder (RFC 7541: static and dynamic tables,
 * integers, Huffman strings; tables in hpack_tables.h): SETTINGS and their ACK, PING ACKs,
 * WINDOW_UPDATE both ways (large receive windows, so a request needs none; a reply waits for the
 * peer's windows), HEADERS + CONTINUATION, padding, RST_STREAM, GOAWAY. Replies are a HEADERS
 * (:status 200, content-type application/grpc), the DATA and the trailers (grpc-status 0), all
 * encoded without the dynamic table; a burst of requests read at once is answered in one write.
 * Any other :path is UNIMPLEMENTED, a message over 16 MiB + 64 KiB RESOURCE_EXHAUSTED, a message
 * that is not one uncompressed gRPC message INTERNAL; a connection that breaks the protocol gets
 * GOAWAY and is closed, the others go on. Usage: floor-grpc --host H --port P
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

#include "hpack_tables.h"

#define MAX_MESSAGE (16 * 1024 * 1024 + 64 * 1024)
#define STREAM_WINDOW (1u << 25) /* > MAX_MESSAGE + 5: a request never waits for a stream WINDOW_UPDATE */
#define CONN_WINDOW (1u << 30)   /* refilled when half of it is used */
#define MAX_FRAME (1u << 20)     /* the largest frame we accept (SETTINGS_MAX_FRAME_SIZE) */
#define MAX_HEADER_BLOCK (256 * 1024)
#define MAX_STREAMS 256
#define TABLE_MAX 4096 /* SETTINGS_HEADER_TABLE_SIZE: the default, never changed */

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static const char ECHO_PATH[] = "/bench.v1.Bench/Echo";

typedef struct { char *p; size_t len, cap, off; } buf_t;

typedef struct { char *name, *value; size_t nlen, vlen; } entry_t;

typedef struct {
    uint32_t id;
    int echo;          /* :path is Echo */
    int replying;      /* headers sent, DATA waiting for the peer's window */
    buf_t body;        /* the request, then the reply still to send */
    int64_t send_win;
} stream_t;

typedef struct {
    int fd, preface_ok, closing;
    buf_t in, out;
    stream_t *streams[MAX_STREAMS];
    int nstreams;
    int64_t send_win, peer_initial;
    uint32_t peer_frame, received;
    /* HPACK dynamic table: a ring, newest at (head - 1) */
    entry_t table[TABLE_MAX / 32 + 1];
    size_t thead, tcount, tsize, tmax;
    /* a header block being assembled across CONTINUATION frames */
    buf_t block;
    uint32_t block_stream;
    int block_end_stream;
} conn_t;

static volatile sig_atomic_t stop_flag = 0;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static void reserve(buf_t *b, size_t need) {
    if (need <= b->cap) return;
    size_t n = b->cap ? b->cap : 16384;
    while (n < need) n *= 2;
    char *p = realloc(b->p, n);
    if (!p) { fprintf(stderr, "floor-grpc: out of memory\n"); exit(1); }
    b->p = p;
    b->cap = n;
}

static void put(buf_t *b, const void *p, size_t n) {
    reserve(b, b->len + n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void frame_head(buf_t *b, size_t len, uint8_t type, uint8_t flags, uint32_t stream) {
    uint8_t h[9] = {(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type, flags,
                    (uint8_t)(stream >> 24 & 0x7f), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8), (uint8_t)stream};
    put(b, h, 9);
}

static void frame(buf_t *b, uint8_t type, uint8_t flags, uint32_t stream, const void *p, size_t n) {
    frame_head(b, n, type, flags, stream);
    put(b, p, n);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* ---- HPACK decoding ---------------------------------------------------------------------- */

/* The Huffman code as a binary tree: node n has children tree[n][0..1]; a leaf is -(sym + 1). */
static int tree[600][2];
static int tree_nodes = 1;

static void build_tree(void) {
    for (int s = 0; s < 257; s++) {
        int n = 0;
        for (int i = hp_len[s] - 1; i >= 0; i--) {
            int bit = (int)(hp_code[s] >> i & 1);
            if (i == 0) { tree[n][bit] = -(s + 1); break; }
            if (tree[n][bit] <= 0) tree[n][bit] = tree_nodes++;
            n = tree[n][bit];
        }
    }
}

/* Decode Huffman `in` into `out` (which has room for 8/5 * n + 1 bytes); length or -1. */
static long huffman(const uint8_t *in, size_t n, char *out) {
    size_t o = 0;
    int node = 0, depth = 0, ones = 1;
    for (size_t i = 0; i < n; i++) {
        for (int b = 7; b >= 0; b--) {
            int bit = in[i] >> b & 1;
            int next = tree[node][bit];
            ones = ones && bit;
            depth++;
            if (next < 0) {
                if (next == -257) return -1; /* EOS in a string is an error */
                out[o++] = (char)(-next - 1);
                node = 0, depth = 0, ones = 1;
            } else if (next == 0) {
                return -1;
            } else {
                node = next;
            }
        }
    }
    if (depth > 7 || !ones) return -1; /* padding: fewer than 8 bits, all ones (a prefix of EOS) */
    return (long)o;
}

/* An integer with an N-bit prefix at *p (RFC 7541, 5.1); -1 if malformed or truncated. */
static int64_t hp_int(const uint8_t **p, const uint8_t *end, int prefix) {
    if (*p >= end) return -1;
    uint64_t max = (1u << prefix) - 1, v = **p & max;
    (*p)++;
    if (v < max) return (int64_t)v;
    for (int shift = 0; shift <= 28; shift += 7) {
        if (*p >= end) return -1;
        uint8_t b = *(*p)++;
        v += (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return (int64_t)v;
    }
    return -1;
}

/* A string literal (RFC 7541, 5.2) decoded into scratch; its length, or -1. */
static long hp_string(const uint8_t **p, const uint8_t *end, char *scratch, size_t cap, const char **out) {
    if (*p >= end) return -1;
    int huff = **p & 0x80;
    int64_t n = hp_int(p, end, 7);
    if (n < 0 || n > end - *p) return -1;
    const uint8_t *s = *p;
    *p += n;
    if (!huff) { *out = (const char *)s; return (long)n; }
    if ((size_t)n * 8 / 5 + 1 > cap) return -1;
    *out = scratch;
    return huffman(s, (size_t)n, scratch);
}

static void table_evict(conn_t *c, size_t room) {
    while (c->tcount && c->tsize + room > c->tmax) {
        size_t oldest = (c->thead + (sizeof c->table / sizeof c->table[0]) - c->tcount) % (sizeof c->table / sizeof c->table[0]);
        entry_t *e = &c->table[oldest];
        c->tsize -= e->nlen + e->vlen + 32;
        free(e->name);
        free(e->value);
        c->tcount--;
    }
}

static void table_add(conn_t *c, const char *n, size_t nl, const char *v, size_t vl) {
    size_t size = nl + vl + 32;
    table_evict(c, size);
    if (size > c->tmax) return; /* larger than the table: it empties it (done above) */
    entry_t *e = &c->table[c->thead];
    e->name = malloc(nl + 1);
    e->value = malloc(vl + 1);
    memcpy(e->name, n, nl);
    memcpy(e->value, v, vl);
    e->nlen = nl, e->vlen = vl;
    c->thead = (c->thead + 1) % (sizeof c->table / sizeof c->table[0]);
    c->tcount++;
    c->tsize += size;
}

/* Field `idx` of the static or dynamic table; 0 if there is none. */
static int table_get(conn_t *c, int64_t idx, const char **n, size_t *nl, const char **v, size_t *vl) {
    if (idx >= 1 && idx <= 61) {
        *n = hp_static[idx][0], *nl = strlen(*n), *v = hp_static[idx][1], *vl = strlen(*v);
        return 1;
    }
    idx -= 62;
    if (idx < 0 || (size_t)idx >= c->tcount) return 0;
    size_t ring = sizeof c->table / sizeof c->table[0];
    entry_t *e = &c->table[(c->thead + ring - 1 - (size_t)idx) % ring];
    *n = e->name, *nl = e->nlen, *v = e->value, *vl = e->vlen;
    return 1;
}

/* Decode a whole header block; sets *echo from :path. 0, or -1 (COMPRESSION_ERROR). */
static int decode_block(conn_t *c, const uint8_t *p, size_t len, int *echo) {
    static char sn[MAX_HEADER_BLOCK * 2], sv[MAX_HEADER_BLOCK * 2];
    const uint8_t *end = p + len;
    int first = 1;
    *echo = 0;
    while (p < end) {
        uint8_t b = *p;
        const char *n, *v;
        size_t nl, vl;
        if (b & 0x80) { /* indexed */
            int64_t idx = hp_int(&p, end, 7);
            if (idx <= 0 || !table_get(c, idx, &n, &nl, &v, &vl)) return -1;
        } else if ((b & 0xe0) == 0x20) { /* dynamic table size update: only at the start of a block */
            int64_t size = hp_int(&p, end, 5);
            if (size < 0 || size > TABLE_MAX || !first) return -1;
            c->tmax = (size_t)size;
            table_evict(c, 0);
            continue;
        } else {
            int indexing = (b & 0xc0) == 0x40;
            int64_t idx = hp_int(&p, end, indexing ? 6 : 4);
            if (idx < 0) return -1;
            if (idx == 0) {
                long l = hp_string(&p, end, sn, sizeof sn, &n);
                if (l < 0) return -1;
                nl = (size_t)l;
            } else if (!table_get(c, idx, &n, &nl, &v, &vl)) {
                return -1;
            } else if (idx > 61) { /* the entry may be evicted by the insertion below: copy its name */
                memcpy(sn, n, nl);
                n = sn;
            }
            long l = hp_string(&p, end, sv, sizeof sv, &v);
            if (l < 0) return -1;
            vl = (size_t)l;
            if (nl == 5 && !memcmp(n, ":path", 5)) *echo = vl == sizeof ECHO_PATH - 1 && !memcmp(v, ECHO_PATH, vl);
            if (indexing) table_add(c, n, nl, v, vl);
            first = 0;
            continue;
        }
        first = 0;
        if (nl == 5 && !memcmp(n, ":path", 5)) *echo = vl == sizeof ECHO_PATH - 1 && !memcmp(v, ECHO_PATH, vl);
    }
    return 0;
}

/* ---- replies ----------------------------------------------------------------------------- */

/* Header blocks encoded once without the dynamic table, so they never depend on its state:
 * ":status: 200" is static index 8; the rest are literals not indexed (name index 31: content-type). */
static buf_t head_ok, trailers_ok, only_unimplemented, only_too_large, only_malformed;

static void lit(buf_t *b, const char *name, const char *value) {
    size_t nl = strlen(name), vl = strlen(value);
    uint8_t z = 0;
    put(b, &z, 1);
    uint8_t l = (uint8_t)nl;
    put(b, &l, 1);
    put(b, name, nl);
    l = (uint8_t)vl; /* every value here is under 127 bytes */
    put(b, &l, 1);
    put(b, value, vl);
}

static void response_head(buf_t *b) {
    static const uint8_t h[] = {0x88, 0x0f, 0x10, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/', 'g', 'r', 'p', 'c'};
    put(b, h, sizeof h);
}

static void init_blocks(void) {
    response_head(&head_ok);
    lit(&trailers_ok, "grpc-status", "0");
    response_head(&only_unimplemented);
    lit(&only_unimplemented, "grpc-status", "12");
    lit(&only_unimplemented, "grpc-message", "unknown method: the floor serves only /bench.v1.Bench/Echo");
    response_head(&only_too_large);
    lit(&only_too_large, "grpc-status", "8");
    lit(&only_too_large, "grpc-message", "the message is over 16 MiB + 64 KiB");
    response_head(&only_malformed);
    lit(&only_malformed, "grpc-status", "13");
    lit(&only_malformed, "grpc-message", "the request is not one uncompressed gRPC message");
}

static stream_t *find(conn_t *c, uint32_t id) {
    for (int i = 0; i < c->nstreams; i++) if (c->streams[i]->id == id) return c->streams[i];
    return NULL;
}

static void drop(conn_t *c, stream_t *s) {
    for (int i = 0; i < c->nstreams; i++) {
        if (c->streams[i] == s) {
            c->streams[i] = c->streams[--c->nstreams];
            break;
        }
    }
    free(s->body.p);
    free(s);
}

/* Send what the windows allow of a stream's reply, then its trailers. */
static void send_reply(conn_t *c, stream_t *s) {
    while (s->body.off < s->body.len) {
        int64_t n = (int64_t)(s->body.len - s->body.off);
        if (n > c->send_win) n = c->send_win;
        if (n > s->send_win) n = s->send_win;
        if (n > (int64_t)c->peer_frame) n = c->peer_frame;
        if (n <= 0) return; /* wait for a WINDOW_UPDATE */
        frame(&c->out, 0, 0, s->id, s->body.p + s->body.off, (size_t)n);
        s->body.off += (size_t)n;
        c->send_win -= n;
        s->send_win -= n;
    }
    frame(&c->out, 1, 0x1 | 0x4, s->id, trailers_ok.p, trailers_ok.len);
    drop(c, s);
}

static void finish(conn_t *c, stream_t *s) {
    const buf_t *only = NULL;
    if (!s->echo) only = &only_unimplemented;
    else if (s->body.len < 5 || s->body.p[0] != 0 || be32((uint8_t *)s->body.p + 1) != s->body.len - 5)
        only = &only_malformed;
    if (only) {
        frame(&c->out, 1, 0x1 | 0x4, s->id, only->p, only->len);
        drop(c, s);
        return;
    }
    frame(&c->out, 1, 0x4, s->id, head_ok.p, head_ok.len);
    s->replying = 1;
    send_reply(c, s);
}

/* ---- frames ------------------------------------------------------------------------------ */

static int goaway(conn_t *c, uint32_t code, const char *why) {
    uint8_t g[8] = {0, 0, 0, 0, (uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8), (uint8_t)code};
    frame_head(&c->out, 8 + strlen(why), 7, 0, 0);
    put(&c->out, g, 8);
    put(&c->out, why, strlen(why));
    c->closing = 1;
    return -1;
}

static void rst(conn_t *c, uint32_t id, uint32_t code) {
    uint8_t r[4] = {(uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8), (uint8_t)code};
    frame(&c->out, 3, 0, id, r, 4);
}

static int headers_done(conn_t *c) {
    int echo;
    if (decode_block(c, (uint8_t *)c->block.p, c->block.len, &echo)) return goaway(c, 0x9, "HPACK decoding failed");
    c->block.len = 0;
    uint32_t id = c->block_stream;
    c->block_stream = 0;
    stream_t *s = find(c, id);
    if (s) { /* trailers of a request: its end */
        if (c->block_end_stream && !s->replying) finish(c, s);
        return 0;
    }
    if (c->nstreams == MAX_STREAMS) {
        rst(c, id, 0x7); /* REFUSED_STREAM */
        return 0;
    }
    s = calloc(1, sizeof *s);
    s->id = id;
    s->echo = echo;
    s->send_win = c->peer_initial;
    c->streams[c->nstreams++] = s;
    if (c->block_end_stream) finish(c, s);
    return 0;
}

/* Handle one frame; -1 when the connection must close. */
static int on_frame(conn_t *c, uint8_t type, uint8_t flags, uint32_t id, const uint8_t *p, size_t len) {
    if (c->block_stream && (type != 9 || id != c->block_stream))
        return goaway(c, 0x1, "a header block was interrupted by another frame");
    switch (type) {
    case 0: { /* DATA */
        c->received += (uint32_t)len;
        if (c->received >= CONN_WINDOW / 2) {
            uint8_t w[4] = {(uint8_t)(c->received >> 24), (uint8_t)(c->received >> 16), (uint8_t)(c->received >> 8),
                            (uint8_t)c->received};
            frame(&c->out, 8, 0, 0, w, 4);
            c->received = 0;
        }
        if (flags & 0x8) { /* padded */
            if (len < 1 || p[0] >= len) return goaway(c, 0x1, "bad padding");
            len -= 1 + p[0];
            p += 1;
        }
        stream_t *s = find(c, id);
        if (!s || s->replying) return 0;
        if (s->body.len + len > MAX_MESSAGE + 5) {
            frame(&c->out, 1, 0x1 | 0x4, s->id, only_too_large.p, only_too_large.len);
            rst(c, s->id, 0x0);
            drop(c, s);
            return 0;
        }
        put(&s->body, p, len);
        if (flags & 0x1) finish(c, s);
        return 0;
    }
    case 1: /* HEADERS */
        if (!id || !(id & 1)) return goaway(c, 0x1, "HEADERS on a stream a client cannot open");
        if (flags & 0x8) {
            if (len < 1 || p[0] >= len) return goaway(c, 0x1, "bad padding");
            len -= 1 + p[0];
            p += 1;
        }
        if (flags & 0x20) { /* priority */
            if (len < 5) return goaway(c, 0x6, "HEADERS too short");
            p += 5, len -= 5;
        }
        c->block.len = 0;
        put(&c->block, p, len);
        c->block_stream = id;
        c->block_end_stream = flags & 0x1;
        if (flags & 0x4) {
            return headers_done(c);
        }
        return 0;
    case 9: /* CONTINUATION */
        if (!c->block_stream) return goaway(c, 0x1, "CONTINUATION without HEADERS");
        if (c->block.len + len > MAX_HEADER_BLOCK) return goaway(c, 0xb, "header block too large");
        put(&c->block, p, len);
        return flags & 0x4 ? headers_done(c) : 0;
    case 3: { /* RST_STREAM */
        stream_t *s = find(c, id);
        if (s) drop(c, s);
        return 0;
    }
    case 4: /* SETTINGS */
        if (flags & 0x1) return 0;
        if (len % 6) return goaway(c, 0x6, "SETTINGS length is not a multiple of 6");
        for (size_t i = 0; i < len; i += 6) {
            uint16_t key = (uint16_t)(p[i] << 8 | p[i + 1]);
            uint32_t val = be32(p + i + 2);
            if (key == 0x4) {
                if (val > 0x7fffffff) return goaway(c, 0x3, "window too large");
                for (int k = 0; k < c->nstreams; k++) c->streams[k]->send_win += (int64_t)val - c->peer_initial;
                c->peer_initial = val;
            } else if (key == 0x5) {
                if (val < 16384 || val > 16777215) return goaway(c, 0x1, "bad SETTINGS_MAX_FRAME_SIZE");
                c->peer_frame = val;
            }
        }
        frame(&c->out, 4, 0x1, 0, NULL, 0);
        for (int k = c->nstreams - 1; k >= 0; k--)
            if (c->streams[k]->replying) send_reply(c, c->streams[k]);
        return 0;
    case 6: /* PING */
        if (len != 8) return goaway(c, 0x6, "PING is 8 bytes");
        if (!(flags & 0x1)) frame(&c->out, 6, 0x1, 0, p, 8);
        return 0;
    case 7: /* GOAWAY */
        c->closing = 1;
        return -1;
    case 8: { /* WINDOW_UPDATE */
        if (len != 4) return goaway(c, 0x6, "WINDOW_UPDATE is 4 bytes");
        uint32_t inc = be32(p) & 0x7fffffff;
        if (!id) {
            c->send_win += inc;
            for (int k = c->nstreams - 1; k >= 0; k--)
                if (c->streams[k]->replying) send_reply(c, c->streams[k]);
        } else {
            stream_t *s = find(c, id);
            if (s) {
                s->send_win += inc;
                if (s->replying) send_reply(c, s);
            }
        }
        return 0;
    }
    case 5:
        return goaway(c, 0x1, "a client does not send PUSH_PROMISE");
    default: /* PRIORITY and unknown frame types are ignored */
        return 0;
    }
}

/* Handle every whole frame in c->in; -1 when the connection must close (after sending c->out). */
static int on_input(conn_t *c) {
    size_t pos = 0;
    int rc = 0;
    if (!c->preface_ok) {
        if (c->in.len < sizeof PREFACE - 1) return 0;
        if (memcmp(c->in.p, PREFACE, sizeof PREFACE - 1)) {
            static const char no[] = "HTTP/1.1 505 HTTP Version Not Supported\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
            put(&c->out, no, sizeof no - 1);
            c->closing = 1;
            return -1;
        }
        pos = sizeof PREFACE - 1;
        c->preface_ok = 1;
    }
    while (c->in.len - pos >= 9) {
        const uint8_t *h = (uint8_t *)c->in.p + pos;
        size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
        if (len > MAX_FRAME) { rc = goaway(c, 0x6, "frame larger than SETTINGS_MAX_FRAME_SIZE"); break; }
        if (c->in.len - pos < 9 + len) {
            reserve(&c->in, c->in.len - pos + 9 + len);
            break;
        }
        rc = on_frame(c, h[3], h[4], be32(h + 5) & 0x7fffffff, h + 9, len);
        pos += 9 + len;
        if (rc) break;
    }
    if (pos) {
        memmove(c->in.p, c->in.p + pos, c->in.len - pos);
        c->in.len -= pos;
    }
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
    while (c->nstreams) drop(c, c->streams[0]);
    table_evict(c, c->tmax + 1);
    free(c->in.p);
    free(c->out.p);
    free(c->block.p);
    free(c);
}

static conn_t *conn_new(int fd) {
    conn_t *c = calloc(1, sizeof *c);
    c->fd = fd;
    c->send_win = 65535;
    c->peer_initial = 65535;
    c->peer_frame = 16384;
    c->tmax = TABLE_MAX;
    /* our SETTINGS: INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE; then the connection window */
    uint8_t s[12] = {0, 4, STREAM_WINDOW >> 24, STREAM_WINDOW >> 16 & 0xff, STREAM_WINDOW >> 8 & 0xff, STREAM_WINDOW & 0xff,
                     0, 5, MAX_FRAME >> 24, MAX_FRAME >> 16 & 0xff, MAX_FRAME >> 8 & 0xff, MAX_FRAME & 0xff};
    frame(&c->out, 4, 0, 0, s, sizeof s);
    uint32_t inc = CONN_WINDOW - 65535;
    uint8_t w[4] = {(uint8_t)(inc >> 24), (uint8_t)(inc >> 16), (uint8_t)(inc >> 8), (uint8_t)inc};
    frame(&c->out, 8, 0, 0, w, 4);
    return c;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: %s --host H --port P\n", argv[0]); return 2; }
    }
    build_tree();
    init_blocks();
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "floor-grpc: --host %s is not an IPv4 address\n", host);
        return 2;
    }
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 512)) {
        fprintf(stderr, "floor-grpc: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    printf("floor grpc (C, epoll, own HTTP/2 and HPACK) on %s:%d\n", host, port);
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
                    c = conn_new(fd);
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    if (flush_out(c)) conn_free(ep, c);
                }
                continue;
            }
            int had_out = c->out.len > c->out.off, dead = 0;
            if ((evs[i].events & EPOLLOUT) && flush_out(c)) { conn_free(ep, c); continue; }
            if (c->closing) {
                if (c->out.len == c->out.off) conn_free(ep, c);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    reserve(&c->in, c->in.len + 65536);
                    ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
                    if (r > 0) {
                        c->in.len += (size_t)r;
                        if (c->in.len < c->in.cap) break; /* drained */
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR)) dead = 1;
                    break;
                }
                if (!dead) on_input(c);
                if (flush_out(c) || dead || (c->closing && c->out.len == c->out.off)) { conn_free(ep, c); continue; }
            }
            if (had_out != (c->out.len > c->out.off)) {
                struct epoll_event ev = {.events = EPOLLIN | (c->out.len > c->out.off ? EPOLLOUT : 0), .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
    }
    return 0;
}
