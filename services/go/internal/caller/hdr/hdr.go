// Package hdr is the one HdrHistogram layout the harness exchanges (contract/LOADGEN.md
// "Histograms"): microseconds from 1 to 60,000,000 with 3 significant digits, 64-bit
// counts, written in HdrHistogram's V2 compressed encoding, base64. Because the bucket layout
// is exactly that of Python's hdrh and Java's HdrHistogram with the same parameters, the
// harness can add histograms of any language bucket by bucket.
package hdr

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// The layout's parameters (harness/results/stats.py).
const (
	Lowest      = 1
	Highest     = 60_000_000
	Significant = 3

	// 2 * 10^3 values at unit resolution: 2048 sub-buckets, half of them 1024.
	subBucketCountMagnitude     = 11
	subBucketCount              = 1 << subBucketCountMagnitude
	subBucketHalfCountMagnitude = subBucketCountMagnitude - 1
	subBucketHalfCount          = 1 << subBucketHalfCountMagnitude
	subBucketMask               = subBucketCount - 1
	unitMagnitude               = 0
	leadingZeroCountBase        = 64 - unitMagnitude - subBucketHalfCountMagnitude - 1
	// The fewest buckets of 2048 doubling ranges that reach Highest: 16.
	bucketCount = 16
	// CountsLen is the length of the counts array: (bucketCount + 1) * subBucketHalfCount.
	CountsLen = (bucketCount + 1) * subBucketHalfCount

	encodingCookie   = 0x1c849303 | 0x10 // V2, as Java's and Python's encoders write it
	compressedCookie = 0x1c849304 | 0x10
	payloadHeaderLen = 40
)

// Histogram counts values in the layout above. The zero value is not ready: use New.
type Histogram struct {
	counts []int64
	total  int64
	min    int64 // raw values, as HdrHistogram tracks them
	max    int64
}

// New returns an empty histogram.
func New() *Histogram {
	return &Histogram{counts: make([]int64, CountsLen), min: math.MaxInt64}
}

// Clamp turns a latency in microseconds into the integer the harness records: rounded half
// up, clamped into [Lowest, Highest] (never silently dropped).
func Clamp(micros float64) int64 {
	v := int64(math.Floor(micros + 0.5))
	if micros != micros || v < Lowest { // NaN too
		return Lowest
	}
	if v > Highest {
		return Highest
	}
	return v
}

// RecordMicros records one latency in (fractional) microseconds, clamped.
func (h *Histogram) RecordMicros(micros float64) { h.Record(Clamp(micros)) }

// RecordNanos records a duration in nanoseconds as microseconds, clamped.
func (h *Histogram) RecordNanos(ns int64) {
	if ns < 0 {
		ns = 0
	}
	// int64 arithmetic: (ns + 500) / 1000 is round half up for ns >= 0
	v := (ns + 500) / 1000
	if v < Lowest {
		v = Lowest
	} else if v > Highest {
		v = Highest
	}
	h.Record(v)
}

// Record counts one value, which must be in [Lowest, Highest] (Clamp it first).
func (h *Histogram) Record(v int64) {
	h.RecordN(v, 1)
}

// RecordN counts n occurrences of v.
func (h *Histogram) RecordN(v int64, n int64) {
	if v < Lowest {
		v = Lowest
	} else if v > Highest {
		v = Highest
	}
	h.counts[countsIndex(v)] += n
	h.total += n
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Add adds every count of o into h (exact: same layout).
func (h *Histogram) Add(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.total > 0 {
		h.min = min(h.min, o.min)
		h.max = max(h.max, o.max)
	}
}

// Reset empties the histogram.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.min, h.max = 0, math.MaxInt64, 0
}

// Count is the number of values recorded.
func (h *Histogram) Count() int64 { return h.total }

// CountAtIndex is the count of the bucket at index i of the counts array.
func (h *Histogram) CountAtIndex(i int) int64 { return h.counts[i] }

func bucketIndex(v int64) int {
	return leadingZeroCountBase - bits.LeadingZeros64(uint64(v)|subBucketMask)
}

func countsIndex(v int64) int {
	b := bucketIndex(v)
	sub := int(v >> (uint(b) + unitMagnitude))
	return (b+1)<<subBucketHalfCountMagnitude + (sub - subBucketHalfCount)
}

// ValueFromIndex is the lowest value of the bucket at index i.
func ValueFromIndex(i int) int64 {
	b := (i >> subBucketHalfCountMagnitude) - 1
	sub := (i & (subBucketHalfCount - 1)) + subBucketHalfCount
	if b < 0 {
		sub -= subBucketHalfCount
		b = 0
	}
	return int64(sub) << (uint(b) + unitMagnitude)
}

func sizeOfEquivalentRange(v int64) int64 {
	b := bucketIndex(v)
	sub := int(v >> (uint(b) + unitMagnitude))
	if sub >= subBucketCount {
		b++
	}
	return 1 << (unitMagnitude + uint(b))
}

func lowestEquivalent(v int64) int64 {
	b := bucketIndex(v)
	sub := v >> (uint(b) + unitMagnitude)
	return sub << (uint(b) + unitMagnitude)
}

func highestEquivalent(v int64) int64 { return lowestEquivalent(v) + sizeOfEquivalentRange(v) - 1 }

func medianEquivalent(v int64) int64 { return lowestEquivalent(v) + sizeOfEquivalentRange(v)>>1 }

// ValueAtPercentile follows Python hdrh's rule: the highest equivalent value of the first
// bucket whose cumulative count reaches int(percentile/100 * count + 0.5) (at least 1).
func (h *Histogram) ValueAtPercentile(p float64) int64 {
	if h.total == 0 {
		return 0
	}
	target := int64(min(p, 100.0)*float64(h.total)/100 + 0.5)
	target = max(target, 1)
	var run int64
	for i, c := range h.counts {
		run += c
		if run >= target {
			v := ValueFromIndex(i)
			if p != 0 {
				return highestEquivalent(v)
			}
			return lowestEquivalent(v)
		}
	}
	return 0
}

// Min is Python hdrh's get_min_value (the lowest equivalent value of the smallest value).
func (h *Histogram) Min() int64 {
	if h.total == 0 || h.counts[0] > 0 {
		return 0
	}
	return lowestEquivalent(h.min)
}

// Max is the highest equivalent value of the largest value.
func (h *Histogram) Max() int64 {
	if h.max == 0 {
		return 0
	}
	return highestEquivalent(h.max)
}

// Mean is the mean of the buckets' median equivalent values, as hdrh computes it.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	var sum float64
	for i, c := range h.counts {
		if c != 0 {
			sum += float64(c) * float64(medianEquivalent(ValueFromIndex(i)))
		}
	}
	return sum / float64(h.total)
}

// Summary is LOADGEN.md's summary object: {"count": 0} when empty, else p50, p90, p99,
// p99.9, min, mean (one decimal), max and count, as floats.
func (h *Histogram) Summary() map[string]any {
	if h.total == 0 {
		return map[string]any{"count": int64(0)}
	}
	return map[string]any{
		"p50": float64(h.ValueAtPercentile(50)), "p90": float64(h.ValueAtPercentile(90)),
		"p99": float64(h.ValueAtPercentile(99)), "p99.9": float64(h.ValueAtPercentile(99.9)),
		"min": float64(h.Min()), "mean": math.Round(h.Mean()*10) / 10, "max": float64(h.Max()),
		"count": float64(h.total),
	}
}

// Encode is the V2 compressed encoding, base64 (what Python's hdrh encode() writes): the
// counts up to the largest recorded value as ZigZag LEB128 varints, a run of zeros as its
// negated length, behind a 40-byte header, zlib-compressed behind an 8-byte header.
func (h *Histogram) Encode() string {
	relevant := 0
	if h.total > 0 {
		relevant = countsIndex(h.max) + 1
	}
	payload := make([]byte, payloadHeaderLen, payloadHeaderLen+relevant)
	for i := 0; i < relevant; {
		c := h.counts[i]
		if c == 0 {
			j := i
			for j < relevant && h.counts[j] == 0 {
				j++
			}
			payload = appendZigZag(payload, -int64(j-i))
			i = j
			continue
		}
		payload = appendZigZag(payload, c)
		i++
	}
	be := binary.BigEndian
	be.PutUint32(payload[0:], encodingCookie)
	be.PutUint32(payload[4:], uint32(len(payload)-payloadHeaderLen))
	be.PutUint32(payload[8:], 0) // normalizing index offset
	be.PutUint32(payload[12:], Significant)
	be.PutUint64(payload[16:], Lowest)
	be.PutUint64(payload[24:], Highest)
	be.PutUint64(payload[32:], math.Float64bits(1.0)) // integer to double conversion ratio
	var z bytes.Buffer
	z.Write(make([]byte, 8))
	w := zlib.NewWriter(&z)
	_, _ = w.Write(payload) // a bytes.Buffer does not fail
	_ = w.Close()
	out := z.Bytes()
	be.PutUint32(out[0:], compressedCookie)
	be.PutUint32(out[4:], uint32(len(out)-8))
	return base64.StdEncoding.EncodeToString(out)
}

func appendZigZag(buf []byte, v int64) []byte {
	return binary.AppendUvarint(buf, uint64((v<<1)^(v>>63)))
}

// Decode reads Encode's text (or Python's or Java's, with this layout).
func Decode(text string) (*Histogram, error) {
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("hdr: not base64: %w", err)
	}
	if len(raw) < 8 || binary.BigEndian.Uint32(raw)&^0xf0 != compressedCookie&^0xf0 {
		return nil, errors.New("hdr: not a V2 compressed histogram (cookie)")
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	if err != nil {
		return nil, fmt.Errorf("hdr: zlib: %w", err)
	}
	payload, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("hdr: zlib: %w", err)
	}
	if len(payload) < payloadHeaderLen || binary.BigEndian.Uint32(payload)&^0xf0 != encodingCookie&^0xf0 {
		return nil, errors.New("hdr: not a V2 payload (cookie)")
	}
	be := binary.BigEndian
	if be.Uint32(payload[12:]) != Significant || be.Uint64(payload[16:]) != Lowest || be.Uint64(payload[24:]) != Highest {
		return nil, fmt.Errorf("hdr: layout %d digits %d..%d, not %d digits %d..%d", be.Uint32(payload[12:]),
			be.Uint64(payload[16:]), be.Uint64(payload[24:]), Significant, Lowest, Highest)
	}
	n := int(be.Uint32(payload[4:]))
	if payloadHeaderLen+n > len(payload) {
		return nil, errors.New("hdr: payload shorter than its header says")
	}
	h := New()
	rest := payload[payloadHeaderLen : payloadHeaderLen+n]
	for i := 0; len(rest) > 0; {
		u, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, errors.New("hdr: bad varint")
		}
		rest = rest[k:]
		v := int64(u>>1) ^ -int64(u&1)
		if v < 0 {
			i += int(-v)
			continue
		}
		if i >= CountsLen {
			return nil, errors.New("hdr: more counts than the layout holds")
		}
		if v > 0 {
			h.counts[i] += v
			h.total += v
			lo := ValueFromIndex(i)
			h.min = min(h.min, lo)
			h.max = max(h.max, lo)
		}
		i++
	}
	return h, nil
}
