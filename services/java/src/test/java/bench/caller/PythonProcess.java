package bench.caller;

import bench.Vectors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A process of the repository's Python side for the caller's tests (the Python service, the
 * floor responders, a Locust master), started with the repository's {@code .venv}, logging to
 * a file; stopped with SIGTERM, then SIGKILL, on close.
 */
public final class PythonProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private PythonProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** The repository's root (services/java/../..). */
    public static Path repo() {
        return Vectors.contractDir().resolve("..").normalize();
    }

    /** The harness's interpreter, {@code .venv/bin/python}. */
    public static Path python() {
        return repo().resolve(".venv/bin/python");
    }

    public static boolean available() {
        return Files.isExecutable(python());
    }

    /** Start {@code python args...} in {@code dir} with extra environment. */
    public static PythonProcess start(Path dir, Map<String, String> env, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(python().toString());
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("bench-caller-test-", ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return new PythonProcess(pb.start(), log);
    }

    /** The Python service on {@code transport} ({@code --host/--port} or {@code --redis-url/--queue}). */
    public static PythonProcess service(String transport, String... options) throws IOException {
        List<String> a = new ArrayList<>(List.of("-m", "bench_service", transport));
        a.addAll(List.of(options));
        return start(repo().resolve("services/python"), Map.of(), a.toArray(new String[0]));
    }

    /** The floor responder on {@code transport} (harness/floor/responders.py). */
    public static PythonProcess floor(String transport, String... options) throws IOException {
        List<String> a = new ArrayList<>(List.of(repo().resolve("harness/floor/responders.py").toString(), transport));
        a.addAll(List.of(options));
        return start(repo(), Map.of(), a.toArray(new String[0]));
    }

    public Process process() {
        return process;
    }

    /** The last {@code chars} characters of the log (for assertion messages). */
    public String logTail(int chars) {
        try {
            String s = Files.readString(log);
            return s.length() > chars ? s.substring(s.length() - chars) : s;
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor();
        }
        try {
            Files.deleteIfExists(log);
        } catch (IOException e) {
            // a temp file
        }
    }
}
