/* The zmq floor: a libzmq ROUTER answering [op, body] with [ok, body] (architecture.md, rule 5).
 *
 * REQ and DEALER clients both work: the envelope (identity, then the empty delimiter) is sent
 * back as it came. The body is sent back as the same zmq_msg_t it arrived in (no copy). `health`
 * answers `{}`. A request that is not two frames after the delimiter is answered
 * [error, {"error":"bad_request",...}]. Usage: floor-zmq --host H --port P
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_FRAMES 64

static volatile sig_atomic_t stop_flag = 0;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    const char *port = "0";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = argv[i + 1];
        else { fprintf(stderr, "usage: %s --host H --port P\n", argv[0]); return 2; }
    }
    struct sigaction sa = {.sa_handler = on_term};  /* no SA_RESTART: a blocked receive returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0, hwm = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    char endpoint[300];
    snprintf(endpoint, sizeof endpoint, "tcp://%s:%s", host, port);
    if (zmq_bind(sock, endpoint)) {
        fprintf(stderr, "floor-zmq: cannot bind %s: %s\n", endpoint, zmq_strerror(errno));
        return 1;
    }
    printf("floor zmq (C, libzmq %d.%d.%d ROUTER) on %s\n", ZMQ_VERSION_MAJOR, ZMQ_VERSION_MINOR,
           ZMQ_VERSION_PATCH, endpoint);
    fflush(stdout);
    static const char bad[] = "{\"error\":\"bad_request\",\"message\":\"a request is two frames [op, body]\"}";
    zmq_msg_t frames[MAX_FRAMES];
    while (!stop_flag) {
        int n = 0, more = 1, failed = 0;
        while (more) {
            zmq_msg_t *m = &frames[n < MAX_FRAMES ? n : MAX_FRAMES - 1];
            if (n >= MAX_FRAMES) zmq_msg_close(m);  /* too many frames: keep receiving, keep the last slot */
            zmq_msg_init(m);
            if (zmq_msg_recv(m, sock, 0) < 0) {
                failed = 1;
                zmq_msg_close(m);
                break;
            }
            more = zmq_msg_more(m);
            if (n < MAX_FRAMES) n++;
        }
        if (failed) {  /* EINTR (SIGTERM) or the context ended */
            for (int i = 0; i < n; i++) zmq_msg_close(&frames[i]);
            if (errno == EINTR) continue;
            break;
        }
        int delim = 1;  /* frames[0] is the identity; the envelope ends at the first empty frame */
        while (delim < n && zmq_msg_size(&frames[delim]) != 0) delim++;
        int envelope = delim < n ? delim + 1 : 1;
        int parts = n - envelope;
        for (int i = 0; i < envelope; i++) zmq_msg_send(&frames[i], sock, ZMQ_SNDMORE);
        if (parts == 2) {
            zmq_send_const(sock, "ok", 2, ZMQ_SNDMORE);
            zmq_msg_t *op = &frames[envelope], *body = &frames[envelope + 1];
            if (zmq_msg_size(op) == 6 && memcmp(zmq_msg_data(op), "health", 6) == 0) {
                zmq_send_const(sock, "{}", 2, 0);
                zmq_msg_close(body);
            } else {
                zmq_msg_send(body, sock, 0);
            }
            zmq_msg_close(op);
        } else {
            zmq_send_const(sock, "error", 5, ZMQ_SNDMORE);
            zmq_send_const(sock, bad, sizeof bad - 1, 0);
            for (int i = envelope; i < n; i++) zmq_msg_close(&frames[i]);
        }
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}
