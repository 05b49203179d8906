package bench.caller;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * A JeroMQ socket connected with its ZMTP handshake done. JeroMQ 0.6.0's TCP connecter
 * sometimes never completes a connection it starts (services/java/README.md): a socket
 * monitor waits for the handshake, and a socket that has none within {@code handshakeMs} is
 * replaced by a new one, before anything was sent on it. Nothing sent is ever retried.
 */
public final class ZmqConnect {
    private static final AtomicLong MONITORS = new AtomicLong();

    private ZmqConnect() {
    }

    /**
     * A socket of {@code type} connected to {@code endpoint} after {@code configure} ran on it
     * (identity, timeouts), or null when {@code attempts} sockets in a row had no handshake
     * (nothing listening, or the fault every time).
     */
    public static ZMQ.Socket connect(ZContext ctx, SocketType type, String endpoint, Consumer<ZMQ.Socket> configure,
            int handshakeMs, int attempts) {
        for (int i = 0; i < attempts; i++) {
            ZMQ.Socket s = ctx.createSocket(type);
            s.setLinger(0);
            configure.accept(s);
            String monitor = "inproc://bench-caller-monitor-" + MONITORS.incrementAndGet();
            s.monitor(monitor, ZMQ.EVENT_HANDSHAKE_PROTOCOL);
            ZMQ.Event handshake;
            try (ZMQ.Socket events = ctx.createSocket(SocketType.PAIR)) {
                events.setReceiveTimeOut(handshakeMs);
                events.connect(monitor);
                s.connect(endpoint);
                handshake = ZMQ.Event.recv(events);
            }
            s.monitor(null, 0);
            if (handshake != null) {
                return s;
            }
            ctx.destroySocket(s);
        }
        return null;
    }
}
