package bench.caller.client;

/** One diff opcode {@code [tag, i1, i2, j1, j2]} (CONTRACT.md "Operations"). */
public record Opcode(String tag, long i1, long i2, long j1, long j2) {
}
