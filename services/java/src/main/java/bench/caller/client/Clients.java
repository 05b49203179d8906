package bench.caller.client;

import bench.caller.BenchConfig;
import java.util.List;

/** The client of each transport, chosen by the cell's target (and, for http and grpc, by the caller's options). */
public final class Clients {
    public static final List<String> HTTP_CLIENTS = List.of("socket", "jdk", "netty");
    public static final List<String> GRPC_CHANNELS = List.of("user", "shared");

    private Clients() {
    }

    /** A factory of one client per user for the cell {@code c}. */
    public static ClientFactory factory(BenchConfig c, String httpClient, String grpcChannel) {
        BenchConfig.Target t = c.target();
        Request r = c.request();
        double timeout = c.timeoutS();
        switch (t.transport()) {
            case "http":
                return switch (httpClient) {
                    case "jdk" -> () -> new JdkHttpClient(t.host(), t.port(), r, timeout);
                    case "netty" -> () -> new NettyHttpClient(t.host(), t.port(), r, timeout);
                    default -> () -> new SocketHttpClient(t.host(), t.port(), r, timeout);
                };
            case "zmq":
                return () -> new ZmqClient(t.host(), t.port(), r, timeout);
            case "redis":
                return () -> new RedisQueueClient(t.redisUrl(), t.queue(), r, timeout);
            case "celery":
                return () -> new CeleryClient(t.redisUrl(), t.queue(), r, timeout);
            case "grpc": {
                GrpcClient.Channels channels = new GrpcClient.Channels(t.host(), t.port(),
                        grpcChannel.equals("shared"));
                return () -> new GrpcClient(channels, r, timeout);
            }
            default:
                throw new IllegalArgumentException("no client for transport '" + t.transport() + "'");
        }
    }
}
