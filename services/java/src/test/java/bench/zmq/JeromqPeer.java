package bench.zmq;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A JeroMQ client for the peer suite ({@code tests/peers/test_zmq_peers.py}), against any
 * language's zmq service: {@code java -cp target/bench-service.jar:target/test-classes
 * bench.zmq.JeromqPeer PORT}.
 *
 * <p>A REQ and a DEALER socket send echo (5 bytes and 1 MiB), diff, health and an unknown op and
 * check the replies; then a DEALER with ZMTP 3.1 heartbeats (interval 100 ms, timeout 300 ms, TTL
 * 1 s) stays idle for 1.5 s and must still be connected (no disconnect event) and answered. Each
 * socket waits for its handshake first (JeroMQ 0.6.0's connect fault: README "tests").
 * Prints one {@code PASS} or {@code FAIL} line per check; exit code 1 if any failed.
 */
public final class JeromqPeer {
    private static final List<String> FAILURES = new ArrayList<>();

    private JeromqPeer() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        try (ZContext ctx = new ZContext()) {
            for (SocketType type : List.of(SocketType.REQ, SocketType.DEALER)) {
                ZMQ.Socket s = ZmqServerTest.client(ctx, type, port);
                requests(s, type);
                s.close();
            }
            heartbeats(ctx, port);
        }
        System.out.println(FAILURES.isEmpty() ? "ALL PASSED" : FAILURES.size() + " FAILED");
        System.exit(FAILURES.isEmpty() ? 0 : 1);
    }

    private static void check(String name, boolean ok, String detail) {
        System.out.println((ok ? "PASS " : "FAIL ") + name + (ok ? "" : ": " + detail));
        if (!ok) {
            FAILURES.add(name);
        }
    }

    /** One request; the reply's [status, body] (the DEALER's empty delimiter handled). */
    private static List<byte[]> call(ZMQ.Socket s, SocketType type, String op, byte[] body) {
        byte[] opBytes = op.getBytes(StandardCharsets.UTF_8);
        if (type == SocketType.DEALER) {
            ZmqServerTest.sendAll(s, new byte[0], opBytes, body);
        } else {
            ZmqServerTest.sendAll(s, opBytes, body);
        }
        List<byte[]> r = ZmqServerTest.recvAll(s);
        if (type == SocketType.DEALER) {
            if (r.isEmpty() || r.get(0).length != 0) {
                throw new AssertionError("a DEALER reply must start with the empty delimiter");
            }
            r = r.subList(1, r.size());
        }
        return r;
    }

    private static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    private static void requests(ZMQ.Socket s, SocketType type) {
        String t = type.name().toLowerCase();
        List<byte[]> r = call(s, type, "echo", ZmqServerTest.b("hello"));
        check(t + " echo", r.size() == 2 && text(r.get(0)).equals("ok") && text(r.get(1)).equals("hello"),
                r.size() + " frames");
        byte[] big = new byte[1 << 20];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i * 31);
        }
        r = call(s, type, "echo", big);
        check(t + " echo 1 MiB", r.size() == 2 && java.util.Arrays.equals(r.get(1), big), r.size() + " frames");
        r = call(s, type, "diff", ZmqServerTest.b("{\"a\": [\"x\", \"y\"], \"b\": [\"y\"]}"));
        String opcodes = r.size() == 2 ? text(r.get(1)).replace(" ", "") : "";
        check(t + " diff", opcodes.equals("{\"opcodes\":[[\"delete\",0,1,0,0],[\"equal\",1,2,0,1]]}"), opcodes);
        r = call(s, type, "health", new byte[0]);
        check(t + " health", r.size() == 2 && text(r.get(0)).equals("ok") && text(r.get(1)).contains("\"service\""),
                r.size() == 2 ? text(r.get(1)) : "");
        r = call(s, type, "frobnicate", new byte[0]);
        check(t + " unknown op", r.size() == 2 && text(r.get(0)).equals("error")
                && text(r.get(1)).contains("unknown_op"), r.size() == 2 ? text(r.get(1)) : "");
    }

    private static void heartbeats(ZContext ctx, int port) throws InterruptedException {
        ZMQ.Socket s = ZmqServerTest.client(ctx, SocketType.DEALER, port, o -> {
            o.setHeartbeatIvl(100);
            o.setHeartbeatTimeout(300);
            o.setHeartbeatTtl(1000);
        });
        String monitor = "inproc://jeromq-peer-disconnects";
        s.monitor(monitor, ZMQ.EVENT_DISCONNECTED);
        try (ZMQ.Socket events = ctx.createSocket(SocketType.PAIR)) {
            events.setReceiveTimeOut(1500); // idle: heartbeats only
            events.connect(monitor);
            ZMQ.Event disconnect = ZMQ.Event.recv(events);
            check("heartbeats keep the connection", disconnect == null,
                    "disconnected while idle with heartbeats (the service did not answer PING?)");
        }
        List<byte[]> r = call(s, SocketType.DEALER, "echo", ZmqServerTest.b("after heartbeats"));
        check("echo after heartbeats", r.size() == 2 && text(r.get(1)).equals("after heartbeats"), r.size() + " frames");
        s.close();
    }
}
