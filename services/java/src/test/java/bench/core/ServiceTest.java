package bench.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.Vectors;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The operations on raw bodies: echo vectors, diff vectors, every error vector. */
class ServiceTest {
    private final Service service = new Service(Settings.defaults().withTestHooks(true));

    @TestFactory
    Stream<DynamicTest> echoVectorsComeBackIdentical() {
        return Vectors.load("echo").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
            byte[] body = Vectors.body(v.get("body"));
            Reply r = service.handle("echo", body);
            assertNull(r.error());
            assertArrayEquals(body, r.body());
        }));
    }

    @TestFactory
    Stream<DynamicTest> diffVectorsThroughJson() {
        return Vectors.load("diff").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
            Reply r = service.handle("diff", Vectors.diffRequest(v));
            assertNull(r.error(), () -> new String(r.body(), StandardCharsets.UTF_8));
            assertEquals(v.get("opcodes"), Vectors.tree(r.body()).get("opcodes"));
        }));
    }

    @TestFactory
    Stream<DynamicTest> errorVectorsGetTheirCode() {
        return Vectors.load("errors").stream().map(v -> DynamicTest.dynamicTest(v.get("name").asText(), () -> {
            Reply r = service.handle(v.get("op").asText(), Vectors.body(v.get("body")));
            JsonNode err = Vectors.tree(r.body());
            assertEquals(v.get("error").asText(), r.error().wire());
            assertEquals(v.get("error").asText(), err.get("error").asText());
            assertTrue(err.get("message").asText().length() > 0);
            // the service keeps serving
            assertArrayEquals(new byte[] {1, 2}, service.handle("echo", new byte[] {1, 2}).body());
        }));
    }

    @Test
    void faultTokenIsOrdinaryWithoutHooks() {
        Reply r = new Service(Settings.defaults()).handle("diff",
                "{\"a\":[\"__bench_fault__:internal\"],\"b\":[]}".getBytes(StandardCharsets.UTF_8));
        assertNull(r.error());
        assertEquals("{\"opcodes\":[[\"delete\",0,1,0,0]]}", new String(r.body(), StandardCharsets.UTF_8));
    }

    @Test
    void repeatedKeyKeepsTheLastValueAsPythonDoes() {
        Reply r = service.handle("diff", "{\"a\":[1],\"a\":[\"x\"],\"b\":[\"x\"],\"c\":{\"d\":[null]}}"
                .getBytes(StandardCharsets.UTF_8));
        assertNull(r.error(), () -> new String(r.body(), StandardCharsets.UTF_8));
        assertEquals("{\"opcodes\":[[\"equal\",0,1,0,1]]}", new String(r.body(), StandardCharsets.UTF_8));
    }

    @Test
    void surrogatePairEscapeIsOneAstralCharacter() {
        Reply r = service.handle("diff", "{\"a\":[\"\\ud83d\\ude00\"],\"b\":[\"\uD83D\uDE00\"]}"
                .getBytes(StandardCharsets.UTF_8));
        assertNull(r.error(), () -> new String(r.body(), StandardCharsets.UTF_8));
        assertEquals("{\"opcodes\":[[\"equal\",0,1,0,1]]}", new String(r.body(), StandardCharsets.UTF_8));
    }

    @Test
    void otherBadDocumentsAreBadRequest() {
        for (String doc : List.of("\uFEFF{\"a\":[],\"b\":[]}", "{\"a\":[NaN],\"b\":[]}", "{\"a\":[],\"b\":[]} {}",
                "{\"a\":[\"\u0001\"],\"b\":[]}", "{\"a\":[],\"b\":[],}", "{'a':[],'b':[]}", "[]", "{\"a\":[]")) {
            Reply r = service.handle("diff", doc.getBytes(StandardCharsets.UTF_8));
            assertEquals(ErrorCode.BAD_REQUEST, r.error(), doc);
        }
    }

    @Test
    void tokenLimitComesAfterShape() {
        Service small = new Service(new Settings(1000, 3, false, 0));
        assertEquals(ErrorCode.TOO_LARGE, small.handle("diff", "{\"a\":[\"x\",\"y\"],\"b\":[\"z\",\"w\"]}"
                .getBytes(StandardCharsets.UTF_8)).error());
        assertEquals(ErrorCode.BAD_REQUEST, small.handle("diff", "{\"a\":[\"x\",\"y\"],\"b\":[\"z\",1]}"
                .getBytes(StandardCharsets.UTF_8)).error());
        assertEquals(ErrorCode.TOO_LARGE, small.handle("echo", new byte[1001]).error());
    }

    @Test
    void utf8ValidatorAgreesWithTheJdkStrictDecoder() {
        Random rnd = new Random(42);
        byte[] alphabet = {0x41, 0x00, 0x7f, (byte) 0x80, (byte) 0xbf, (byte) 0xc0, (byte) 0xc2, (byte) 0xdf,
            (byte) 0xe0, (byte) 0xa0, (byte) 0xed, (byte) 0x9f, (byte) 0xef, (byte) 0xf0, (byte) 0x90,
            (byte) 0xf4, (byte) 0x8f, (byte) 0xf5, (byte) 0xff};
        for (int n = 0; n < 200_000; n++) {
            byte[] b = new byte[1 + rnd.nextInt(6)];
            for (int i = 0; i < b.length; i++) {
                b[i] = alphabet[rnd.nextInt(alphabet.length)];
            }
            boolean jdk;
            try {
                StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b));
                jdk = true;
            } catch (CharacterCodingException e) {
                jdk = false;
            }
            byte[] copy = b;
            assertEquals(jdk, Utf8.firstInvalid(b, 0, b.length) < 0, () -> java.util.Arrays.toString(copy));
        }
    }

    @Test
    void extraWorkHookBurnsCpuPerOperation() {
        Service slow = new Service(new Settings(1000, 1000, false, 20_000));
        var threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadCpuTime();
        assertArrayEquals(new byte[] {7}, slow.handle("echo", new byte[] {7}).body());
        assertTrue(threads.getCurrentThreadCpuTime() - before >= 20_000_000L, "echo spun less than 20 ms of CPU");
    }

    @Test
    void healthNamesTheService() {
        JsonNode h = Vectors.tree(service.handle("health", new byte[0]).body());
        assertEquals("java", h.get("service").asText());
        assertEquals("Java", h.get("language").asText());
        assertEquals(3, h.get("ops").size());
    }
}
