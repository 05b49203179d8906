package bench.caller.locust;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import bench.caller.Interop;
import bench.caller.PythonProcess;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The msgpack subset of Locust's channel, byte for byte as Python's msgpack writes it. */
class MsgpackTest {
    @Test
    void encodesAsPythonMsgpackDoes() {
        // msgpack.dumps(("heartbeat", {"state": "ready", "current_cpu_usage": 1.5, "current_memory_usage": 300}, "n"))
        Map<String, Object> hb = new LinkedHashMap<>();
        hb.put("state", "ready");
        hb.put("current_cpu_usage", 1.5);
        hb.put("current_memory_usage", 300L);
        String py = "93a968656172746265617483a57374617465a57265616479b163757272656e745f6370755f7573616765"
                + "cb3ff8000000000000b463757272656e745f6d656d6f72795f7573616765cd012ca16e";
        assertEquals(py, HexFormat.of().formatHex(new Message("heartbeat", hb, "n").encode()));
    }

    @Test
    void decodesEveryTypeBack() {
        Map<Object, Object> m = new LinkedHashMap<>();
        m.put("s", "h\u00e9llo \ud83d\ude00");
        m.put(7L, List.of(-1L, 0L, 127L, 128L, -33L, 65_536L, Long.MAX_VALUE, Long.MIN_VALUE));
        m.put("f", 0.1);
        m.put("t", true);
        m.put("n", null);
        Object back = Msgpack.decode(Msgpack.encode(Arrays.asList(m, new byte[] {0, 1, (byte) 255}, List.of())));
        List<?> l = (List<?>) back;
        assertEquals(m, l.get(0));
        assertArrayEquals(new byte[] {0, 1, (byte) 255}, (byte[]) l.get(1));
        assertEquals(List.of(), l.get(2));
        assertThrows(IllegalArgumentException.class, () -> Msgpack.decode(new byte[] {(byte) 0x91}));
        assertThrows(IllegalArgumentException.class, () -> Msgpack.decode(new byte[] {(byte) 0xc0, (byte) 0xc0}));
        assertThrows(IllegalArgumentException.class, () -> Message.decode(Msgpack.encode(List.of("x"))));
    }

    @Test
    void locustReadsOurFramesAndWeReadLocusts() throws Exception {
        assumeTrue(PythonProcess.available(), "no .venv: skipped");
        Map<String, Object> done = new LinkedHashMap<>();
        done.put("user_classes_count", Map.of("BenchCell", 3L));
        done.put("user_count", 3L);
        done.put("body", new byte[] {1, 2});
        String frame = Base64.getEncoder().encodeToString(new Message("spawning_complete", done, "vm_1").encode());
        JsonNode out = new ObjectMapper().readTree(Interop.run("msgpack", frame));
        assertEquals("spawning_complete", out.get("type").asText());
        assertEquals("vm_1", out.get("node_id").asText());
        assertEquals("{'user_classes_count': {'BenchCell': 3}, 'user_count': 3, 'body': b'\\x01\\x02'}",
                out.get("data").asText());
        Message spawn = Message.decode(Base64.getDecoder().decode(out.get("spawn").asText()));
        assertEquals("spawn", spawn.type());
        Map<?, ?> job = (Map<?, ?>) spawn.data();
        assertEquals(Map.of("BenchCell", 3L), job.get("user_classes_count"));
        assertEquals(1764579000.25, job.get("timestamp"));
        assertTrue(job.containsKey("host") && job.get("host") == null);
    }
}
