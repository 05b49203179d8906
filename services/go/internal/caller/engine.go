package caller

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"interopbench/go/internal/caller/hdr"
	"interopbench/go/internal/locust"
)

// NewClient makes user's client for a cell (it connects on its first Call).
type NewClient func(cfg *Config, user int) Client

// Engine runs one test of one cell: the users (goroutines), each with its own client, checker,
// histograms and UI stats, so that the hot path shares nothing but the open-loop schedule.
// The worker makes a new Engine for every test (after each stop).
type Engine struct {
	cfg       *Config
	newClient NewClient

	mu      sync.Mutex
	users   []*user
	retired []*user // users stopped by a smaller spawn: their counts stay in the results
	phases  []Phase
	started chan struct{} // closed by Start
	sched   *Schedule
	stopped bool
	wg      sync.WaitGroup
	wallNs  int64 // Unix ns at Now() == 0, for the UI's per-second counts
}

type user struct {
	id     int
	cancel context.CancelFunc
	ui     *locust.UIStats
	stats  []phaseStats // per phase, set when the plan starts
	done   chan struct{}
}

type phaseStats struct {
	corrected, uncorrected *hdr.Histogram // allocated on first use
	wakeup, queue          *hdr.Histogram
	requests, errs, wrong  int64
	late, queued           int64
	samples                []string
}

// NewEngine is an engine for cfg whose users get their clients from newClient.
func NewEngine(cfg *Config, newClient NewClient) *Engine {
	return &Engine{cfg: cfg, newClient: newClient, started: make(chan struct{}),
		wallNs: time.Now().UnixNano() - Now()}
}

// Start fixes the plan's phases from start (Now's clock); users wait until then.
func (e *Engine) Start(start int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.phases != nil {
		return
	}
	e.phases = Phases(e.cfg.Plan, start)
	if e.cfg.Plan.OpenLoop {
		e.sched = NewSchedule(e.phases, e.cfg.Plan.Arrival, e.cfg.Plan.Seed)
	}
	close(e.started)
}

// Started says whether Start has fixed the plan.
func (e *Engine) Started() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.phases != nil
}

// PhaseBounds is every phase's start and the last phase's end (if finite), on Now's clock.
func (e *Engine) PhaseBounds() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []int64
	for _, p := range e.phases {
		out = append(out, p.Start)
	}
	if n := len(e.phases); n > 0 && e.phases[n-1].End != math.MaxInt64 {
		out = append(out, e.phases[n-1].End)
	}
	return out
}

// UserCount is how many users run.
func (e *Engine) UserCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.users)
}

// SetUsers runs n users: new ones start, surplus ones stop after their request in flight.
func (e *Engine) SetUsers(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	for len(e.users) < n {
		ctx, cancel := context.WithCancel(context.Background())
		u := &user{id: len(e.users) + 1, cancel: cancel, ui: locust.NewUIStats(), stats: make([]phaseStats,
			len(e.cfg.Plan.Phases)), done: make(chan struct{})}
		e.users = append(e.users, u)
		e.wg.Add(1)
		go e.run(ctx, u)
	}
	for len(e.users) > n {
		u := e.users[len(e.users)-1]
		u.cancel()
		e.retired = append(e.retired, u)
		e.users = e.users[:len(e.users)-1]
	}
}

// Stop stops every user (each ends after its request in flight) and counts the open-loop
// slots that fell due but were never sent.
func (e *Engine) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	e.stopped = true
	for _, u := range e.users {
		u.cancel()
	}
	if e.sched != nil {
		e.sched.CountDropped(Now())
	}
}

// Wait waits until every user has ended or the deadline (Now's clock) passed; true when all ended.
func (e *Engine) Wait(deadline int64) bool {
	ch := make(chan struct{})
	go func() { e.wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(time.Duration(deadline - Now())):
		return false
	}
}

// Done is closed when every user has ended (after Stop).
func (e *Engine) Done() <-chan struct{} {
	ch := make(chan struct{})
	go func() { e.wg.Wait(); close(ch) }()
	return ch
}

func (e *Engine) run(ctx context.Context, u *user) {
	defer e.wg.Done()
	defer close(u.done)
	select {
	case <-e.started:
	case <-ctx.Done():
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sleep := func(d time.Duration) bool {
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-ctx.Done():
			timer.Stop()
			return false
		}
	}
	phases := e.phases
	if !sleep(time.Duration(phases[0].Start - Now())) {
		return
	}
	client := e.newClient(e.cfg, u.id)
	defer client.Close()
	check := NewCheck(e.cfg.Request)
	if !e.cfg.Plan.OpenLoop {
		pi := 0
		for ctx.Err() == nil {
			sent := Now()
			for pi < len(phases) && sent >= phases[pi].End {
				pi++
			}
			reply, err := client.Call()
			done := Now()
			e.record(u, check, pi, sent, sent, done, &reply, err)
		}
		return
	}
	for ctx.Err() == nil {
		due, pi, ok := e.sched.Next()
		if !ok {
			<-ctx.Done()
			return
		}
		intended := int64(0)
		if now := Now(); due > now {
			// A free user: it sends when it wakes; the lag is the generator's own, counted apart.
			if !sleep(time.Duration(due - now)) {
				return
			}
			lag := Now() - due
			s := &u.stats[pi]
			if s.wakeup == nil {
				s.wakeup = hdr.New()
			}
			s.wakeup.RecordNanos(lag)
			if lag > LateNanos {
				s.late++
			}
		} else {
			// Every user was busy when it fell due: its latency counts from the due time.
			s := &u.stats[pi]
			if s.queue == nil {
				s.queue = hdr.New()
			}
			s.queue.RecordNanos(now - due)
			if now-due > LateNanos {
				s.queued++
			}
			intended = due
		}
		sent := Now()
		if intended == 0 {
			intended = sent
		}
		reply, err := client.Call()
		done := Now()
		e.record(u, check, pi, intended, sent, done, &reply, err)
	}
}

func (e *Engine) record(u *user, check *Check, pi int, intended, sent, done int64, reply *Reply, err error) {
	failed := false
	msg := ""
	length := 0
	if err != nil {
		failed, msg = true, err.Error()
	} else {
		length = len(reply.Body)
		if w := check.Wrong(reply); w != "" {
			failed, msg = true, w
		}
	}
	u.ui.Log(float64(done-sent)/1e6, length, failed, float64(e.wallNs+done)/1e9)
	if pi < 0 || pi >= len(u.stats) {
		return // intended outside every phase: not recorded
	}
	s := &u.stats[pi]
	if s.corrected == nil {
		s.corrected = hdr.New()
	}
	s.requests++
	if failed {
		if err != nil {
			s.errs++
		} else {
			s.wrong++
		}
		if len(s.samples) < 5 {
			if len(msg) > 300 {
				msg = msg[:300]
			}
			s.samples = append(s.samples, msg)
		}
	}
	s.corrected.RecordNanos(done - intended)
	if e.cfg.Plan.OpenLoop {
		if s.uncorrected == nil {
			s.uncorrected = hdr.New()
		}
		s.uncorrected.RecordNanos(done - sent)
	}
}

// UIReport is the data of Locust's `stats` message (drains the users' UI counts).
func (e *Engine) UIReport(userClass string) map[string]any {
	e.mu.Lock()
	all := make([]*locust.UIStats, 0, len(e.users)+len(e.retired))
	for _, u := range e.users {
		all = append(all, u.ui)
	}
	for _, u := range e.retired {
		all = append(all, u.ui)
	}
	n := len(e.users)
	e.mu.Unlock()
	return locust.Report(all, e.cfg.Name, e.cfg.Target.Transport, n, userClass)
}

// Results is bench_results' "phases" (LOADGEN.md), call after the users ended.
func (e *Engine) Results() []any {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.phases == nil { // never started: every phase empty
		e.phases = Phases(e.cfg.Plan, Now())
	}
	users := append(append([]*user{}, e.users...), e.retired...)
	out := make([]any, 0, len(e.phases))
	for i, p := range e.phases {
		corrected, uncorrected, wakeup, queue := hdr.New(), hdr.New(), hdr.New(), hdr.New()
		var requests, errs, wrong, late, queued int64
		samples := []any{}
		for _, u := range users {
			s := &u.stats[i]
			for _, pair := range [][2]*hdr.Histogram{{corrected, s.corrected}, {uncorrected, s.uncorrected},
				{wakeup, s.wakeup}, {queue, s.queue}} {
				if pair[1] != nil {
					pair[0].Add(pair[1])
				}
			}
			requests += s.requests
			errs += s.errs
			wrong += s.wrong
			late += s.late
			queued += s.queued
			for _, m := range s.samples {
				if len(samples) < 5 {
					samples = append(samples, m)
				}
			}
		}
		var rate, duration any
		if p.Rate > 0 {
			rate = p.Rate
		}
		if p.End != math.MaxInt64 {
			duration = float64(p.End-p.Start) / 1e9
		}
		var issued, dropped int64
		if e.sched != nil {
			issued, dropped = e.sched.Issued[i], e.sched.Dropped[i]
		}
		cells := map[string]any{}
		if requests > 0 {
			if !e.cfg.Plan.OpenLoop {
				uncorrected = corrected // sent when intended: one histogram serves as both
			}
			cells[e.cfg.Name] = map[string]any{
				"requests": requests, "errors": errs, "wrong": wrong, "error_samples": samples,
				"latency_us": corrected.Summary(), "latency_uncorrected_us": uncorrected.Summary(),
				"histogram": corrected.Encode(), "histogram_uncorrected": uncorrected.Encode(),
			}
		}
		out = append(out, map[string]any{
			"name": p.Name, "measured": p.Measured, "rate": rate, "duration_s": duration,
			"issued": issued, "dropped": dropped, "late_wakeups": late, "queued": queued,
			"wakeup_lag_us": wakeup.Summary(), "queue_delay_us": queue.Summary(), "cells": cells,
		})
	}
	return out
}

// Describe is one log line about the engine's users and phases.
func (e *Engine) Describe() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("%d user(s), %d phase(s) started=%v", len(e.users), len(e.phases), e.phases != nil)
}
