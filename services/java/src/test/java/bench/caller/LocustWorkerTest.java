package bench.caller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import bench.Ports;
import bench.caller.engine.Histograms;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java worker (a separate JVM, {@code bench.Main caller}) against the harness's own master:
 * the pinned Locust running harness/loadgen/locustfile.py with the cell file and command line a
 * real run gives a manifest caller's master (src/test/resources/bench/caller/real_master.py),
 * and the real Python service: ready, hello/config, spawn, start, stats, stop, results, quit;
 * a master killed with SIGKILL. (A config of another protocol version, which the harness's
 * master never sends, is LocustWorkerOrderTest's.)
 */
class LocustWorkerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void venv() {
        assumeTrue(PythonProcess.available(), PythonProcess.python() + " is missing (make setup): skipped");
    }

    /** A bench_config as the master sends it (the body as body_b64 for real_master.py). */
    static ObjectNode config(String transport, int port, String op, boolean open, double rate, double measureS) {
        ObjectNode c = JSON.createObjectNode();
        c.put("protocol", 1).put("cell", "java.python." + transport + "." + op + ".r0")
                .put("name", "python_" + transport + "_" + op).put("index", 0).put("workers", 1).put("timeout_s", 2.0);
        c.putObject("target").put("service", "python").put("transport", transport).put("host", "127.0.0.1")
                .put("port", port).put("redis_url", "").put("queue", "");
        ObjectNode r = c.putObject("request").put("op", op);
        r.putNull("expect");
        if (op.equals("echo")) {
            r.put("body_b64", Base64.getEncoder().encodeToString(Cells.ECHO_64));
            r.putNull("opcodes");
        } else {
            r.put("body_b64", Base64.getEncoder().encodeToString(Cells.diff().body()));
            var ops = r.putArray("opcodes");
            for (var o : Cells.diff().opcodes()) {
                ops.addArray().add(o.tag()).add(o.i1()).add(o.i2()).add(o.j1()).add(o.j2());
            }
        }
        ObjectNode plan = c.putObject("plan");
        var phases = plan.putArray("phases");
        ObjectNode w = phases.addObject().put("name", "warmup").put("duration_s", 1.0).put("measured", false);
        ObjectNode m = phases.addObject().put("name", "measure").put("duration_s", measureS).put("measured", true);
        if (open) {
            w.put("rate", rate);
            m.put("rate", rate);
        } else {
            w.putNull("rate");
            m.putNull("rate");
        }
        plan.put("open_loop", open).put("arrival", "poisson").put("seed", 3).putNull("slo");
        return c;
    }

    record Run(PythonProcess master, Process worker, Path dir, Path workerLog) implements AutoCloseable {
        /** The master's merged bench_results (harness/loadgen/locustfile.py writes them on stop). */
        JsonNode output() throws IOException {
            Path results = dir.resolve("results.json");
            assertTrue(Files.exists(results), "the master wrote no results; its log:\n" + master.logTail(3000));
            return JSON.readTree(Files.readString(results));
        }

        /** The Aggregated row of Locust's own statistics (--csv): what its UI counted. */
        long locustRequests() throws IOException {
            List<String> lines = Files.readAllLines(dir.resolve("locust_stats.csv"));
            List<String> head = List.of(lines.get(0).split(","));
            int col = head.indexOf("Request Count");
            for (String l : lines) {
                String[] f = l.split(",");
                if (l.contains("Aggregated")) {
                    return Long.parseLong(f[col]);
                }
            }
            throw new AssertionError("no Aggregated row in locust_stats.csv: " + lines);
        }

        String workerLogText() throws IOException {
            return Files.readString(workerLog);
        }

        @Override
        public void close() throws Exception {
            worker.destroyForcibly().waitFor();
            master.close();
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
            Files.deleteIfExists(workerLog);
        }
    }

    static Run start(ObjectNode config, int users, Map<String, String> env) throws IOException {
        int masterPort = Ports.free();
        Path dir = Files.createTempDirectory("bench-caller-master-");
        PythonProcess master = PythonProcess.start(PythonProcess.repo(), Map.of(),
                Interop.script("real_master.py").toString(), "--config", config.toString(), "--dir", dir.toString(),
                "--port", String.valueOf(masterPort), "--users", String.valueOf(users));
        Path log = Files.createTempFile("bench-caller-worker-", ".log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "bench.Main", "caller", "--master-host", "127.0.0.1",
                "--master-port", String.valueOf(masterPort)));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return new Run(master, pb.start(), dir, log);
    }

    static int awaitExit(Process p, int seconds, Run run) throws Exception {
        assertTrue(p.waitFor(seconds, TimeUnit.SECONDS), "still running after " + seconds + " s; worker log:\n"
                + run.workerLogText() + "\nmaster log:\n" + run.master().logTail(3000));
        return p.exitValue();
    }

    /**
     * The measured phase of the one worker's own bench_results (as the master kept them in
     * "workers"), after checking that the master's merge of them holds the same counts.
     */
    static JsonNode measuredCell(JsonNode out, String name) {
        JsonNode workers = out.get("workers");
        assertEquals(1, workers.size(), "one worker's bench_results: " + out);
        JsonNode w = workers.get(0);
        assertEquals("java", w.get("caller").asText());
        assertEquals(0, w.get("index").asInt());
        assertEquals(2, w.get("phases").size());
        assertEquals("warmup", w.get("phases").get(0).get("name").asText());
        assertTrue(w.get("phases").get(0).get("cells").has(name), "the warm-up is run too");
        JsonNode m = w.get("phases").get(1);
        assertTrue(m.get("measured").asBoolean());
        JsonNode merged = out.get("phases").get(1);
        assertEquals(m.get("issued").asLong(), merged.get("issued").asLong());
        assertEquals(m.get("cells").get(name).get("requests").asLong(),
                merged.get("cells").get(name).get("requests").asLong(), "the master merged this worker's results");
        return m;
    }

    @Test
    void closedLoopEchoOverHttpFromReadyToQuit() throws Exception {
        int port = Ports.free();
        try (PythonProcess svc = PythonProcess.service("http", "--host", "127.0.0.1", "--port", "" + port);
                Run run = start(config("http", port, "echo", false, 0, 2.0), 3, Map.of())) {
            assertEquals(0, awaitExit(run.worker(), 60, run), "exit 0 on quit; log:\n" + run.workerLogText());
            assertTrue(run.master().process().waitFor(20, TimeUnit.SECONDS), run.master().logTail(2000));
            JsonNode out = run.output();
            JsonNode m = measuredCell(out, "python_http_echo");
            JsonNode cell = m.get("cells").get("python_http_echo");
            long requests = cell.get("requests").asLong();
            assertTrue(requests > 200, "requests " + requests);
            assertEquals(0, cell.get("errors").asLong(), cell.toString());
            assertEquals(0, cell.get("wrong").asLong());
            assertEquals(requests, Histograms.decode(cell.get("histogram").asText()).getTotalCount());
            assertEquals(cell.get("histogram").asText(), cell.get("histogram_uncorrected").asText());
            assertEquals(0, m.get("issued").asLong());
            assertTrue(run.locustRequests() >= requests, "Locust's UI saw the requests: " + run.locustRequests());
            String log = run.workerLogText();
            assertTrue(log.contains("starting: mode=caller") && log.contains("3 user(s) running"), log);
        }
    }

    @Test
    void openLoopPoissonDiffOverZmq() throws Exception {
        int port = Ports.free();
        double rate = 400;
        try (PythonProcess svc = PythonProcess.service("zmq", "--host", "127.0.0.1", "--port", "" + port);
                Run run = start(config("zmq", port, "diff", true, rate, 3.0), 4, Map.of())) {
            assertEquals(0, awaitExit(run.worker(), 60, run));
            JsonNode m = measuredCell(run.output(), "python_zmq_diff");
            long issued = m.get("issued").asLong();
            // a Poisson count of mean 1200 has sd ~35
            assertTrue(Math.abs(issued - rate * 3) < 200, "issued " + issued);
            JsonNode cell = m.get("cells").get("python_zmq_diff");
            assertEquals(0, cell.get("errors").asLong() + cell.get("wrong").asLong(), cell.toString());
            assertTrue(cell.get("requests").asLong() >= issued - 10, cell.get("requests") + " of " + issued);
            assertTrue(m.get("dropped").asLong() < 10, m.toString());
            assertTrue(m.get("wakeup_lag_us").get("count").asLong() > 0, m.toString());
            // corrected: from each call's intended send time, so never below the uncorrected (from the
            // actual send); they are equal when every send was on time within the histogram's precision
            var corrected = Histograms.decode(cell.get("histogram").asText());
            var uncorrected = Histograms.decode(cell.get("histogram_uncorrected").asText());
            assertEquals(corrected.getTotalCount(), uncorrected.getTotalCount());
            assertTrue(corrected.getMean() >= uncorrected.getMean(), corrected.getMean() + " < " + uncorrected.getMean());
        }
    }

    @Test
    void aMasterKilledWithSigkillMakesTheWorkerExitWithinTheTimeout() throws Exception {
        int port = Ports.free();
        try (PythonProcess svc = PythonProcess.service("http", "--host", "127.0.0.1", "--port", "" + port);
                Run run = start(config("http", port, "echo", false, 0, 60.0), 1, Map.of("BENCH_MASTER_TIMEOUT_S", "3"))) {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!run.workerLogText().contains("user(s) running")) {
                assertTrue(System.nanoTime() < deadline && run.worker().isAlive(), run.workerLogText());
                Thread.sleep(100);
            }
            run.master().process().destroyForcibly(); // SIGKILL: no quit, no more heartbeats
            long killed = System.nanoTime();
            int code = awaitExit(run.worker(), 8, run);
            double took = (System.nanoTime() - killed) / 1e9;
            assertNotEquals(0, code);
            assertTrue(took >= 2.0 && took < 6.0, "exited " + took + " s after the kill");
            assertTrue(run.workerLogText().contains("silent for more than 3 s"), run.workerLogText());
        }
    }
}
