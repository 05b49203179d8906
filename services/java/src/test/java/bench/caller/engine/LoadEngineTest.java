package bench.caller.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.caller.Cells;
import bench.caller.StallingHttpServer;
import bench.caller.client.AsyncClient;
import bench.caller.client.CallException;
import bench.caller.client.CallReply;
import bench.caller.client.Request;
import bench.caller.client.SocketHttpClient;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.AbstractHistogram;
import org.junit.jupiter.api.Test;

/** LOADGEN.md "Timing and checking", with real HTTP servers that stall or answer wrong. */
class LoadEngineTest {
    private static final long MS = 1_000_000L;

    private static LoadEngine engine(Plan plan, Request r, int port) {
        return new LoadEngine(plan, r, () -> new SocketHttpClient("127.0.0.1", port, r, 2.0));
    }

    private static void run(LoadEngine e, int users, long startInMs, long stopAfterMs) throws InterruptedException {
        e.setUsers(users);
        long start = System.nanoTime() + startInMs * MS;
        e.start(start);
        Thread.sleep(startInMs + stopAfterMs);
        e.stop();
        assertTrue(e.awaitUsers(System.nanoTime() + 5_000 * MS, () -> { }), "users end after stop");
    }

    private static long over(AbstractHistogram h, long us) {
        return h.getCountBetweenValues(us, h.getMaxValue() + 1);
    }

    @Test
    void aStalledResponderInflatesTheCorrectedHistogramButNotTheUncorrected() throws Exception {
        // open loop, 200 requests/s, one user: the 50th request stalls 300 ms, during which ~60 slots fall due
        Plan plan = new Plan(List.of(new PhaseSpec("warmup", 0.1, 200.0, false), new PhaseSpec("measure", 1.5, 200.0,
                true)), true, "constant", 1);
        Request r = Cells.echo(Cells.ECHO_64);
        try (StallingHttpServer server = new StallingHttpServer(50, 300, Long.MAX_VALUE)) {
            LoadEngine e = engine(plan, r, server.port());
            run(e, 1, 50, 1700);
            Tracker t = e.tracker();
            AbstractHistogram corrected = t.corrected(1);
            AbstractHistogram uncorrected = t.uncorrected(1);
            assertEquals(t.requests(1), corrected.getTotalCount());
            assertEquals(t.requests(1), uncorrected.getTotalCount());
            assertTrue(t.requests(1) > 250, "requests " + t.requests(1));
            assertTrue(over(corrected, 300_000) >= 1 && over(uncorrected, 300_000) >= 1, "the stalled request");
            assertTrue(over(corrected, 50_000) >= 30,
                    "slots due during the stall count from their due time: " + over(corrected, 50_000));
            assertTrue(over(uncorrected, 50_000) <= 2, "uncorrected, only the stalled one: " + over(uncorrected, 50_000));
            assertTrue(t.queuedCount(1) >= 30, "queued slots " + t.queuedCount(1));
            assertEquals(0, t.errors(1) + t.wrong(1));
            Map<String, Object> measure = t.results("cell", e.schedule()).get(1);
            assertEquals(299L, measure.get("issued"), "1.5 s at 200/s: 0.005 .. 1.495 s after the phase start");
            assertEquals(0L, measure.get("dropped"));
        }
    }

    @Test
    void closedLoopRecordsOneHistogramForBothAndSkipsTimeOutsideThePlan() throws Exception {
        Request r = Cells.echo(Cells.ECHO_64);
        try (StallingHttpServer server = new StallingHttpServer(-1, 0, Long.MAX_VALUE)) {
            LoadEngine e = engine(Cells.closed(0.2, 0.3), r, server.port());
            run(e, 2, 100, 800); // runs 0.3 s past the plan's end
            Tracker t = e.tracker();
            assertSame(t.corrected(1), t.uncorrected(1));
            long recorded = t.requests(0) + t.requests(1);
            assertTrue(t.requests(0) > 0 && t.requests(1) > 0);
            assertTrue(server.served() > recorded + 10, "requests after the plan are sent but not recorded: "
                    + server.served() + " served, " + recorded + " recorded");
            List<Map<String, Object>> phases = t.results("cell", null);
            assertEquals(false, phases.get(0).get("measured"));
            @SuppressWarnings("unchecked")
            Map<String, Object> cell = (Map<String, Object>) ((Map<String, Object>) phases.get(1).get("cells")).get("cell");
            assertEquals(cell.get("histogram"), cell.get("histogram_uncorrected"));
            assertEquals(0L, phases.get(1).get("issued"));
        }
    }

    @Test
    void wrongRepliesAreCountedWrongWithSamplesAndNoReplyIsAnError() throws Exception {
        Request r = Cells.echo(Cells.ECHO_64);
        try (StallingHttpServer server = new StallingHttpServer(-1, 0, 20)) {
            LoadEngine e = engine(Cells.closed(0.0, 0.5), r, server.port());
            run(e, 1, 20, 600);
            Tracker t = e.tracker();
            assertTrue(t.wrong(1) > 10, "wrong " + t.wrong(1));
            assertEquals(0, t.errors(1));
            assertEquals(t.requests(1), t.corrected(1).getTotalCount(), "wrong replies are recorded with their latency");
            List<String> samples = t.samples(1);
            assertEquals(Tracker.MAX_SAMPLES, samples.size());
            assertTrue(samples.get(0).contains("differs"), samples.get(0));
        }
        int closedPort = bench.Ports.free();
        LoadEngine e = engine(Cells.closed(0.0, 0.3), r, closedPort);
        run(e, 1, 20, 300);
        assertTrue(e.tracker().errors(1) > 0 && e.tracker().wrong(1) == 0, "connection refused is an error");
    }

    @Test
    void openLoopSlotsAtStopAreDroppedAndFreeUsersWakeUpOnTime() throws Exception {
        Plan plan = new Plan(List.of(new PhaseSpec("measure", 10.0, 100.0, true)), true, "poisson", 7);
        Request r = Cells.echo(Cells.ECHO_64);
        try (StallingHttpServer server = new StallingHttpServer(10, 3000, Long.MAX_VALUE)) {
            LoadEngine e = engine(plan, r, server.port());
            run(e, 1, 20, 1000); // the one user is stuck from request 10 on: later slots are never handed out
            Tracker t = e.tracker();
            Map<String, Object> m = t.results("cell", e.schedule()).get(0);
            long issued = (Long) m.get("issued");
            long dropped = (Long) m.get("dropped");
            assertTrue(issued >= 10 && issued <= 12, "issued " + issued);
            assertTrue(dropped > 50 && dropped < 150, "about 90 slots fell due in the stall: " + dropped);
            assertTrue(((Map<?, ?>) m.get("wakeup_lag_us")).get("p50") instanceof Double p50 && p50 < 5000,
                    "free users wake within 5 ms: " + m.get("wakeup_lag_us"));
        }
    }

    /** An asynchronous client whose calls end inline (a dead target) or on another thread, after a delay. */
    private static final class FakeAsync implements AsyncClient {
        private static final java.util.concurrent.ScheduledExecutorService IO =
                java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                    Thread t = new Thread(r, "fake-io");
                    t.setDaemon(true);
                    return t;
                });
        private final boolean inlineFailure;
        private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
        volatile int maxInFlight;

        FakeAsync(boolean inlineFailure) {
            this.inlineFailure = inlineFailure;
        }

        @Override
        public void start(Listener l) {
            maxInFlight = Math.max(maxInFlight, inFlight.incrementAndGet());
            if (inlineFailure) {
                inFlight.decrementAndGet();
                l.done(null, new CallException("refused"));
                return;
            }
            IO.schedule(() -> {
                inFlight.decrementAndGet();
                l.done(CallReply.ok(Cells.ECHO_64), null);
            }, 200, java.util.concurrent.TimeUnit.MICROSECONDS);
        }

        @Override
        public CallReply call() {
            throw new AssertionError("the closed loop of an AsyncClient calls start, not call");
        }

        @Override
        public void close() {
        }
    }

    @Test
    void aClosedLoopOnAnAsyncClientRecordsEveryCallOneAtATimeAndNeverRecurses() throws Exception {
        Request r = Cells.echo(Cells.ECHO_64);
        List<FakeAsync> made = new java.util.concurrent.CopyOnWriteArrayList<>();
        LoadEngine e = new LoadEngine(Cells.closed(0.1, 0.4), r, () -> {
            FakeAsync f = new FakeAsync(false);
            made.add(f);
            return f;
        });
        run(e, 3, 20, 600);
        Tracker t = e.tracker();
        assertTrue(t.requests(1) > 100, "requests " + t.requests(1));
        assertEquals(t.requests(1), t.corrected(1).getTotalCount());
        assertEquals(0, t.errors(1) + t.wrong(1));
        assertTrue(t.corrected(1).getValueAtPercentile(50) >= 200, "each call takes >= 200 us");
        assertEquals(3, made.size());
        for (FakeAsync f : made) {
            assertEquals(1, f.maxInFlight, "one call in flight per user");
        }
        // a target failing inside start: millions of inline failures, no StackOverflowError, users end
        LoadEngine dead = new LoadEngine(Cells.closed(0, 0.3), r, () -> new FakeAsync(true));
        run(dead, 1, 20, 400);
        Tracker d = dead.tracker();
        assertTrue(d.errors(1) > 1000, "errors " + d.errors(1));
        assertEquals(d.errors(1), d.requests(1));
        assertTrue(d.samples(1).get(0).contains("refused"), "error samples kept: " + d.samples(1));
    }
}
