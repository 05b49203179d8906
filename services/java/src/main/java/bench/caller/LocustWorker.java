package bench.caller;

import bench.caller.client.ClientFactory;
import bench.caller.engine.LoadEngine;
import bench.caller.engine.Tracker;
import bench.caller.locust.Message;
import bench.caller.locust.UiStats;
import java.lang.management.ManagementFactory;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import java.util.logging.Logger;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A Locust worker (the pinned Locust 2.47's master/worker channel: a DEALER whose identity is
 * the node id, one msgpack frame {@code [type, data, node_id]} per message) that speaks the
 * harness's {@code bench_*} messages (contract/LOADGEN.md). One thread owns the socket: it
 * receives, answers, and sends the heartbeat (1 s), {@code bench_hello} (0.5 s, until the
 * config came) and {@code stats} (3 s) on time; users run in their own threads.
 */
public final class LocustWorker implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(LocustWorker.class.getName());
    public static final String LOCUST_VERSION = "2.47.0";
    public static final String USER_CLASS = "BenchCell";
    static final long HEARTBEAT_NANOS = 1_000_000_000L;
    static final long HELLO_NANOS = 500_000_000L;
    static final long STATS_NANOS = 3_000_000_000L;
    /**
     * {@code client_ready} is sent again until {@code ack}: a ROUTER refuses a reconnecting peer
     * whose identity it still holds, until it noticed the old connection closed, and what the
     * refused connection carried is lost (Locust's worker retries every 5 s, its CONNECT_TIMEOUT).
     */
    static final long READY_RETRY_NANOS = 1_000_000_000L;
    /**
     * No {@code ack} this long after the first {@code client_ready} of a connection: the connection
     * is replaced. JeroMQ 0.6.0 sometimes never writes what a connected socket sends (README.md,
     * the connecter fault; seen here as a master that never heard {@code client_ready}).
     */
    static final long READY_RECONNECT_NANOS = 4_000_000_000L;
    private static final int POLL_MS = 50;

    /** How the worker ended: 0 after {@code quit}, else the reason (the caller prints it and exits non-zero). */
    public record Exit(int code, String reason) {
    }

    private final String masterHost;
    private final int masterPort;
    private final long masterTimeoutNanos;
    private final String callerName;
    private final Function<BenchConfig, ClientFactory> clients;
    private final String nodeId;
    private final ZContext ctx = new ZContext(1);
    private final Deque<Message> backlog = new ArrayDeque<>();
    private ZMQ.Socket socket;
    private long lastHeard;
    private long nextHeartbeat;
    private long nextHello;
    private long nextStats;
    private long nextReady;
    private long readySince;
    private boolean acked;
    private String state = "ready";
    private BenchConfig config;
    private LoadEngine engine;
    private ClientFactory factory;
    private Long pendingStart; // bench_start before the config
    private Integer pendingUsers; // spawn before the config
    private double lastSpawnTs = Double.NEGATIVE_INFINITY;
    private Exit exit;
    private final boolean sampleCpu = "1".equals(System.getenv("BENCH_CALLER_CPU"));
    private boolean endAfterResults;
    private boolean resultsSent;
    private java.util.function.BooleanSupplier abandon = () -> false;
    private final List<Double> cpu = new java.util.concurrent.CopyOnWriteArrayList<>();

    public LocustWorker(String masterHost, int masterPort, double masterTimeoutS, String callerName,
            Function<BenchConfig, ClientFactory> clients) {
        this.masterHost = masterHost;
        this.masterPort = masterPort;
        this.masterTimeoutNanos = (long) (masterTimeoutS * 1e9);
        this.callerName = callerName;
        this.clients = clients;
        this.nodeId = hostname() + "_" + UUID.randomUUID().toString().replace("-", "");
        ctx.setLinger(0);
    }

    private static String hostname() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            String h = System.getenv("HOSTNAME");
            return h == null || h.isEmpty() ? "localhost" : h;
        }
    }

    public String nodeId() {
        return nodeId;
    }

    /**
     * A resident caller's session (LOADGEN.md "A resident caller"): the session ends once
     * {@code bench_results} are sent (they are flushed to the master before {@link #close}
     * returns), and as soon as {@code abandon} turns true (a new master was given).
     */
    public void residentSession(java.util.function.BooleanSupplier abandon) {
        this.endAfterResults = true;
        this.abandon = abandon;
    }

    private String endpoint() {
        return "tcp://" + masterHost + ":" + masterPort;
    }

    /** Connect, send {@code client_ready}, and serve the master until {@code quit} or a fatal error. */
    public Exit run() throws InterruptedException {
        long t0 = System.nanoTime();
        lastHeard = t0;
        if (!connect()) {
            return new Exit(1, "no Locust master answered at " + endpoint() + " within "
                    + masterTimeoutNanos / 1_000_000_000L + " s (no ZeroMQ handshake); start the master first"
                    + " (locust --master --master-bind-host " + masterHost + " --master-bind-port " + masterPort
                    + ") or fix --master-host/--master-port");
        }
        sendReady();
        while (exit == null) {
            Message m = backlog.isEmpty() ? receive(POLL_MS) : backlog.poll();
            if (m != null) {
                handle(m);
            }
            timers();
        }
        return exit;
    }

    private boolean connect() {
        long deadline = lastHeard + masterTimeoutNanos;
        while (System.nanoTime() - deadline < 0) {
            socket = ZmqConnect.connect(ctx, SocketType.DEALER, endpoint(), s -> {
                s.setIdentity(nodeId.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                s.setTCPKeepAlive(1);
                s.setSendTimeOut(1000);
            }, 1000, 1);
            if (socket != null) {
                return true;
            }
        }
        return false;
    }

    private void sendReady() {
        send("client_ready", LOCUST_VERSION);
        readySince = System.nanoTime();
        nextReady = readySince + READY_RETRY_NANOS;
        long now = System.nanoTime();
        nextHeartbeat = now + HEARTBEAT_NANOS;
        nextStats = now + STATS_NANOS;
    }

    void send(String type, Object data) {
        if (!socket.send(new Message(type, data, nodeId).encode(), 0)) {
            LOG.warning("could not send " + type + " to the master within 1 s (its queue is full or it is gone)");
        }
    }

    private Message receive(int timeoutMs) {
        socket.setReceiveTimeOut(timeoutMs);
        byte[] frame = socket.recv(0);
        if (frame == null) {
            return null;
        }
        lastHeard = System.nanoTime();
        try {
            return Message.decode(frame);
        } catch (IllegalArgumentException e) {
            LOG.warning("ignored a frame from the master that is not a Locust message: " + e.getMessage());
            return null;
        }
    }

    private void timers() {
        if (exit != null) {
            return; // the message just handled ended the session (quit, results sent, a refused config)
        }
        if (abandon.getAsBoolean()) {
            exit = new Exit(1, "a new master was given before this session ended; left " + endpoint());
            stopEngine();
            return;
        }
        long now = System.nanoTime();
        if (now - lastHeard > masterTimeoutNanos) {
            exit = new Exit(1, "the Locust master at " + endpoint() + " was silent for more than "
                    + masterTimeoutNanos / 1_000_000_000L + " s (BENCH_MASTER_TIMEOUT_S); giving up");
            stopEngine();
            return;
        }
        if (now - nextHeartbeat >= 0) {
            nextHeartbeat = now + HEARTBEAT_NANOS;
            Map<String, Object> hb = new LinkedHashMap<>();
            hb.put("state", state);
            hb.put("current_cpu_usage", cpuPercent());
            hb.put("current_memory_usage", rssBytes());
            send("heartbeat", hb);
        }
        if (!acked && now - readySince >= READY_RECONNECT_NANOS) {
            replaceConnection("no ack " + READY_RECONNECT_NANOS / 1_000_000_000L + " s after client_ready");
            return;
        }
        if (!acked && now - nextReady >= 0) {
            send("client_ready", LOCUST_VERSION);
            nextReady = now + READY_RETRY_NANOS;
        }
        if (acked && config == null && now - nextHello >= 0) {
            nextHello = now + HELLO_NANOS;
            Map<String, Object> hello = new LinkedHashMap<>();
            hello.put("protocol", BenchConfig.PROTOCOL);
            hello.put("caller", callerName);
            hello.put("pid", ProcessHandle.current().pid());
            send("bench_hello", hello);
        }
        if (now - nextStats >= 0) {
            nextStats = now + STATS_NANOS;
            sendStats();
        }
    }

    private void sendStats() {
        List<UiStats> ui = engine == null ? List.of() : engine.uiStats();
        String name = config == null ? "" : config.name();
        String method = config == null ? "" : config.target().transport();
        send("stats", UiStats.report(ui, name, method, engine == null ? 0 : engine.userCount(), USER_CLASS));
    }

    private long lastCpuNanos = -1;
    private long lastCpuWall;

    private double cpuPercent() {
        long cpu = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
        long wall = System.nanoTime();
        double pct = lastCpuNanos < 0 ? 0.0 : 100.0 * (cpu - lastCpuNanos) / Math.max(1, wall - lastCpuWall);
        lastCpuNanos = cpu;
        lastCpuWall = wall;
        return Math.round(pct * 10) / 10.0;
    }

    void handle(Message m) throws InterruptedException {
        switch (m.type()) {
            case "ack" -> {
                if (!acked) {
                    LOG.info("the master acknowledged node " + nodeId + (m.data() instanceof Map<?, ?> d
                            ? " (index " + d.get("index") + ")" : ""));
                }
                acked = true;
                nextHello = System.nanoTime();
            }
            case "heartbeat" -> {
            }
            case "bench_config" -> onConfig(m.data());
            case "bench_start" -> onStart(m.data());
            case "spawn" -> onSpawn(m.data());
            case "spawning_complete" -> {
            }
            case "stop" -> onStop();
            case "quit" -> {
                LOG.info("quit from the master: exiting");
                stopEngine();
                exit = new Exit(0, "quit");
            }
            case "reconnect" -> replaceConnection("reconnect from the master");
            default -> LOG.fine("ignored a '" + m.type() + "' message from the master");
        }
    }

    /** A new connection to the master (same node id), then {@code client_ready} again. */
    private void replaceConnection(String why) {
        LOG.warning(why + ": replacing the connection");
        ctx.destroySocket(socket);
        try {
            Thread.sleep(100); // let the master's ROUTER see the old connection close
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        acked = false;
        if (!connect()) {
            exit = new Exit(1, "could not reconnect to the Locust master at " + endpoint());
            return;
        }
        sendReady();
    }

    private void onConfig(Object data) {
        long protocol = BenchConfig.protocolOf(data);
        if (protocol != BenchConfig.PROTOCOL) {
            String msg = "bench_config has protocol " + protocol + "; this caller speaks protocol "
                    + BenchConfig.PROTOCOL + " (contract/LOADGEN.md)";
            sendException(msg);
            exit = new Exit(1, msg);
            return;
        }
        BenchConfig c;
        try {
            c = BenchConfig.parse(data);
        } catch (IllegalArgumentException e) {
            String msg = "bench_config refused: " + e.getMessage();
            sendException(msg);
            exit = new Exit(1, msg);
            return;
        }
        if (engine != null && (engine.userCount() > 0 || engine.tracker() != null)) {
            // The master answers every bench_hello, so a hello sent before the first config came
            // brings a second one, which may arrive after bench_start: the started test keeps its engine.
            LOG.info("bench_config once the test has started: ignored (the cell changes only between tests)");
            return;
        }
        config = c;
        LOG.info("bench_config: cell=" + c.cell() + " name=" + c.name() + " index=" + c.index() + "/" + c.workers()
                + " target=" + c.target() + " op=" + c.request().op() + " body=" + c.request().body().length
                + "B timeout_s=" + c.timeoutS() + " plan=" + c.plan());
        engine = newEngine(c);
        if (pendingStart != null) {
            engine.start(pendingStart);
            pendingStart = null;
        }
        if (pendingUsers != null) {
            spawn(pendingUsers);
            pendingUsers = null;
        }
    }

    /** A new engine for the cell {@code c}; the previous engine's client factory (its users ended) is closed. */
    private LoadEngine newEngine(BenchConfig c) {
        if (factory != null) {
            factory.close();
        }
        factory = clients.apply(c);
        return new LoadEngine(c.plan(), c.request(), factory);
    }

    private void sendException(String msg) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("msg", msg);
        e.put("traceback", "");
        send("exception", e);
    }

    private void onStart(Object data) {
        if (!(data instanceof Map<?, ?> d) || !(d.get("start_wall") instanceof Number wall)) {
            LOG.warning("bench_start without a numeric start_wall: ignored");
            return;
        }
        // the master's Unix time, once, to this process's monotonic clock
        long start = System.nanoTime() + Math.round((wall.doubleValue() - System.currentTimeMillis() / 1000.0) * 1e9);
        if (engine == null) {
            pendingStart = start;
        } else {
            engine.start(start);
        }
        if (sampleCpu && config != null) {
            sampleCpuAt(config.plan().bounds(start));
        }
        LOG.info("bench_start: the plan starts in " + Math.round((start - System.nanoTime()) / 1e6) + " ms");
    }

    /**
     * {@code BENCH_CALLER_CPU=1}: this process's CPU seconds (all threads) at each phase start
     * and at the plan's end, for {@code bench_results.cpu} (LOADGEN.md: for generators the
     * harness cannot sample; tools/caller_cpu.py uses it).
     */
    private void sampleCpuAt(long[] bounds) {
        cpu.clear();
        Thread t = new Thread(() -> {
            for (long b : bounds) {
                long left;
                while ((left = b - System.nanoTime()) > 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(left);
                }
                cpu.add(processCpuSeconds());
            }
        }, "cpu-sampler");
        t.setDaemon(true);
        t.start();
    }

    /** Resident memory, as Locust's worker reports it (psutil's rss); the JVM's committed heap where /proc is missing. */
    static long rssBytes() {
        try {
            String[] f = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/statm")).trim().split(" ");
            return Long.parseLong(f[1]) * 4096L;
        } catch (java.io.IOException | RuntimeException e) {
            return Runtime.getRuntime().totalMemory();
        }
    }

    static double processCpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime() / 1e9;
    }

    private void onSpawn(Object data) {
        send("spawning", null);
        if (!(data instanceof Map<?, ?> job) || !(job.get("user_classes_count") instanceof Map<?, ?> counts)) {
            LOG.warning("spawn without user_classes_count: ignored");
            return;
        }
        double ts = job.get("timestamp") instanceof Number n ? n.doubleValue() : Double.POSITIVE_INFINITY;
        if (ts <= lastSpawnTs) {
            LOG.info("discarded a spawn message older than the previous one");
            return;
        }
        lastSpawnTs = ts;
        int n = 0;
        for (Object v : counts.values()) {
            n += v instanceof Number c ? c.intValue() : 0;
        }
        state = "spawning";
        if (engine == null) {
            pendingUsers = n;
            return;
        }
        spawn(n);
    }

    private void spawn(int n) {
        engine.setUsers(n);
        Map<String, Object> done = new LinkedHashMap<>();
        done.put("user_classes_count", Map.of(USER_CLASS, (long) n));
        done.put("user_count", (long) n);
        send("spawning_complete", done);
        state = "running";
        LOG.info(n + " user(s) running");
    }

    private void onStop() throws InterruptedException {
        LOG.info("stop from the master");
        pendingUsers = null;
        if (engine != null) {
            engine.stop();
            long deadline = System.nanoTime() + (long) ((config.timeoutS() + 1) * 1e9);
            // keep the channel alive while in-flight requests finish
            if (!engine.awaitUsers(deadline, this::pumpWhileStopping)) {
                LOG.warning("some users were still in a request " + (config.timeoutS() + 1) + " s after stop");
            }
            sendStats();
            send("bench_results", results());
            resultsSent = true;
            engine = newEngine(config);
        }
        pendingStart = null;
        lastSpawnTs = Double.NEGATIVE_INFINITY;
        send("client_stopped", null);
        send("client_ready", LOCUST_VERSION);
        state = "ready";
        if (endAfterResults && resultsSent) {
            exit = new Exit(0, "bench_results sent: the session ends (resident caller)");
        }
    }

    private void pumpWhileStopping() {
        Message m = receive(0);
        if (m != null && !m.type().equals("heartbeat")) {
            backlog.add(m);
        }
        long now = System.nanoTime();
        if (now - nextHeartbeat >= 0) {
            nextHeartbeat = now + HEARTBEAT_NANOS;
            Map<String, Object> hb = new LinkedHashMap<>();
            hb.put("state", "stopping");
            hb.put("current_cpu_usage", cpuPercent());
            hb.put("current_memory_usage", rssBytes());
            send("heartbeat", hb);
        }
    }

    /** The {@code bench_results} data (LOADGEN.md). */
    Map<String, Object> results() {
        Tracker t = engine.tracker();
        if (t == null) { // never started: every phase empty
            engine.start(System.nanoTime());
            t = engine.tracker();
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("index", config.index());
        r.put("caller", callerName);
        r.put("protocol", BenchConfig.PROTOCOL);
        r.put("stopped_early", null);
        r.put("phases", t.results(config.name(), engine.schedule()));
        r.put("cpu", sampleCpu ? new java.util.ArrayList<>(cpu) : List.of());
        return r;
    }

    private void stopEngine() {
        if (engine != null) {
            engine.stop();
        }
    }

    @Override
    public void close() {
        stopEngine();
        if (engine != null) {
            try { // the users end before their shared client parts close (a resident caller lives on)
                engine.awaitUsers(System.nanoTime() + 2_000_000_000L, () -> { });
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (factory != null) {
            factory.close();
        }
        if (resultsSent && endAfterResults) {
            ctx.setLinger(2000); // what is queued (bench_results) reaches the master before the sockets close
        }
        ctx.close();
    }
}
