package bench.caller.client;

import bench.v1.BenchGrpc;
import bench.v1.Blob;
import bench.v1.DiffReply;
import bench.v1.DiffRequest;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * grpc-java's stubs of {@code bench.v1.Bench} (generated from contract/bench.proto) on its shaded
 * Netty: {@link #start} calls the asynchronous stub (what a closed-loop user runs: the next call
 * is issued from the reply's callback, on the event loop), {@link #call} the blocking one (the
 * open loop's users). Every channel of the caller runs on one event loop thread (epoll when the
 * native transport loads, else NIO) with {@code directExecutor()}, so that a reply's callback
 * runs where the reply was read. The channel is either the user's own or one shared by all
 * users ({@link Channels}); README.md has the measurements behind both defaults. A deadline of
 * the cell's timeout is set on every call; DEADLINE_EXCEEDED and UNAVAILABLE are errors (no
 * reply), any other status is an error reply.
 */
public final class GrpcClient implements AsyncClient {
    private static EventLoopGroup loop;

    /**
     * Load and initialise what a first gRPC call needs (grpc-java, its shaded Netty with the epoll
     * library, protobuf), without a target: a call to a port nothing listens on, and an echo
     * message built, written and parsed. The caller runs this in the background at start, while
     * it joins the master; on a loaded machine a cold first call took 3 to 5 s (README.md "The
     * caller"), longer than a quick cell's warm-up. Returns the milliseconds it took.
     */
    public static long preload() {
        long t0 = System.nanoTime();
        try {
            Blob b = Blob.parseFrom(Blob.newBuilder().setData(ByteString.copyFrom(new byte[64])).build().toByteArray());
            DiffReply.parseFrom(DiffReply.newBuilder().addOpcodes(bench.v1.Opcode.newBuilder().setTag("equal")).build()
                    .toByteArray());
            int port;
            try (java.net.ServerSocket ss = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = ss.getLocalPort(); // closed again: nothing listens there
            }
            Channels ch = new Channels("127.0.0.1", port, true);
            GrpcClient c = new GrpcClient(ch, new Request("echo", b.getData().toByteArray(), null), 1.0);
            java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
            c.start((reply, failure) -> done.countDown());
            done.await(5, TimeUnit.SECONDS);
            ch.close();
        } catch (Exception e) {
            // only a warm-up: the real calls report their own errors
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /** The one event loop thread of every gRPC channel of this caller (a daemon). */
    static synchronized EventLoopGroup loop() {
        if (loop == null) {
            DefaultThreadFactory threads = new DefaultThreadFactory("grpc-caller", true);
            loop = Epoll.isAvailable() ? new EpollEventLoopGroup(1, threads) : new NioEventLoopGroup(1, threads);
        }
        return loop;
    }

    public static final int MAX_MESSAGE = 16 * 1024 * 1024 + 64 * 1024;

    /** Where users get their channel: their own, or one for all. */
    public static final class Channels implements AutoCloseable {
        private final String host;
        private final int port;
        private final boolean shared;
        private ManagedChannel one;

        public Channels(String host, int port, boolean shared) {
            this.host = host;
            this.port = port;
            this.shared = shared;
        }

        synchronized ManagedChannel get() {
            if (!shared) {
                return build();
            }
            if (one == null) {
                one = build();
            }
            return one;
        }

        boolean owned() {
            return !shared;
        }

        private ManagedChannel build() {
            EventLoopGroup group = loop();
            return NettyChannelBuilder.forAddress(host, port).usePlaintext().maxInboundMessageSize(MAX_MESSAGE)
                    .eventLoopGroup(group)
                    .channelType(group instanceof EpollEventLoopGroup ? EpollSocketChannel.class : NioSocketChannel.class)
                    .directExecutor().build();
        }

        @Override
        public synchronized void close() {
            if (one != null) {
                one.shutdownNow();
                one = null;
            }
        }
    }

    private final Channels channels;
    private final ManagedChannel channel;
    private final BenchGrpc.BenchBlockingStub stub;
    private final BenchGrpc.BenchStub async;
    private final long timeoutMs;
    private final Blob blob;
    private final DiffRequest diff;

    public GrpcClient(Channels channels, Request r, double timeoutS) {
        this.channels = channels;
        this.channel = channels.get();
        this.stub = BenchGrpc.newBlockingStub(channel);
        this.async = BenchGrpc.newStub(channel);
        this.timeoutMs = Math.max(1, Math.round(timeoutS * 1000));
        if (r.op().equals("echo")) {
            blob = Blob.newBuilder().setData(ByteString.copyFrom(r.body())).build();
            diff = null;
        } else {
            List<List<String>> ab = r.diffArgs();
            blob = null;
            diff = DiffRequest.newBuilder().addAllA(ab.get(0)).addAllB(ab.get(1)).build();
        }
    }

    @Override
    public CallReply call() throws CallException {
        BenchGrpc.BenchBlockingStub s = stub.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS);
        try {
            if (blob != null) {
                return CallReply.ok(s.echo(blob).getData().toByteArray());
            }
            return opcodes(s.diff(diff));
        } catch (StatusRuntimeException e) {
            return failed(e.getStatus(), e);
        }
    }

    private static CallReply opcodes(DiffReply reply) {
        List<Opcode> ops = new ArrayList<>(reply.getOpcodesCount());
        for (bench.v1.Opcode o : reply.getOpcodesList()) {
            ops.add(new Opcode(o.getTag(), o.getI1(), o.getI2(), o.getJ1(), o.getJ2()));
        }
        return CallReply.ok(ops);
    }

    /** A status other than OK: an error (no reply) or an error reply. */
    private CallReply failed(Status status, Throwable cause) throws CallException {
        Status.Code code = status.getCode();
        String details = status.getDescription() == null ? "" : status.getDescription();
        if (code == Status.Code.DEADLINE_EXCEEDED || code == Status.Code.UNAVAILABLE) {
            throw new CallException("grpc: " + channel.authority() + ": " + code + ": " + details, cause);
        }
        return CallReply.error(details.getBytes(StandardCharsets.UTF_8), code.name());
    }

    @Override
    public void start(Listener l) {
        BenchGrpc.BenchStub s = async.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS);
        if (blob != null) {
            s.echo(blob, new Observer<>(l, b -> CallReply.ok(b.getData().toByteArray())));
        } else {
            s.diff(diff, new Observer<>(l, GrpcClient::opcodes));
        }
    }

    /** One unary call's observer: the reply, then completion; or an error. */
    private final class Observer<T> implements StreamObserver<T> {
        private final Listener listener;
        private final java.util.function.Function<T, CallReply> decode;
        private CallReply reply;

        Observer(Listener listener, java.util.function.Function<T, CallReply> decode) {
            this.listener = listener;
            this.decode = decode;
        }

        @Override
        public void onNext(T value) {
            reply = decode.apply(value);
        }

        @Override
        public void onError(Throwable t) {
            Status status = Status.fromThrowable(t);
            try {
                listener.done(failed(status, t), null);
            } catch (CallException e) {
                listener.done(null, e);
            }
        }

        @Override
        public void onCompleted() {
            if (reply == null) {
                listener.done(null, new CallException("grpc: " + channel.authority() + ": the call completed without a reply"));
            } else {
                listener.done(reply, null);
            }
        }
    }

    @Override
    public void close() {
        if (channels.owned()) {
            channel.shutdownNow();
        }
    }
}
