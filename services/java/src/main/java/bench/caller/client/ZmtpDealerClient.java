package bench.caller.client;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A ZeroMQ {@code DEALER} peer written directly on one blocking socket of the user's own thread
 * (ZMTP 3.0, RFC 23/ZMTP, NULL mechanism): no IO thread, no hand-off between threads, one
 * {@code write} per request and usually one {@code read} per reply. It sends
 * {@code ["", op, body]} and reads {@code ["", status, body]} (CONTRACT.md "zmq"), as the
 * JeroMQ client ({@link ZmqClient}, {@code --zmq-client jeromq}) does; README.md ("The caller")
 * has the measurement that made it the default.
 *
 * <p>Handshake: the 64-byte greeting (signature, version 3.0, mechanism NULL, as-server 0), then
 * a {@code READY} command with {@code Socket-Type=DEALER}; the peer's greeting must announce
 * version 3 or later and NULL, and its {@code READY} must name a socket type a DEALER may talk
 * to ({@code ROUTER}, {@code DEALER}, {@code REP}), else the connection is refused with the
 * reason. Commands after the handshake (a libzmq {@code PING}, for instance) are skipped. The
 * socket has no {@code SO_TIMEOUT}; the {@link Watchdog} closes it when a call overstays, so a
 * late reply is never read as the next one's.
 */
public final class ZmtpDealerClient implements Client {
    private static final byte[] OK = "ok".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "error".getBytes(StandardCharsets.US_ASCII);
    private static final int MORE = 1;
    private static final int LONG = 2;
    private static final int COMMAND = 4;
    /** The largest reply frame accepted (the contract's largest body, with room). */
    private static final long MAX_FRAME = 64L * 1024 * 1024;

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

    public ZmtpDealerClient(String host, int port, Request r, double timeoutS) {
        this.host = host;
        this.port = port;
        this.timeoutMs = (int) Math.max(1, Math.round(timeoutS * 1000));
        byte[] op = r.op().getBytes(StandardCharsets.US_ASCII);
        byte[] body = r.body();
        int bodyHead = body.length > 255 ? 9 : 2;
        request = new byte[2 + 2 + op.length + bodyHead + body.length];
        int i = 0;
        request[i++] = MORE; // the empty delimiter
        request[i++] = 0;
        request[i++] = MORE;
        request[i++] = (byte) op.length;
        System.arraycopy(op, 0, request, i, op.length);
        i += op.length;
        if (body.length > 255) {
            request[i++] = LONG;
            for (int s = 56; s >= 0; s -= 8) {
                request[i++] = (byte) ((long) body.length >>> s);
            }
        } else {
            request[i++] = 0;
            request[i++] = (byte) body.length;
        }
        System.arraycopy(body, 0, request, i, body.length);
    }

    /** The greeting of ZMTP 3.0 with the NULL mechanism, as a client. */
    static byte[] greeting() {
        byte[] g = new byte[64];
        g[0] = (byte) 0xff;
        g[9] = 0x7f;
        g[10] = 3; // version 3.0
        g[11] = 0;
        byte[] mech = "NULL".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(mech, 0, g, 12, mech.length);
        g[32] = 0; // as-server: no
        return g;
    }

    /** The NULL mechanism's READY command, {@code Socket-Type=DEALER}. */
    static byte[] ready() {
        byte[] name = "READY".getBytes(StandardCharsets.US_ASCII);
        byte[] key = "Socket-Type".getBytes(StandardCharsets.US_ASCII);
        byte[] value = "DEALER".getBytes(StandardCharsets.US_ASCII);
        int size = 1 + name.length + 1 + key.length + 4 + value.length;
        byte[] c = new byte[2 + size];
        int i = 0;
        c[i++] = COMMAND;
        c[i++] = (byte) size;
        c[i++] = (byte) name.length;
        System.arraycopy(name, 0, c, i, name.length);
        i += name.length;
        c[i++] = (byte) key.length;
        System.arraycopy(key, 0, c, i, key.length);
        i += key.length;
        i += 3;
        c[i++] = (byte) value.length;
        System.arraycopy(value, 0, c, i, value.length);
        return c;
    }

    @Override
    public CallReply call() throws CallException {
        guard.begin(timeoutMs);
        try {
            if (socket == null) {
                connect();
            }
            out.write(request);
            return readReply();
        } catch (IOException e) {
            close();
            if (guard.timedOut()) {
                throw new CallException("zmq: no reply from tcp://" + host + ":" + port + " within " + timeoutMs
                        + " ms", e);
            }
            throw new CallException("zmq: tcp://" + host + ":" + port + ": " + e.getMessage(), e);
        } finally {
            guard.end();
        }
    }

    private void connect() throws IOException {
        Socket s = new Socket();
        s.setTcpNoDelay(true);
        s.connect(new InetSocketAddress(host, port), timeoutMs);
        socket = s;
        in = s.getInputStream();
        out = s.getOutputStream();
        pos = lim = 0;
        byte[] g = greeting();
        byte[] r = ready();
        byte[] both = Arrays.copyOf(g, g.length + r.length);
        System.arraycopy(r, 0, both, g.length, r.length);
        out.write(both);
        need(64);
        if ((buf[pos] & 0xff) != 0xff || (buf[pos + 9] & 0xff) != 0x7f) {
            throw new IOException("the peer is not a ZeroMQ socket (no ZMTP signature)");
        }
        if (buf[pos + 10] < 3) {
            throw new IOException("the peer speaks ZMTP " + buf[pos + 10] + ".x; this client needs 3.0 or later");
        }
        String mech = new String(buf, pos + 12, 20, StandardCharsets.US_ASCII).replace("\0", "");
        if (!mech.equals("NULL")) {
            throw new IOException("the peer's security mechanism is " + mech + "; this client speaks only NULL");
        }
        pos += 64;
        int flags = readFrameHead();
        if ((flags & COMMAND) == 0) {
            throw new IOException("the peer sent a message before its READY command");
        }
        byte[] cmd = frameBody();
        String type = readyProperty(cmd, "Socket-Type");
        if (!(type.equals("ROUTER") || type.equals("DEALER") || type.equals("REP"))) {
            throw new IOException("the peer is a " + type + " socket; a DEALER talks to ROUTER, DEALER or REP");
        }
    }

    /** The value of {@code key} in a READY command's metadata ("" when absent). */
    static String readyProperty(byte[] cmd, String key) throws IOException {
        int n = cmd.length == 0 ? 0 : cmd[0] & 0xff;
        if (cmd.length < 1 + n || !new String(cmd, 1, n, StandardCharsets.US_ASCII).equals("READY")) {
            String name = cmd.length < 1 + n ? "" : new String(cmd, 1, n, StandardCharsets.US_ASCII);
            throw new IOException("the peer's first command is '" + name + "', not READY"
                    + (name.equals("ERROR") ? " (it refused the handshake)" : ""));
        }
        int i = 1 + n;
        while (i < cmd.length) {
            int kl = cmd[i++] & 0xff;
            if (i + kl + 4 > cmd.length) {
                throw new IOException("the peer's READY command is truncated");
            }
            String k = new String(cmd, i, kl, StandardCharsets.US_ASCII);
            i += kl;
            int vl = ((cmd[i] & 0xff) << 24) | ((cmd[i + 1] & 0xff) << 16) | ((cmd[i + 2] & 0xff) << 8) | (cmd[i + 3] & 0xff);
            i += 4;
            if (vl < 0 || i + vl > cmd.length) {
                throw new IOException("the peer's READY command is truncated");
            }
            if (k.equalsIgnoreCase(key)) {
                return new String(cmd, i, vl, StandardCharsets.US_ASCII);
            }
            i += vl;
        }
        return "";
    }

    private long frameSize;

    /** Read a frame's flags and size (into {@link #frameSize}); returns the flags. */
    private int readFrameHead() throws IOException {
        need(2);
        int flags = buf[pos] & 0xff;
        if ((flags & ~(MORE | LONG | COMMAND)) != 0) {
            throw new IOException("bad ZMTP frame flags 0x" + Integer.toHexString(flags));
        }
        if ((flags & LONG) != 0) {
            need(9);
            long size = 0;
            for (int k = 1; k <= 8; k++) {
                size = (size << 8) | (buf[pos + k] & 0xff);
            }
            pos += 9;
            if (size < 0 || size > MAX_FRAME) {
                throw new IOException("ZMTP frame of " + size + " bytes (at most " + MAX_FRAME + ")");
            }
            frameSize = size;
        } else {
            frameSize = buf[pos + 1] & 0xff;
            pos += 2;
        }
        return flags;
    }

    private byte[] frameBody() throws IOException {
        int n = (int) frameSize;
        byte[] b = new byte[n];
        int have = Math.min(n, lim - pos);
        System.arraycopy(buf, pos, b, 0, have);
        pos += have;
        while (have < n) {
            int r = in.read(b, have, n - have);
            if (r < 0) {
                throw new IOException("connection closed in the middle of a frame");
            }
            have += r;
        }
        return b;
    }

    /** Make at least {@code n} unread bytes be in {@link #buf}. */
    private void need(int n) throws IOException {
        if (lim - pos >= n) {
            return;
        }
        if (pos > 0) {
            System.arraycopy(buf, pos, buf, 0, lim - pos);
            lim -= pos;
            pos = 0;
        }
        while (lim < n) {
            int r = in.read(buf, lim, buf.length - lim);
            if (r < 0) {
                throw new IOException("connection closed by the peer");
            }
            lim += r;
        }
    }

    /** The next message's frames (commands between messages skipped). */
    private CallReply readReply() throws IOException, CallException {
        int flags;
        while (true) {
            flags = readFrameHead();
            if ((flags & COMMAND) == 0) {
                break;
            }
            frameBody(); // PING, or anything else a peer may send between messages
        }
        byte[][] frames = new byte[3][];
        int count = 0;
        while (true) {
            byte[] f = frameBody();
            if (count < 3) {
                frames[count] = f;
            }
            count++;
            if ((flags & MORE) == 0) {
                break;
            }
            flags = readFrameHead();
            if ((flags & COMMAND) != 0) {
                throw new IOException("a ZMTP command in the middle of a message");
            }
        }
        if (count != 3 || frames[0].length != 0) {
            throw new CallException("zmq: reply is not [\"\", status, body] (" + count + " frames)");
        }
        if (Arrays.equals(frames[1], OK)) {
            return CallReply.ok(frames[2]);
        }
        if (Arrays.equals(frames[1], ERROR)) {
            return CallReply.error(frames[2], "error");
        }
        throw new CallException("zmq: reply status '" + new String(frames[1], StandardCharsets.UTF_8)
                + "' is neither ok nor error");
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
