package bench.caller.engine;

import bench.caller.client.AsyncClient;
import bench.caller.client.CallException;
import bench.caller.client.CallReply;
import bench.caller.client.Client;
import bench.caller.client.ClientFactory;
import bench.caller.client.Request;
import bench.caller.locust.UiStats;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The users of one test (LOADGEN.md "The plan", "Timing and checking"): one thread per user,
 * each with its own client and check. Closed loop: every user sends its next request as soon
 * as the previous reply arrived, from the plan's start until {@link #stop}. Open loop: users
 * take due times in order from one {@link Schedule}; a free user sleeps until its slot and
 * sends (its wake-up lag is counted apart and its latency counts from the send), a user that
 * takes a slot already due sends at once and its latency counts from the due time. A closed-loop
 * user of an {@link AsyncClient} (gRPC) issues each next call from the previous reply's callback,
 * on the client's I/O thread, while its own thread waits for the end; timing and recording are
 * the same.
 *
 * <p>Users may be added before the start time is known ({@code bench_start}); they wait for it.
 */
public final class LoadEngine {
    private static final Logger LOG = Logger.getLogger(LoadEngine.class.getName());
    private static final long IDLE_PARK_NANOS = 10_000_000L;

    private final Plan plan;
    private final Request request;
    private final ClientFactory clients;
    private final List<User> users = new ArrayList<>();
    private final List<UiStats> ui = new ArrayList<>();
    private volatile Tracker tracker;
    private volatile Schedule schedule;
    private volatile boolean stopping;
    private long stoppedAt;

    public LoadEngine(Plan plan, Request request, ClientFactory clients) {
        this.plan = plan;
        this.request = request;
        this.clients = clients;
    }

    /** Fix the plan's start ({@link System#nanoTime()}); users start sending then. */
    public synchronized void start(long startNanos) {
        if (tracker != null) {
            return;
        }
        Tracker t = new Tracker(plan, startNanos);
        if (plan.openLoop()) {
            schedule = new Schedule(plan, t.bounds());
        }
        tracker = t; // published last: users read schedule after seeing tracker
    }

    public Tracker tracker() {
        return tracker;
    }

    public Schedule schedule() {
        return schedule;
    }

    /** The number of running users. */
    public synchronized int userCount() {
        return users.size();
    }

    /** Run {@code n} users: start more, or stop the last ones. */
    public synchronized void setUsers(int n) {
        if (stopping) {
            return;
        }
        while (users.size() < n) {
            User u = new User(users.size());
            users.add(u);
            ui.add(u.ui);
            u.thread.start();
        }
        while (users.size() > n) {
            User u = users.remove(users.size() - 1);
            ui.remove(u.ui);
            u.retire();
        }
    }

    /** The users' UI counters (Locust's {@code stats} message). */
    public synchronized List<UiStats> uiStats() {
        return new ArrayList<>(ui);
    }

    /**
     * Stop every user: none takes another slot or sends another request; those in flight may
     * finish. Slots that fell due before now and were never handed out count as dropped.
     * Returns at once; {@link #awaitUsers} waits for the threads.
     */
    public void stop() {
        List<User> all;
        synchronized (this) {
            if (stopping) {
                return;
            }
            stopping = true;
            stoppedAt = System.nanoTime();
            all = new ArrayList<>(users);
        }
        Schedule s = schedule;
        if (s != null) {
            s.countDropped(stoppedAt);
        }
        for (User u : all) {
            LockSupport.unpark(u.thread);
        }
    }

    /** Wait until every user thread ended or {@code deadlineNanos} passed, calling {@code tick} every 100 ms. */
    public boolean awaitUsers(long deadlineNanos, Runnable tick) throws InterruptedException {
        List<User> all;
        synchronized (this) {
            all = new ArrayList<>(users);
        }
        for (User u : all) {
            while (u.thread.isAlive()) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                u.thread.join(Math.max(1, Math.min(100, left / 1_000_000)));
                tick.run();
            }
        }
        return true;
    }

    private final class User implements Runnable {
        final Thread thread;
        final UiStats ui = new UiStats();
        final Check check = new Check(request);
        volatile boolean retired;

        User(int index) {
            thread = new Thread(this, "user-" + index);
            thread.setDaemon(true);
        }

        void retire() {
            retired = true;
            LockSupport.unpark(thread);
        }

        boolean done() {
            return stopping || retired;
        }

        /** Park until {@code t} (nanoTime); false when stopped meanwhile. */
        boolean sleepUntil(long t) {
            while (!done()) {
                long left = t - System.nanoTime();
                if (left <= 0) {
                    return true;
                }
                LockSupport.parkNanos(left);
            }
            return false;
        }

        @Override
        public void run() {
            try (Client client = clients.open()) {
                Tracker t;
                while ((t = tracker) == null) {
                    if (done()) {
                        return;
                    }
                    LockSupport.parkNanos(IDLE_PARK_NANOS);
                }
                if (!sleepUntil(t.start())) {
                    return;
                }
                if (plan.openLoop()) {
                    openLoop(client, t, schedule);
                } else {
                    closedLoop(client, t);
                }
            } catch (RuntimeException | Error e) {
                LOG.log(Level.SEVERE, "user " + thread.getName() + " died", e);
            }
        }

        private void closedLoop(Client client, Tracker t) {
            if (client instanceof AsyncClient a) {
                new AsyncLoop(a, t).run();
                return;
            }
            while (!done()) {
                long sent = System.nanoTime();
                call(client, t, t.phaseAt(sent), sent, sent);
            }
        }

        private void openLoop(Client client, Tracker t, Schedule s) {
            while (!done()) {
                Schedule.Slot slot = s.next();
                if (slot == null) { // the schedule is over: idle until stopped
                    while (!done()) {
                        LockSupport.parkNanos(IDLE_PARK_NANOS * 10);
                    }
                    return;
                }
                long now = System.nanoTime();
                long intended;
                if (slot.due() - now > 0) {
                    if (!sleepUntil(slot.due())) {
                        return;
                    }
                    long woke = System.nanoTime();
                    t.wakeup(slot.phase(), woke - slot.due());
                    intended = -1; // a free user's request counts from its send
                } else {
                    t.queued(slot.phase(), now - slot.due());
                    intended = slot.due();
                }
                long sent = System.nanoTime();
                call(client, t, slot.phase(), intended < 0 ? sent : intended, sent);
            }
        }

        /**
         * The closed loop on an asynchronous client: {@code run} sends the first call and waits;
         * each reply's callback records it and, unless stopped, sends the next from there.
         */
        private final class AsyncLoop implements AsyncClient.Listener {
            private final AsyncClient client;
            private final Tracker t;
            private final java.util.concurrent.CountDownLatch ended = new java.util.concurrent.CountDownLatch(1);
            private final java.util.concurrent.atomic.AtomicReference<Thread> starter =
                    new java.util.concurrent.atomic.AtomicReference<>();
            private long sent;
            private boolean pending;

            AsyncLoop(AsyncClient client, Tracker t) {
                this.client = client;
                this.t = t;
            }

            void run() {
                next();
                try {
                    ended.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            /**
             * Send calls until one is in flight. A call that ends inside {@code start} (on this
             * thread: a channel that fails at once) only marks {@code pending}, and this loop sends
             * the next, so that a failing target never recurses.
             */
            private void next() {
                Thread me = Thread.currentThread();
                while (true) {
                    if (User.this.done()) {
                        ended.countDown();
                        return;
                    }
                    sent = System.nanoTime();
                    pending = false;
                    starter.set(me);
                    try {
                        client.start(this);
                    } catch (RuntimeException | Error e) {
                        LOG.log(Level.SEVERE, "user " + thread.getName() + " died", e);
                        ended.countDown();
                        return;
                    } finally {
                        starter.compareAndSet(me, null);
                    }
                    if (!pending) {
                        return;
                    }
                }
            }

            @Override
            public void done(CallReply reply, CallException failure) {
                long s = sent;
                try {
                    finish(t, t.phaseAt(s), s, s, reply, failure);
                } catch (RuntimeException | Error e) {
                    LOG.log(Level.SEVERE, "user " + thread.getName() + " died", e);
                    ended.countDown();
                    return;
                }
                if (starter.get() == Thread.currentThread()) {
                    pending = true;
                    return;
                }
                next();
            }
        }

        private void call(Client client, Tracker t, int phase, long intended, long sent) {
            CallReply r = null;
            CallException failure = null;
            try {
                r = client.call();
            } catch (CallException e) {
                failure = e;
            }
            finish(t, phase, intended, sent, r, failure);
        }

        /** Check and record one call's end (its reply, or its failure). */
        private void finish(Tracker t, int phase, long intended, long sent, CallReply r, CallException failure) {
            Tracker.Outcome outcome;
            String message;
            long length = 0;
            long done;
            if (failure == null) {
                message = check.wrong(r);
                done = System.nanoTime();
                outcome = message == null ? Tracker.Outcome.RIGHT : Tracker.Outcome.WRONG;
                length = r.body().length;
            } else {
                done = System.nanoTime();
                outcome = Tracker.Outcome.ERROR;
                message = failure.getMessage();
            }
            if (phase >= 0) {
                t.record(phase, intended, sent, done, outcome, message);
            }
            ui.log((done - sent) / 1e6, length, outcome != Tracker.Outcome.RIGHT);
        }
    }
}
