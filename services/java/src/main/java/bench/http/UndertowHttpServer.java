package bench.http;

import io.undertow.Handlers;
import io.undertow.Undertow;
import io.undertow.UndertowOptions;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.SameThreadExecutor;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.logging.Logger;
import org.xnio.Options;

/**
 * The production HTTP server, chosen by measurement (README.md): Undertow (XNIO) with
 * {@code threads} IO threads running the ops inline (no dispatch to a worker pool: the ops are
 * CPU-bound and short, a hand-off would only add a context switch). Keep-alive per HTTP/1.1.
 *
 * <p>{@code Expect: 100-continue} is answered {@code 100 Continue} when the body is read (or the
 * final response, for a request refused before its body): without it curl waits a second
 * before every upload over 1 KiB. A request whose header section is not complete within
 * {@link #HEADER_TIMEOUT_MS} of its first byte is closed (slowloris; Undertow has no parse
 * timeout by default), and so is a connection idle for {@link #IDLE_TIMEOUT_MS} between requests.
 *
 * <p>Bodies of 64 KiB or more are read only within a {@link BodyBudget} of a quarter of the heap.
 */
public final class UndertowHttpServer implements HttpTransport {
    private static final Logger LOG = Logger.getLogger(UndertowHttpServer.class.getName());
    private static final HttpString ALLOW = new HttpString("Allow");
    public static final int HEADER_TIMEOUT_MS = 10_000;
    public static final int IDLE_TIMEOUT_MS = 60_000;

    private final Undertow server;
    private final BodyBudget budget = BodyBudget.forHeap();

    public UndertowHttpServer(HttpRoutes routes, String host, int port, int threads) {
        server = Undertow.builder()
                .addHttpListener(port, host)
                .setIoThreads(threads)
                .setWorkerThreads(threads)
                .setSocketOption(Options.BACKLOG, 2048)
                .setServerOption(UndertowOptions.ALWAYS_SET_DATE, false)
                .setServerOption(UndertowOptions.REQUEST_PARSE_TIMEOUT, HEADER_TIMEOUT_MS)
                .setServerOption(UndertowOptions.NO_REQUEST_TIMEOUT, IDLE_TIMEOUT_MS)
                .setHandler(Handlers.httpContinueRead(ex -> handle(routes, ex, budget)))
                .build();
        server.start();
        LOG.info("undertow http listening on " + host + ":" + port() + " (" + threads + " io thread(s)); "
                + budget.capacity() / (1024 * 1024) + " MiB of large bodies in flight at most");
    }

    private static void handle(HttpRoutes routes, HttpServerExchange ex, BodyBudget budget) {
        String method = ex.getRequestMethod().toString();
        String path = ex.getRequestPath();
        long length;
        try {
            // not ex.getRequestContentLength(): it throws on 2^64 (an empty 500) and reads a
            // negative value as "no length"
            length = HttpRoutes.contentLength(ex.getRequestHeaders().get(Headers.CONTENT_LENGTH));
        } catch (IllegalArgumentException e) {
            send(ex, HttpRoutes.malformed(e.getMessage()));
            return;
        }
        HttpRoutes.Route route = routes.route(method, path, length);
        if (route == null) {
            send(ex, routes.reject(method, path, length));
            return;
        }
        // A chunked body may grow to the limit: it is counted at the limit.
        long bytes = length >= 0 ? length : routes.maxBodyBytes();
        if (bytes < BodyBudget.SMALL_BYTES) {
            receive(routes, route, ex, length);
            return;
        }
        // A large body waits for its share of the budget before it is read (TCP holds the rest);
        // its bytes are given back when the exchange ends, answered or not.
        ex.dispatch(SameThreadExecutor.INSTANCE, () -> {
            BodyBudget.Ticket ticket = budget.enter(bytes,
                    () -> ex.getIoThread().execute(() -> receive(routes, route, ex, length)));
            ex.addExchangeCompleteListener((e, next) -> {
                budget.leave(ticket);
                next.proceed();
            });
        });
    }

    /**
     * Read the whole body, then run the route. Not Undertow's {@code receiveFullBytes}: it copies
     * the body one byte at a time ({@code ByteArrayOutputStream.write(int)}, a synchronized call,
     * per byte) and then copies it again ({@code toByteArray}); JFR put 55 % of the service's
     * samples there on a 64 KiB echo (README.md "CPU per request against the other languages").
     * {@code receivePartialBytes} hands over each read as one bulk copy; a body of known length
     * is assembled straight into an array of that length.
     */
    private static void receive(HttpRoutes routes, HttpRoutes.Route route, HttpServerExchange ex, long length) {
        if (length >= 0) {
            byte[] body = new byte[(int) length]; // length <= maxBodyBytes (routed), an int
            int[] filled = {0};
            ex.getRequestReceiver().receivePartialBytes((e, chunk, last) -> {
                int n = chunk.length;
                if (n > body.length - filled[0]) {
                    send(e, HttpRoutes.malformed("more body bytes than Content-Length " + length));
                    return;
                }
                System.arraycopy(chunk, 0, body, filled[0], n);
                filled[0] += n;
                if (last) {
                    if (filled[0] != body.length) {
                        send(e, HttpRoutes.malformed("body of " + filled[0] + " bytes, Content-Length " + length));
                    } else {
                        send(e, routes.run(route, body));
                    }
                }
            }, (e, err) -> send(e, HttpRoutes.malformed(String.valueOf(err))));
            return;
        }
        ByteArrayOutputStream acc = new ByteArrayOutputStream();
        ex.getRequestReceiver().receivePartialBytes((e, chunk, last) -> {
            acc.write(chunk, 0, chunk.length);
            if (acc.size() > routes.maxBodyBytes()) {
                send(e, routes.tooLarge(acc.size()));
            } else if (last) {
                send(e, routes.run(route, acc.toByteArray()));
            }
        }, (e, err) -> send(e, HttpRoutes.malformed(String.valueOf(err))));
    }

    private static void send(HttpServerExchange ex, HttpRoutes.Response r) {
        if (ex.isResponseStarted()) {
            return;
        }
        ex.setStatusCode(r.status());
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, r.contentType());
        ex.getResponseHeaders().put(Headers.CONTENT_LENGTH, r.body().length);
        if (r.allow() != null) {
            ex.getResponseHeaders().put(ALLOW, r.allow());
        }
        if (r.close()) {
            ex.setPersistent(false);
        }
        ex.getResponseSender().send(ByteBuffer.wrap(r.body()));
    }

    @Override
    public int port() {
        return ((InetSocketAddress) server.getListenerInfo().get(0).getAddress()).getPort();
    }

    @Override
    public void close() {
        server.stop();
    }
}
