package bench.caller.client;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * A small blocking HTTP/1.1 client over one keep-alive socket ({@code TCP_NODELAY}): the whole
 * request (headers and body) is prepared once and written with one {@code write}; the reply is
 * read with a {@code Content-Length} or chunked body. After any failure the connection is
 * closed and the next call opens a new one. README.md ("The caller") has the measurement
 * that chose it over {@code java.net.http.HttpClient} and Netty.
 *
 * <p>The socket has no {@code SO_TIMEOUT}; the {@link Watchdog} keeps the timeout.
 */
public final class SocketHttpClient implements Client {
    private final String host;
    private final int port;
    private final int timeoutMs;
    private final byte[] request;
    private final byte[] buf = new byte[64 * 1024];
    private int pos;
    private int lim;
    private volatile Socket socket;
    private final Watchdog.Guard guard = Watchdog.guard(this::close);
    private InputStream in;
    private OutputStream out;

    public SocketHttpClient(String host, int port, Request r, double timeoutS) {
        this.host = host;
        this.port = port;
        this.timeoutMs = (int) Math.max(1, Math.round(timeoutS * 1000));
        String head = "POST /" + r.op() + " HTTP/1.1\r\nHost: " + host + ":" + port + "\r\nContent-Type: "
                + (r.op().equals("diff") ? "application/json" : "application/octet-stream") + "\r\nContent-Length: "
                + r.body().length + "\r\n\r\n";
        byte[] h = head.getBytes(StandardCharsets.US_ASCII);
        request = new byte[h.length + r.body().length];
        System.arraycopy(h, 0, request, 0, h.length);
        System.arraycopy(r.body(), 0, request, h.length, r.body().length);
    }

    @Override
    public CallReply call() throws CallException {
        guard.begin(timeoutMs);
        try {
            if (socket == null) {
                Socket s = new Socket();
                s.setTcpNoDelay(true);
                s.connect(new InetSocketAddress(host, port), timeoutMs);
                socket = s;
                in = s.getInputStream();
                out = s.getOutputStream();
                pos = lim = 0;
            }
            out.write(request);
            return readReply();
        } catch (IOException e) {
            close();
            if (guard.timedOut() || e instanceof SocketTimeoutException) {
                throw new CallException("http: no reply from " + host + ":" + port + " within " + timeoutMs + " ms", e);
            }
            throw new CallException("http: " + host + ":" + port + ": " + e, e);
        } finally {
            guard.end();
        }
    }

    private CallReply readReply() throws IOException {
        String status = line();
        java.util.List<String> headers = new java.util.ArrayList<>();
        for (String h = line(); !h.isEmpty(); h = line()) {
            headers.add(h);
        }
        HttpHead head = HttpHead.parse(status, headers);
        byte[] body;
        if (head.chunked()) {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            for (int n = chunkSize(); n > 0; n = chunkSize()) {
                b.write(bytes(n));
                line();
            }
            for (String t = line(); !t.isEmpty(); t = line()) {
                // trailers
            }
            body = b.toByteArray();
        } else {
            if (head.length() > Integer.MAX_VALUE - 8) {
                throw new IOException("reply body of " + head.length() + " bytes is too large");
            }
            body = bytes((int) head.length());
        }
        if (head.closeAfter()) {
            close();
        }
        return head.code() == 200 ? CallReply.ok(body) : CallReply.error(body, String.valueOf(head.code()));
    }

    private int chunkSize() throws IOException {
        String l = line();
        int semi = l.indexOf(';');
        return Integer.parseInt((semi < 0 ? l : l.substring(0, semi)).trim(), 16);
    }

    private boolean fill() throws IOException {
        if (pos == lim) {
            pos = 0;
            lim = 0;
        }
        if (lim == buf.length) {
            System.arraycopy(buf, pos, buf, 0, lim - pos);
            lim -= pos;
            pos = 0;
        }
        int n = in.read(buf, lim, buf.length - lim);
        if (n < 0) {
            return false;
        }
        lim += n;
        return true;
    }

    /** One header line without its CRLF (Latin-1). */
    private String line() throws IOException {
        while (true) {
            for (int i = pos; i + 1 < lim; i++) {
                if (buf[i] == '\r' && buf[i + 1] == '\n') {
                    String s = new String(buf, pos, i - pos, StandardCharsets.ISO_8859_1);
                    pos = i + 2;
                    return s;
                }
            }
            if (lim - pos >= buf.length) {
                throw new IOException("reply header line longer than " + buf.length + " bytes");
            }
            if (!fill()) {
                throw new IOException("connection closed by the server");
            }
        }
    }

    private byte[] bytes(int n) throws IOException {
        byte[] out = new byte[n];
        int have = Math.min(n, lim - pos);
        System.arraycopy(buf, pos, out, 0, have);
        pos += have;
        while (have < n) {
            int r = in.read(out, have, n - have);
            if (r < 0) {
                throw new IOException("connection closed in the middle of a reply body");
            }
            have += r;
        }
        return out;
    }

    @Override
    public void close() {
        guard.forget();
        Socket s = socket;
        socket = null;
        if (s != null) {
            try {
                s.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }
}
