package bench.caller.client;

import bench.caller.ZmqConnect;
import java.nio.charset.StandardCharsets;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A JeroMQ DEALER per user (CONTRACT.md "zmq": it sends {@code ["", op, body]} and receives
 * {@code ["", status, body]}). DEALER rather than REQ so that a timed-out request leaves no
 * socket stuck in REQ's state machine; the socket is replaced after a timeout anyway, so a
 * late reply is never taken for the next request's. Connected only after its ZMTP handshake
 * ({@link ZmqConnect}); all users share one context with one IO thread.
 */
public final class ZmqClient implements Client {
    private static final byte[] EMPTY = new byte[0];
    private static final byte[] OK = "ok".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "error".getBytes(StandardCharsets.US_ASCII);
    private static ZContext shared;

    private final String endpoint;
    private final int timeoutMs;
    private final byte[] op;
    private final byte[] body;
    private final ZContext ctx;
    private ZMQ.Socket socket;

    private static synchronized ZContext context() {
        if (shared == null) {
            shared = new ZContext(1);
            shared.setLinger(0);
        }
        return shared;
    }

    public ZmqClient(String host, int port, Request r, double timeoutS) {
        this.endpoint = "tcp://" + host + ":" + port;
        this.timeoutMs = (int) Math.max(1, Math.round(timeoutS * 1000));
        this.op = r.op().getBytes(StandardCharsets.US_ASCII);
        this.body = r.body();
        this.ctx = context();
    }

    @Override
    public CallReply call() throws CallException {
        if (socket == null) {
            socket = ZmqConnect.connect(ctx, SocketType.DEALER, endpoint, s -> {
                s.setReceiveTimeOut(timeoutMs);
                s.setSendTimeOut(timeoutMs);
                s.setRcvHWM(1000);
            }, Math.min(timeoutMs, 1000), Math.max(1, timeoutMs / 1000));
            if (socket == null) {
                throw new CallException("zmq: no ZMTP handshake with " + endpoint + " within " + timeoutMs
                        + " ms (is the service listening?)");
            }
        }
        if (!socket.send(EMPTY, ZMQ.SNDMORE) || !socket.send(op, ZMQ.SNDMORE) || !socket.send(body, 0)) {
            replace();
            throw new CallException("zmq: could not send to " + endpoint + " within " + timeoutMs + " ms");
        }
        byte[] delimiter = socket.recv(0);
        if (delimiter == null) {
            replace();
            throw new CallException("zmq: no reply from " + endpoint + " within " + timeoutMs + " ms");
        }
        byte[] status = socket.hasReceiveMore() ? socket.recv(0) : null;
        byte[] data = socket.hasReceiveMore() ? socket.recv(0) : null;
        int extra = 0;
        while (socket.hasReceiveMore()) {
            socket.recv(0);
            extra++;
        }
        if (delimiter.length != 0 || status == null || data == null || extra > 0) {
            throw new CallException("zmq: reply is not [\"\", status, body] (" + (extra + 1
                    + (status == null ? 0 : 1) + (data == null ? 0 : 1)) + " frames)");
        }
        if (java.util.Arrays.equals(status, OK)) {
            return CallReply.ok(data);
        }
        if (java.util.Arrays.equals(status, ERROR)) {
            return CallReply.error(data, "error");
        }
        throw new CallException("zmq: reply status '" + new String(status, StandardCharsets.UTF_8)
                + "' is neither ok nor error");
    }

    private void replace() {
        if (socket != null) {
            ctx.destroySocket(socket);
            socket = null;
        }
    }

    @Override
    public void close() {
        replace();
    }
}
