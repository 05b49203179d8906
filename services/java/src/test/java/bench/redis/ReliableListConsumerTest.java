package bench.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import bench.RedisServer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** Reconnection of the reliable list consumer across a real broker restart. */
class ReliableListConsumerTest {

    @Test
    void backoffDoublesFrom50MsTo2S() {
        long delay = ReliableListConsumer.BACKOFF_FIRST_MS;
        StringBuilder seen = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            seen.append(delay).append(' ');
            delay = ReliableListConsumer.nextDelayMs(delay);
        }
        assertEquals("50 100 200 400 800 1600 2000 2000 ", seen.toString());
    }

    /**
     * Regression: a message held while the broker restarted stayed in {@code :processing} until the
     * next start of the service. Now the thread reconnects, recovers it and serves it again.
     */
    @Test
    void aMessageHeldAcrossABrokerRestartIsServedAgain() throws Exception {
        assumeTrue(RedisServer.onPath("redis-server"), "redis-server is not on PATH");
        try (RedisServer redis = RedisServer.start()) {
            CountDownLatch holding = new CountDownLatch(1);
            AtomicInteger calls = new AtomicInteger();
            byte[] replyKey = "reply:held".getBytes(StandardCharsets.UTF_8);
            ReliableListConsumer.Handler slowFirst = (msg, tx) -> {
                if (calls.incrementAndGet() == 1) {
                    holding.countDown();
                    try {
                        Thread.sleep(1500); // the broker restarts meanwhile
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                tx.lpush(replyKey, msg);
            };
            // Two threads: the idle one sees the outage first and reconnects; the busy one finds its
            // connection dead later, which is the same outage (logged and counted once).
            try (ReliableListConsumer consumer = new ReliableListConsumer(redis.url(), "q", 2, "test", slowFirst)) {
                try (Jedis j = new Jedis(java.net.URI.create(redis.url()))) {
                    j.lpush("q", "held");
                }
                assertEquals(true, holding.await(10, TimeUnit.SECONDS));
                redis.restart(300);
                try (Jedis j = new Jedis(java.net.URI.create(redis.url()))) {
                    List<byte[]> got = j.brpop(20, replyKey);
                    assertNotNull(got, "the held message was never answered");
                    assertEquals("held", new String(got.get(1), StandardCharsets.UTF_8));
                    assertEquals(0, j.llen("q:processing"));
                }
                assertEquals(1, consumer.outages());
            }
        }
    }
}
