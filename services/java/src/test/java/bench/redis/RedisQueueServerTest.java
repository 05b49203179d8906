package bench.redis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import bench.RedisServer;
import bench.Vectors;
import bench.core.Service;
import bench.core.Settings;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** The reliable queue against a real redis-server started on a free port. */
class RedisQueueServerTest {
    private static RedisServer redis;
    private static String url;

    @BeforeAll
    static void startRedis() throws Exception {
        assumeTrue(RedisServer.onPath("redis-server"),
                "redis-server is not on PATH: the redis transport tests are skipped");
        redis = RedisServer.start();
        url = redis.url();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (redis != null) {
            redis.close();
        }
    }

    static byte[] concat(String header, byte[] body) {
        byte[] h = header.getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[h.length + body.length];
        System.arraycopy(h, 0, out, 0, h.length);
        System.arraycopy(body, 0, out, h.length, body.length);
        return out;
    }

    /** LPUSH a request and wait for its reply; returns [status line, body]. */
    static byte[][] call(Jedis j, String queue, String op, String id, byte[] body) {
        String replyKey = "reply:" + id;
        j.lpush(queue.getBytes(StandardCharsets.UTF_8), concat(op + " " + id + " " + replyKey + "\n", body));
        List<byte[]> got = j.brpop(10, replyKey.getBytes(StandardCharsets.UTF_8));
        assertNotNull(got, "no reply for " + id);
        byte[] msg = got.get(1);
        int nl = 0;
        while (msg[nl] != '\n') {
            nl++;
        }
        long ttl = j.ttl(replyKey);
        assertTrue(ttl == -2 || (ttl > 0 && ttl <= 60), "reply key expiry " + ttl);
        return new byte[][] {java.util.Arrays.copyOfRange(msg, 0, nl), java.util.Arrays.copyOfRange(msg, nl + 1,
                msg.length)};
    }

    @Test
    void recoversProcessingServesAndDeadLetters() {
        String queue = "bench:test:" + System.nanoTime();
        Service service = new Service(Settings.defaults().withTestHooks(true));
        try (Jedis j = new Jedis(java.net.URI.create(url))) {
            // a crashed worker left one message in processing: it is served after the restart
            j.lpush((queue + ":processing").getBytes(StandardCharsets.UTF_8),
                    concat("echo left-behind reply:left-behind\n", "recovered".getBytes(StandardCharsets.UTF_8)));
            try (RedisQueueServer server = new RedisQueueServer(service, url, queue, 2)) {
                assertEquals(1, server.recovered());
                List<byte[]> left = j.brpop(10, "reply:left-behind".getBytes(StandardCharsets.UTF_8));
                assertNotNull(left);
                assertEquals("ok left-behind\nrecovered", new String(left.get(1), StandardCharsets.UTF_8));

                byte[] binary = new byte[256];
                for (int i = 0; i < 256; i++) {
                    binary[i] = (byte) i;
                }
                byte[][] r = call(j, queue, "echo", "r1", binary);
                assertEquals("ok r1", new String(r[0], StandardCharsets.US_ASCII));
                assertArrayEquals(binary, r[1]);

                r = call(j, queue, "diff", "r2", "{\"a\":[\"x\"],\"b\":[]}".getBytes(StandardCharsets.UTF_8));
                assertEquals("ok r2", new String(r[0], StandardCharsets.US_ASCII));
                assertEquals("{\"opcodes\":[[\"delete\",0,1,0,0]]}", new String(r[1], StandardCharsets.UTF_8));

                r = call(j, queue, "frobnicate", "r3", new byte[0]);
                assertEquals("error r3", new String(r[0], StandardCharsets.US_ASCII));
                assertEquals("unknown_op", Vectors.tree(r[1]).get("error").asText());

                r = call(j, queue, "diff", "r4", "{\"a\":[\"__bench_fault__:internal\"],\"b\":[]}"
                        .getBytes(StandardCharsets.UTF_8));
                assertEquals("internal", Vectors.tree(r[1]).get("error").asText());

                // unparseable headers go to the dead list, never dropped
                byte[] noNewline = "echo x y".getBytes(StandardCharsets.US_ASCII);
                byte[] twoFields = "echo only-two\nbody".getBytes(StandardCharsets.US_ASCII);
                j.lpush(queue.getBytes(StandardCharsets.UTF_8), noNewline);
                j.lpush(queue.getBytes(StandardCharsets.UTF_8), twoFields);
                // a good request after them proves both were consumed
                r = call(j, queue, "echo", "r5", "after".getBytes(StandardCharsets.UTF_8));
                assertEquals("after", new String(r[1], StandardCharsets.UTF_8));
                long deadline = System.currentTimeMillis() + 5000;
                while (j.llen(queue + ":dead") < 2 && System.currentTimeMillis() < deadline) {
                    Thread.onSpinWait();
                }
                List<byte[]> dead = j.lrange((queue + ":dead").getBytes(StandardCharsets.UTF_8), 0, -1);
                assertEquals(2, dead.size());
                assertEquals(0, j.llen(queue + ":processing"));
            }
        }
    }

    @Test
    void headerRules() {
        assertNull(Header.parse("echo x y".getBytes(StandardCharsets.US_ASCII)));
        assertNull(Header.parse("echo  x y\n".getBytes(StandardCharsets.US_ASCII)));
        assertNull(Header.parse("echo x y \n".getBytes(StandardCharsets.US_ASCII)));
        assertNull(Header.parse("echo x y z\n".getBytes(StandardCharsets.US_ASCII)));
        assertNull(Header.parse(" x y\n".getBytes(StandardCharsets.US_ASCII)));
        assertNull(Header.parse("échø x y\n".getBytes(StandardCharsets.UTF_8)));
        byte[] long1025 = new byte[1100];
        java.util.Arrays.fill(long1025, (byte) 'a');
        long1025[3] = ' ';
        long1025[6] = ' ';
        long1025[1050] = '\n';
        assertNull(Header.parse(long1025));
        Header h = Header.parse("diff id-1 key:1\n{}".getBytes(StandardCharsets.US_ASCII));
        assertNotNull(h);
        assertEquals("diff", h.op());
        assertEquals("id-1", new String(h.requestId(), StandardCharsets.US_ASCII));
        assertEquals("key:1", new String(h.replyKey(), StandardCharsets.US_ASCII));
        assertEquals(16, h.bodyStart());
    }
}
