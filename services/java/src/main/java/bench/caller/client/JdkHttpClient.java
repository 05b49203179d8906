package bench.caller.client;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

/** {@code java.net.http.HttpClient} (HTTP/1.1, keep-alive), one per user; a candidate measured in README.md. */
public final class JdkHttpClient implements Client {
    private final HttpClient client;
    private final HttpRequest request;

    public JdkHttpClient(String host, int port, Request r, double timeoutS) {
        Duration timeout = Duration.ofMillis(Math.max(1, Math.round(timeoutS * 1000)));
        this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
        this.request = HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + "/" + r.op()))
                .timeout(timeout)
                .header("Content-Type", r.op().equals("diff") ? "application/json" : "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(r.body())).build();
    }

    @Override
    public CallReply call() throws CallException {
        try {
            HttpResponse<byte[]> resp = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
            return resp.statusCode() == 200 ? CallReply.ok(resp.body())
                    : CallReply.error(resp.body(), String.valueOf(resp.statusCode()));
        } catch (HttpTimeoutException e) {
            throw new CallException("http: no reply from " + request.uri() + " within the timeout", e);
        } catch (IOException e) {
            throw new CallException("http: " + request.uri() + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CallException("http: interrupted", e);
        }
    }

    @Override
    public void close() {
        // java 17's HttpClient has no close(); its connections go with it
    }
}
