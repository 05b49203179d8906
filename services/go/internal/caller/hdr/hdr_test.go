package hdr

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestIndexLayout(t *testing.T) {
	// the bucket boundaries of HdrHistogram(1, 60e6, 3): unit resolution up to 2047, then
	// buckets of 1024 sub-buckets doubling in width
	cases := []struct {
		v, lowest, highest int64
		index              int
	}{
		{1, 1, 1, 1},
		{2047, 2047, 2047, 2047},
		{2048, 2048, 2049, 2048},
		{2049, 2048, 2049, 2048},
		{4095, 4094, 4095, 3071},
		{4096, 4096, 4099, 3072},
		{1_000_000, 999_936, 1_000_447, 11_169},
		{Highest, 59_998_208, 60_030_975, 17_191},
	}
	for _, c := range cases {
		if got := countsIndex(c.v); got != c.index {
			t.Errorf("countsIndex(%d) = %d, want %d", c.v, got, c.index)
		}
		if got := lowestEquivalent(c.v); got != c.lowest {
			t.Errorf("lowestEquivalent(%d) = %d, want %d", c.v, got, c.lowest)
		}
		if got := highestEquivalent(c.v); got != c.highest {
			t.Errorf("highestEquivalent(%d) = %d, want %d", c.v, got, c.highest)
		}
		if got := ValueFromIndex(c.index); got != c.lowest {
			t.Errorf("ValueFromIndex(%d) = %d, want %d", c.index, got, c.lowest)
		}
	}
	if countsIndex(Highest) >= CountsLen {
		t.Fatalf("the highest value's index %d is past the counts (%d)", countsIndex(Highest), CountsLen)
	}
}

func TestClampAndRound(t *testing.T) {
	for _, c := range []struct {
		us   float64
		want int64
	}{{0, 1}, {-5, 1}, {0.4, 1}, {1.5, 2}, {2.49, 2}, {2.5, 3}, {1e9, Highest}} {
		if got := Clamp(c.us); got != c.want {
			t.Errorf("Clamp(%g) = %d, want %d", c.us, got, c.want)
		}
	}
	h := New()
	h.RecordNanos(1499) // 1.499 µs -> 1
	h.RecordNanos(1500) // 1.5 µs -> 2
	h.RecordNanos(-7)   // clamped to 1
	if h.CountAtIndex(1) != 2 || h.CountAtIndex(2) != 1 {
		t.Fatalf("counts %d at 1, %d at 2", h.CountAtIndex(1), h.CountAtIndex(2))
	}
}

func TestEmptyAndRoundTrip(t *testing.T) {
	h := New()
	if s := h.Summary(); len(s) != 1 || s["count"] != int64(0) {
		t.Fatalf("empty summary %v", s)
	}
	d, err := Decode(h.Encode())
	if err != nil || d.Count() != 0 {
		t.Fatalf("empty round trip: %v, %d", err, d.Count())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		h.RecordMicros(rng.ExpFloat64() * 300)
	}
	h.Record(Highest)
	d, err = Decode(h.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < CountsLen; i++ {
		if d.CountAtIndex(i) != h.CountAtIndex(i) {
			t.Fatalf("bucket %d: %d after the round trip, %d before", i, d.CountAtIndex(i), h.CountAtIndex(i))
		}
	}
}

func TestRefusesOtherLayouts(t *testing.T) {
	py := python(t)
	out, err := exec.Command(py, "-c", `
from hdrh.histogram import HdrHistogram
h = HdrHistogram(1, 3600000000, 2); h.record_value(5); print(h.encode().decode())`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(strings.TrimSpace(string(out))); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Fatalf("decoded a histogram of another layout: %v", err)
	}
	if _, err := Decode("bm90IGEgaGlzdG9ncmFt"); err == nil {
		t.Fatal("decoded text that is no histogram")
	}
}

func python(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	for dir := filepath.Dir(file); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		for _, p := range []string{filepath.Join(dir, ".venv/bin/python"), "/work/main/.venv/bin/python"} {
			if _, err := os.Stat(p); err == nil && exec.Command(p, "-c", "import hdrh").Run() == nil {
				return p
			}
		}
	}
	t.Skip("no Python with hdrh (the project's .venv: make setup)")
	return ""
}

// The harness's own code (harness/results/stats.py): record, encode, decode, add, summarize.
const pyBoth = `
import json, sys
from hdrh.histogram import HdrHistogram
values = json.loads(sys.argv[1])
ours = HdrHistogram.decode(sys.argv[2].encode())
theirs = HdrHistogram(1, 60000000, 3)
for v in values:
    theirs.record_value(v)
merged = HdrHistogram(1, 60000000, 3)
merged.add(ours)
merged.add(theirs)
def summary(h):
    return {"count": h.get_total_count(), "min": h.get_min_value(), "max": h.get_max_value(),
            "mean": round(h.get_mean_value(), 1),
            **{f"p{p:g}": h.get_value_at_percentile(p) for p in (50.0, 90.0, 99.0, 99.9)}}
counts = {str(i): ours.get_count_at_index(i) for i in range(ours.counts_len) if ours.get_count_at_index(i)}
print(json.dumps({"ours": summary(ours), "merged": summary(merged), "counts": counts,
                  "theirs_text": theirs.encode().decode()}))
`

func TestMergesExactlyWithPythonsHdrh(t *testing.T) {
	py := python(t)
	rng := rand.New(rand.NewPCG(7, 8))
	var values []int64
	for i := 0; i < 5000; i++ {
		values = append(values, Clamp(rng.ExpFloat64()*2000+rng.Float64()*50))
	}
	values = append(values, 1, 2047, 2048, 65535, Highest)
	ours := New()
	for _, v := range values {
		ours.Record(v)
	}
	arg, _ := json.Marshal(values)
	cmd := exec.Command(py, "-c", pyBoth, string(arg), ours.Encode())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Ours, Merged map[string]float64
		Counts       map[string]int64
		TheirsText   string `json:"theirs_text"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	// Python read our encoding bucket for bucket
	for i := 0; i < CountsLen; i++ {
		key := strconv.Itoa(i)
		if got.Counts[key] != ours.CountAtIndex(i) {
			t.Fatalf("bucket %d: python read %d, we have %d", i, got.Counts[key], ours.CountAtIndex(i))
		}
	}
	// our summary is hdrh's
	summary := ours.Summary()
	for k, v := range got.Ours {
		if summary[k] != v {
			t.Errorf("%s: ours %v, hdrh %v", k, summary[k], v)
		}
	}
	// Python's encoding decodes here; the merge of both is the histogram of all values twice
	theirs, err := Decode(got.TheirsText)
	if err != nil {
		t.Fatal(err)
	}
	merged := New()
	merged.Add(ours)
	merged.Add(theirs)
	double := New()
	for _, v := range values {
		double.RecordN(v, 2)
	}
	for i := 0; i < CountsLen; i++ {
		if merged.CountAtIndex(i) != double.CountAtIndex(i) {
			t.Fatalf("bucket %d of the merge: %d, want %d", i, merged.CountAtIndex(i), double.CountAtIndex(i))
		}
	}
	ms := merged.Summary()
	for _, k := range []string{"count", "p50", "p90", "p99", "p99.9", "max", "mean"} {
		if ms[k] != got.Merged[k] {
			t.Errorf("merged %s: ours %v, hdrh %v", k, ms[k], got.Merged[k])
		}
	}
}
