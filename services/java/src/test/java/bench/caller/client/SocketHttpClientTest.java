package bench.caller.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.caller.Cells;
import bench.caller.StallingHttpServer;
import org.junit.jupiter.api.Test;

/** The blocking client's timeout (kept by its watchdog) and its recovery on the next call. */
class SocketHttpClientTest {
    @Test
    void aReplyLaterThanTheTimeoutIsAnErrorAndTheNextCallReconnects() throws Exception {
        try (StallingHttpServer server = new StallingHttpServer(2, 3000, Long.MAX_VALUE);
                SocketHttpClient c = new SocketHttpClient("127.0.0.1", server.port(), Cells.echo(Cells.ECHO_64), 0.3)) {
            assertArrayEquals(Cells.ECHO_64, c.call().body());
            long t0 = System.nanoTime();
            CallException e = assertThrows(CallException.class, c::call);
            double took = (System.nanoTime() - t0) / 1e9;
            assertTrue(e.getMessage().contains("no reply") && e.getMessage().contains("within 300 ms"), e.getMessage());
            assertTrue(took >= 0.29 && took < 1.0, "timed out after " + took + " s");
            assertArrayEquals(Cells.ECHO_64, c.call().body(), "a new connection serves the next call");
        }
    }
}
