package bench.http;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Bytes of large request bodies allowed in flight at once. A request whose body would pass the
 * budget waits, in arrival order, until earlier ones are done: with {@code -Xmx1g}, 48 concurrent
 * 16 MiB bodies ran the JVM out of memory (each held as request, reply and buffers) where 16 fit.
 * A body larger than the whole budget is let in alone. Pure: the caller says how a request starts.
 */
final class BodyBudget {
    /** Bodies under this size are not counted: the hot path stays free of locks. */
    static final long SMALL_BYTES = 64 * 1024;

    /** One request's place: waiting, admitted, or left. */
    static final class Ticket {
        private final long bytes;
        private final Runnable start;
        private boolean admitted;
        private boolean left;

        private Ticket(long bytes, Runnable start) {
            this.bytes = bytes;
            this.start = start;
        }

        boolean admitted() {
            return admitted;
        }
    }

    private final long capacity;
    private final ArrayDeque<Ticket> waiting = new ArrayDeque<>();
    private long used;

    BodyBudget(long capacityBytes) {
        if (capacityBytes <= 0) {
            throw new IllegalArgumentException("a body budget needs a positive size, got " + capacityBytes);
        }
        this.capacity = capacityBytes;
    }

    /** A quarter of the heap: the rest holds the replies, buffers and the service itself. */
    static BodyBudget forHeap() {
        return new BodyBudget(Runtime.getRuntime().maxMemory() / 4);
    }

    long capacity() {
        return capacity;
    }

    /** Queue a request of {@code bytes}; {@code start} runs (outside the lock) once it is admitted. */
    Ticket enter(long bytes, Runnable start) {
        Ticket t = new Ticket(bytes, start);
        List<Ticket> admitted;
        synchronized (this) {
            waiting.add(t);
            admitted = admitWaiting();
        }
        admitted.forEach(a -> a.start.run());
        return t;
    }

    /** The request is done (answered, or its connection gone): its bytes go to the next in line. */
    void leave(Ticket t) {
        List<Ticket> admitted;
        synchronized (this) {
            if (t.left) {
                return;
            }
            t.left = true;
            if (t.admitted) {
                used -= t.bytes;
            } else {
                waiting.remove(t);
            }
            admitted = admitWaiting();
        }
        admitted.forEach(a -> a.start.run());
    }

    private List<Ticket> admitWaiting() {
        List<Ticket> admitted = new ArrayList<>();
        while (!waiting.isEmpty()) {
            Ticket head = waiting.peek();
            if (used > 0 && used + head.bytes > capacity) {
                break; // first come, first served: no smaller body overtakes
            }
            waiting.poll();
            head.admitted = true;
            used += head.bytes;
            admitted.add(head);
        }
        return admitted;
    }
}
