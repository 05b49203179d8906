package caller

import (
	"math"
	"testing"
)

func plan(open bool, arrival string, seed int64, phases ...PhaseSpec) Plan {
	return Plan{Phases: phases, OpenLoop: open, Arrival: arrival, Seed: seed}
}

func TestPhasesAreBackToBack(t *testing.T) {
	ps := Phases(plan(false, "constant", 1, PhaseSpec{Name: "warmup", DurationS: 2},
		PhaseSpec{Name: "measure", DurationS: 5, Measured: true}, PhaseSpec{Name: "all", DurationS: math.Inf(1)}), 1000)
	want := [][2]int64{{1000, 2e9 + 1000}, {2e9 + 1000, 7e9 + 1000}, {7e9 + 1000, math.MaxInt64}}
	for i, w := range want {
		if ps[i].Start != w[0] || ps[i].End != w[1] {
			t.Errorf("phase %d: [%d, %d), want [%d, %d)", i, ps[i].Start, ps[i].End, w[0], w[1])
		}
	}
	for _, c := range []struct {
		t    int64
		want int
	}{{999, -1}, {1000, 0}, {2e9 + 999, 0}, {2e9 + 1000, 1}, {7e9 + 1000, 2}, {math.MaxInt64 - 1, 2}} {
		if got := PhaseAt(ps, c.t); got != c.want {
			t.Errorf("PhaseAt(%d) = %d, want %d", c.t, got, c.want)
		}
	}
}

func TestConstantArrivalsNeverCrossAPhaseEnd(t *testing.T) {
	ps := Phases(plan(true, "constant", 1, PhaseSpec{Name: "warmup", DurationS: 1, Rate: 4},
		PhaseSpec{Name: "measure", DurationS: 0.5, Rate: 10, Measured: true}), 0)
	s := NewSchedule(ps, "constant", 1)
	var got []int64
	var phases []int
	for {
		due, p, ok := s.Next()
		if !ok {
			break
		}
		got, phases = append(got, due), append(phases, p)
	}
	// 4/s over [0, 1 s): 0.25, 0.5, 0.75 (1.0 is the end); 10/s over [1, 1.5): 1.1 .. 1.4
	want := []int64{250e6, 500e6, 750e6, 1100e6, 1200e6, 1300e6, 1400e6}
	wantPhases := []int{0, 0, 0, 1, 1, 1, 1}
	if len(got) != len(want) {
		t.Fatalf("due times %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1 || phases[i] != wantPhases[i] {
			t.Errorf("slot %d: %d in phase %d, want %d in phase %d", i, got[i], phases[i], want[i], wantPhases[i])
		}
	}
	if s.Issued[0] != 3 || s.Issued[1] != 4 {
		t.Errorf("issued %v", s.Issued)
	}
}

func TestPoissonArrivalsAreSeededAndHaveTheirRate(t *testing.T) {
	spec := PhaseSpec{Name: "measure", DurationS: 100, Rate: 200, Measured: true}
	run := func(seed int64) []int64 {
		s := NewSchedule(Phases(plan(true, "poisson", seed, spec), 0), "poisson", seed)
		var out []int64
		for {
			due, _, ok := s.Next()
			if !ok {
				return out
			}
			out = append(out, due)
		}
	}
	a, b, c := run(1), run(1), run(2)
	if len(a) != len(b) {
		t.Fatalf("the same seed gave %d and %d slots", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("the same seed differs at slot %d", i)
		}
	}
	same := len(a) == len(c)
	for i := 0; same && i < len(a); i++ {
		same = a[i] == c[i]
	}
	if same {
		t.Fatal("seeds 1 and 2 gave the same schedule")
	}
	// 20,000 expected; a Poisson count's sd is sqrt(20,000) ~ 141
	if n := len(a); n < 19_400 || n > 20_600 {
		t.Fatalf("%d slots in 100 s at 200/s", n)
	}
	// exponential gaps: the coefficient of variation is 1 (constant gaps: 0)
	var sum, sq float64
	prev := int64(0)
	for _, d := range a {
		g := float64(d - prev)
		sum += g
		sq += g * g
		prev = d
	}
	n := float64(len(a))
	mean := sum / n
	cv := math.Sqrt(sq/n-mean*mean) / mean
	if cv < 0.95 || cv > 1.05 {
		t.Fatalf("gaps' coefficient of variation %.3f, want about 1", cv)
	}
}

func TestSlotsNeverSentAreDropped(t *testing.T) {
	ps := Phases(plan(true, "constant", 1, PhaseSpec{Name: "measure", DurationS: 1, Rate: 100, Measured: true}), 0)
	s := NewSchedule(ps, "constant", 1)
	for i := 0; i < 10; i++ {
		s.Next()
	}
	s.CountDropped(500e6 + 1) // slots at 0.11 .. 0.50 s were due and never taken
	if s.Issued[0] != 10 || s.Dropped[0] != 40 {
		t.Fatalf("issued %d dropped %d, want 10 and 40", s.Issued[0], s.Dropped[0])
	}
}

func TestClosedLoopPhasesGetNoSlots(t *testing.T) {
	ps := Phases(plan(true, "constant", 1, PhaseSpec{Name: "warmup", DurationS: 1},
		PhaseSpec{Name: "endless", DurationS: math.Inf(1), Rate: 5}), 0)
	if _, _, ok := NewSchedule(ps, "constant", 1).Next(); ok {
		t.Fatal("a slot in a phase without a rate or without an end")
	}
}
