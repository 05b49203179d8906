package bench.caller.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One selector thread for the non-blocking connections of a cell's users ({@link NioHttpClient}):
 * the thread that reads a reply also writes the user's next request (the engine's closed loop
 * calls from the reply's callback), so a call never crosses threads, and one {@code epoll_wait}
 * serves every connection with a reply ready, like {@code wrk}'s event loop. Work from other
 * threads (a user's first call, a close) is queued and the selector woken. Every 10 ms the loop
 * also gives its handlers a chance to fail a call past its deadline.
 */
public final class NioLoop implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NioLoop.class.getName());
    private static final long TICK_NANOS = 10_000_000L;

    /** What a registered channel's attachment does when the selector says it is ready. */
    interface Handler {
        void ready(SelectionKey key);

        /** Called about every 10 ms on the loop's thread with {@link System#nanoTime()}. */
        void tick(long now);
    }

    private final Selector selector;
    private final Thread thread;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final List<Handler> handlers = new ArrayList<>(); // the loop thread's only
    private volatile boolean closed;

    public NioLoop(String name) {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("could not open a selector", e);
        }
        thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    Selector selector() {
        return selector;
    }

    /** Run {@code r} on the loop's thread: now if this is it, else as soon as the selector wakes. */
    void execute(Runnable r) {
        if (inLoop()) {
            r.run();
            return;
        }
        tasks.add(r);
        selector.wakeup();
    }

    /** Give {@code h} ticks (on the loop's thread) until {@link #remove}. */
    void add(Handler h) {
        handlers.add(h);
    }

    void remove(Handler h) {
        handlers.remove(h);
    }

    private void run() {
        long nextTick = System.nanoTime() + TICK_NANOS;
        while (!closed) {
            try {
                selector.select(10);
                for (Runnable r; (r = tasks.poll()) != null;) {
                    r.run();
                }
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey k = it.next();
                    it.remove();
                    if (k.isValid()) {
                        ((Handler) k.attachment()).ready(k);
                    }
                }
                long now = System.nanoTime();
                if (now - nextTick >= 0) {
                    nextTick = now + TICK_NANOS;
                    for (Handler h : List.copyOf(handlers)) {
                        h.tick(now);
                    }
                }
            } catch (IOException | RuntimeException e) {
                LOG.log(Level.WARNING, "the NIO loop " + thread.getName() + " carries on after", e);
            }
        }
        for (Runnable r; (r = tasks.poll()) != null;) {
            r.run();
        }
        try {
            selector.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    /** Stop the thread (after the queued work) and close the selector; waits up to 2 s for it. */
    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        if (!inLoop()) {
            try {
                thread.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
