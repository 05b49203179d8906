package bench.caller.client;

import java.io.IOException;
import java.util.List;

/**
 * The head of an HTTP/1.x reply as the callers' HTTP clients read it: the status code, the
 * body's framing ({@code Content-Length}, or chunked) and whether the connection closes after
 * it (HTTP/1.0 without keep-alive, or {@code Connection: close}).
 */
record HttpHead(int code, long length, boolean chunked, boolean closeAfter) {
    /** The status line and header lines (without CRLF); a reply with no body framing is an error. */
    static HttpHead parse(String status, List<String> headers) throws IOException {
        if (!status.startsWith("HTTP/1.") || status.length() < 12) {
            throw new IOException("not an HTTP/1.x status line: " + status);
        }
        int code;
        try {
            code = Integer.parseInt(status.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new IOException("not an HTTP/1.x status line: " + status);
        }
        long length = -1;
        boolean chunked = false;
        boolean closeAfter = status.startsWith("HTTP/1.0");
        for (String h : headers) {
            int colon = h.indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String name = h.substring(0, colon).trim();
            String value = h.substring(colon + 1).trim();
            if (name.equalsIgnoreCase("content-length")) {
                try {
                    length = Long.parseLong(value);
                } catch (NumberFormatException e) {
                    throw new IOException("bad Content-Length '" + value + "'");
                }
            } else if (name.equalsIgnoreCase("transfer-encoding")) {
                chunked = value.toLowerCase().contains("chunked");
            } else if (name.equalsIgnoreCase("connection")) {
                closeAfter = value.equalsIgnoreCase("close") || (closeAfter && !value.equalsIgnoreCase("keep-alive"));
            }
        }
        if (!chunked && length < 0) {
            throw new IOException("reply without Content-Length or chunked body (status " + code + ")");
        }
        return new HttpHead(code, length, chunked, closeAfter);
    }
}
