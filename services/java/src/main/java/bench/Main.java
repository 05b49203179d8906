package bench;

import bench.core.Service;
import bench.celery.CeleryWorker;
import bench.core.Settings;
import bench.grpc.GrpcServer;
import bench.http.HttpRoutes;
import bench.http.JdkHttpServer;
import bench.http.NettyHttpServer;
import bench.http.UndertowHttpServer;
import bench.redis.RedisQueueServer;
import bench.zmq.ZmqServer;
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * {@code java -jar bench-service.jar <transport> [options]}: logs its effective configuration,
 * serves until SIGTERM (or SIGINT), then closes the transport and exits 0.
 */
public final class Main {
    static {
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format",
                    "%1$tF %1$tT.%1$tL %4$s %3$s: %5$s%6$s%n");
        }
    }

    private static final Logger LOG = Logger.getLogger("bench");
    private static final List<String> TRANSPORTS = List.of("http", "zmq", "redis", "grpc", "celery");
    private static final Map<String, Integer> DEFAULT_WORKERS = Map.of("http", 1, "zmq", 1, "redis", 2, "grpc", 2,
            "celery", 2);
    private static final List<String> HTTP_SERVERS = List.of("undertow", "netty", "jdk");
    static final String USAGE = String.join("\n",
            "usage: java -jar target/bench-service.jar <transport> [options]",
            "       java -jar target/bench-service.jar caller --master-host H --master-port P (the load generator)",
            "  transport            one of http, zmq, redis, grpc, celery",
            "  --host H             listen address (http, zmq, grpc); default 127.0.0.1",
            "  --port P             listen port (http, zmq, grpc); required for those",
            "  --redis-url U        redis URL (redis, celery), e.g. redis://127.0.0.1:6379/0",
            "  --queue Q            queue key (redis, celery), e.g. bench:java; celery: bench.java",
            "  --workers N          threads serving requests; default http 1 (IO threads), zmq 1,",
            "                       redis 2, grpc 2, celery 2 (consumers, each with its own connection)",
            "  --result-expires S   celery: seconds a stored result lives; default " + CeleryWorker.RESULT_EXPIRES_S,
            "  --max-body-bytes N   default " + Settings.MAX_BODY_BYTES,
            "  --max-diff-tokens N  default " + Settings.MAX_DIFF_TOKENS,
            "  --http-server S      undertow (default, see README.md), netty, jdk",
            "Environment: BENCH_TEST_HOOKS=1, BENCH_EXTRA_WORK_US=N (CONTRACT.md \"Test hooks\").");

    private Main() {
    }

    /** Parsed command line. */
    record Options(String transport, String host, int port, String redisUrl, String queue, int workers,
                   int maxBodyBytes, int maxDiffTokens, String httpServer, int resultExpiresS) {
    }

    /** A usage error: the message says how to fix it. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    static Options parse(String[] args) throws UsageException {
        if (args.length == 0 || !TRANSPORTS.contains(args[0])) {
            throw new UsageException(args.length == 0 ? "missing the transport"
                    : "unknown transport '" + args[0] + "'; choose one of " + String.join(", ", TRANSPORTS));
        }
        String transport = args[0];
        Map<String, String> o;
        try {
            o = Args.options(args, 1, List.of("host", "port", "redis-url", "queue", "workers", "max-body-bytes",
                    "max-diff-tokens", "http-server", "result-expires"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        int port = positive(o, "port", 0);
        boolean listens = List.of("http", "zmq", "grpc").contains(transport);
        if (listens && (port < 1 || port > 65535)) {
            throw new UsageException(transport + " needs --port between 1 and 65535, e.g. --port 8080");
        }
        if (transport.equals("redis") || transport.equals("celery")) {
            if (!o.containsKey("redis-url")) {
                throw new UsageException(transport + " needs --redis-url, e.g. --redis-url redis://127.0.0.1:6379/0");
            }
            if (!o.containsKey("queue")) {
                throw new UsageException(transport + " needs --queue, e.g. --queue "
                        + (transport.equals("celery") ? "bench.java" : "bench:java"));
            }
        }
        String httpServer = o.getOrDefault("http-server", "undertow");
        if (!HTTP_SERVERS.contains(httpServer)) {
            throw new UsageException("unknown --http-server '" + httpServer + "'; choose one of "
                    + String.join(", ", HTTP_SERVERS));
        }
        return new Options(transport, o.getOrDefault("host", "127.0.0.1"), port, o.get("redis-url"), o.get("queue"),
                positive(o, "workers", DEFAULT_WORKERS.get(transport)),
                positive(o, "max-body-bytes", Settings.MAX_BODY_BYTES),
                positive(o, "max-diff-tokens", Settings.MAX_DIFF_TOKENS), httpServer,
                positive(o, "result-expires", (int) CeleryWorker.RESULT_EXPIRES_S));
    }

    private static int positive(Map<String, String> o, String key, int dflt) throws UsageException {
        String v = o.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v);
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // fall through to the usage error
        }
        throw new UsageException("--" + key + " expects a positive integer, got '" + v + "'");
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("caller")) {
            System.exit(bench.caller.CallerMain.run(java.util.Arrays.copyOfRange(args, 1, args.length)));
            return;
        }
        Options opt;
        Settings settings;
        try {
            opt = parse(args);
            settings = Settings.fromEnv(System.getenv(), opt.maxBodyBytes(), opt.maxDiffTokens());
        } catch (UsageException | IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        Service service = new Service(settings);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("transport", opt.transport());
        config.put("pid", ProcessHandle.current().pid());
        config.put("runtime", Service.runtimeVersion());
        config.put("jvm_args", String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()));
        config.put("processors", Runtime.getRuntime().availableProcessors());
        config.put("max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
        config.put("workers", opt.workers());
        config.put("max_body_bytes", settings.maxBodyBytes());
        config.put("max_diff_tokens", settings.maxDiffTokens());
        config.put("test_hooks", settings.testHooks());
        config.put("extra_work_us", settings.extraWorkUs());
        if (opt.transport().equals("redis") || opt.transport().equals("celery")) {
            config.put("redis_url", opt.redisUrl());
            config.put("queue", opt.queue());
            if (opt.transport().equals("celery")) {
                config.put("result_expires_s", opt.resultExpiresS());
            }
        } else {
            config.put("host", opt.host());
            config.put("port", opt.port());
        }
        if (opt.transport().equals("http")) {
            config.put("http_server", opt.httpServer());
        }
        LOG.info("starting: " + config.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining(" ")));

        CountDownLatch stop = new CountDownLatch(1);
        for (String sig : List.of("TERM", "INT")) {
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> stop.countDown());
        }
        AutoCloseable transport;
        try {
            transport = start(opt, service);
        } catch (Exception e) {
            System.err.println("error: cannot start " + opt.transport() + ": " + e.getMessage());
            System.exit(1);
            return;
        }
        stop.await();
        LOG.info("signal received, stopping");
        transport.close();
        LOG.info("stopped: transport=" + opt.transport());
        System.exit(0);
    }

    static AutoCloseable start(Options opt, Service service) throws Exception {
        switch (opt.transport()) {
            case "http": {
                HttpRoutes routes = new HttpRoutes(service);
                return switch (opt.httpServer()) {
                    case "jdk" -> new JdkHttpServer(routes, opt.host(), opt.port(), opt.workers());
                    case "netty" -> new NettyHttpServer(routes, opt.host(), opt.port(), opt.workers());
                    default -> new UndertowHttpServer(routes, opt.host(), opt.port(), opt.workers());
                };
            }
            case "zmq":
                return new ZmqServer(service, opt.host(), opt.port(), opt.workers());
            case "redis":
                return new RedisQueueServer(service, opt.redisUrl(), opt.queue(), opt.workers());
            case "grpc":
                return new GrpcServer(service, opt.host(), opt.port(), opt.workers());
            case "celery":
                return new CeleryWorker(service, opt.redisUrl(), opt.queue(), opt.workers(), opt.resultExpiresS());
            default:
                throw new IllegalArgumentException(opt.transport());
        }
    }
}
