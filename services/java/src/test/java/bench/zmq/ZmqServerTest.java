package bench.zmq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Ports;
import bench.Vectors;
import bench.core.Service;
import bench.core.Settings;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/** The ROUTER server on a real TCP port with JeroMQ REQ and DEALER clients. */
class ZmqServerTest {
    private static final byte[] EMPTY = new byte[0];

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static List<byte[]> recvAll(ZMQ.Socket s) {
        List<byte[]> frames = new ArrayList<>();
        byte[] f = s.recv(0);
        if (f == null) {
            throw new AssertionError("no reply within the receive timeout");
        }
        frames.add(f);
        while (s.hasReceiveMore()) {
            frames.add(s.recv(0));
        }
        return frames;
    }

    static void sendAll(ZMQ.Socket s, byte[]... frames) {
        for (int i = 0; i < frames.length; i++) {
            s.send(frames[i], i < frames.length - 1 ? ZMQ.SNDMORE : 0);
        }
    }


    /**
     * A JeroMQ client connected to the server, returned once its ZMTP handshake has completed.
     *
     * <p>JeroMQ 0.6.0's TCP connecter sometimes never completes the connection it starts (about
     * 1 in 50 fresh sockets here, against a pyzmq ROUTER as much as against ours): no handshake
     * event ever arrives and whatever the socket sends is never written, so the test would wait
     * for a reply to a request the server never saw. pyzmq clients against this server showed
     * no such loss (0 of 200 fresh connections; the conformance suite and the benchmarks use
     * pyzmq). So the client waits for its handshake and, if it does not come within a second,
     * replaces its own socket; a request, once the handshake is done, is never retried.
     */
    static ZMQ.Socket client(ZContext ctx, SocketType type, int port) {
        return client(ctx, type, port, s -> { });
    }

    /** As {@link #client(ZContext, SocketType, int)}, with {@code options} applied before the connect. */
    static ZMQ.Socket client(ZContext ctx, SocketType type, int port, java.util.function.Consumer<ZMQ.Socket> options) {
        ZMQ.Socket s = bench.caller.ZmqConnect.connect(ctx, type, "tcp://127.0.0.1:" + port, sock -> {
            options.accept(sock);
            sock.setReceiveTimeOut(10_000);
        }, 1_000, 5);
        if (s == null) {
            throw new AssertionError("five JeroMQ clients in a row never completed a handshake with port " + port);
        }
        return s;
    }

    @ParameterizedTest(name = "workers={0}")
    @ValueSource(ints = {1, 3})
    void reqAndDealerClientsGetReplies(int workers) {
        int port = Ports.free();
        Service service = new Service(Settings.defaults().withTestHooks(true));
        try (ZmqServer server = new ZmqServer(service, "127.0.0.1", port, workers); ZContext ctx = new ZContext()) {
            ZMQ.Socket req = client(ctx, SocketType.REQ, port);
            sendAll(req, b("echo"), b("hello"));
            List<byte[]> r = recvAll(req);
            assertEquals(2, r.size());
            assertEquals("ok", new String(r.get(0), StandardCharsets.UTF_8));
            assertEquals("hello", new String(r.get(1), StandardCharsets.UTF_8));

            sendAll(req, b("health"), EMPTY);
            r = recvAll(req);
            assertEquals("java", Vectors.tree(r.get(1)).get("service").asText());

            sendAll(req, b("frobnicate"), EMPTY);
            r = recvAll(req);
            assertEquals("error", new String(r.get(0), StandardCharsets.UTF_8));
            assertEquals("unknown_op", Vectors.tree(r.get(1)).get("error").asText());

            // a REQ sending three frames gets a bad_request and the socket keeps working
            sendAll(req, b("echo"), b("x"), b("y"));
            r = recvAll(req);
            assertEquals("error", new String(r.get(0), StandardCharsets.UTF_8));
            assertEquals("bad_request", Vectors.tree(r.get(1)).get("error").asText());
            sendAll(req, b("diff"), b("{\"a\":[\"x\"],\"b\":[\"x\"]}"));
            r = recvAll(req);
            assertEquals("{\"opcodes\":[[\"equal\",0,1,0,1]]}", new String(r.get(1), StandardCharsets.UTF_8));

            ZMQ.Socket dealer = client(ctx, SocketType.DEALER, port);
            sendAll(dealer, EMPTY, b("echo"), b("dealer"));
            r = recvAll(dealer);
            assertEquals(3, r.size());
            assertEquals(0, r.get(0).length);
            assertEquals("ok", new String(r.get(1), StandardCharsets.UTF_8));
            assertEquals("dealer", new String(r.get(2), StandardCharsets.UTF_8));

            // without the delimiter: [error, body], never silence
            sendAll(dealer, b("echo"), b("no-delimiter"));
            r = recvAll(dealer);
            assertEquals("error", new String(r.get(0), StandardCharsets.UTF_8));
            assertEquals("bad_request", Vectors.tree(r.get(1)).get("error").asText());

            // one frame after the delimiter
            sendAll(dealer, EMPTY, b("echo"));
            r = recvAll(dealer);
            assertEquals("bad_request", Vectors.tree(r.get(2)).get("error").asText());

            sendAll(dealer, EMPTY, b("diff"), b("{\"a\":[\"__bench_fault__:internal\"],\"b\":[]}"));
            r = recvAll(dealer);
            assertEquals("internal", Vectors.tree(r.get(2)).get("error").asText());

            sendAll(dealer, EMPTY, b("echo"), b("still here"));
            assertEquals("still here", new String(recvAll(dealer).get(2), StandardCharsets.UTF_8));
        }
    }

    @ParameterizedTest(name = "workers={0}")
    @ValueSource(ints = {1, 3})
    void manyClientsAtOnce(int workers) throws Exception {
        int port = Ports.free();
        Service service = new Service(Settings.defaults());
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try (ZmqServer server = new ZmqServer(service, "127.0.0.1", port, workers); ZContext ctx = new ZContext()) {
            List<Future<Integer>> done = new ArrayList<>();
            for (int c = 0; c < 16; c++) {
                int id = c;
                done.add(pool.submit(() -> {
                    SocketType type = id % 2 == 0 ? SocketType.REQ : SocketType.DEALER;
                    ZMQ.Socket s = client(ctx, type, port);
                    try {
                        for (int i = 0; i < 200; i++) {
                            byte[] payload = b("client " + id + " request " + i);
                            if (type == SocketType.REQ) {
                                sendAll(s, b("echo"), payload);
                                assertArrayEquals(payload, recvAll(s).get(1));
                            } else {
                                sendAll(s, EMPTY, b("echo"), payload);
                                assertArrayEquals(payload, recvAll(s).get(2));
                            }
                        }
                    } finally {
                        s.close();
                    }
                    return 200;
                }));
            }
            int total = 0;
            for (Future<Integer> f : done) {
                total += f.get();
            }
            assertEquals(16 * 200, total);
            assertTrue(server.port() == port);
        } finally {
            pool.shutdownNow();
        }
    }

    /** A 64-byte ZMTP 3.0 NULL greeting, as a client sends it. */
    static byte[] greeting() {
        ByteBuffer g = ByteBuffer.allocate(64);
        g.put((byte) 0xff).put(new byte[8]).put((byte) 0x7f).put((byte) 3).put((byte) 0);
        g.put(b("NULL"));
        return g.array(); // the rest (mechanism padding, as-server, filler) is zeros
    }

    static byte[] ready() {
        ByteBuffer body = ByteBuffer.allocate(64);
        body.put((byte) 5).put(b("READY")).put((byte) 11).put(b("Socket-Type")).putInt(6).put(b("DEALER"));
        byte[] out = new byte[body.position() + 2];
        out[0] = 0x04;
        out[1] = (byte) body.position();
        System.arraycopy(body.array(), 0, out, 2, body.position());
        return out;
    }

    static byte[] longFrame(int flags, long size) {
        return ByteBuffer.allocate(9).put((byte) flags).putLong(size).array();
    }

    /** Fuzzer finding: a frame announcing ~874 MB after a greeting made JeroMQ's IO thread die of OOM. */
    @ParameterizedTest(name = "case={0}")
    @ValueSource(ints = {0, 1, 2, 3, 4, 5})
    void hugeAnnouncedFrameDisconnectsThePeerAndTheServiceKeepsServing(int which) throws Exception {
        int port = Ports.free();
        Service service = new Service(Settings.defaults());
        long limit = ZmqServer.maxMessageSize(service);
        assertEquals(Settings.MAX_BODY_BYTES + 64 * 1024, limit);
        byte[] attack = switch (which) {
            case 0 -> concat(greeting(), longFrame(0x06, 874L << 20));          // command, before READY
            case 1 -> concat(greeting(), ready(), longFrame(0x02, 874L << 20)); // message after READY
            case 2 -> concat(greeting(), ready(), longFrame(0x02, limit + 1));  // just over the limit
            case 3 -> concat(greeting(), ready(), longFrame(0x02, (1L << 31) - 1));
            // fuzz seed 1 index 164: the size has the top bit set, which JeroMQ's signed limit
            // check lets through and casts to 874 875 331
            case 4 -> concat(greeting(), longFrame(0xc7, 0xde585e2a342589c3L), new byte[] {0x44, (byte) 0xee});
            default -> concat(greeting(), ready(), longFrame(0x02, 0x8000000040000000L));
        };
        AtomicInteger deaths = new AtomicInteger();
        try (ZmqServer server = new ZmqServer(service, "127.0.0.1", port, 1, (t, e) -> {
                    deaths.incrementAndGet();
                    e.printStackTrace();
                    // (the default handler halts the process instead)
                });
                ZContext ctx = new ZContext()) {
            for (int round = 0; round < 3; round++) {
                try (Socket raw = new Socket("127.0.0.1", port)) {
                    raw.setSoTimeout(10_000);
                    OutputStream os = raw.getOutputStream();
                    os.write(attack);
                    os.flush();
                    // the server must hang up rather than wait for (or allocate) the announced bytes
                    if (which < 4) {
                        InputStream is = raw.getInputStream();
                        byte[] buf = new byte[1024];
                        while (is.read(buf) >= 0) {
                            // drain the server's greeting until it closes
                        }
                    } else {
                        // refused by the allocator: the peer is ignored; answer others meanwhile
                        assertTrue(answered(ctx, port, "while connected " + round), "serving during");
                    }
                }
                assertTrue(answered(ctx, port, "after " + round), "the service must keep serving");
            }
            assertEquals(0, deaths.get(), "no IO or serving thread may die");
        }
    }

    /** Whether an echo from a fresh REQ client (connected, see {@link #client}) is answered. */
    static boolean answered(ZContext ctx, int port, String text) {
        ZMQ.Socket req = client(ctx, SocketType.REQ, port);
        try {
            req.setReceiveTimeOut(5_000);
            sendAll(req, b("echo"), b(text));
            byte[] status = req.recv(0);
            if (status == null) {
                return false;
            }
            assertEquals("ok", new String(status, StandardCharsets.UTF_8));
            assertEquals(text, new String(req.recv(0), StandardCharsets.UTF_8));
            return true;
        } finally {
            req.close();
        }
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        ByteBuffer out = ByteBuffer.allocate(n);
        for (byte[] p : parts) {
            out.put(p);
        }
        return out.array();
    }
}
