package bench.zmq;

import bench.core.ErrorCode;
import bench.core.Json;
import bench.core.Reply;
import bench.core.Service;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;
import zmq.Msg;
import zmq.msg.MsgAllocator;
import zmq.msg.MsgAllocatorThreshold;

/**
 * The ZeroMQ transport: a ROUTER socket bound to {@code tcp://host:port} serving REQ and DEALER
 * clients alike (JeroMQ).
 *
 * <p>A request arrives as {@code [identity, "", op, body]} (a REQ peer, or a DEALER sending the
 * empty delimiter as CONTRACT.md asks) and is answered {@code [identity, "", status, body]}. Any
 * other shape is answered {@code bad_request}, never dropped; without a delimiter the reply is
 * {@code [identity, "error", body]}. With one worker (the default) the ROUTER loop computes the
 * replies itself; with more, the ROUTER is proxied to an inproc DEALER whose DEALER workers see
 * and return whole envelopes. README.md has the measurement: the single loop costs a third of
 * the CPU per request of the proxied workers.
 */
public final class ZmqServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ZmqServer.class.getName());
    private static final byte[] OK = "ok".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR = "error".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EMPTY = new byte[0];
    private static final int MESSAGE_SLACK = 64 * 1024;
    private static final int POLL_MS = 200;
    private static final String BACKEND = "inproc://bench-workers";

    private final Service service;
    private final ZContext ctx;
    private final ZMQ.Socket front;
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean stopping;

    /**
     * What a thread that must never die (a JeroMQ IO thread, the router, a worker, the proxy)
     * does when it dies anyway, e.g. of an OutOfMemoryError: log it and halt the process with
     * status 70, so that a supervisor sees a dead service rather than a live one that never
     * answers again.
     */
    public static final Thread.UncaughtExceptionHandler HALT_ON_DEATH = (t, e) -> {
        try {
            LOG.severe("thread " + t.getName() + " died of " + e + "; the zmq transport cannot serve"
                    + " without it: exiting");
            e.printStackTrace();
        } finally {
            Runtime.getRuntime().halt(70);
        }
    };

    public ZmqServer(Service service, String host, int port, int workers) {
        this(service, host, port, workers, HALT_ON_DEATH);
    }

    /** As above, with what to do when an IO or serving thread dies (tests pass a recorder). */
    public ZmqServer(Service service, String host, int port, int workers,
            Thread.UncaughtExceptionHandler onThreadDeath) {
        this.service = service;
        this.ctx = new ZContext(1);
        this.ctx.setLinger(0);
        // before the first socket: the IO threads are started with the context's handler
        this.ctx.setUncaughtExceptionHandler(onThreadDeath);
        this.ctx.setNotificationExceptionHandler((t, e) -> LOG.warning("zmq " + t.getName()
                + ": connection event failed (peer ignored, serving on): " + e));
        this.front = ctx.createSocket(SocketType.ROUTER);
        // a peer announcing a frame over the limit is disconnected before JeroMQ allocates
        // a buffer for it (without this, random bytes after a greeting could ask for ~1 GB of
        // direct memory and kill the IO thread)
        front.setMaxMsgSize(maxMessageSize(service));
        // JeroMQ 0.6.0 checks that limit with a signed compare: a 64-bit frame size with the top
        // bit set (0xde585e2a342589c3, from the fuzzer) passes it and is cast to an int (874 MB)
        // for the allocation. The allocator refuses such sizes itself (an empty frame instead).
        front.setMsgAllocator(new BoundedAllocator(maxMessageSize(service)));
        front.setRcvHWM(10_000);
        front.setSndHWM(10_000);
        front.setReceiveTimeOut(POLL_MS);
        String endpoint = "tcp://" + host + ":" + port;
        try {
            front.bind(endpoint);
        } catch (RuntimeException e) {
            ctx.close();
            throw new IllegalStateException("cannot bind " + endpoint + ": " + e.getMessage()
                    + "; is the port in use by another program?", e);
        }
        if (workers <= 1) {
            threads.add(new Thread(() -> serveLoop(front), "zmq-router"));
        } else {
            ZMQ.Socket back = ctx.createSocket(SocketType.DEALER);
            back.setRcvHWM(10_000);
            back.setSndHWM(10_000);
            back.bind(BACKEND);
            for (int i = 0; i < workers; i++) {
                threads.add(new Thread(this::workerLoop, "zmq-worker-" + i));
            }
            threads.add(new Thread(() -> proxy(front, back), "zmq-proxy"));
        }
        for (Thread t : threads) {
            t.setUncaughtExceptionHandler(onThreadDeath);
            t.start();
        }
        LOG.info("zmq ROUTER bound to " + endpoint + " (" + workers + " worker(s))");
    }

    /** The default allocator, refusing any frame over the limit whatever the decoder let through. */
    static final class BoundedAllocator implements MsgAllocator {
        private final MsgAllocator delegate = new MsgAllocatorThreshold();
        private final long max;

        BoundedAllocator(long max) {
            this.max = max;
        }

        @Override
        public Msg allocate(int size) {
            if (size < 0 || size > max) {
                // throwing here would leave JeroMQ's decoder spinning on the same bytes; an empty
                // frame instead ends the bogus one at once: during the handshake the NULL
                // mechanism refuses it and drops the peer, after it the peer only gets garbage
                return new Msg(0);
            }
            return delegate.allocate(size);
        }
    }

    /** The largest frame a peer may send: the body limit plus 64 KiB. */
    public static long maxMessageSize(Service service) {
        return (long) service.settings().maxBodyBytes() + MESSAGE_SLACK;
    }

    /** Compute the reply frames for frames as a ROUTER received them (identity first). */
    public static List<byte[]> replyFrames(Service service, List<byte[]> frames) {
        int delimiter = -1;
        for (int i = 1; i < frames.size(); i++) {
            if (frames.get(i).length == 0) {
                delimiter = i;
                break;
            }
        }
        List<byte[]> out = new ArrayList<>(delimiter < 0 ? 3 : delimiter + 3);
        if (delimiter < 0) {
            out.add(frames.get(0));
            out.add(ERROR);
            out.add(Json.errorBody(ErrorCode.BAD_REQUEST,
                    "missing the empty delimiter frame; send [\"\", op, body] from a DEALER"));
            return out;
        }
        out.addAll(frames.subList(0, delimiter + 1));
        int n = frames.size() - delimiter - 1;
        if (n != 2) {
            out.add(ERROR);
            out.add(Json.errorBody(ErrorCode.BAD_REQUEST, "expected 2 frames [op, body], got " + n));
            return out;
        }
        String op = new String(frames.get(delimiter + 1), StandardCharsets.US_ASCII);
        Reply reply = service.handle(op, frames.get(delimiter + 2));
        out.add(reply.isOk() ? OK : ERROR);
        out.add(reply.body());
        return out;
    }

    /** Receive one multipart message, or null after the receive timeout. */
    private static List<byte[]> receive(ZMQ.Socket s) {
        byte[] first = s.recv(0);
        if (first == null) {
            return null;
        }
        List<byte[]> frames = new ArrayList<>(4);
        frames.add(first);
        while (s.hasReceiveMore()) {
            byte[] f = s.recv(0);
            frames.add(f == null ? EMPTY : f);
        }
        return frames;
    }

    private static void sendAll(ZMQ.Socket s, List<byte[]> frames) {
        int last = frames.size() - 1;
        for (int i = 0; i < last; i++) {
            s.send(frames.get(i), ZMQ.SNDMORE);
        }
        s.send(frames.get(last), 0);
    }

    private void serveLoop(ZMQ.Socket s) {
        while (!stopping) {
            try {
                List<byte[]> frames = receive(s);
                if (frames != null) {
                    sendAll(s, replyFrames(service, frames));
                }
            } catch (RuntimeException e) {
                if (stopping) {
                    break;
                }
                LOG.severe("zmq loop error (continuing): " + e);
            }
        }
    }

    private void workerLoop() {
        try (ZMQ.Socket s = ctx.createSocket(SocketType.DEALER)) {
            s.setReceiveTimeOut(POLL_MS);
            s.setRcvHWM(10_000);
            s.setSndHWM(10_000);
            s.connect(BACKEND);
            serveLoop(s);
        } catch (RuntimeException e) {
            if (!stopping) {
                LOG.severe(Thread.currentThread().getName() + " failed: " + e);
            }
        }
    }

    private void proxy(ZMQ.Socket frontSocket, ZMQ.Socket back) {
        try (ZMQ.Poller poller = ctx.createPoller(2)) {
            poller.register(frontSocket, ZMQ.Poller.POLLIN);
            poller.register(back, ZMQ.Poller.POLLIN);
            while (!stopping) {
                if (poller.poll(POLL_MS) <= 0) {
                    continue;
                }
                // drain both sides: the sockets signal readiness edge-wise, so everything
                // queued must be moved now or it waits for the next poll timeout
                boolean moved = true;
                while (moved) {
                    moved = forward(frontSocket, back) | forward(back, frontSocket);
                }
            }
        } catch (RuntimeException e) {
            if (!stopping) {
                LOG.severe("zmq proxy failed: " + e);
            }
        }
    }

    /** Move one whole message if one is waiting; true when one was moved. */
    private static boolean forward(ZMQ.Socket from, ZMQ.Socket to) {
        byte[] f = from.recv(ZMQ.DONTWAIT);
        if (f == null) {
            return false;
        }
        while (true) {
            boolean more = from.hasReceiveMore();
            to.send(f, more ? ZMQ.SNDMORE : 0);
            if (!more) {
                return true;
            }
            f = from.recv(0);
        }
    }

    /** The port actually bound (useful with port 0 in tests). */
    public int port() {
        String ep = front.getLastEndpoint();
        return Integer.parseInt(ep.substring(ep.lastIndexOf(':') + 1));
    }

    @Override
    public void close() {
        stopping = true;
        for (Thread t : threads) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        ctx.close();
    }
}
