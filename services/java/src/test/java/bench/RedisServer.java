package bench;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import redis.clients.jedis.Jedis;

/** A real redis-server for tests: a free port on 127.0.0.1, no persistence, stopped on close. */
public final class RedisServer implements AutoCloseable {
    private final Process process;
    private final String url;

    private RedisServer(Process process, String url) {
        this.process = process;
        this.url = url;
    }

    /** Whether an executable of that name is on PATH. */
    public static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (new File(dir, program).canExecute()) {
                return true;
            }
        }
        return false;
    }

    /** Start one and wait (up to 10 s) until it answers PING. */
    public static RedisServer start() throws IOException, InterruptedException {
        int port = Ports.free();
        Process p = new ProcessBuilder("redis-server", "--port", String.valueOf(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        RedisServer server = new RedisServer(p, "redis://127.0.0.1:" + port + "/0");
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            try (Jedis j = new Jedis(URI.create(server.url))) {
                if ("PONG".equals(j.ping())) {
                    return server;
                }
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline || !p.isAlive()) {
                    server.close();
                    throw new IOException("redis-server did not answer on port " + port, e);
                }
                Thread.sleep(50);
            }
        }
    }

    /** {@code redis://127.0.0.1:<port>/0}. */
    public String url() {
        return url;
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        process.waitFor();
    }
}
