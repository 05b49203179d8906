package bench.caller.client;

import java.net.URI;
import redis.clients.jedis.Connection;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;

/** {@code redis://host:port/db} as a Jedis connection with a socket timeout. */
final class RedisUrl {
    private RedisUrl() {
    }

    /** A connection without a socket timeout (the {@link Watchdog} keeps it); {@code connectMs} bounds the connect. */
    static Connection connect(String url, int connectMs) {
        URI u;
        try {
            u = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("redis_url '" + url + "' is not a URL like redis://127.0.0.1:6379/0", e);
        }
        if (!"redis".equals(u.getScheme()) || u.getHost() == null) {
            throw new IllegalArgumentException("redis_url '" + url + "' is not a URL like redis://127.0.0.1:6379/0");
        }
        String path = u.getPath() == null ? "" : u.getPath().replace("/", "");
        int db = path.isEmpty() ? 0 : Integer.parseInt(path);
        return new Connection(new HostAndPort(u.getHost(), u.getPort() < 0 ? 6379 : u.getPort()),
                DefaultJedisClientConfig.builder().socketTimeoutMillis(0).connectionTimeoutMillis(connectMs)
                        .database(db).build());
    }
}
