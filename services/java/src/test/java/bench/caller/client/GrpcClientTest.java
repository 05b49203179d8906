package bench.caller.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.caller.Cells;
import bench.caller.engine.Check;
import bench.v1.BenchGrpc;
import bench.v1.Blob;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * GrpcClient's own encoding: the request written from prepared bytes, an echo reply sliced from
 * its bytes (or parsed by protobuf when it is not the usual encoding), and, against a grpc-java
 * server in this JVM that answers what a test tells it, a reply that differs, a status that is
 * not OK and an encoding with an unknown field as the generator's check sees them.
 */
class GrpcClientTest {
    @Test
    void theUsualBlobEncodingIsSlicedAtEveryLengthBoundary() throws Exception {
        for (int n : new int[] {1, 64, 127, 128, 16_383, 16_384, 300_000}) {
            byte[] data = Cells.letters(n);
            byte[] wire = Blob.newBuilder().setData(ByteString.copyFrom(data)).build().toByteArray();
            assertArrayEquals(data, GrpcClient.blobData(wire), n + " bytes");
        }
    }

    @Test
    void otherValidEncodingsGoToProtobuf() throws Exception {
        byte[] data = Cells.letters(64);
        // empty data: the empty message
        assertEquals(0, GrpcClient.blobData(new byte[0]).length);
        // an unknown field after data
        Blob withUnknown = Blob.newBuilder().setData(ByteString.copyFrom(data)).setUnknownFields(
                UnknownFieldSet.newBuilder().addField(7, UnknownFieldSet.Field.newBuilder().addVarint(5).build()).build())
                .build();
        assertArrayEquals(data, GrpcClient.blobData(withUnknown.toByteArray()));
        // a non-minimal varint length (0xC0 0x00 is 64): valid protobuf, still the data
        ByteArrayOutputStream w = new ByteArrayOutputStream();
        w.write(new byte[] {0x0A, (byte) 0xC0, 0x00});
        w.write(data);
        assertArrayEquals(data, GrpcClient.blobData(w.toByteArray()));
        // data repeated: the last one wins, as protobuf says
        ByteArrayOutputStream twice = new ByteArrayOutputStream();
        CodedOutputStream c = CodedOutputStream.newInstance(twice);
        c.writeByteArray(1, Cells.letters(3));
        c.writeByteArray(1, data);
        c.flush();
        assertArrayEquals(data, GrpcClient.blobData(twice.toByteArray()));
        // a length past the end is not a Blob
        assertThrows(InvalidProtocolBufferException.class, () -> GrpcClient.blobData(new byte[] {0x0A, 0x40, 1, 2}));
    }

    @Test
    void theMarshallerWritesAndReadsEveryByte() throws Exception {
        byte[] b = Cells.letters(1000);
        GrpcClient.Bytes s = (GrpcClient.Bytes) GrpcClient.BYTES.stream(b);
        assertEquals(1000, s.available());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(1000, s.drainTo(out));
        assertArrayEquals(b, out.toByteArray());
        assertEquals(0, s.available());
        // a stream whose available() is less than its length (not grpc-java's) is still read whole
        ByteArrayInputStream slow = new ByteArrayInputStream(b) {
            @Override
            public synchronized int available() {
                return Math.min(10, super.available());
            }
        };
        assertArrayEquals(b, GrpcClient.BYTES.parse(slow));
    }

    /** A Bench server whose Echo answers what {@code answer} makes of the request (null: an error status). */
    private static Server server(UnaryOperator<Blob> answer) throws Exception {
        return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new BenchGrpc.BenchImplBase() {
            @Override
            public void echo(Blob request, StreamObserver<Blob> reply) {
                Blob b = answer.apply(request);
                if (b == null) {
                    reply.onError(Status.INVALID_ARGUMENT.withDescription("told to fail").asRuntimeException());
                    return;
                }
                reply.onNext(b);
                reply.onCompleted();
            }
        }).build().start();
    }

    private static CallReply startAndWait(GrpcClient c) throws Exception {
        BlockingQueue<Object> q = new ArrayBlockingQueue<>(1);
        c.start((reply, failure) -> q.add(reply != null ? reply : failure));
        Object o = q.poll(10, TimeUnit.SECONDS);
        assertNotNull(o, "no reply within 10 s");
        if (o instanceof CallException e) {
            throw e;
        }
        return (CallReply) o;
    }

    @Test
    void repliesAreCheckedWholeOnBothPaths() throws Exception {
        byte[] data = Cells.letters(64);
        Request req = new Request("echo", data, null);
        Check check = new Check(req);
        UnaryOperator<Blob> same = b -> b;
        UnaryOperator<Blob> lastByteChanged = b -> {
            byte[] d = b.getData().toByteArray();
            d[d.length - 1] ^= 1;
            return Blob.newBuilder().setData(ByteString.copyFrom(d)).build();
        };
        UnaryOperator<Blob> unknownField = b -> b.toBuilder().setUnknownFields(UnknownFieldSet.newBuilder()
                .addField(9, UnknownFieldSet.Field.newBuilder().addFixed32(1).build()).build()).build();
        for (UnaryOperator<Blob> answer : java.util.List.of(same, lastByteChanged, unknownField)) {
            Server s = server(answer);
            try (GrpcClient.Channels ch = new GrpcClient.Channels("127.0.0.1", s.getPort(), true)) {
                GrpcClient c = new GrpcClient(ch, req, 5);
                for (int i = 0; i < 3; i++) {
                    for (CallReply r : new CallReply[] {c.call(), startAndWait(c)}) {
                        String wrong = check.wrong(r);
                        if (answer == lastByteChanged) {
                            assertNotNull(wrong, "a reply with its last byte changed passed the check");
                            assertTrue(wrong.contains("differs"), wrong);
                        } else {
                            assertNull(wrong);
                            assertArrayEquals(data, r.body());
                        }
                    }
                }
            } finally {
                s.shutdownNow();
            }
        }
    }

    @Test
    void aStatusIsAnErrorReplyAndNoServerIsAnError() throws Exception {
        Request req = new Request("echo", Cells.letters(64), null);
        Server s = server(b -> null);
        int port = s.getPort();
        try (GrpcClient.Channels ch = new GrpcClient.Channels("127.0.0.1", port, true)) {
            GrpcClient c = new GrpcClient(ch, req, 5);
            for (CallReply r : new CallReply[] {c.call(), startAndWait(c)}) {
                assertFalse(r.ok());
                assertEquals("INVALID_ARGUMENT", r.status());
                assertTrue(new Check(req).wrong(r).contains("told to fail"));
            }
        } finally {
            s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        try (GrpcClient.Channels ch = new GrpcClient.Channels("127.0.0.1", port, true)) {
            GrpcClient c = new GrpcClient(ch, req, 1);
            CallException e = assertThrows(CallException.class, c::call);
            assertTrue(e.getMessage().contains("UNAVAILABLE"), e.getMessage());
            e = assertThrows(CallException.class, () -> startAndWait(c));
            assertTrue(e.getMessage().contains("UNAVAILABLE"), e.getMessage());
        }
    }
}
