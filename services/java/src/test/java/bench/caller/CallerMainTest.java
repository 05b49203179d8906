package bench.caller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The caller's command line: defaults, and usage errors that say how to fix them. */
class CallerMainTest {
    @Test
    void defaultsAndOptions() {
        CallerMain.Options o = CallerMain.parse(new String[] {"--master-host", "127.0.0.1", "--master-port=5557"},
                Map.of());
        assertEquals(new CallerMain.Options("127.0.0.1", 5557, "nio", "user", "zmtp", "async", "java", 10.0), o);
        o = CallerMain.parse(new String[] {"--master-host", "h", "--master-port", "1", "--http-client", "netty",
            "--grpc-channel", "shared", "--zmq-client", "jeromq", "--grpc-client", "blocking"}, Map.of("BENCH_MASTER_TIMEOUT_S", "2.5"));
        assertEquals(new CallerMain.Options("h", 1, "netty", "shared", "jeromq", "blocking", "java", 2.5), o);
        assertTrue(!o.resident());
        o = CallerMain.parse(new String[] {"--master-host", "h", "--master-port", "stdin"}, Map.of());
        assertTrue(o.resident(), "--master-port stdin: a resident caller (ResidentCallerTest)");
    }

    @Test
    void usageErrorsSayWhatToDo() {
        Map<String[], String> bad = Map.of(
                new String[] {"--master-port", "5557"}, "needs --master-host",
                new String[] {"--master-host", "h"}, "needs --master-port between 1 and 65535",
                new String[] {"--master-host", "h", "--master-port", "0"}, "needs --master-port",
                new String[] {"--master-host", "h", "--master-port", "1", "--http-client", "curl"}, "choose one of",
                new String[] {"--master-host", "h", "--master-port", "1", "--frob", "1"}, "unknown option --frob",
                new String[] {"--master-host"}, "needs a value");
        bad.forEach((args, msg) -> {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CallerMain.parse(args, Map.of()));
            assertTrue(e.getMessage().contains(msg), e.getMessage());
        });
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CallerMain.parse(
                new String[] {"--master-host", "h", "--master-port", "1"}, Map.of("BENCH_MASTER_TIMEOUT_S", "soon")));
        assertTrue(e.getMessage().contains("BENCH_MASTER_TIMEOUT_S must be a number of seconds"), e.getMessage());
    }
}
