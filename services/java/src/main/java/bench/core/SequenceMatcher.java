package bench.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;

/**
 * A port of CPython's {@code difflib.SequenceMatcher(None, a, b)} for lists of strings, with the
 * stdlib defaults (no junk function, {@code autojunk=True}).
 *
 * <p>Faithful to Lib/difflib.py: {@code __chain_b} builds b2j and removes "popular" elements
 * (when {@code len(b) >= 200}, those occurring more than {@code len(b) // 100 + 1} times);
 * {@code find_longest_match} keeps the first longest match in (i, j) order, then extends it by
 * equal non-junk elements on both sides, then by equal junk elements (the junk set is always
 * empty here, the loops are kept for fidelity); {@code get_matching_blocks} splits recursively
 * with an explicit stack (popping the last pushed range, as CPython does), sorts, and merges
 * adjacent blocks; {@code get_opcodes} turns the blocks into tagged ranges.
 *
 * <p>Tokens are compared as whole strings with {@code equals} (code point sequences, no
 * normalisation). Internally each distinct string gets an int id so comparisons are int
 * compares, and the {@code j2len} dictionaries are two int arrays cleared via touched lists.
 */
public final class SequenceMatcher {
    /** One opcode: tag and the ranges {@code a[i1:i2]}, {@code b[j1:j2]}. */
    public record Opcode(String tag, int i1, int i2, int j1, int j2) {
    }

    /** A matching block: {@code a[i:i+size] == b[j:j+size]}. */
    public record Match(int i, int j, int size) {
    }

    private static final int[] NOTHING = new int[0];

    private final int[] a;
    private final int[] b;
    /** For each position of a, the ascending b indices of a[i] (popular ones removed). */
    private final int[][] aToBIndices;
    /** Junk ids (always empty: no isjunk function); kept to mirror the extension loops. */
    private final boolean[] isJunkId;
    /** j2len as arrays indexed by j + 1 (so that j - 1 = -1 is index 0). */
    private int[] j2len;
    private int[] newj2len;
    private int[] touched;
    private int[] newTouched;

    public SequenceMatcher(List<String> a, List<String> b) {
        HashMap<String, Integer> ids = new HashMap<>(Math.max(16, (a.size() + b.size()) * 2));
        this.b = new int[b.size()];
        for (int j = 0; j < this.b.length; j++) {
            this.b[j] = ids.computeIfAbsent(b.get(j), k -> ids.size());
        }
        int idsFromB = ids.size();
        this.a = new int[a.size()];
        for (int i = 0; i < this.a.length; i++) {
            Integer id = ids.get(a.get(i));
            // an element of a that is not in b never matches anything in b: one shared id
            this.a[i] = id != null ? id : idsFromB;
        }
        this.isJunkId = new boolean[idsFromB + 1];

        // __chain_b: b2j[elt] = ascending indices of elt in b
        int n = this.b.length;
        int[] counts = new int[idsFromB];
        for (int id : this.b) {
            counts[id]++;
        }
        int[][] b2j = new int[idsFromB][];
        for (int id = 0; id < idsFromB; id++) {
            b2j[id] = new int[counts[id]];
        }
        int[] fill = new int[idsFromB];
        for (int j = 0; j < n; j++) {
            int id = this.b[j];
            b2j[id][fill[id]++] = j;
        }
        // autojunk: purge popular elements
        if (n >= 200) {
            int ntest = n / 100 + 1;
            for (int id = 0; id < idsFromB; id++) {
                if (b2j[id].length > ntest) {
                    b2j[id] = NOTHING;
                }
            }
        }
        this.aToBIndices = new int[this.a.length][];
        for (int i = 0; i < this.a.length; i++) {
            int id = this.a[i];
            this.aToBIndices[i] = id < idsFromB ? b2j[id] : NOTHING;
        }
        this.j2len = new int[n + 1];
        this.newj2len = new int[n + 1];
        this.touched = new int[n];
        this.newTouched = new int[n];
    }

    /** Python's {@code difflib.SequenceMatcher(None, a, b).get_opcodes()}. */
    public static List<Opcode> opcodes(List<String> a, List<String> b) {
        return new SequenceMatcher(a, b).getOpcodes();
    }

    private boolean isbjunk(int j) {
        return isJunkId[b[j]];
    }

    /** {@code find_longest_match(alo, ahi, blo, bhi)}. */
    public Match findLongestMatch(int alo, int ahi, int blo, int bhi) {
        int besti = alo;
        int bestj = blo;
        int bestsize = 0;
        int[] prev = j2len;
        int[] next = newj2len;
        int[] prevTouched = touched;
        int[] nextTouched = newTouched;
        int prevCount = 0;
        for (int i = alo; i < ahi; i++) {
            int nextCount = 0;
            for (int j : aToBIndices[i]) {
                if (j < blo) {
                    continue;
                }
                if (j >= bhi) {
                    break;
                }
                int k = prev[j] + 1; // prev[(j - 1) + 1]
                next[j + 1] = k;
                nextTouched[nextCount++] = j + 1;
                if (k > bestsize) {
                    besti = i - k + 1;
                    bestj = j - k + 1;
                    bestsize = k;
                }
            }
            // j2len = newj2len: clear the old one, swap
            for (int t = 0; t < prevCount; t++) {
                prev[prevTouched[t]] = 0;
            }
            int[] swap = prev;
            prev = next;
            next = swap;
            int[] swapT = prevTouched;
            prevTouched = nextTouched;
            nextTouched = swapT;
            prevCount = nextCount;
        }
        for (int t = 0; t < prevCount; t++) {
            prev[prevTouched[t]] = 0;
        }
        j2len = prev;
        newj2len = next;
        touched = prevTouched;
        newTouched = nextTouched;

        while (besti > alo && bestj > blo && !isbjunk(bestj - 1) && a[besti - 1] == b[bestj - 1]) {
            besti--;
            bestj--;
            bestsize++;
        }
        while (besti + bestsize < ahi && bestj + bestsize < bhi && !isbjunk(bestj + bestsize)
                && a[besti + bestsize] == b[bestj + bestsize]) {
            bestsize++;
        }
        while (besti > alo && bestj > blo && isbjunk(bestj - 1) && a[besti - 1] == b[bestj - 1]) {
            besti--;
            bestj--;
            bestsize++;
        }
        while (besti + bestsize < ahi && bestj + bestsize < bhi && isbjunk(bestj + bestsize)
                && a[besti + bestsize] == b[bestj + bestsize]) {
            bestsize++;
        }
        return new Match(besti, bestj, bestsize);
    }

    /** {@code get_matching_blocks()}, including the final {@code (len(a), len(b), 0)}. */
    public List<Match> getMatchingBlocks() {
        int la = a.length;
        int lb = b.length;
        ArrayList<int[]> queue = new ArrayList<>();
        queue.add(new int[] {0, la, 0, lb});
        ArrayList<Match> blocks = new ArrayList<>();
        while (!queue.isEmpty()) {
            int[] r = queue.remove(queue.size() - 1);
            int alo = r[0];
            int ahi = r[1];
            int blo = r[2];
            int bhi = r[3];
            Match x = findLongestMatch(alo, ahi, blo, bhi);
            int i = x.i();
            int j = x.j();
            int k = x.size();
            if (k > 0) {
                blocks.add(x);
                if (alo < i && blo < j) {
                    queue.add(new int[] {alo, i, blo, j});
                }
                if (i + k < ahi && j + k < bhi) {
                    queue.add(new int[] {i + k, ahi, j + k, bhi});
                }
            }
        }
        Match[] sorted = blocks.toArray(new Match[0]);
        Arrays.sort(sorted, (p, q) -> p.i() != q.i() ? Integer.compare(p.i(), q.i())
                : p.j() != q.j() ? Integer.compare(p.j(), q.j()) : Integer.compare(p.size(), q.size()));
        int i1 = 0;
        int j1 = 0;
        int k1 = 0;
        ArrayList<Match> nonAdjacent = new ArrayList<>(sorted.length + 1);
        for (Match m : sorted) {
            if (i1 + k1 == m.i() && j1 + k1 == m.j()) {
                k1 += m.size();
            } else {
                if (k1 > 0) {
                    nonAdjacent.add(new Match(i1, j1, k1));
                }
                i1 = m.i();
                j1 = m.j();
                k1 = m.size();
            }
        }
        if (k1 > 0) {
            nonAdjacent.add(new Match(i1, j1, k1));
        }
        nonAdjacent.add(new Match(la, lb, 0));
        return nonAdjacent;
    }

    /** {@code get_opcodes()}. */
    public List<Opcode> getOpcodes() {
        int i = 0;
        int j = 0;
        ArrayList<Opcode> answer = new ArrayList<>();
        for (Match m : getMatchingBlocks()) {
            int ai = m.i();
            int bj = m.j();
            int size = m.size();
            String tag = null;
            if (i < ai && j < bj) {
                tag = "replace";
            } else if (i < ai) {
                tag = "delete";
            } else if (j < bj) {
                tag = "insert";
            }
            if (tag != null) {
                answer.add(new Opcode(tag, i, ai, j, bj));
            }
            i = ai + size;
            j = bj + size;
            if (size > 0) {
                answer.add(new Opcode("equal", ai, i, bj, j));
            }
        }
        return answer;
    }
}
