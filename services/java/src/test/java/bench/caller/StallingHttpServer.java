package bench.caller;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real HTTP/1.1 keep-alive echo server for the engine's tests, that can misbehave on purpose:
 * it stalls {@code stallMs} before answering request number {@code stallAt} (1-based), and
 * from request {@code wrongFrom} on it answers a body with its first byte changed.
 */
public final class StallingHttpServer implements AutoCloseable {
    private final ServerSocket server;
    private final Thread thread;
    private final AtomicLong served = new AtomicLong();
    private final long stallAt;
    private final long stallMs;
    private final long wrongFrom;

    public StallingHttpServer(long stallAt, long stallMs, long wrongFrom) throws IOException {
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.stallAt = stallAt;
        this.stallMs = stallMs;
        this.wrongFrom = wrongFrom;
        this.thread = new Thread(this::acceptLoop, "stalling-http");
        thread.setDaemon(true);
        thread.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    public long served() {
        return served.get();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                Thread t = new Thread(() -> serve(s), "stalling-http-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            s.setTcpNoDelay(true);
            while (true) {
                ByteArrayOutputStream head = new ByteArrayOutputStream();
                int c;
                int state = 0;
                while (state < 4 && (c = in.read()) >= 0) {
                    head.write(c);
                    state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3))
                            ? state + 1 : 0;
                }
                if (state < 4) {
                    return;
                }
                int length = 0;
                for (String line : head.toString(StandardCharsets.ISO_8859_1).split("\r\n")) {
                    if (line.toLowerCase().startsWith("content-length:")) {
                        length = Integer.parseInt(line.substring(15).trim());
                    }
                }
                byte[] body = in.readNBytes(length);
                long n = served.incrementAndGet();
                if (n == stallAt) {
                    Thread.sleep(stallMs);
                }
                if (n >= wrongFrom && body.length > 0) {
                    body[0] ^= 1;
                }
                out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // the client went away
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
