package bench.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import bench.Ports;
import bench.core.Service;
import bench.core.Settings;
import bench.v1.BenchGrpc;
import bench.v1.Blob;
import bench.v1.DiffReply;
import bench.v1.DiffRequest;
import com.google.protobuf.ByteString;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The gRPC server on a real port with a grpc-java client. */
class GrpcServerTest {
    @Test
    void echoDiffAndErrorStatuses() throws Exception {
        Service service = new Service(Settings.defaults().withTestHooks(true));
        try (GrpcServer server = new GrpcServer(service, "127.0.0.1", Ports.free(), 2)) {
            ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext()
                    .maxInboundMessageSize(32 << 20).build();
            try {
                BenchGrpc.BenchBlockingStub stub = BenchGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS);
                ByteString data = ByteString.copyFrom(new byte[] {0, 1, 2, (byte) 255});
                assertEquals(data, stub.echo(Blob.newBuilder().setData(data).build()).getData());

                DiffReply reply = stub.diff(DiffRequest.newBuilder().addAllA(List.of("a", "b", "d"))
                        .addAllB(List.of("a", "b", "c", "d")).build());
                assertEquals(3, reply.getOpcodesCount());
                assertEquals("insert", reply.getOpcodes(1).getTag());
                assertEquals(2, reply.getOpcodes(1).getI1());
                assertEquals(3, reply.getOpcodes(1).getJ2());

                // exactly the limit of data is fine (the encoded Blob is a few bytes more)
                assertEquals(Settings.MAX_BODY_BYTES, stub.echo(Blob.newBuilder().setData(ByteString.copyFrom(
                        new byte[Settings.MAX_BODY_BYTES])).build()).getData().size());
                StatusRuntimeException big = assertThrows(StatusRuntimeException.class, () -> stub.echo(
                        Blob.newBuilder().setData(ByteString.copyFrom(new byte[Settings.MAX_BODY_BYTES + 1])).build()));
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, big.getStatus().getCode());

                StatusRuntimeException fault = assertThrows(StatusRuntimeException.class, () -> stub.diff(
                        DiffRequest.newBuilder().addA(Service.FAULT_TOKEN).build()));
                assertEquals(Status.Code.INTERNAL, fault.getStatus().getCode());

                StatusRuntimeException tokens = assertThrows(StatusRuntimeException.class, () -> stub.diff(
                        DiffRequest.newBuilder().addAllA(java.util.Collections.nCopies(100_001, "x")).build()));
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, tokens.getStatus().getCode());

                // field 1 (a), wire type 2, length 1, byte 0xff: not UTF-8
                MethodDescriptor<byte[], DiffReply> raw = BenchGrpc.getDiffMethod().toBuilder(
                        new MethodDescriptor.Marshaller<byte[]>() {
                            @Override
                            public InputStream stream(byte[] value) {
                                return new ByteArrayInputStream(value);
                            }

                            @Override
                            public byte[] parse(InputStream stream) {
                                throw new UnsupportedOperationException();
                            }
                        }, BenchGrpc.getDiffMethod().getResponseMarshaller()).build();
                StatusRuntimeException badUtf8 = assertThrows(StatusRuntimeException.class, () ->
                        ClientCalls.blockingUnaryCall(ch, raw, CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS),
                                new byte[] {0x0a, 0x01, (byte) 0xff}));
                assertEquals(Status.Code.INVALID_ARGUMENT, badUtf8.getStatus().getCode());

                // still serving
                assertEquals(data, stub.echo(Blob.newBuilder().setData(data).build()).getData());
            } finally {
                ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    /** An InputStream that announces a length (grpc-java's message streams do) and hands out small pieces. */
    static final class Announced extends InputStream implements io.grpc.KnownLength {
        private final byte[] data;
        private final int announced;
        private int pos;

        Announced(byte[] data, int announced) {
            this.data = data;
            this.announced = announced;
        }

        @Override
        public int available() {
            return Math.max(0, announced - pos);
        }

        @Override
        public int read() {
            return pos < data.length ? data[pos++] & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (pos >= data.length) {
                return -1;
            }
            int n = Math.min(Math.min(len, 1000), data.length - pos); // pieces, as a composite buffer gives
            System.arraycopy(data, pos, b, off, n);
            pos += n;
            return n;
        }
    }

    /** The request marshaller reads every byte, whatever the stream announces. */
    @Test
    void bytesMarshallerReadsExactlyTheMessage() {
        GrpcServer.BytesMarshaller m = new GrpcServer.BytesMarshaller();
        byte[] data = new byte[65_541];
        new java.util.Random(7).nextBytes(data);
        org.junit.jupiter.api.Assertions.assertArrayEquals(data, m.parse(new Announced(data, data.length)));
        // announces fewer bytes than it holds, then more: every byte, in order
        org.junit.jupiter.api.Assertions.assertArrayEquals(data, m.parse(new Announced(data, 10_000)));
        org.junit.jupiter.api.Assertions.assertArrayEquals(data, m.parse(new Announced(data, 1)));
        org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOf(data, 100),
                m.parse(new Announced(java.util.Arrays.copyOf(data, 100), 5_000)));
        // not KnownLength
        org.junit.jupiter.api.Assertions.assertArrayEquals(data, m.parse(new ByteArrayInputStream(data)));
        assertEquals(0, m.parse(new Announced(new byte[0], 0)).length);
    }

    static <R> MethodDescriptor<byte[], R> rawRequest(MethodDescriptor<?, R> method) {
        return method.toBuilder(new MethodDescriptor.Marshaller<byte[]>() {
            @Override
            public InputStream stream(byte[] value) {
                return new ByteArrayInputStream(value);
            }

            @Override
            public byte[] parse(InputStream stream) {
                throw new UnsupportedOperationException();
            }
        }, method.getResponseMarshaller()).build();
    }

    /** Fuzzer finding: a request that is not valid protobuf got UNKNOWN instead of INVALID_ARGUMENT. */
    @Test
    void malformedProtobufIsInvalidArgumentForEchoAndDiff() throws Exception {
        Service service = new Service(Settings.defaults());
        byte[][] bad = {
            {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff,
                (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff}, // malformed varint tag
            {0x0a, 0x05, 0x61},                      // length past the end
            {0x14},                                  // a lone end-group tag (fuzz seed 1 index 9372)
            {(byte) 0x88, (byte) 0xe0, (byte) 0xea, (byte) 0xfa, 0x45, 0x24, (byte) 0xf8, 0x13}, // tag wider than 32 bits (index 6907)
            {0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f}, // negative length
            {0x0f, 0x00},                            // wire type 7 does not exist
            {0x0e, 0x00},                            // wire type 6 does not exist
            {0x0c},                                  // end group without a start
            {0x0b, 0x0a, 0x01, 0x61},                // start group never ended
            {0x08, (byte) 0x80},                     // truncated varint
            {0x00, 0x01},                            // field number 0
            {0x0d, 0x01, 0x02},                      // fixed32 cut short
        };
        try (GrpcServer server = new GrpcServer(service, "127.0.0.1", Ports.free(), 2)) {
            ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
            try {
                MethodDescriptor<byte[], Blob> echo = rawRequest(BenchGrpc.getEchoMethod());
                MethodDescriptor<byte[], DiffReply> diff = rawRequest(BenchGrpc.getDiffMethod());
                for (byte[] body : bad) {
                    for (MethodDescriptor<byte[], ?> m : List.<MethodDescriptor<byte[], ?>>of(echo, diff)) {
                        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
                                ClientCalls.blockingUnaryCall(ch, m,
                                        CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), body),
                                m.getBareMethodName() + " " + java.util.Arrays.toString(body));
                        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(),
                                m.getBareMethodName() + " " + java.util.Arrays.toString(body) + ": " + e.getStatus());
                    }
                }
                // a well-formed raw Blob still echoes
                Blob ok = ClientCalls.blockingUnaryCall(ch, echo,
                        CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), new byte[] {0x0a, 0x01, (byte) 0xff});
                assertEquals(ByteString.copyFrom(new byte[] {(byte) 0xff}), ok.getData());
            } finally {
                ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * The server's first SETTINGS frame limits concurrent streams (h2spec's stream-concurrency case
     * took the heap when no limit was advertised), and a stream past the limit is refused.
     */
    @Test
    void advertisesAndEnforcesAConcurrentStreamLimit() throws Exception {
        Service service = new Service(Settings.defaults());
        try (GrpcServer server = new GrpcServer(service, "127.0.0.1", Ports.free(), 2);
             java.net.Socket s = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), server.port())) {
            s.setSoTimeout(10_000);
            java.io.DataOutputStream out = new java.io.DataOutputStream(s.getOutputStream());
            java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(s.getInputStream()));
            out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            writeFrame(out, 4, 0, 0, new byte[0]);  // SETTINGS, empty
            out.flush();
            Integer advertised = null;
            int refusedStream = -1;
            int streams = GrpcServer.MAX_CONCURRENT_STREAMS + 1;
            while (refusedStream < 0) {
                int length = (in.readUnsignedByte() << 16) | in.readUnsignedShort();
                int type = in.readUnsignedByte();
                int flags = in.readUnsignedByte();
                int stream = in.readInt() & 0x7fffffff;
                byte[] payload = in.readNBytes(length);
                if (type == 4 && (flags & 1) == 0 && advertised == null) {
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(payload);
                    while (b.remaining() >= 6) {
                        int id = b.getShort() & 0xffff;
                        int value = b.getInt();
                        if (id == 3) {
                            advertised = value;
                        }
                    }
                    assertEquals(GrpcServer.MAX_CONCURRENT_STREAMS, advertised, "SETTINGS_MAX_CONCURRENT_STREAMS");
                    // ACK (the limit is in force from then on), then HEADERS (END_HEADERS, no
                    // END_STREAM) on streams 1, 3, ...: one more than the limit, each a POST to Echo
                    // that never sends its message
                    writeFrame(out, 4, 1, 0, new byte[0]);
                    byte[] block = grpcHeaderBlock("127.0.0.1:" + server.port());
                    for (int i = 0; i < streams; i++) {
                        writeFrame(out, 1, 0x4, 1 + 2 * i, block);
                    }
                    out.flush();
                } else if (type == 3) {
                    assertEquals(7, java.nio.ByteBuffer.wrap(payload).getInt(), "RST_STREAM code REFUSED_STREAM");
                    refusedStream = stream;
                }
            }
            assertEquals(1 + 2 * (streams - 1), refusedStream, "the stream past the limit is the one refused");
        }
    }

    private static void writeFrame(java.io.DataOutputStream out, int type, int flags, int stream, byte[] payload)
            throws java.io.IOException {
        out.writeByte(payload.length >>> 16);
        out.writeShort(payload.length & 0xffff);
        out.writeByte(type);
        out.writeByte(flags);
        out.writeInt(stream);
        out.write(payload);
    }

    /** :method POST, :scheme http, :path, :authority, content-type, te as HPACK literals. */
    private static byte[] grpcHeaderBlock(String authority) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.write(0x83);
        b.write(0x86);
        literal(b, 0x04, null, "/bench.v1.Bench/Echo");
        literal(b, 0x01, null, authority);
        literal(b, 0x00, "content-type", "application/grpc");
        literal(b, 0x00, "te", "trailers");
        return b.toByteArray();
    }

    private static void literal(java.io.ByteArrayOutputStream b, int nameIndex, String name, String value) {
        b.write(nameIndex);  // literal without indexing; every length here is under 127
        if (name != null) {
            b.write(name.length());
            b.writeBytes(name.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        b.write(value.length());
        b.writeBytes(value.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }
}
