package bench.caller;

import bench.caller.client.Clients;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * {@code java -jar bench-service.jar caller --master-host H --master-port P}: the Java load
 * generator, a Locust worker speaking contract/LOADGEN.md. Logs its effective configuration,
 * exits 0 on the master's {@code quit}, 1 on a fatal error (one line on stderr), 2 on a usage error.
 * With {@code --master-port stdin} it is a resident caller (LOADGEN.md): one session per port
 * read from standard input, the same JVM (and its JIT's work) for every cell; exits 0 at end of input.
 */
public final class CallerMain {
    private static final Logger LOG = Logger.getLogger("bench.caller");
    public static final String USAGE = String.join("\n",
            "usage: java -jar target/bench-service.jar caller --master-host H --master-port P [options]",
            "  --master-host H      the Locust master's address (its --master-bind-host), e.g. 127.0.0.1",
            "  --master-port P      the Locust master's port (its --master-bind-port), e.g. 5557; or stdin:",
            "                       a resident caller, one session per port read from standard input",
            "  --http-client C      nio (default, see README.md \"The caller\"), socket, jdk, netty",
            "  --grpc-channel G     user (default: one channel per user) or shared",
            "  --zmq-client Z       zmtp (default: ZMTP on the user's own socket, see README.md) or jeromq",
            "  --grpc-client S      async (default: the closed loop calls from the reply's callback) or blocking",
            "  --caller-name N      the name sent in bench_hello and bench_results; default java",
            "Environment: BENCH_TIMEOUT_S (per-request timeout when the config has none, default 10),",
            "BENCH_MASTER_TIMEOUT_S (exit 1 when the master is silent that long, default 10).");

    private CallerMain() {
    }

    /** Parsed command line and environment. */
    record Options(String masterHost, int masterPort, String httpClient, String grpcChannel, String zmqClient,
                   String grpcClient, String callerName, double masterTimeoutS) {
        /** {@code --master-port stdin}: the ports come on standard input, one line per cell. */
        static final int STDIN = 0;

        boolean resident() {
            return masterPort == STDIN;
        }

        Clients.Choice choice() {
            return new Clients.Choice(httpClient, grpcChannel, zmqClient, grpcClient);
        }
    }

    static Options parse(String[] args, Map<String, String> env) throws IllegalArgumentException {
        Map<String, String> o = bench.Args.options(args, 0, List.of("master-host", "master-port", "http-client",
                "grpc-channel", "zmq-client", "grpc-client", "caller-name"));
        if (!o.containsKey("master-host")) {
            throw new IllegalArgumentException("caller needs --master-host, e.g. --master-host 127.0.0.1");
        }
        int port = "stdin".equals(o.get("master-port")) ? Options.STDIN : port(o.getOrDefault("master-port", ""));
        if (port < 0) {
            throw new IllegalArgumentException("caller needs --master-port between 1 and 65535, e.g. --master-port 5557"
                    + " (or --master-port stdin: one port per line on standard input)");
        }
        String http = o.getOrDefault("http-client", "nio");
        if (!Clients.HTTP_CLIENTS.contains(http)) {
            throw new IllegalArgumentException("unknown --http-client '" + http + "'; choose one of "
                    + String.join(", ", Clients.HTTP_CLIENTS));
        }
        String grpc = o.getOrDefault("grpc-channel", "user");
        if (!Clients.GRPC_CHANNELS.contains(grpc)) {
            throw new IllegalArgumentException("unknown --grpc-channel '" + grpc + "'; choose one of "
                    + String.join(", ", Clients.GRPC_CHANNELS));
        }
        String zmq = o.getOrDefault("zmq-client", "zmtp");
        if (!Clients.ZMQ_CLIENTS.contains(zmq)) {
            throw new IllegalArgumentException("unknown --zmq-client '" + zmq + "'; choose one of "
                    + String.join(", ", Clients.ZMQ_CLIENTS));
        }
        String grpcClient = o.getOrDefault("grpc-client", "async");
        if (!Clients.GRPC_CLIENTS.contains(grpcClient)) {
            throw new IllegalArgumentException("unknown --grpc-client '" + grpcClient + "'; choose one of "
                    + String.join(", ", Clients.GRPC_CLIENTS));
        }
        double masterTimeout = seconds(env, "BENCH_MASTER_TIMEOUT_S", 10);
        seconds(env, "BENCH_TIMEOUT_S", 10); // checked here, used when a config has no timeout_s
        return new Options(o.get("master-host"), port, http, grpc, zmq, grpcClient, o.getOrDefault("caller-name", "java"), masterTimeout);
    }

    /** A TCP port 1..65535 from text, or -1. */
    static int port(String text) {
        try {
            int p = Integer.parseInt(text.trim());
            return p >= 1 && p <= 65535 ? p : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static double seconds(Map<String, String> env, String name, double dflt) {
        String v = env.get(name);
        if (v == null || v.isEmpty()) {
            return dflt;
        }
        try {
            double d = Double.parseDouble(v);
            if (d > 0 && !Double.isInfinite(d)) {
                return d;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(name + " must be a number of seconds > 0, got '" + v + "'");
    }

    public static int run(String[] args) throws InterruptedException {
        Options opt;
        try {
            opt = parse(args, System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.err.println(USAGE);
            return 2;
        }
        Thread preload = new Thread(() -> LOG.info("grpc preloaded in " + bench.caller.client.GrpcClient.preload()
                + " ms"), "grpc-preload");
        preload.setDaemon(true);
        preload.start();
        return opt.resident() ? resident(opt, new java.io.InputStreamReader(System.in,
                java.nio.charset.StandardCharsets.UTF_8)) : session(opt, opt.masterPort(), null);
    }

    /**
     * Sessions one after another, one per line of {@code input} (a master's port), until the end
     * of input (exit 0: the harness closed the pipe, or exited). A line that comes while a session
     * runs ends that session (its master is gone: the harness moved on). A session's failure is
     * logged and the caller waits for the next line; the harness marks that cell failed.
     */
    static int resident(Options opt, java.io.Reader input) throws InterruptedException {
        java.util.concurrent.BlockingQueue<String> lines = new java.util.concurrent.LinkedBlockingQueue<>();
        String end = new String("end of input"); // a sentinel compared by identity
        Thread reader = new Thread(() -> {
            try (java.io.BufferedReader r = new java.io.BufferedReader(input)) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    if (!line.isBlank()) {
                        lines.add(line);
                    }
                }
            } catch (java.io.IOException e) {
                LOG.warning("standard input: " + e.getMessage());
            }
            lines.add(end);
        }, "masters-stdin");
        reader.setDaemon(true);
        reader.start();
        LOG.info("resident caller: waiting for masters' ports on standard input, one per line");
        for (int n = 0;;) {
            String line = lines.take();
            if (line == end) {
                LOG.info("end of standard input after " + n + " session(s): exiting");
                return 0;
            }
            int port = port(line);
            if (port < 0) {
                LOG.warning("ignored a line of standard input that is not a port 1..65535: '" + line + "'");
                continue;
            }
            int code = session(opt, port, () -> !lines.isEmpty());
            LOG.info("session " + ++n + " (port " + port + ") ended with code " + code);
        }
    }

    private static int session(Options opt, int masterPort, java.util.function.BooleanSupplier abandon)
            throws InterruptedException {
        try (LocustWorker w = new LocustWorker(opt.masterHost(), masterPort, opt.masterTimeoutS(),
                opt.callerName(), c -> Clients.factory(c, opt.choice()))) {
            if (abandon != null) {
                w.residentSession(abandon);
            }
            Map<String, Object> config = new LinkedHashMap<>();
            config.put("mode", "caller");
            config.put("pid", ProcessHandle.current().pid());
            config.put("node_id", w.nodeId());
            config.put("master", "tcp://" + opt.masterHost() + ":" + masterPort);
            config.put("resident", abandon != null);
            config.put("locust_protocol", LocustWorker.LOCUST_VERSION);
            config.put("loadgen_protocol", BenchConfig.PROTOCOL);
            config.put("caller_name", opt.callerName());
            config.put("http_client", opt.httpClient());
            config.put("grpc_channel", opt.grpcChannel());
            config.put("zmq_client", opt.zmqClient());
            config.put("grpc_client", opt.grpcClient());
            config.put("master_timeout_s", opt.masterTimeoutS());
            config.put("runtime", System.getProperty("java.vm.name") + " " + Runtime.version());
            config.put("jvm_args", String.join(" ",
                    java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()));
            config.put("processors", Runtime.getRuntime().availableProcessors());
            LOG.info("starting: " + config.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                    .collect(Collectors.joining(" ")));
            LocustWorker.Exit exit = w.run();
            if (exit.code() != 0) {
                System.err.println("error: " + exit.reason());
            } else {
                LOG.info("stopped: " + exit.reason());
            }
            return exit.code();
        }
    }
}
