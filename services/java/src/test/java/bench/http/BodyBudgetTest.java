package bench.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The byte budget for large bodies in flight: admission in order, release, a body alone. */
class BodyBudgetTest {
    private final List<String> started = new ArrayList<>();

    private BodyBudget.Ticket enter(BodyBudget b, String name, long bytes) {
        return b.enter(bytes, () -> started.add(name));
    }

    @Test
    void requestsOverTheBudgetWaitInArrivalOrder() {
        BodyBudget b = new BodyBudget(100);
        BodyBudget.Ticket first = enter(b, "first", 60);
        BodyBudget.Ticket second = enter(b, "second", 60);
        BodyBudget.Ticket small = enter(b, "small", 10);
        assertEquals(List.of("first"), started);
        assertFalse(second.admitted());
        assertFalse(small.admitted(), "a smaller body must not overtake a waiting one");
        b.leave(first);
        assertEquals(List.of("first", "second", "small"), started);
        b.leave(first); // leaving twice gives back nothing twice
        BodyBudget.Ticket third = enter(b, "third", 40);
        assertFalse(third.admitted());
        b.leave(second);
        assertTrue(third.admitted());
    }

    @Test
    void aWaitingRequestThatGoesAwayIsForgotten() {
        BodyBudget b = new BodyBudget(100);
        BodyBudget.Ticket first = enter(b, "first", 100);
        BodyBudget.Ticket gone = enter(b, "gone", 50);
        BodyBudget.Ticket next = enter(b, "next", 50);
        b.leave(gone); // its connection closed while it waited
        b.leave(first);
        assertTrue(next.admitted());
        assertEquals(List.of("first", "next"), started);
    }

    @Test
    void aBodyLargerThanTheBudgetIsLetInAlone() {
        BodyBudget b = new BodyBudget(100);
        BodyBudget.Ticket huge = enter(b, "huge", 500);
        assertTrue(huge.admitted());
        BodyBudget.Ticket other = enter(b, "other", 1);
        assertFalse(other.admitted());
        b.leave(huge);
        assertTrue(other.admitted());
        assertThrows(IllegalArgumentException.class, () -> new BodyBudget(0));
    }
}
