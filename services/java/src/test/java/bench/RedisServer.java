package bench;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.args.SaveMode;

/**
 * A real redis-server for tests: a free port on 127.0.0.1, no persistence (but {@link #restart}
 * keeps the data, as a broker restart does), stopped on close, its data directory deleted.
 */
public final class RedisServer implements AutoCloseable {
    private Process process;
    private final String url;
    private final int port;
    private final Path dir;

    private RedisServer(Process process, String url, int port, Path dir) {
        this.process = process;
        this.url = url;
        this.port = port;
        this.dir = dir;
    }

    private static Process spawn(int port, Path dir) throws IOException {
        return new ProcessBuilder("redis-server", "--port", String.valueOf(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", dir.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
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
        Path dir = Files.createTempDirectory("bench-redis");
        RedisServer server = new RedisServer(spawn(port, dir), "redis://127.0.0.1:" + port + "/0", port, dir);
        server.awaitPing();
        return server;
    }

    private void awaitPing() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            try (Jedis j = new Jedis(URI.create(url))) {
                if ("PONG".equals(j.ping())) {
                    return;
                }
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline || !process.isAlive()) {
                    close();
                    throw new IOException("redis-server did not answer on port " + port, e);
                }
                Thread.sleep(50);
            }
        }
    }

    /** Stop with {@code SHUTDOWN SAVE}, wait {@code downMs}, start again on the same port with the same data. */
    public void restart(long downMs) throws IOException, InterruptedException {
        try (Jedis j = new Jedis(URI.create(url))) {
            j.shutdown(SaveMode.SAVE);
        } catch (RuntimeException e) {
            // the server closes the connection as it exits
        }
        process.waitFor();
        Thread.sleep(downMs);
        process = spawn(port, dir);
        awaitPing();
    }

    /** {@code redis://127.0.0.1:<port>/0}. */
    public String url() {
        return url;
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        process.waitFor();
        deleteTree(dir);
    }

    /** Delete a directory and what is in it (a restart's dump.rdb); what cannot be deleted stays. */
    private static void deleteTree(Path root) {
        try (var paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // already gone, or unreadable: nothing more to do for a test's temporary directory
        }
    }
}
