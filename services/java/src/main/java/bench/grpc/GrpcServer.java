package bench.grpc;

import bench.core.BenchException;
import bench.core.ErrorCode;
import bench.core.Service;
import bench.core.SequenceMatcher;
import bench.v1.BenchGrpc;
import bench.v1.Blob;
import bench.v1.DiffReply;
import bench.v1.DiffRequest;
import bench.v1.Opcode;
import com.google.protobuf.CodedInputStream;
import io.grpc.KnownLength;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The gRPC transport: {@code bench.v1.Bench} from contract/bench.proto on grpc-java's shaded
 * Netty server; messages up to 16 MiB + 64 KiB each way.
 *
 * <p>{@code Echo} and {@code Diff} are registered with a raw-bytes request marshaller and parse
 * the request themselves, so that a message that is not valid protobuf (random bytes, a wrong
 * wire type, a length past the end) or a string field that is not valid UTF-8 is answered
 * {@code INVALID_ARGUMENT} (bad_request) rather than grpc-java's generic status for unparseable
 * messages. Contract errors map to statuses per CONTRACT.md.
 *
 * <p>HTTP/2 limits (README.md "HTTP/2 limits and timeouts"): at most {@link #MAX_CONCURRENT_STREAMS}
 * concurrent calls per connection, advertised in SETTINGS_MAX_CONCURRENT_STREAMS (grpc-java
 * advertises no limit by default, and h2spec's stream-concurrency case then opens streams until
 * the heap is gone); header blocks up to {@link #MAX_METADATA_BYTES}; more than
 * {@link #MAX_RST_PER_WINDOW} RST_STREAM frames in {@link #RST_WINDOW_S} s close the connection
 * (the rapid-reset attack, CVE-2023-44487); a connection that has not sent its preface and
 * SETTINGS within {@link #HANDSHAKE_TIMEOUT_S} s is closed, and one with no call for
 * {@link #MAX_CONNECTION_IDLE_S} s is sent GOAWAY.
 */
public final class GrpcServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(GrpcServer.class.getName());
    public static final int MESSAGE_SLACK = 64 * 1024;
    public static final int MAX_CONCURRENT_STREAMS = 100;
    public static final int MAX_METADATA_BYTES = 8 * 1024;
    public static final int MAX_RST_PER_WINDOW = 200;
    public static final int RST_WINDOW_S = 1;
    public static final long HANDSHAKE_TIMEOUT_S = 10;
    public static final long MAX_CONNECTION_IDLE_S = 300;

    private static final String ECHO_METHOD = BenchGrpc.getEchoMethod().getFullMethodName();

    private final Server server;
    private final ExecutorService pool;

    public GrpcServer(Service service, String host, int port, int workers) throws IOException {
        int maxMessage = service.settings().maxBodyBytes() + MESSAGE_SLACK;
        pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "grpc-worker");
            t.setDaemon(true);
            return t;
        });
        server = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .maxInboundMessageSize(maxMessage)
                .maxConcurrentCallsPerConnection(MAX_CONCURRENT_STREAMS)
                .maxInboundMetadataSize(MAX_METADATA_BYTES)
                .maxRstFramesPerWindow(MAX_RST_PER_WINDOW, RST_WINDOW_S)
                .handshakeTimeout(HANDSHAKE_TIMEOUT_S, TimeUnit.SECONDS)
                .maxConnectionIdle(MAX_CONNECTION_IDLE_S, TimeUnit.SECONDS)
                // Echo runs on the Netty event loop that read it (no hand-off to a pool thread and
                // back: two wake-ups per call on the one core); Diff, which can take seconds, on
                // the pool, so that it never holds up the event loop's other connections.
                .directExecutor()
                .callExecutor(new ServerCallExecutorSupplier() {
                    @Override
                    public <ReqT, RespT> Executor getExecutor(ServerCall<ReqT, RespT> call, Metadata headers) {
                        return ECHO_METHOD.equals(call.getMethodDescriptor().getFullMethodName()) ? null : pool;
                    }
                })
                .addService(definition(service))
                .build()
                .start();
        LOG.info("grpc listening on " + host + ":" + server.getPort() + " (" + workers + " worker(s), max message "
                + maxMessage + " bytes, echo on the event loop, diff on the workers, max " + MAX_CONCURRENT_STREAMS + " concurrent streams per connection)");
    }

    /** The service definition: Echo with the generated marshallers, Diff with a bytes request. */
    public static ServerServiceDefinition definition(Service service) {
        MethodDescriptor<byte[], Blob> echoMethod = BenchGrpc.getEchoMethod().toBuilder(
                new BytesMarshaller(), BenchGrpc.getEchoMethod().getResponseMarshaller()).build();
        MethodDescriptor<byte[], DiffReply> diffMethod = BenchGrpc.getDiffMethod().toBuilder(
                new BytesMarshaller(), BenchGrpc.getDiffMethod().getResponseMarshaller()).build();
        return ServerServiceDefinition.builder(BenchGrpc.SERVICE_NAME)
                .addMethod(echoMethod, ServerCalls.asyncUnaryCall(
                        (byte[] req, StreamObserver<Blob> out) -> echo(service, req, out)))
                .addMethod(diffMethod, ServerCalls.asyncUnaryCall(
                        (byte[] req, StreamObserver<DiffReply> out) -> diff(service, req, out)))
                .build();
    }

    /** Parse a request message; any failure (bad wire type, truncation, bad UTF-8...) is bad_request. */
    static <T> T parse(byte[] raw, String what, ProtoParser<T> parser) throws BenchException {
        try {
            checkWireFormat(raw, what);
            CodedInputStream in = CodedInputStream.newInstance(raw);
            in.enableAliasing(true); // bytes fields share raw (never reused) instead of copying it
            T message = parser.parse(in);
            // A stray end-group tag ends parsing early; protobuf-java's parseFrom(byte[]) only checks
            // that it was not the last tag read, and ignores what follows. Python's protobuf refuses
            // both; so do we.
            in.checkLastTagWas(0);
            if (!in.isAtEnd()) {
                throw new BenchException(ErrorCode.BAD_REQUEST, what + " cannot be parsed: data after the message");
            }
            return message;
        } catch (java.io.IOException e) {
            throw new BenchException(ErrorCode.BAD_REQUEST, what + " cannot be parsed: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            // protobuf-java may also throw unchecked exceptions on hostile input
            throw new BenchException(ErrorCode.BAD_REQUEST, what + " cannot be parsed: " + e, e);
        }
    }

    /**
     * Walk the top-level fields as Python's protobuf (upb) would: protobuf-java truncates a tag
     * varint wider than 32 bits and stops at a stray end-group tag, where upb refuses both.
     */
    static void checkWireFormat(byte[] raw, String what) throws BenchException, java.io.IOException {
        CodedInputStream v = CodedInputStream.newInstance(raw);
        while (!v.isAtEnd()) {
            long tag = v.readRawVarint64();
            if (tag > 0xFFFFFFFFL || (tag >>> 3) == 0 || (tag & 7) == 4 || (tag & 7) > 5) {
                throw new BenchException(ErrorCode.BAD_REQUEST, what + " cannot be parsed: invalid tag " + tag);
            }
            if (!v.skipField((int) tag)) {
                throw new BenchException(ErrorCode.BAD_REQUEST, what + " cannot be parsed: unexpected end-group tag");
            }
        }
    }

    @FunctionalInterface
    interface ProtoParser<T> {
        T parse(CodedInputStream in) throws java.io.IOException;
    }

    private static void echo(Service service, byte[] raw, StreamObserver<Blob> out) {
        try {
            // the limit is on the data, not on the encoded Blob (a few bytes of field header more);
            // grpc's max inbound message size bounds what is parsed
            Blob req = parse(raw, "Blob", Blob::parseFrom);
            service.checkSize(req.getData().size());
            service.echoWork();
            out.onNext(req);
            out.onCompleted();
        } catch (BenchException e) {
            out.onError(status(e));
        } catch (RuntimeException | StackOverflowError e) {
            Service.internal("echo", e);
            out.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
        }
    }

    private static void diff(Service service, byte[] raw, StreamObserver<DiffReply> out) {
        try {
            service.checkSize(raw.length);
            DiffRequest req = parse(raw, "DiffRequest", DiffRequest::parseFrom);
            List<SequenceMatcher.Opcode> ops = service.diffTokens(req.getAList(), req.getBList());
            DiffReply.Builder reply = DiffReply.newBuilder();
            for (SequenceMatcher.Opcode o : ops) {
                reply.addOpcodes(Opcode.newBuilder().setTag(o.tag()).setI1(o.i1()).setI2(o.i2())
                        .setJ1(o.j1()).setJ2(o.j2()));
            }
            out.onNext(reply.build());
            out.onCompleted();
        } catch (BenchException e) {
            out.onError(status(e));
        } catch (RuntimeException | StackOverflowError e) {
            Service.internal("diff", e);
            out.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
        }
    }

    /** The gRPC status of a contract error, the message as description. */
    public static io.grpc.StatusRuntimeException status(BenchException e) {
        Status s = switch (e.code()) {
            case BAD_REQUEST -> Status.INVALID_ARGUMENT;
            case UNKNOWN_OP -> Status.UNIMPLEMENTED;
            case TOO_LARGE -> Status.RESOURCE_EXHAUSTED;
            case INTERNAL -> Status.INTERNAL;
        };
        return s.withDescription(e.getMessage()).asRuntimeException();
    }

    /** The raw bytes of a message. */
    static final class BytesMarshaller implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        /**
         * The message's bytes in one array of its size: grpc-java's stream is {@link KnownLength},
         * so bulk reads into that array fill it, one copy. ({@code readAllBytes} and the JDK 17
         * {@code readNBytes(int)} both read 8 KiB pieces into arrays of their own and copy them
         * into the result: JFR put 32 % of the event loop's samples of a 64 KiB echo there,
         * README.md "Fairness: gRPC and zmq".)
         */
        @Override
        public byte[] parse(InputStream stream) {
            try (stream) {
                if (stream instanceof KnownLength) {
                    int n = stream.available();
                    byte[] raw = new byte[n];
                    int got = stream.readNBytes(raw, 0, n);
                    if (got < n) {
                        return java.util.Arrays.copyOf(raw, got); // fewer than announced (not grpc-java's)
                    }
                    int next = stream.read();
                    if (next < 0) {
                        return raw;
                    }
                    // more than announced (not grpc-java's streams): fall back to reading it all
                    ByteArrayOutputStream all = new ByteArrayOutputStream(n + 1024);
                    all.write(raw);
                    all.write(next);
                    stream.transferTo(all);
                    return all.toByteArray();
                }
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(2, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        pool.shutdownNow();
    }
}
