package bench.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/** A candidate measured in README.md: the JDK's built-in {@code com.sun.net.httpserver}. */
public final class JdkHttpServer implements HttpTransport {
    private static final Logger LOG = Logger.getLogger(JdkHttpServer.class.getName());

    private final HttpServer server;
    private final ExecutorService pool;

    public JdkHttpServer(HttpRoutes routes, String host, int port, int threads) throws IOException {
        // without TCP_NODELAY, headers and body go out in two writes and Nagle + delayed ACK
        // cost ~40 ms per request (measured: 176 requests/s)
        System.setProperty("sun.net.httpserver.nodelay", "true");
        server = HttpServer.create(new InetSocketAddress(host, port), 2048);
        pool = Executors.newFixedThreadPool(threads);
        server.setExecutor(pool);
        server.createContext("/", ex -> handle(routes, ex));
        server.start();
        LOG.info("jdk http listening on " + server.getAddress() + " (" + threads + " thread(s))");
    }

    private static void handle(HttpRoutes routes, HttpExchange ex) throws IOException {
        try (ex) {
            String method = ex.getRequestMethod();
            String path = ex.getRequestURI().getRawPath();
            long length;
            try {
                length = HttpRoutes.contentLength(ex.getRequestHeaders().get("Content-Length"));
            } catch (IllegalArgumentException e) {
                send(ex, HttpRoutes.malformed(e.getMessage()));
                return;
            }
            HttpRoutes.Route route = routes.route(method, path, length);
            if (route == null) {
                send(ex, routes.reject(method, path, length));
                return;
            }
            byte[] body;
            try (InputStream in = ex.getRequestBody()) {
                int limit = routes.maxBodyBytes();
                body = in.readNBytes(length >= 0 ? (int) length : limit + 1);
                if (body.length > limit) {
                    send(ex, routes.tooLarge(body.length));
                    return;
                }
            }
            send(ex, routes.run(route, body));
        }
    }

    private static void send(HttpExchange ex, HttpRoutes.Response r) throws IOException {
        ex.getResponseHeaders().set("Content-Type", r.contentType());
        if (r.allow() != null) {
            ex.getResponseHeaders().set("Allow", r.allow());
        }
        if (r.close()) {
            ex.getResponseHeaders().set("Connection", "close");
        }
        byte[] body = r.body();
        ex.sendResponseHeaders(r.status(), body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdown();
        try {
            pool.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
