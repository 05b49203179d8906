package bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The command line: defaults, and usage errors that say how to fix them. */
class MainTest {
    @Test
    void defaultsPerTransport() throws Exception {
        Main.Options http = Main.parse(new String[] {"http", "--port", "8080"});
        assertEquals("127.0.0.1", http.host());
        assertEquals(1, http.workers());
        assertEquals("undertow", http.httpServer());
        assertEquals(16 * 1024 * 1024, http.maxBodyBytes());
        assertEquals(100_000, http.maxDiffTokens());
        Main.Options zmq = Main.parse(new String[] {"zmq", "--host=127.0.0.1", "--port=5555", "--workers", "3"});
        assertEquals(3, zmq.workers());
        Main.Options redis = Main.parse(new String[] {"redis", "--redis-url", "redis://127.0.0.1:1/0", "--queue", "q"});
        assertEquals(2, redis.workers());
    }

    @Test
    void usageErrorsSayWhatToDo() {
        assertTrue(assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"http"}))
                .getMessage().contains("--port"));
        assertTrue(assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"smtp"}))
                .getMessage().contains("choose one of"));
        assertTrue(assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"redis", "--redis-url",
            "redis://127.0.0.1:1/0"})).getMessage().contains("--queue"));
        assertTrue(assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"http", "--port", "0"}))
                .getMessage().contains("positive integer"));
        assertTrue(assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"http", "--port", "80",
            "--http-server", "tomcat"})).getMessage().contains("undertow"));
        assertTrue(assertThrows(Main.UsageException.class, () -> Main.parse(new String[] {"http", "--bogus", "1"}))
                .getMessage().contains("unknown option"));
    }
}
