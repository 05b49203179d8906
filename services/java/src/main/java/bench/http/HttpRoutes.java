package bench.http;

import bench.core.BenchException;
import bench.core.ErrorCode;
import bench.core.Json;
import bench.core.Reply;
import bench.core.Service;
import java.util.Map;

/**
 * The HTTP face of the contract, shared by every server: {@code POST /echo}, {@code POST /diff},
 * {@code GET /health}; 404 {@code unknown_op} for other paths, 405 with {@code Allow} for a
 * wrong method, 413 when {@code Content-Length} announces a body over the limit (answered before
 * the body is read; the connection is then closed).
 */
public final class HttpRoutes {
    public static final String JSON = "application/json";
    public static final String OCTETS = "application/octet-stream";

    /** One path: its method, the op it runs, the reply content type. */
    public record Route(String method, String op, String contentType) {
    }

    /** A complete response; {@code allow} is null unless 405; {@code close} closes the connection. */
    public record Response(int status, byte[] body, String contentType, String allow, boolean close) {
        static Response json(int status, byte[] body) {
            return new Response(status, body, JSON, null, false);
        }
    }

    private static final Map<String, Route> ROUTES = Map.of(
            "/echo", new Route("POST", "echo", OCTETS),
            "/diff", new Route("POST", "diff", JSON),
            "/health", new Route("GET", "health", JSON));

    private final Service service;

    public HttpRoutes(Service service) {
        this.service = service;
    }

    public Service service() {
        return service;
    }

    public int maxBodyBytes() {
        return service.settings().maxBodyBytes();
    }

    /** The route for a request, or null: then {@link #reject} says what to answer. */
    public Route route(String method, String path, long contentLength) {
        Route r = ROUTES.get(stripQuery(path));
        if (r == null || !r.method().equals(method) || contentLength > maxBodyBytes()) {
            return null;
        }
        return r;
    }

    /** The response to a request for which {@link #route} returned null. */
    public Response reject(String method, String path, long contentLength) {
        String p = stripQuery(path);
        Route r = ROUTES.get(p);
        if (r == null) {
            return Response.json(404, Json.errorBody(ErrorCode.UNKNOWN_OP, "unknown path '"
                    + Service.printable(p) + "'; paths are /diff, /echo, /health"));
        }
        if (!r.method().equals(method)) {
            return new Response(405, Json.errorBody(ErrorCode.BAD_REQUEST, "method " + Service.printable(method)
                    + " not allowed on " + p + "; use " + r.method()), JSON, r.method(), false);
        }
        return tooLarge(contentLength);
    }

    /** The 413 response for a body of {@code size} bytes or more; closes the connection. */
    public Response tooLarge(long size) {
        try {
            service.checkSize(size);
        } catch (BenchException e) {
            return new Response(413, e.body(), JSON, null, true);
        }
        throw new IllegalArgumentException("tooLarge called with a size under the limit: " + size);
    }

    /**
     * The body length announced by the {@code Content-Length} header values, or -1 when there
     * is none. Throws IllegalArgumentException (answer {@link #malformed}) for a value that is
     * not a plain non-negative decimal number, one too big for a long (such as 2^64, which
     * parses as neither), or several values that disagree. A value that fits but is over the
     * limit is returned as is: that is a 413, not a 400.
     */
    public static long contentLength(java.util.Collection<String> values) {
        if (values == null || values.isEmpty()) {
            return -1;
        }
        long length = -1;
        for (String raw : values) {
            for (String part : raw.split(",", -1)) {
                String v = part.strip();
                if (v.isEmpty() || v.length() > 19 || !v.chars().allMatch(c -> c >= '0' && c <= '9')) {
                    throw new IllegalArgumentException("bad Content-Length '" + Service.printable(raw) + "'");
                }
                long n;
                try {
                    n = Long.parseLong(v);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("Content-Length '" + Service.printable(raw) + "' is too big");
                }
                if (length >= 0 && n != length) {
                    throw new IllegalArgumentException("conflicting Content-Length values");
                }
                length = n;
            }
        }
        return length;
    }

    /** The 400 response for a request the HTTP parser refused; closes the connection. */
    public static Response malformed(String why) {
        return new Response(400, Json.errorBody(ErrorCode.BAD_REQUEST, "malformed HTTP request: " + why), JSON,
                null, true);
    }

    /** Run the route's op on the body. */
    public Response run(Route route, byte[] body) {
        Reply reply = service.handle(route.op(), body);
        if (reply.isOk()) {
            return new Response(200, reply.body(), route.contentType(), null, false);
        }
        return Response.json(reply.error().httpStatus(), reply.body());
    }

    private static String stripQuery(String path) {
        int q = path.indexOf('?');
        return q < 0 ? path : path.substring(0, q);
    }
}
