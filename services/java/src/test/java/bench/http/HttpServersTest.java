package bench.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Ports;
import bench.Vectors;
import bench.core.Service;
import bench.core.Settings;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every HTTP server on a real port, spoken to over raw keep-alive sockets. */
class HttpServersTest {
    record Res(int status, Map<String, String> headers, byte[] body) {
        JsonNode json() {
            return Vectors.tree(body);
        }
    }

    /** A minimal HTTP/1.1 client on one socket (keep-alive). */
    static final class Conn implements AutoCloseable {
        final Socket socket;
        final InputStream in;
        final OutputStream out;

        Conn(int port) throws IOException {
            socket = new Socket(InetAddress.getLoopbackAddress(), port);
            socket.setSoTimeout(10_000);
            in = new BufferedInputStream(socket.getInputStream());
            out = socket.getOutputStream();
        }

        void sendHead(String method, String path, String extraHeaders) throws IOException {
            out.write((method + " " + path + " HTTP/1.1\r\nHost: test\r\n" + extraHeaders + "\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        }

        Res request(String method, String path, byte[] body) throws IOException {
            sendHead(method, path, body == null ? "" : "Content-Length: " + body.length + "\r\n");
            if (body != null) {
                out.write(body);
                out.flush();
            }
            return read();
        }

        Res read() throws IOException {
            String status = line();
            int code = Integer.parseInt(status.split(" ")[1]);
            Map<String, String> headers = new LinkedHashMap<>();
            String l;
            while (!(l = line()).isEmpty()) {
                int c = l.indexOf(':');
                headers.put(l.substring(0, c).toLowerCase(), l.substring(c + 1).strip());
            }
            int n = Integer.parseInt(headers.getOrDefault("content-length", "0"));
            byte[] body = in.readNBytes(n);
            assertEquals(n, body.length, "short body");
            return new Res(code, headers, body);
        }

        private String line() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            int c;
            while ((c = in.read()) != '\n') {
                if (c < 0) {
                    throw new IOException("connection closed");
                }
                if (c != '\r') {
                    b.write(c);
                }
            }
            return b.toString(StandardCharsets.ISO_8859_1);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    static HttpTransport start(String server, Service service) throws Exception {
        HttpRoutes routes = new HttpRoutes(service);
        int port = Ports.free();
        return switch (server) {
            case "jdk" -> new JdkHttpServer(routes, "127.0.0.1", port, 2);
            case "undertow" -> new UndertowHttpServer(routes, "127.0.0.1", port, 2);
            default -> new NettyHttpServer(routes, "127.0.0.1", port, 2);
        };
    }

    /**
     * Bodies below, at and above the 64 KiB budget threshold and bigger than a read buffer,
     * written in pieces with pauses (so the server reads each over several wake-ups), come
     * back byte for byte on one connection. Regression test for reading the body in bulk
     * (UndertowHttpServer.receive) rather than with Undertow's receiveFullBytes.
     */
    @ParameterizedTest
    @ValueSource(strings = {"netty", "undertow", "jdk"})
    void echoesBodiesWrittenInPieces(String server) throws Exception {
        Service service = new Service(Settings.defaults());
        try (HttpTransport t = start(server, service); Conn c = new Conn(t.port())) {
            for (int size : new int[] {0, 1, 16_363, 16_365, 65_535, 65_536, 65_537, 1_048_579}) {
                byte[] body = new byte[size];
                for (int i = 0; i < size; i++) {
                    body[i] = (byte) (i * 31 + size);
                }
                c.sendHead("POST", "/echo", "Content-Length: " + size + "\r\n");
                int piece = Math.max(1, size / 5);
                for (int off = 0; off < size; off += piece) {
                    c.out.write(body, off, Math.min(piece, size - off));
                    c.out.flush();
                    Thread.sleep(5);
                }
                Res r = c.read();
                assertEquals(200, r.status(), server + " echo of " + size + " bytes");
                assertArrayEquals(body, r.body(), server + " echo of " + size + " bytes");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"netty", "undertow", "jdk"})
    void servesTheContractOnOneKeepAliveConnection(String server) throws Exception {
        Service service = new Service(Settings.defaults().withTestHooks(true));
        try (HttpTransport t = start(server, service); Conn c = new Conn(t.port())) {
            Res health = c.request("GET", "/health", null);
            assertEquals(200, health.status());
            assertEquals("java", health.json().get("service").asText());

            byte[] payload = new byte[64];
            for (int i = 0; i < payload.length; i++) {
                payload[i] = (byte) (i * 7);
            }
            Res echo = c.request("POST", "/echo", payload);
            assertEquals(200, echo.status());
            assertEquals("application/octet-stream", echo.headers().get("content-type"));
            assertArrayEquals(payload, echo.body());

            Res diff = c.request("POST", "/diff", "{\"a\":[\"x\",\"y\"],\"b\":[\"y\"]}".getBytes(StandardCharsets.UTF_8));
            assertEquals(200, diff.status());
            assertEquals("application/json", diff.headers().get("content-type"));
            assertEquals("[[\"delete\",0,1,0,0],[\"equal\",1,2,0,1]]", diff.json().get("opcodes").toString());

            Res notFound = c.request("POST", "/nope", "x".getBytes(StandardCharsets.UTF_8));
            assertEquals(404, notFound.status());
            assertEquals("unknown_op", notFound.json().get("error").asText());
            assertEquals("application/json", notFound.headers().get("content-type"));

            Res wrongMethod = c.request("GET", "/echo", null);
            assertEquals(405, wrongMethod.status());
            assertEquals("POST", wrongMethod.headers().get("allow"));
            assertEquals("bad_request", wrongMethod.json().get("error").asText());

            Res bad = c.request("POST", "/diff", "{\"a\":[\"\\ud800\"],\"b\":[]}".getBytes(StandardCharsets.UTF_8));
            assertEquals(400, bad.status());
            assertEquals("bad_request", bad.json().get("error").asText());

            Res fault = c.request("POST", "/diff", "{\"a\":[\"__bench_fault__:internal\"],\"b\":[]}"
                    .getBytes(StandardCharsets.UTF_8));
            assertEquals(500, fault.status());
            assertEquals("internal", fault.json().get("error").asText());

            // after every error the same connection still serves
            assertArrayEquals(payload, c.request("POST", "/echo", payload).body());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"netty", "undertow", "jdk"})
    void announcedOversizedBodyIs413BeforeTheBodyIsSent(String server) throws Exception {
        try (HttpTransport t = start(server, new Service(Settings.defaults())); Conn c = new Conn(t.port())) {
            c.sendHead("POST", "/echo", "Content-Length: " + (Settings.MAX_BODY_BYTES + 1) + "\r\n");
            Res r = c.read();
            assertEquals(413, r.status());
            assertEquals("too_large", r.json().get("error").asText());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"netty", "undertow", "jdk"})
    void chunkedBodyOverTheLimitIs413(String server) throws Exception {
        Service small = new Service(new Settings(100, 1000, false, 0));
        try (HttpTransport t = start(server, small); Conn c = new Conn(t.port())) {
            c.sendHead("POST", "/echo", "Transfer-Encoding: chunked\r\n");
            byte[] chunk = new byte[80];
            for (int i = 0; i < 2; i++) {
                c.out.write(("50\r\n").getBytes(StandardCharsets.US_ASCII));
                c.out.write(chunk);
                c.out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
            }
            c.out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            c.out.flush();
            Res r = c.read();
            assertEquals(413, r.status());
            assertTrue(new String(r.body(), StandardCharsets.UTF_8).contains("too_large"));
        }
        try (HttpTransport t = start(server, small); Conn c = new Conn(t.port())) {
            c.sendHead("POST", "/echo", "Transfer-Encoding: chunked\r\n");
            c.out.write("5\r\nhello\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            c.out.flush();
            Res r = c.read();
            assertEquals(200, r.status());
            assertEquals("hello", new String(r.body(), StandardCharsets.US_ASCII));
        }
    }

    /** Fuzzer finding: Content-Length 2^64 got an empty 500 from Undertow instead of a 400. */
    @ParameterizedTest
    @ValueSource(strings = {"netty", "undertow", "jdk"})
    void unusableContentLengthIs400AndAnOversizedOneIs413(String server) throws Exception {
        try (HttpTransport t = start(server, new Service(Settings.defaults()))) {
            for (String bad : new String[] {"18446744073709551616", "99999999999999999999999999", "-1", "-5",
                    "abc", "12x", "0x10", "+5", "9223372036854775808"}) {
                try (Conn c = new Conn(t.port())) {
                    c.sendHead("POST", "/echo", "Content-Length: " + bad + "\r\n");
                    Res r = c.read();
                    assertEquals(400, r.status(), server + " Content-Length: " + bad);
                    // the JDK server refuses values over a long itself, and Undertow's parser most
                    // others (not 2^64, the fuzzer's value), both with their own non-JSON 400 before our handler runs
                    if (server.equals("jdk") || (server.equals("undertow") && !bad.equals("18446744073709551616"))) {
                        continue;
                    }
                    assertEquals("application/json", r.headers().get("content-type"), bad);
                    assertEquals("bad_request", r.json().get("error").asText(), bad);
                }
            }
            for (String big : new String[] {String.valueOf(Settings.MAX_BODY_BYTES + 1L),
                    "4294967296"}) {
                try (Conn c = new Conn(t.port())) {
                    c.sendHead("POST", "/echo", "Content-Length: " + big + "\r\n");
                    Res r = c.read();
                    assertEquals(413, r.status(), server + " Content-Length: " + big);
                    assertEquals("too_large", r.json().get("error").asText(), big);
                }
            }
            try (Conn c = new Conn(t.port())) {
                assertArrayEquals(new byte[] {1, 2, 3}, c.request("POST", "/echo", new byte[] {1, 2, 3}).body());
            }
        }
    }

    /**
     * curl sends {@code Expect: 100-continue} before bodies over 1 KiB and waits a second for the
     * 100 (tests/peers/test_http_clients.py found Undertow silent, so every such upload took 1 s).
     */
    @ParameterizedTest
    @ValueSource(strings = {"netty", "undertow"})
    void expectContinueIsAnsweredAtOnce(String server) throws Exception {
        try (HttpTransport t = start(server, new Service(Settings.defaults())); Conn c = new Conn(t.port())) {
            c.socket.setSoTimeout(500);  // well under curl's 1 s
            c.sendHead("POST", "/echo", "Content-Length: 2048\r\nExpect: 100-continue\r\n");
            Res interim = c.read();
            assertEquals(100, interim.status());
            byte[] body = new byte[2048];
            body[7] = 7;
            c.out.write(body);
            c.out.flush();
            Res r = c.read();
            assertEquals(200, r.status());
            assertArrayEquals(body, r.body());
            // refused before the body: the final answer at once (Netty sends a 100 before it)
            c.sendHead("POST", "/echo", "Content-Length: " + (Settings.MAX_BODY_BYTES + 1) + "\r\nExpect: 100-continue\r\n");
            Res refused = c.read();
            assertEquals(413, refused.status() == 100 ? c.read().status() : refused.status());
        }
    }

    /** Slowloris: a header section dribbled a byte at a time is closed after the parse timeout. */
    @Test
    void unfinishedHeaderSectionIsClosedAfterTheHeaderTimeout() throws Exception {
        try (HttpTransport t = start("undertow", new Service(Settings.defaults())); Conn c = new Conn(t.port())) {
            c.socket.setSoTimeout(200);
            c.out.write("POST /echo HTTP/1.1\r\nHost: test\r\n".getBytes(StandardCharsets.US_ASCII));  // no blank line
            long start = System.nanoTime();
            byte[] header = ("X-Slow: " + "a".repeat(200)).getBytes(StandardCharsets.US_ASCII);
            boolean closed = false;
            for (int i = 0; i < header.length && !closed; i++) {
                c.out.write(header[i]);
                c.out.flush();
                try {
                    closed = c.in.read() < 0;
                } catch (java.net.SocketTimeoutException e) {
                    // still open: dribble on
                } catch (IOException e) {
                    closed = true;
                }
            }
            double took = (System.nanoTime() - start) / 1e9;
            assertTrue(closed, "still open after " + took + " s");
            assertTrue(took < UndertowHttpServer.HEADER_TIMEOUT_MS / 1000.0 + 4, "closed after " + took + " s");
        }
    }
}
