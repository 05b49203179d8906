package bench.caller.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import bench.Ports;
import bench.RedisServer;
import bench.caller.BenchConfig;
import bench.caller.Cells;
import bench.caller.PythonProcess;
import bench.caller.engine.Check;
import bench.caller.engine.LoadEngine;
import bench.caller.engine.Tracker;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every transport's client against the real Python service (services/python): echo and diff
 * replies are right, by the generator's own check, many times over one client.
 */
class ClientsTest {
    private static final int CALLS = 200;

    @BeforeAll
    static void venv() {
        assumeTrue(PythonProcess.available(), PythonProcess.python() + " is missing (make setup): skipped");
    }

    /** Call until the service answers right (it is starting), at most 30 s. */
    static void awaitRight(Client c, Check check, PythonProcess service) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        String last = "";
        while (System.nanoTime() < deadline) {
            assertTrue(service.process().isAlive(), "the service died:\n" + service.logTail(2000));
            try {
                String wrong = check.wrong(c.call());
                if (wrong == null) {
                    return;
                }
                last = wrong;
            } catch (CallException e) {
                last = e.getMessage();
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no right reply within 30 s; last: " + last + "\n" + service.logTail(2000));
    }

    static void callMany(BenchConfig cfg, PythonProcess service, String http) throws Exception {
        callMany(cfg, service, new Clients.Choice(http, "user", "zmtp", "async"));
    }

    static void callMany(BenchConfig cfg, PythonProcess service, Clients.Choice choice) throws Exception {
        ClientFactory f = Clients.factory(cfg, choice);
        try (Client c = f.open()) {
            Check check = new Check(cfg.request());
            awaitRight(c, check, service);
            for (int i = 0; i < CALLS; i++) {
                assertNull(check.wrong(c.call()), cfg.target().transport() + " call " + i);
            }
        }
        // and through the engine: 2 users, closed loop, stopped once more than 10 calls were made
        // (0.5 s on an idle machine; a loaded CI host once stalled a fixed 0.5 s window to 2 calls)
        LoadEngine e = new LoadEngine(Cells.closed(0, 30), cfg.request(), f);
        e.setUsers(2);
        e.start(System.nanoTime());
        Tracker t = e.tracker();
        long until = System.nanoTime() + 30_000_000_000L;
        while (t.requests(1) <= 10 && System.nanoTime() < until) {
            Thread.sleep(50);
        }
        e.stop();
        assertTrue(e.awaitUsers(System.nanoTime() + 10_000_000_000L, () -> { }));
        String what = cfg.target().transport() + " " + cfg.request().op() + " " + choice + " " + t.samples(1);
        assertTrue(t.requests(1) > 10, what + ": requests " + t.requests(1));
        assertEquals(0, t.errors(1), what);
        assertEquals(0, t.wrong(1), what);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"http", "zmq", "grpc"})
    void echoAndDiffOverTcpTransports(String transport) throws Exception {
        int port = Ports.free();
        try (PythonProcess svc = PythonProcess.service(transport, "--host", "127.0.0.1", "--port", "" + port)) {
            List<Clients.Choice> choices = switch (transport) {
                case "http" -> Clients.HTTP_CLIENTS.stream().map(h -> new Clients.Choice(h, "user", "zmtp", "async")).toList();
                case "zmq" -> Clients.ZMQ_CLIENTS.stream().map(z -> new Clients.Choice("socket", "user", z, "async")).toList();
                case "grpc" -> Clients.GRPC_CLIENTS.stream().flatMap(g -> Clients.GRPC_CHANNELS.stream()
                        .map(ch -> new Clients.Choice("socket", ch, "zmtp", g))).toList();
                default -> List.of(Clients.Choice.DEFAULT);
            };
            for (Clients.Choice choice : choices) {
                callMany(Cells.config(Cells.tcp(transport, port), Cells.echo(Cells.ECHO_64), Cells.closed(0, 1), 2),
                        svc, choice);
                callMany(Cells.config(Cells.tcp(transport, port), Cells.diff(), Cells.closed(0, 1), 2), svc, choice);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"redis", "celery"})
    void echoAndDiffOverRedisTransports(String transport) throws Exception {
        assumeTrue(RedisServer.onPath("redis-server"), "redis-server is not on PATH: skipped");
        String queue = transport.equals("celery") ? "bench.python" : "bench:python";
        try (RedisServer redis = RedisServer.start();
                PythonProcess svc = PythonProcess.service(transport, "--redis-url", redis.url(), "--queue", queue)) {
            callMany(Cells.config(Cells.redis(transport, redis.url(), queue), Cells.echo(Cells.ECHO_64),
                    Cells.closed(0, 1), 5), svc, "socket");
            callMany(Cells.config(Cells.redis(transport, redis.url(), queue), Cells.diff(), Cells.closed(0, 1), 5),
                    svc, "socket");
        }
    }

    @Test
    void aLongEchoIsCheckedAndAnErrorStatusIsAWrongReply() throws Exception {
        int port = Ports.free();
        byte[] big = new byte[300_000];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) ('a' + i % 26);
        }
        try (PythonProcess svc = PythonProcess.service("http", "--host", "127.0.0.1", "--port", "" + port)) {
            for (String http : List.of("socket", "nio")) { // the body comes in many reads
                callMany(Cells.config(Cells.tcp("http", port), Cells.echo(big), Cells.closed(0, 1), 2), svc, http);
                // a diff body that is not JSON: the service answers 400, which is not right
                BenchConfig bad = Cells.config(Cells.tcp("http", port),
                        new Request("diff", "not json".getBytes(), Cells.diff().opcodes()), Cells.closed(0, 1), 2);
                try (Client c = Clients.factory(bad, http, "user").open()) {
                    CallReply r = c.call();
                    assertEquals("400", r.status(), http);
                    assertTrue(new Check(bad.request()).wrong(r).contains("bad_request"), http);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"socket", "nio"})
    void aServerThatNeverAnswersIsAnErrorAfterTheTimeout(String http) throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50,
                java.net.InetAddress.getLoopbackAddress())) {
            BenchConfig cfg = Cells.config(Cells.tcp("http", silent.getLocalPort()), Cells.echo(Cells.ECHO_64),
                    Cells.closed(0, 1), 0.5);
            try (Client c = Clients.factory(cfg, http, "user").open()) {
                for (int i = 0; i < 2; i++) { // and again on a new connection
                    long t0 = System.nanoTime();
                    CallException e = assertThrows(CallException.class, c::call, http);
                    double took = (System.nanoTime() - t0) / 1e9;
                    assertTrue(e.getMessage().contains("within"), e.getMessage());
                    assertTrue(took >= 0.45 && took < 2.0, http + " gave up after " + took + " s");
                }
            }
        }
    }

    @Test
    void noConsumerOnTheQueueIsAnErrorAfterTheTimeout() throws Exception {
        assumeTrue(RedisServer.onPath("redis-server"), "redis-server is not on PATH: skipped");
        try (RedisServer redis = RedisServer.start()) {
            for (String transport : List.of("redis", "celery")) {
                BenchConfig cfg = Cells.config(Cells.redis(transport, redis.url(), "bench.nobody"),
                        Cells.echo(Cells.ECHO_64), Cells.closed(0, 1), 0.5);
                try (Client c = Clients.factory(cfg, "socket", "user").open()) {
                    long t0 = System.nanoTime();
                    CallException e = assertThrows(CallException.class, c::call, transport);
                    double took = (System.nanoTime() - t0) / 1e9;
                    assertTrue(e.getMessage().contains("within"), e.getMessage());
                    assertTrue(took >= 0.45 && took < 2.0, transport + " gave up after " + took + " s");
                }
            }
        }
    }

    @Test
    void nothingListeningIsAnErrorNotAReply() {
        int port = Ports.free();
        for (String transport : List.of("http", "zmq", "grpc")) {
            BenchConfig cfg = Cells.config(Cells.tcp(transport, port), Cells.echo(Cells.ECHO_64), Cells.closed(0, 1), 1);
            try (Client c = Clients.factory(cfg, "socket", "user").open()) {
                assertThrows(CallException.class, c::call, transport);
            }
        }
        BenchConfig cfg = Cells.config(Cells.tcp("http", port), Cells.echo(Cells.ECHO_64), Cells.closed(0, 1), 1);
        try (Client c = Clients.factory(cfg, "nio", "user").open()) {
            assertThrows(CallException.class, c::call, "nio");
        }
    }
}
