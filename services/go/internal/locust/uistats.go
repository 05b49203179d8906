package locust

import (
	"math"
	"sync"
	"time"
)

// UIStats is one user's requests in the shape of Locust's StatsEntry (locust/stats.py), for
// the `stats` message that feeds Locust's web UI, never the results: whole-millisecond
// response_times buckets rounded as Locust's bucket_response_time rounds them, per-second
// request and failure counts keyed by Unix second. Each user logs into its own UIStats (its
// lock is uncontended but for the reporter), and the reporter drains them every 3 s.
type UIStats struct {
	mu            sync.Mutex
	requests      int64
	failures      int64
	totalMs       float64
	maxMs         float64
	minMs         float64 // < 0: none
	contentLength int64
	small         [100]int64      // response times 0..99 ms (no map update per request)
	times         map[int64]int64 // 100 ms and over
	perSec        map[int64]int64
	failPerSec    map[int64]int64
	lastRequest   float64 // Unix seconds; < 0: none
	startTime     float64
}

// NewUIStats returns empty stats.
func NewUIStats() *UIStats {
	s := &UIStats{}
	s.reset()
	return s
}

func (s *UIStats) reset() {
	s.requests, s.failures, s.totalMs, s.maxMs, s.minMs, s.contentLength = 0, 0, 0, 0, -1, 0
	s.small = [100]int64{}
	s.times = map[int64]int64{}
	s.perSec = map[int64]int64{}
	s.failPerSec = map[int64]int64{}
	s.lastRequest = -1
	s.startTime = float64(time.Now().UnixNano()) / 1e9
}

// Bucket is Locust's bucket_response_time: whole ms under 100, then 2 significant digits.
func Bucket(ms float64) int64 {
	switch {
	case ms < 100:
		return int64(math.RoundToEven(ms))
	case ms < 1000:
		return int64(math.RoundToEven(ms/10)) * 10
	case ms < 10000:
		return int64(math.RoundToEven(ms/100)) * 100
	}
	return int64(math.RoundToEven(ms/1000)) * 1000
}

// Log counts one request of ms milliseconds that ended at Unix time nowS; failed for wrong and error.
func (s *UIStats) Log(ms float64, length int, failed bool, nowS float64) {
	sec := int64(nowS)
	b := Bucket(ms)
	s.mu.Lock()
	s.requests++
	s.perSec[sec]++
	s.lastRequest = nowS
	s.totalMs += ms
	s.maxMs = max(s.maxMs, ms)
	if s.minMs < 0 || ms < s.minMs {
		s.minMs = ms
	}
	if b < 100 {
		s.small[b]++
	} else {
		s.times[b]++
	}
	s.contentLength += int64(length)
	if failed {
		s.failures++
		s.failPerSec[sec]++
	}
	s.mu.Unlock()
}

func (s *UIStats) drainInto(into *UIStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	into.requests += s.requests
	into.failures += s.failures
	into.totalMs += s.totalMs
	into.maxMs = max(into.maxMs, s.maxMs)
	if s.minMs >= 0 && (into.minMs < 0 || s.minMs < into.minMs) {
		into.minMs = s.minMs
	}
	into.contentLength += s.contentLength
	for i, v := range s.small {
		into.small[i] += v
	}
	for k, v := range s.times {
		into.times[k] += v
	}
	for k, v := range s.perSec {
		into.perSec[k] += v
	}
	for k, v := range s.failPerSec {
		into.failPerSec[k] += v
	}
	into.lastRequest = max(into.lastRequest, s.lastRequest)
	into.startTime = min(into.startTime, s.startTime)
	s.reset()
}

func (s *UIStats) entry(name, method string) map[string]any {
	var last, minMs any
	if s.lastRequest >= 0 {
		last = s.lastRequest
	}
	if s.minMs >= 0 {
		minMs = s.minMs
	}
	return map[string]any{
		"name": name, "method": method, "last_request_timestamp": last, "start_time": s.startTime,
		"num_requests": s.requests, "num_none_requests": int64(0), "num_failures": s.failures,
		"total_response_time": s.totalMs, "max_response_time": s.maxMs, "min_response_time": minMs,
		"total_content_length": s.contentLength, "response_times": s.responseTimes(), "num_reqs_per_sec": s.perSec,
		"num_fail_per_sec": s.failPerSec,
	}
}

func (s *UIStats) responseTimes() map[int64]int64 {
	out := make(map[int64]int64, len(s.times)+8)
	for k, v := range s.times {
		out[k] = v
	}
	for i, v := range s.small {
		if v != 0 {
			out[int64(i)] = v
		}
	}
	return out
}

// Report is the data of Locust's `stats` message: every user's counts since the last report
// as one entry (name, method) and as stats_total ("Aggregated").
func Report(users []*UIStats, name, method string, userCount int, userClass string) map[string]any {
	sum := NewUIStats()
	for _, u := range users {
		u.drainInto(sum)
	}
	stats := []any{}
	if sum.requests > 0 {
		stats = append(stats, sum.entry(name, method))
	}
	return map[string]any{
		"stats": stats, "stats_total": sum.entry("Aggregated", ""), "errors": map[string]any{},
		"user_classes_count": map[string]int64{userClass: int64(userCount)}, "user_count": int64(userCount),
	}
}
