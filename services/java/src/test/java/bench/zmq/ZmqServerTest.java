package bench.zmq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Ports;
import bench.Vectors;
import bench.core.Service;
import bench.core.Settings;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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

    static ZMQ.Socket client(ZContext ctx, SocketType type, int port) {
        ZMQ.Socket s = ctx.createSocket(type);
        s.setReceiveTimeOut(10_000);
        s.setLinger(0);
        s.connect("tcp://127.0.0.1:" + port);
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
}
