package bench.caller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Ports;
import bench.caller.locust.Message;
import java.io.PipedReader;
import java.io.PipedWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * {@code caller --master-port stdin} (LOADGEN.md "A resident caller"): one process, one session
 * per port read, each against a ROUTER playing that cell's master. A session ends by itself once
 * its {@code bench_results} are sent (and they arrive), a new line ends the session that runs,
 * and the end of input ends the caller with 0.
 */
class ResidentCallerTest {
    private static final long WAIT_NANOS = 30_000_000_000L;

    /** A message of one of the {@code wanted} types from any peer: [identity, message]. */
    private static Object[] next(ZMQ.Socket router, String... wanted) {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (System.nanoTime() < deadline) {
            byte[] id = router.recv(0);
            if (id == null) {
                continue;
            }
            Message m = Message.decode(router.recv(0));
            if (List.of(wanted).contains(m.type())) {
                return new Object[] {new String(id, StandardCharsets.UTF_8), m};
            }
        }
        throw new AssertionError("none of " + List.of(wanted) + " within 30 s on " + router.getLastEndpoint());
    }

    private static void send(ZMQ.Socket router, String id, String type, Object data) {
        LocustWorkerOrderTest.send(router, id, type, data);
    }

    private static ZMQ.Socket master(ZContext ctx, int port) {
        ZMQ.Socket router = ctx.createSocket(SocketType.ROUTER);
        router.setReceiveTimeOut(200);
        router.bind("tcp://127.0.0.1:" + port);
        return router;
    }

    /** client_ready, ack, bench_hello: returns the worker's identity. */
    private static String join(ZMQ.Socket router) {
        Object[] ready = next(router, "client_ready");
        String id = (String) ready[0];
        send(router, id, "ack", Map.of("index", 0L));
        next(router, "bench_hello");
        return id;
    }

    @Test
    void oneSessionPerLineUntilTheEndOfInput() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ZContext ctx = new ZContext(); PipedWriter stdin = new PipedWriter()) {
            PipedReader in = new PipedReader(stdin);
            CallerMain.Options opt = CallerMain.parse(new String[] {"--master-host", "127.0.0.1", "--master-port",
                "stdin"}, Map.of("BENCH_MASTER_TIMEOUT_S", "30"));
            assertTrue(opt.resident());
            Future<Integer> code = pool.submit(() -> CallerMain.resident(opt, in));

            // cell 1: a whole test; the session ends after its results, without a quit
            int portA = Ports.free();
            ZMQ.Socket a = master(ctx, portA);
            stdin.write(portA + "\n");
            stdin.flush();
            String idA = join(a);
            // nothing listens on the target: every call is an error, and errors are counted
            send(a, idA, "bench_config", LocustWorkerOrderTest.message(
                    LocustWorkerTest.config("http", Ports.free(), "echo", false, 0, 0.3)));
            send(a, idA, "bench_start", Map.of("start_wall", System.currentTimeMillis() / 1000.0 + 0.1));
            send(a, idA, "spawn", LocustWorkerOrderTest.spawn(1));
            next(a, "spawning_complete");
            Thread.sleep(1600); // past the 1 s warm-up and the 0.3 s measured phase
            send(a, idA, "stop", null);
            Map<?, ?> results = (Map<?, ?>) ((Message) next(a, "bench_results")[1]).data();
            assertEquals(2, ((List<?>) results.get("phases")).size());
            next(a, "client_stopped");

            // cell 2: a new node joins the next master; a line while it runs ends that session
            int portB = Ports.free();
            ZMQ.Socket b = master(ctx, portB);
            stdin.write(portB + "\n");
            stdin.flush();
            String idB = join(b);
            assertNotEquals(idA, idB);
            int portC = Ports.free();
            ZMQ.Socket c = master(ctx, portC);
            stdin.write("not a port\n" + portC + "\n"); // a bad line is skipped with a warning
            stdin.flush();
            String idC = join(c);
            assertNotEquals(idB, idC);

            stdin.close(); // end of input: the caller ends its session and exits 0
            assertEquals(0, code.get(30, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
    }
}
