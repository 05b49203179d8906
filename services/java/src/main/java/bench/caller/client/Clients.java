package bench.caller.client;

import bench.caller.BenchConfig;
import java.util.List;

/** The client of each transport, chosen by the cell's target (and, for http and grpc, by the caller's options). */
public final class Clients {
    public static final List<String> HTTP_CLIENTS = List.of("socket", "nio", "jdk", "netty");
    public static final List<String> GRPC_CHANNELS = List.of("user", "shared");
    public static final List<String> ZMQ_CLIENTS = List.of("zmtp", "jeromq");
    public static final List<String> GRPC_CLIENTS = List.of("async", "blocking");

    /** The caller's choices of client (command-line options); see README.md "The caller" for the defaults. */
    public record Choice(String http, String grpcChannel, String zmq, String grpc) {
        public static final Choice DEFAULT = new Choice("nio", "user", "zmtp", "async");
    }

    private Clients() {
    }

    /** A factory of one client per user for the cell {@code c}. */
    public static ClientFactory factory(BenchConfig c, String httpClient, String grpcChannel) {
        return factory(c, new Choice(httpClient, grpcChannel, Choice.DEFAULT.zmq(), Choice.DEFAULT.grpc()));
    }

    /** A factory of one client per user for the cell {@code c}, with the caller's choices. */
    public static ClientFactory factory(BenchConfig c, Choice choice) {
        String httpClient = choice.http();
        String grpcChannel = choice.grpcChannel();
        BenchConfig.Target t = c.target();
        Request r = c.request();
        double timeout = c.timeoutS();
        switch (t.transport()) {
            case "http":
                return switch (httpClient) {
                    case "jdk" -> () -> new JdkHttpClient(t.host(), t.port(), r, timeout);
                    case "netty" -> () -> new NettyHttpClient(t.host(), t.port(), r, timeout);
                    case "nio" -> {
                        NioLoop loop = new NioLoop("http-nio");
                        yield closing(() -> new NioHttpClient(loop, t.host(), t.port(), r, timeout), loop::close);
                    }
                    default -> () -> new SocketHttpClient(t.host(), t.port(), r, timeout);
                };
            case "zmq":
                return choice.zmq().equals("jeromq") ? () -> new ZmqClient(t.host(), t.port(), r, timeout)
                        : () -> new ZmtpDealerClient(t.host(), t.port(), r, timeout);
            case "redis":
                return () -> new RedisQueueClient(t.redisUrl(), t.queue(), r, timeout);
            case "celery":
                return () -> new CeleryClient(t.redisUrl(), t.queue(), r, timeout);
            case "grpc": {
                GrpcClient.Channels channels = new GrpcClient.Channels(t.host(), t.port(),
                        grpcChannel.equals("shared"));
                if (choice.grpc().equals("blocking")) { // the blocking stub only, also in the closed loop
                    return closing(() -> {
                        GrpcClient g = new GrpcClient(channels, r, timeout);
                        return new Client() {
                            @Override
                            public CallReply call() throws CallException {
                                return g.call();
                            }

                            @Override
                            public void close() {
                                g.close();
                            }
                        };
                    }, channels::close);
                }
                return closing(() -> new GrpcClient(channels, r, timeout), channels::close);
            }
            default:
                throw new IllegalArgumentException("no client for transport '" + t.transport() + "'");
        }
    }

    /** {@code open}, with {@code release} as the factory's close (what its clients share). */
    private static ClientFactory closing(ClientFactory open, Runnable release) {
        return new ClientFactory() {
            @Override
            public Client open() {
                return open.open();
            }

            @Override
            public void close() {
                release.run();
            }
        };
    }
}
