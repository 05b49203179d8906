package bench.core;

/**
 * Strict UTF-8 validation (RFC 3629): no overlong forms, no encoded surrogates, nothing above
 * U+10FFFF, no truncated sequences. The same set of byte strings Python's
 * {@code bytes.decode("utf-8")} accepts.
 */
public final class Utf8 {
    private Utf8() {
    }

    /** The offset of the first byte of the first invalid sequence, or -1 when all is valid. */
    public static int firstInvalid(byte[] b, int from, int to) {
        int i = from;
        while (i < to) {
            int c = b[i];
            if (c >= 0) { // ASCII
                i++;
                continue;
            }
            c &= 0xff;
            int need;
            int min2 = 0x80;
            int max2 = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
            } else if (c >= 0xe0 && c <= 0xef) {
                need = 2;
                if (c == 0xe0) {
                    min2 = 0xa0; // overlong
                } else if (c == 0xed) {
                    max2 = 0x9f; // surrogates D800..DFFF
                }
            } else if (c >= 0xf0 && c <= 0xf4) {
                need = 3;
                if (c == 0xf0) {
                    min2 = 0x90; // overlong
                } else if (c == 0xf4) {
                    max2 = 0x8f; // above U+10FFFF
                }
            } else {
                return i; // 0x80..0xc1 (continuation or overlong lead), 0xf5..0xff
            }
            if (i + need >= to) {
                return i; // truncated
            }
            int c2 = b[i + 1] & 0xff;
            if (c2 < min2 || c2 > max2) {
                return i;
            }
            for (int k = 2; k <= need; k++) {
                int ck = b[i + k] & 0xff;
                if (ck < 0x80 || ck > 0xbf) {
                    return i;
                }
            }
            i += need + 1;
        }
        return -1;
    }

    /** True when {@code s} holds a surrogate char that is not part of a high-low pair. */
    public static boolean hasLoneSurrogate(String s) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char ch = s.charAt(i);
            if (Character.isSurrogate(ch)) {
                if (Character.isHighSurrogate(ch) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                } else {
                    return true;
                }
            }
        }
        return false;
    }
}
