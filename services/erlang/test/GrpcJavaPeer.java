import bench.v1.BenchGrpc;
import bench.v1.Blob;
import bench.v1.DiffReply;
import bench.v1.DiffRequest;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A grpc-java (Netty) client against a service's grpc port: Echo (small and exactly 16 MiB),
 * Diff, and the statuses of too_large, internal (hooks on) and an unknown method. Run with the
 * Java service's shaded jar on the class path:
 * {@code java -cp ../java/target/bench-service.jar test/GrpcJavaPeer.java PORT}. Prints one line
 * per check; exit status 1 if any failed.
 */
public final class GrpcJavaPeer {
    private static int failures = 0;

    private static void check(boolean ok, String what) {
        System.out.println((ok ? "ok   " : "FAIL ") + what);
        if (!ok) {
            failures++;
        }
    }

    private static Status.Code code(Runnable call) {
        try {
            call.run();
            return Status.Code.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus().getCode();
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext()
                .maxInboundMessageSize(16 * 1024 * 1024 + 64 * 1024).build();
        try {
            BenchGrpc.BenchBlockingStub stub = BenchGrpc.newBlockingStub(ch).withDeadlineAfter(60, TimeUnit.SECONDS);
            ByteString small = ByteString.copyFrom(new byte[] {0, 1, 2, (byte) 255});
            check(small.equals(stub.echo(Blob.newBuilder().setData(small).build()).getData()), "grpc-java Echo 4 B");
            ByteString big = ByteString.copyFrom(new byte[16 * 1024 * 1024]);
            check(big.equals(stub.echo(Blob.newBuilder().setData(big).build()).getData()), "grpc-java Echo 16 MiB");
            DiffReply reply = stub.diff(DiffRequest.newBuilder().addAllA(List.of("a", "b", "d"))
                    .addAllB(List.of("a", "b", "c", "d")).build());
            check(reply.getOpcodesCount() == 3 && reply.getOpcodes(1).getTag().equals("insert")
                    && reply.getOpcodes(1).getJ2() == 3, "grpc-java Diff");
            check(code(() -> stub.echo(Blob.newBuilder().setData(ByteString.copyFrom(new byte[16 * 1024 * 1024 + 1]))
                    .build())) == Status.Code.RESOURCE_EXHAUSTED, "grpc-java Echo over 16 MiB: RESOURCE_EXHAUSTED");
            check(code(() -> stub.diff(DiffRequest.newBuilder().addA("__bench_fault__:internal").build()))
                    == Status.Code.INTERNAL, "grpc-java Diff with the internal hook: INTERNAL");
            check(small.equals(stub.echo(Blob.newBuilder().setData(small).build()).getData()), "grpc-java Echo again");
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
