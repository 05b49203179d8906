package locust

import (
	"reflect"
	"testing"
)

func TestBucketRoundsAsLocust(t *testing.T) {
	// locust.stats.bucket_response_time: round() below 100 ms, then 2 significant digits
	for ms, want := range map[float64]int64{0.4: 0, 0.5: 0, 1.5: 2, 2.5: 2, 99.4: 99, 147: 150, 1234: 1200, 56789: 57000} {
		if got := Bucket(ms); got != want {
			t.Errorf("Bucket(%g) = %d, want %d", ms, got, want)
		}
	}
}

func TestReportDrainsTheUsers(t *testing.T) {
	a, b := NewUIStats(), NewUIStats()
	a.Log(1.2, 64, false, 1000.5)
	a.Log(250, 64, true, 1001.2)
	b.Log(0.9, 10, false, 1001.9)
	r := Report([]*UIStats{a, b}, "python_http_echo_64B", "http", 2, "BenchCell")
	stats := r["stats"].([]any)
	if len(stats) != 1 {
		t.Fatalf("stats %v", stats)
	}
	e := stats[0].(map[string]any)
	if e["name"] != "python_http_echo_64B" || e["method"] != "http" || e["num_requests"] != int64(3) ||
		e["num_failures"] != int64(1) || e["total_content_length"] != int64(138) || e["max_response_time"] != 250.0 ||
		e["min_response_time"] != 0.9 || e["last_request_timestamp"] != 1001.9 {
		t.Fatalf("entry %v", e)
	}
	if !reflect.DeepEqual(e["response_times"], map[int64]int64{1: 2, 250: 1}) ||
		!reflect.DeepEqual(e["num_reqs_per_sec"], map[int64]int64{1000: 1, 1001: 2}) ||
		!reflect.DeepEqual(e["num_fail_per_sec"], map[int64]int64{1001: 1}) {
		t.Fatalf("tables %v %v %v", e["response_times"], e["num_reqs_per_sec"], e["num_fail_per_sec"])
	}
	if r["stats_total"].(map[string]any)["num_requests"] != int64(3) || r["user_count"] != int64(2) {
		t.Fatalf("report %v", r)
	}
	// drained: the next report is empty
	if n := len(Report([]*UIStats{a, b}, "n", "http", 2, "BenchCell")["stats"].([]any)); n != 0 {
		t.Fatalf("%d entries after the drain", n)
	}
}
