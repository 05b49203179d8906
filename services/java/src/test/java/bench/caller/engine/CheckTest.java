package bench.caller.engine;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import bench.caller.Cells;
import bench.caller.client.CallReply;
import bench.caller.client.Opcode;
import bench.caller.client.Request;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** LOADGEN.md "What is right". */
class CheckTest {
    @Test
    void echoUpTo64BytesIsComparedWhole() {
        byte[] want = Cells.letters(64);
        Check c = new Check(Cells.echo(want));
        assertNull(c.wrong(CallReply.ok(want.clone())));
        for (int i = 0; i < 64; i++) {
            byte[] got = want.clone();
            got[i] ^= 1;
            assertNotNull(c.wrong(CallReply.ok(got)), "byte " + i);
        }
        assertNotNull(c.wrong(CallReply.ok(Cells.letters(63))));
        assertNotNull(c.wrong(CallReply.error(want, "500")), "an error status is never right");
    }

    @Test
    void longerEchoesAreSampledAtTheStartMiddleAndEnd() {
        byte[] want = Cells.letters(1000);
        Check c = new Check(Cells.echo(want));
        for (int i : new int[] {0, 15, 500, 515, 984, 999}) {
            byte[] got = want.clone();
            got[i] ^= 1;
            assertNotNull(c.wrong(CallReply.ok(got)), "sampled byte " + i);
        }
        byte[] got = want.clone();
        got[16] ^= 1; // outside the samples: the cheap check does not see it, as Python's does not
        assertNull(c.wrong(CallReply.ok(got)));
        assertNotNull(c.wrong(CallReply.ok(Cells.letters(1001))));
    }

    @Test
    void diffOpcodesAreComparedAsValuesFromJsonOrDecoded() {
        Request r = Cells.diff();
        Check c = new Check(r);
        String json = "{\"opcodes\": [[\"equal\", 0, 1, 0, 1], [\"replace\", 1, 2, 1, 2], [\"equal\", 2, 5, 2, 5],"
                + " [\"insert\", 5, 5, 5, 6]]}";
        assertNull(c.wrong(CallReply.ok(json.getBytes(StandardCharsets.UTF_8))));
        assertNull(c.wrong(CallReply.ok(json.replace(", ", ",").getBytes(StandardCharsets.UTF_8))), "parsed, not bytes");
        assertNull(c.wrong(CallReply.ok(json.getBytes(StandardCharsets.UTF_8))), "remembered body");
        assertNotNull(c.wrong(CallReply.ok(json.replace("6]]", "7]]").getBytes(StandardCharsets.UTF_8))));
        assertNotNull(c.wrong(CallReply.ok("{\"opcodes\": 1}".getBytes(StandardCharsets.UTF_8))));
        assertNotNull(c.wrong(CallReply.ok("[]".getBytes(StandardCharsets.UTF_8))));
        assertNull(c.wrong(CallReply.ok(r.opcodes())));
        assertTrue(c.wrong(CallReply.ok(List.of(new Opcode("equal", 0, 5, 0, 5)))).contains("1 opcodes"));
    }
}
