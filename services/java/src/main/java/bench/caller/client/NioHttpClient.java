package bench.caller.client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP/1.1 keep-alive client on a non-blocking {@link SocketChannel} ({@code TCP_NODELAY}),
 * driven by the cell's one {@link NioLoop} thread: the request (headers and body) is prepared
 * once and written with one {@code write}; the reply is parsed as it arrives (status line,
 * headers, a {@code Content-Length} or chunked body). A closed-loop user sends its next request
 * from the reply's callback on the loop's thread ({@link AsyncClient}), so no thread wakes up
 * per request: the loop's {@code epoll_wait} returns every connection that has a reply. After
 * any failure the connection is closed and the next call opens a new one; a call past its
 * timeout fails and closes its connection. README.md ("The caller") has the measurement that
 * made it the default.
 */
public final class NioHttpClient implements AsyncClient, NioLoop.Handler {
    private static final int MAX_HEAD = 64 * 1024;
    private static final int MAX_BODY = 16 * 1024 * 1024 + 64 * 1024;

    private final NioLoop loop;
    private final InetSocketAddress address;
    private final String where;
    private final long timeoutNanos;
    private final ByteBuffer request;
    private byte[] buf = new byte[16 * 1024];
    private ByteBuffer in = ByteBuffer.wrap(buf); // buf as the channel reads into it (no wrapper per read)
    private int lim; // bytes of buf holding what was read and not yet parsed
    private SocketChannel channel;
    private SelectionKey key;
    private Listener listener; // the call in flight, or null
    private long deadline;
    // the reply being read
    private int code = -1;
    private boolean closeAfter;
    private byte[] body;
    private int bodyHave;
    private boolean chunked;

    public NioHttpClient(NioLoop loop, String host, int port, Request r, double timeoutS) {
        this.loop = loop;
        this.address = new InetSocketAddress(host, port);
        this.where = host + ":" + port;
        this.timeoutNanos = (long) (timeoutS * 1e9);
        String head = "POST /" + r.op() + " HTTP/1.1\r\nHost: " + host + ":" + port + "\r\nContent-Type: "
                + (r.op().equals("diff") ? "application/json" : "application/octet-stream") + "\r\nContent-Length: "
                + r.body().length + "\r\n\r\n";
        byte[] h = head.getBytes(StandardCharsets.US_ASCII);
        request = ByteBuffer.allocateDirect(h.length + r.body().length);
        request.put(h).put(r.body()).flip();
    }

    @Override
    public void start(Listener l) {
        loop.execute(() -> begin(l));
    }

    /** The blocking call (the open loop's): the same path, waited for on the caller's thread. */
    @Override
    public CallReply call() throws CallException {
        CountDownLatch done = new CountDownLatch(1);
        CallReply[] reply = new CallReply[1];
        CallException[] failure = new CallException[1];
        start((r, f) -> {
            reply[0] = r;
            failure[0] = f;
            done.countDown();
        });
        try {
            if (!done.await(timeoutNanos + 2_000_000_000L, TimeUnit.NANOSECONDS)) {
                throw new CallException("http: no reply from " + where + " and no time-out from its loop", null);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CallException("http: interrupted", e);
        }
        if (failure[0] != null) {
            throw failure[0];
        }
        return reply[0];
    }

    private void begin(Listener l) {
        listener = l;
        deadline = System.nanoTime() + timeoutNanos;
        try {
            if (channel == null) {
                SocketChannel ch = SocketChannel.open();
                ch.configureBlocking(false);
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                channel = ch;
                loop.add(this);
                boolean connected = ch.connect(address);
                key = ch.register(loop.selector(), connected ? 0 : SelectionKey.OP_CONNECT, this);
                lim = 0;
                if (!connected) {
                    return; // written once connected (ready)
                }
            }
            send();
        } catch (IOException e) {
            fail("http: " + where + ": " + e, e);
        }
    }

    /**
     * Write the request. The key stays interested in reading between calls, so that a request
     * and its reply change no interest (each change is an {@code epoll_ctl} at the next select);
     * only a partial write asks for writability until the rest is out.
     */
    private void send() throws IOException {
        request.rewind();
        channel.write(request);
        if (request.hasRemaining()) {
            key.interestOps(SelectionKey.OP_WRITE);
        } else if (key.interestOps() != SelectionKey.OP_READ) {
            key.interestOps(SelectionKey.OP_READ);
        }
    }

    @Override
    public void ready(SelectionKey k) {
        try {
            if (k.isConnectable()) {
                channel.finishConnect();
                send();
            } else if (k.isWritable()) {
                channel.write(request);
                if (!request.hasRemaining()) {
                    k.interestOps(SelectionKey.OP_READ);
                }
            } else if (k.isReadable()) {
                readable();
            }
        } catch (IOException | RuntimeException e) {
            fail("http: " + where + ": " + e, e);
        }
    }

    private void readable() throws IOException {
        if (listener == null) { // between calls: the server closed the connection, or sent what nobody asked
            int n = channel.read(in.limit(buf.length).position(0));
            closeChannel(); // the next call opens a new connection
            if (n > 0) {
                java.util.logging.Logger.getLogger(NioHttpClient.class.getName()).warning(
                        "http: " + where + " sent " + n + " bytes between replies; the connection is closed");
            }
            return;
        }
        if (body != null && !chunked) { // the rest of a Content-Length body, straight into it
            int n = channel.read(ByteBuffer.wrap(body, bodyHave, body.length - bodyHave));
            if (n < 0) {
                throw new IOException("connection closed in the middle of a reply body");
            }
            bodyHave += n;
            if (bodyHave == body.length) {
                complete(body);
            }
            return;
        }
        if (lim == buf.length) {
            if (buf.length >= (code < 0 ? MAX_HEAD : MAX_BODY)) {
                throw new IOException(code < 0 ? "reply head longer than " + MAX_HEAD + " bytes"
                        : "chunked reply body larger than " + MAX_BODY + " bytes");
            }
            buf = java.util.Arrays.copyOf(buf, buf.length * 2);
            in = ByteBuffer.wrap(buf);
        }
        int n = channel.read(in.limit(buf.length).position(lim));
        if (n < 0) {
            throw new IOException("connection closed by the server");
        }
        lim += n;
        parse();
    }

    /** Parse what {@code buf} holds: the head once it is whole, then the body. */
    private void parse() throws IOException {
        int pos = 0;
        if (code < 0) {
            int end = headEnd();
            if (end < 0) {
                return;
            }
            pos = head(end);
        }
        if (chunked) {
            byte[] whole = chunks(pos);
            if (whole != null) {
                lim = 0;
                complete(whole);
            }
            return;
        }
        int have = Math.min(lim - pos, body.length);
        System.arraycopy(buf, pos, body, 0, have);
        bodyHave = have;
        lim = 0; // a reply is read only after its request was sent: nothing follows it
        if (bodyHave == body.length) {
            complete(body);
        }
    }

    private int headEnd() {
        for (int i = 3; i < lim; i++) {
            if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
                return i + 1;
            }
        }
        return -1;
    }

    /** The status line and headers in buf[0, end); returns where the body starts. */
    private int head(int end) throws IOException {
        // the lines found by lineEnd, not String.split: a two-character separator compiles a regex per call
        java.util.List<String> headers = new java.util.ArrayList<>(8);
        int eol = lineEnd(0);
        String status = new String(buf, 0, eol, StandardCharsets.ISO_8859_1);
        for (int p = eol + 2; p < end - 2; p = eol + 2) {
            eol = lineEnd(p);
            headers.add(new String(buf, p, eol - p, StandardCharsets.ISO_8859_1));
        }
        HttpHead h = HttpHead.parse(status, headers);
        if (h.length() > MAX_BODY) {
            throw new IOException("reply body of " + h.length() + " bytes is too large");
        }
        code = h.code();
        closeAfter = h.closeAfter();
        chunked = h.chunked();
        body = chunked ? null : new byte[(int) h.length()];
        bodyHave = 0;
        return end;
    }

    /** The whole chunked body if buf[from, lim) holds all of it (and its trailers), else null. */
    private byte[] chunks(int from) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int p = from;
        while (true) {
            int eol = lineEnd(p);
            if (eol < 0) {
                return null;
            }
            String size = new String(buf, p, eol - p, StandardCharsets.ISO_8859_1);
            int semi = size.indexOf(';');
            int n;
            try {
                n = Integer.parseInt((semi < 0 ? size : size.substring(0, semi)).trim(), 16);
            } catch (NumberFormatException e) {
                throw new IOException("bad chunk size '" + size + "'");
            }
            p = eol + 2;
            if (n == 0) {
                while (true) { // trailers, then the empty line
                    int t = lineEnd(p);
                    if (t < 0) {
                        return null;
                    }
                    boolean empty = t == p;
                    p = t + 2;
                    if (empty) {
                        return out.toByteArray();
                    }
                }
            }
            if (lim - p < n + 2) {
                return null;
            }
            out.write(buf, p, n);
            p += n + 2;
        }
    }

    private int lineEnd(int from) {
        for (int i = from; i + 1 < lim; i++) {
            if (buf[i] == '\r' && buf[i + 1] == '\n') {
                return i;
            }
        }
        return -1;
    }

    private void complete(byte[] replyBody) {
        CallReply r = code == 200 ? CallReply.ok(replyBody) : CallReply.error(replyBody, String.valueOf(code));
        boolean close = closeAfter;
        code = -1;
        body = null;
        chunked = false;
        if (close) {
            closeChannel();
        }
        Listener l = listener;
        listener = null;
        l.done(r, null);
    }

    private void fail(String message, Exception cause) {
        closeChannel();
        Listener l = listener;
        listener = null;
        if (l != null) {
            l.done(null, new CallException(message, cause));
        }
    }

    @Override
    public void tick(long now) {
        if (listener != null && now - deadline >= 0) {
            fail("http: no reply from " + where + " within " + timeoutNanos / 1_000_000 + " ms", null);
        }
    }

    private void closeChannel() {
        code = -1;
        body = null;
        chunked = false;
        lim = 0;
        loop.remove(this);
        SocketChannel ch = channel;
        channel = null;
        key = null;
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }

    @Override
    public void close() {
        CountDownLatch closed = new CountDownLatch(1);
        loop.execute(() -> {
            closeChannel();
            closed.countDown();
        });
        try {
            closed.await(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
