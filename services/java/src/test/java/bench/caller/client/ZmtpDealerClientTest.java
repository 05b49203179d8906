package bench.caller.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Ports;
import bench.caller.Cells;
import bench.caller.engine.Check;
import bench.core.Service;
import bench.core.Settings;
import bench.zmq.ZmqServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;
import org.zeromq.ZMsg;

/**
 * The ZMTP DEALER client against real ZeroMQ peers: the Java service's JeroMQ ROUTER
 * (bench.zmq.ZmqServer), a JeroMQ ROUTER that answers wrong or never, and sockets that are not
 * ZeroMQ at all. (ClientsTest runs it against the Python service's pyzmq ROUTER.)
 */
class ZmtpDealerClientTest {
    private static Request echo(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) ('a' + i % 26);
        }
        return Cells.echo(b);
    }

    @Test
    void talksToTheJavaServiceWithShortAndLongFrames() {
        int port = Ports.free();
        Service service = new Service(Settings.defaults());
        try (ZmqServer server = new ZmqServer(service, "127.0.0.1", port, 1)) {
            for (int n : new int[] {0, 64, 255, 256, 70_000}) {
                Request r = echo(n);
                try (ZmtpDealerClient c = new ZmtpDealerClient("127.0.0.1", port, r, 5)) {
                    Check check = new Check(r);
                    for (int i = 0; i < 300; i++) {
                        CallReply reply = assertDoesNotThrowCall(c);
                        assertNull(check.wrong(reply), n + " bytes, call " + i);
                        assertArrayEquals(r.body(), reply.body());
                    }
                }
            }
            Request diff = Cells.diff();
            try (ZmtpDealerClient c = new ZmtpDealerClient("127.0.0.1", port, diff, 5)) {
                assertNull(new Check(diff).wrong(assertDoesNotThrowCall(c)));
            }
            Request notJson = new Request("diff", "not json".getBytes(StandardCharsets.US_ASCII), diff.opcodes());
            try (ZmtpDealerClient c = new ZmtpDealerClient("127.0.0.1", port, notJson, 5)) {
                CallReply reply = assertDoesNotThrowCall(c); // an error reply, then the connection serves on
                assertFalse(reply.ok());
                assertTrue(new String(reply.body(), StandardCharsets.UTF_8).contains("bad_request"));
                assertFalse(assertDoesNotThrowCall(c).ok());
            }
        }
    }

    private static CallReply assertDoesNotThrowCall(Client c) {
        try {
            return c.call();
        } catch (CallException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }

    @Test
    void aSilentPeerTimesOutAndTheLateReplyIsNotTakenForTheNext() throws Exception {
        int port = Ports.free();
        AtomicInteger seen = new AtomicInteger();
        try (ZContext ctx = new ZContext()) {
            ZMQ.Socket router = ctx.createSocket(SocketType.ROUTER);
            router.bind("tcp://127.0.0.1:" + port);
            Thread t = new Thread(() -> {
                try {
                    while (!Thread.currentThread().isInterrupted()) {
                        ZMsg m = ZMsg.recvMsg(router, 200);
                        if (m == null) {
                            continue;
                        }
                        int k = seen.incrementAndGet();
                        if (k == 1) {
                            Thread.sleep(700); // past the client's 0.3 s timeout, then answer late
                        }
                        ZMsg reply = new ZMsg();
                        reply.add(m.pop()); // identity
                        reply.add(new byte[0]);
                        reply.add("ok");
                        reply.add("reply " + k);
                        reply.send(router);
                    }
                } catch (InterruptedException | org.zeromq.ZMQException e) {
                    // stopping
                }
            });
            t.setDaemon(true);
            t.start();
            Request r = Cells.echo("x".getBytes(StandardCharsets.US_ASCII));
            try (ZmtpDealerClient c = new ZmtpDealerClient("127.0.0.1", port, r, 0.3)) {
                long t0 = System.nanoTime();
                CallException e = assertThrows(CallException.class, c::call);
                double took = (System.nanoTime() - t0) / 1e9;
                assertTrue(e.getMessage().contains("within 300 ms"), e.getMessage());
                assertTrue(took >= 0.28 && took < 1.0, "gave up after " + took + " s");
                Thread.sleep(600); // the late reply 1 is sent to the old, closed connection
                CallReply next = c.call();
                assertEquals("reply 2", new String(next.body(), StandardCharsets.US_ASCII));
            }
            t.interrupt();
            t.join(2000);
        }
    }

    @Test
    void aPeerThatIsNotZeroMqIsAnErrorThatSaysSo() throws Exception {
        try (ServerSocket ss = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            Thread t = new Thread(() -> {
                try (Socket s = ss.accept()) {
                    s.getOutputStream().write(("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
                            + "x".repeat(64)).getBytes(StandardCharsets.US_ASCII));
                    s.getInputStream().read(new byte[4096]);
                } catch (IOException e) {
                    // the client closed
                }
            });
            t.setDaemon(true);
            t.start();
            try (ZmtpDealerClient c = new ZmtpDealerClient("127.0.0.1", ss.getLocalPort(), echo(8), 2)) {
                CallException e = assertThrows(CallException.class, c::call);
                assertTrue(e.getMessage().contains("not a ZeroMQ socket"), e.getMessage());
            }
        }
    }

    @Test
    void aPeerOfTheWrongSocketTypeIsRefused() {
        int port = Ports.free();
        try (ZContext ctx = new ZContext()) {
            ZMQ.Socket pub = ctx.createSocket(SocketType.PUB);
            pub.bind("tcp://127.0.0.1:" + port);
            try (ZmtpDealerClient c = new ZmtpDealerClient("127.0.0.1", port, echo(8), 2)) {
                CallException e = assertThrows(CallException.class, c::call);
                assertTrue(e.getMessage().contains("PUB") || e.getMessage().contains("closed"), e.getMessage());
            }
        }
    }

    @Test
    void nothingListeningIsAnError() {
        try (ZmtpDealerClient c = new ZmtpDealerClient("127.0.0.1", Ports.free(), echo(8), 1)) {
            CallException e = assertThrows(CallException.class, c::call);
            assertTrue(e.getMessage().contains("tcp://127.0.0.1:"), e.getMessage());
        }
    }

    @Test
    void greetingAndReadyAreZmtp30() throws IOException {
        byte[] g = ZmtpDealerClient.greeting();
        assertEquals(64, g.length);
        assertEquals((byte) 0xff, g[0]);
        assertEquals(0x7f, g[9]);
        assertEquals(3, g[10]);
        assertEquals("NULL", new String(g, 12, 4, StandardCharsets.US_ASCII));
        byte[] r = ZmtpDealerClient.ready();
        assertEquals(4, r[0]);
        assertEquals(r.length - 2, r[1]);
        byte[] body = java.util.Arrays.copyOfRange(r, 2, r.length);
        assertEquals("DEALER", ZmtpDealerClient.readyProperty(body, "Socket-Type"));
        assertEquals("", ZmtpDealerClient.readyProperty(body, "Identity"));
    }
}
