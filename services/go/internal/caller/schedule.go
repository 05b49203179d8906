package caller

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

var clockBase = time.Now()

// Now is this process's monotonic clock in nanoseconds (from an arbitrary origin).
func Now() int64 { return int64(time.Since(clockBase)) }

// MonoFromWall converts a Unix time in seconds (the master's start_wall) to Now's clock, once.
func MonoFromWall(wall float64) int64 {
	now := time.Now()
	return int64(now.Sub(clockBase)) + int64(math.Round((wall-float64(now.UnixNano())/1e9)*1e9))
}

// Phase is a plan phase with its absolute times on Now's clock (End is MaxInt64 for an endless phase).
type Phase struct {
	PhaseSpec
	Start, End int64
}

// Phases lays the plan's phases back to back from start.
func Phases(plan Plan, start int64) []Phase {
	out := make([]Phase, 0, len(plan.Phases))
	t := float64(start)
	for _, spec := range plan.Phases {
		end := t + spec.DurationS*1e9
		p := Phase{PhaseSpec: spec, Start: int64(t), End: math.MaxInt64}
		if !math.IsInf(end, 1) && end < math.MaxInt64 {
			p.End = int64(end)
		}
		out = append(out, p)
		t = end
	}
	return out
}

// PhaseAt is the index of the phase holding t, or -1 outside the plan.
func PhaseAt(phases []Phase, t int64) int {
	for i := range phases {
		if phases[i].Start <= t && t < phases[i].End {
			return i
		}
	}
	return -1
}

// Schedule hands out open-loop due times in order across the plan's phases (LOADGEN.md "The
// plan"): each phase's slots start at its start, 1/rate apart (constant) or with exponential
// gaps of mean 1/rate from a PRNG seeded with the plan's seed (poisson), and never cross its
// end. Safe for concurrent use by the users.
type Schedule struct {
	mu      sync.Mutex
	phases  []Phase
	poisson bool
	rng     *rand.Rand
	i       int
	t       float64 // the last due time handed out (or the current phase's start), ns
	Issued  []int64 // per phase: slots handed out
	Dropped []int64 // per phase: slots due before stop that no user took
}

// NewSchedule starts a schedule over phases (arrival "constant" or "poisson").
func NewSchedule(phases []Phase, arrival string, seed int64) *Schedule {
	s := &Schedule{phases: phases, poisson: arrival == "poisson",
		rng:    rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
		Issued: make([]int64, len(phases)), Dropped: make([]int64, len(phases))}
	if len(phases) > 0 {
		s.t = float64(phases[0].Start)
	}
	return s
}

func (s *Schedule) advance() (int64, int, bool) {
	for s.i < len(s.phases) {
		ph := &s.phases[s.i]
		if ph.Rate <= 0 || ph.End == math.MaxInt64 {
			s.nextPhase()
			continue
		}
		var gap float64
		if s.poisson {
			gap = s.rng.ExpFloat64() / ph.Rate * 1e9
		} else {
			gap = 1e9 / ph.Rate
		}
		t := s.t + gap
		if t >= float64(ph.End) {
			s.nextPhase()
			continue
		}
		s.t = t
		return int64(t), s.i, true
	}
	return 0, -1, false
}

func (s *Schedule) nextPhase() {
	s.i++
	if s.i < len(s.phases) {
		s.t = float64(s.phases[s.i].Start)
	}
}

// Next is the next slot: its due time and phase index; ok false when the plan is over.
func (s *Schedule) Next() (due int64, phase int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	due, phase, ok = s.advance()
	if ok {
		s.Issued[phase]++
	}
	return due, phase, ok
}

// CountDropped counts the slots that fell due before now (inside the plan) but were never handed out.
func (s *Schedule) CountDropped(now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		due, phase, ok := s.advance()
		if !ok || due >= now {
			return
		}
		s.Dropped[phase]++
	}
}
