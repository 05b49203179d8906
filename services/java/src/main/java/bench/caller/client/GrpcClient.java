package bench.caller.client;

import bench.v1.BenchGrpc;
import bench.v1.Blob;
import bench.v1.DiffReply;
import bench.v1.DiffRequest;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
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
import io.grpc.stub.ClientCalls;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
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
                    .disableRetry() // a bench call is never retried: no RetriableStream around each call
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

    /**
     * A message as bytes: the request is serialized once, at construction, and written as it is
     * ({@link Bytes}); a reply is read into one array and decoded by the client.
     */
    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new Bytes(value);
        }

        @Override
        public byte[] parse(InputStream in) {
            try {
                int n = in.available(); // grpc-java's message streams know their length (KnownLength)
                byte[] b = in.readNBytes(n);
                int next = in.read();
                if (next < 0) {
                    return b;
                }
                java.io.ByteArrayOutputStream rest = new java.io.ByteArrayOutputStream(n + 64); // a stream without a length
                rest.write(b);
                rest.write(next);
                in.transferTo(rest);
                return rest.toByteArray();
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("reading a reply: " + e).withCause(e).asRuntimeException();
            }
        }
    };

    /** A request's serialized bytes as the stream grpc-java frames: its length known, drained in one write. */
    static final class Bytes extends java.io.ByteArrayInputStream implements KnownLength, Drainable {
        Bytes(byte[] b) {
            super(b);
        }

        @Override
        public int drainTo(OutputStream target) throws IOException {
            int n = count - pos;
            target.write(buf, pos, n);
            pos = count;
            return n;
        }
    }

    /** {@code bench.v1.Bench/Echo} with the request written from bytes and the reply read as bytes. */
    static final MethodDescriptor<byte[], byte[]> ECHO = BenchGrpc.getEchoMethod().toBuilder(BYTES, BYTES).build();
    /** {@code bench.v1.Bench/Diff} with the request written from bytes; the reply parsed by protobuf. */
    static final MethodDescriptor<byte[], DiffReply> DIFF = BenchGrpc.getDiffMethod().toBuilder(BYTES,
            BenchGrpc.getDiffMethod().getResponseMarshaller()).build();

    /**
     * The data of a serialized {@code Blob} (one field, {@code bytes data = 1}): the usual
     * encoding (tag 0x0A, a varint length, the bytes, nothing else) is sliced directly; anything
     * else (an empty message, unknown fields, a repeated field) goes to protobuf's parser.
     */
    static byte[] blobData(byte[] wire) throws InvalidProtocolBufferException {
        if (wire.length > 1 && wire[0] == 0x0A) {
            int i = 1;
            int len = 0;
            for (int shift = 0; i < wire.length && shift < 32; shift += 7) {
                int b = wire[i++];
                len |= (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    if (len == wire.length - i) {
                        return Arrays.copyOfRange(wire, i, wire.length);
                    }
                    break;
                }
            }
        }
        return Blob.parseFrom(wire).getData().toByteArray();
    }

    private final Channels channels;
    private final ManagedChannel channel;
    private final CallOptions options = CallOptions.DEFAULT;
    private final long timeoutMs;
    private final MethodDescriptor<byte[], ?> method;
    private final byte[] request;

    public GrpcClient(Channels channels, Request r, double timeoutS) {
        this.channels = channels;
        this.channel = channels.get();
        this.timeoutMs = Math.max(1, Math.round(timeoutS * 1000));
        if (r.op().equals("echo")) {
            method = ECHO;
            request = Blob.newBuilder().setData(ByteString.copyFrom(r.body())).build().toByteArray();
        } else {
            List<List<String>> ab = r.diffArgs();
            method = DIFF;
            request = DiffRequest.newBuilder().addAllA(ab.get(0)).addAllB(ab.get(1)).build().toByteArray();
        }
    }

    /** The reply message as the cell's reply: an echo's data, a diff's opcodes. */
    private CallReply decode(Object message) throws InvalidProtocolBufferException {
        return message instanceof byte[] wire ? CallReply.ok(blobData(wire)) : opcodes((DiffReply) message);
    }

    @Override
    public CallReply call() throws CallException {
        try {
            return decode(ClientCalls.blockingUnaryCall(channel, method,
                    options.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS), request));
        } catch (StatusRuntimeException e) {
            return failed(e.getStatus(), e);
        } catch (InvalidProtocolBufferException e) {
            return CallReply.error(("the reply is not a bench.v1.Blob: " + e.getMessage()).getBytes(StandardCharsets.UTF_8),
                    "bad message");
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

    /**
     * One unary call on grpc-java's {@link ClientCall} (what its async stub does, without a stub
     * and its observer per call): start, ask for the reply, send the prepared bytes, half-close.
     */
    @Override
    public void start(Listener l) {
        ClientCall<byte[], Object> call = (ClientCall<byte[], Object>) channel.newCall(method,
                options.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS));
        call.start(new Unary(l), new Metadata());
        call.request(2); // as grpc-java's stubs ask for a unary reply: a second message is an error
        call.sendMessage(request);
        call.halfClose();
    }

    /** One unary call's listener: the reply, then its status. */
    private final class Unary extends ClientCall.Listener<Object> {
        private final Listener listener;
        private Object message;
        private int messages;

        Unary(Listener listener) {
            this.listener = listener;
        }

        @Override
        public void onMessage(Object value) {
            if (messages++ == 0) {
                message = value;
            }
        }

        @Override
        public void onClose(Status status, Metadata trailers) {
            if (!status.isOk()) {
                try {
                    listener.done(failed(status, status.asRuntimeException(trailers)), null);
                } catch (CallException e) {
                    listener.done(null, e);
                }
            } else if (messages != 1) {
                listener.done(null, new CallException("grpc: " + channel.authority() + ": a unary call completed with "
                        + messages + " replies"));
            } else {
                CallReply reply;
                try {
                    reply = decode(message);
                } catch (InvalidProtocolBufferException e) {
                    reply = CallReply.error(("the reply is not a bench.v1.Blob: " + e.getMessage())
                            .getBytes(StandardCharsets.UTF_8), "bad message");
                }
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
