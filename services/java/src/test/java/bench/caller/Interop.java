package bench.caller;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Runs src/test/resources/bench/caller/interop.py with the repository's .venv: stdin in, stdout out. */
public final class Interop {
    private Interop() {
    }

    public static Path script(String name) {
        return Path.of("src/test/resources/bench/caller", name).toAbsolutePath();
    }

    public static String run(String mode, String input) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(PythonProcess.python().toString(), script("interop.py").toString(), mode)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try (var in = p.getOutputStream()) {
            in.write(input.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError("interop.py " + mode + " failed (exit " + p.exitValue() + "): " + out);
        }
        return out;
    }
}
