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
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * grpc-java's blocking stub of {@code bench.v1.Bench} (generated from contract/bench.proto) on
 * its shaded Netty. The channel is either the user's own or one shared by all users
 * ({@link Channels}); README.md has the measurement behind the default. A deadline of the
 * cell's timeout is set on every call; DEADLINE_EXCEEDED and UNAVAILABLE are errors (no reply),
 * any other status is an error reply.
 */
public final class GrpcClient implements Client {
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
            // directExecutor() and disableRetry() measured no different (README.md "The caller")
            return NettyChannelBuilder.forAddress(host, port).usePlaintext().maxInboundMessageSize(MAX_MESSAGE)
                    .build();
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
    private final long timeoutMs;
    private final Blob blob;
    private final DiffRequest diff;

    public GrpcClient(Channels channels, Request r, double timeoutS) {
        this.channels = channels;
        this.channel = channels.get();
        this.stub = BenchGrpc.newBlockingStub(channel);
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
            DiffReply reply = s.diff(diff);
            List<Opcode> ops = new ArrayList<>(reply.getOpcodesCount());
            for (bench.v1.Opcode o : reply.getOpcodesList()) {
                ops.add(new Opcode(o.getTag(), o.getI1(), o.getI2(), o.getJ1(), o.getJ2()));
            }
            return CallReply.ok(ops);
        } catch (StatusRuntimeException e) {
            Status.Code code = e.getStatus().getCode();
            String details = e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription();
            if (code == Status.Code.DEADLINE_EXCEEDED || code == Status.Code.UNAVAILABLE) {
                throw new CallException("grpc: " + channel.authority() + ": " + code + ": " + details, e);
            }
            return CallReply.error(details.getBytes(StandardCharsets.UTF_8), code.name());
        }
    }

    @Override
    public void close() {
        if (channels.owned()) {
            channel.shutdownNow();
        }
    }
}
