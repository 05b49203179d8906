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
 * The Java worker (a separate JVM, {@code bench.Main caller}) against the real pinned Locust
 * master ({@code .venv/bin/python -m locust --master --headless --expect-workers 1}) running
 * src/test/resources/bench/caller/master_locustfile.py, the master side of LOADGEN.md, and the
 * real Python service: ready, hello/config, spawn, start, stats, stop, results, quit; a
 * master killed with SIGKILL; a config of another protocol version.
 */
class LocustWorkerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void venv() {
        assumeTrue(PythonProcess.available(), PythonProcess.python() + " is missing (make setup): skipped");
    }

    /** A bench_config as the master sends it (the body as body_b64 for the test locustfile). */
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

    record Run(PythonProcess master, Process worker, Path out, Path workerLog) implements AutoCloseable {
        JsonNode output() throws IOException {
            return JSON.readTree(Files.readString(out));
        }

        String workerLogText() throws IOException {
            return Files.readString(workerLog);
        }

        @Override
        public void close() throws Exception {
            worker.destroyForcibly().waitFor();
            master.close();
            Files.deleteIfExists(out);
            Files.deleteIfExists(workerLog);
        }
    }

    static Run start(ObjectNode config, int users, Map<String, String> env) throws IOException {
        int masterPort = Ports.free();
        Path out = Files.createTempFile("bench-caller-master-", ".json");
        Files.delete(out);
        PythonProcess master = PythonProcess.start(PythonProcess.repo(), Map.of("BENCH_TEST_CONFIG", config.toString(),
                "BENCH_TEST_OUT", out.toString()), "-m", "locust", "--master", "--headless", "--expect-workers", "1",
                "-u", String.valueOf(users), "-r", "100", "-f", Interop.script("master_locustfile.py").toString(),
                "--master-bind-host", "127.0.0.1", "--master-bind-port", String.valueOf(masterPort));
        Path log = Files.createTempFile("bench-caller-worker-", ".log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "bench.Main", "caller", "--master-host", "127.0.0.1",
                "--master-port", String.valueOf(masterPort)));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return new Run(master, pb.start(), out, log);
    }

    static int awaitExit(Process p, int seconds, Run run) throws Exception {
        assertTrue(p.waitFor(seconds, TimeUnit.SECONDS), "still running after " + seconds + " s; worker log:\n"
                + run.workerLogText() + "\nmaster log:\n" + run.master().logTail(3000));
        return p.exitValue();
    }

    static JsonNode measuredCell(JsonNode out, String name) {
        JsonNode results = out.get("results");
        assertEquals(1, results.size(), "one bench_results: " + out);
        JsonNode r = results.get(0);
        assertEquals("java", r.get("caller").asText());
        assertEquals(1, r.get("protocol").asInt());
        assertEquals(2, r.get("phases").size());
        assertEquals("warmup", r.get("phases").get(0).get("name").asText());
        assertTrue(r.get("phases").get(0).get("cells").has(name), "the warm-up is run too");
        JsonNode m = r.get("phases").get(1);
        assertTrue(m.get("measured").asBoolean());
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
            JsonNode hello = out.get("hellos").get(0);
            assertEquals("java", hello.get("caller").asText());
            assertEquals(1, hello.get("protocol").asInt());
            assertEquals(run.worker().pid(), hello.get("pid").asLong());
            JsonNode m = measuredCell(out, "python_http_echo");
            JsonNode cell = m.get("cells").get("python_http_echo");
            long requests = cell.get("requests").asLong();
            assertTrue(requests > 200, "requests " + requests);
            assertEquals(0, cell.get("errors").asLong(), cell.toString());
            assertEquals(0, cell.get("wrong").asLong());
            assertEquals(requests, Histograms.decode(cell.get("histogram").asText()).getTotalCount());
            assertEquals(cell.get("histogram").asText(), cell.get("histogram_uncorrected").asText());
            assertEquals(0, m.get("issued").asLong());
            assertTrue(out.get("stats_requests").asLong() >= requests, "Locust's UI saw the requests: " + out);
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
            assertNotEquals(cell.get("histogram").asText(), cell.get("histogram_uncorrected").asText());
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

    @Test
    void aConfigOfAnotherProtocolIsRefused() throws Exception {
        ObjectNode c = config("http", 1, "echo", false, 0, 1.0);
        c.put("protocol", 2);
        try (Run run = start(c, 1, Map.of())) {
            assertEquals(1, awaitExit(run.worker(), 30, run));
            assertTrue(run.workerLogText().contains("bench_config has protocol 2; this caller speaks protocol 1"),
                    run.workerLogText());
        }
    }
}
