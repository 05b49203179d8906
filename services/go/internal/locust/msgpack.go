// Package locust is the worker side of Locust's master/worker channel (the pinned Locust 2.47,
// contract/LOADGEN.md "The Locust channel"): msgpack messages [type, data, node_id] in one
// ZeroMQ frame over a DEALER whose identity is the node id, heartbeats, and the stats entries
// that feed Locust's web UI.
package locust

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Encode appends the msgpack encoding of v to buf. It takes nil, bool, the integer types,
// float64, string (msgpack str), []byte (msgpack bin), []any, []string, map[string]any,
// map[int64]int64 (Locust's per-millisecond and per-second tables, whose keys are ints) and
// map[string]int64. Map keys are written sorted, so that an encoding is reproducible.
func Encode(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, 0xc0), nil
	case bool:
		if x {
			return append(buf, 0xc3), nil
		}
		return append(buf, 0xc2), nil
	case int:
		return encodeInt(buf, int64(x)), nil
	case int32:
		return encodeInt(buf, int64(x)), nil
	case int64:
		return encodeInt(buf, x), nil
	case uint64:
		if x <= math.MaxInt64 {
			return encodeInt(buf, int64(x)), nil
		}
		return binary.BigEndian.AppendUint64(append(buf, 0xcf), x), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(buf, 0xcb), math.Float64bits(x)), nil
	case string:
		return encodeStr(buf, x), nil
	case []byte:
		return encodeBin(buf, x), nil
	case []any:
		buf = encodeArrayHeader(buf, len(x))
		var err error
		for _, e := range x {
			if buf, err = Encode(buf, e); err != nil {
				return nil, err
			}
		}
		return buf, nil
	case []string:
		buf = encodeArrayHeader(buf, len(x))
		for _, e := range x {
			buf = encodeStr(buf, e)
		}
		return buf, nil
	case map[string]any:
		buf = encodeMapHeader(buf, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var err error
		for _, k := range keys {
			buf = encodeStr(buf, k)
			if buf, err = Encode(buf, x[k]); err != nil {
				return nil, err
			}
		}
		return buf, nil
	case map[string]int64:
		buf = encodeMapHeader(buf, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			buf = encodeInt(encodeStr(buf, k), x[k])
		}
		return buf, nil
	case map[int64]int64:
		buf = encodeMapHeader(buf, len(x))
		keys := make([]int64, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			buf = encodeInt(encodeInt(buf, k), x[k])
		}
		return buf, nil
	}
	return nil, fmt.Errorf("msgpack: cannot encode a %T", v)
}

func encodeInt(buf []byte, x int64) []byte {
	switch {
	case x >= 0 && x <= 0x7f:
		return append(buf, byte(x))
	case x < 0 && x >= -32:
		return append(buf, byte(x))
	case x >= 0 && x <= math.MaxUint8:
		return append(buf, 0xcc, byte(x))
	case x >= 0 && x <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(buf, 0xcd), uint16(x))
	case x >= 0 && x <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(buf, 0xce), uint32(x))
	case x >= 0:
		return binary.BigEndian.AppendUint64(append(buf, 0xcf), uint64(x))
	case x >= math.MinInt8:
		return append(buf, 0xd0, byte(x))
	case x >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(buf, 0xd1), uint16(x))
	case x >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(buf, 0xd2), uint32(x))
	}
	return binary.BigEndian.AppendUint64(append(buf, 0xd3), uint64(x))
}

func encodeStr(buf []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		buf = append(buf, 0xa0|byte(n))
	case n <= math.MaxUint8:
		buf = append(buf, 0xd9, byte(n))
	case n <= math.MaxUint16:
		buf = binary.BigEndian.AppendUint16(append(buf, 0xda), uint16(n))
	default:
		buf = binary.BigEndian.AppendUint32(append(buf, 0xdb), uint32(n))
	}
	return append(buf, s...)
}

func encodeBin(buf []byte, b []byte) []byte {
	n := len(b)
	switch {
	case n <= math.MaxUint8:
		buf = append(buf, 0xc4, byte(n))
	case n <= math.MaxUint16:
		buf = binary.BigEndian.AppendUint16(append(buf, 0xc5), uint16(n))
	default:
		buf = binary.BigEndian.AppendUint32(append(buf, 0xc6), uint32(n))
	}
	return append(buf, b...)
}

func encodeArrayHeader(buf []byte, n int) []byte {
	switch {
	case n < 16:
		return append(buf, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(buf, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(buf, 0xdd), uint32(n))
}

func encodeMapHeader(buf []byte, n int) []byte {
	switch {
	case n < 16:
		return append(buf, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(buf, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(buf, 0xdf), uint32(n))
}

// Ext is a msgpack extension value (Locust sends none; kept so that one is not an error).
type Ext struct {
	Type int8
	Data []byte
}

// ErrTruncated is returned for input that ends inside a value.
var ErrTruncated = errors.New("msgpack: truncated input")

// Decode reads one msgpack value that fills data exactly. Integers come back as int64 (or
// uint64 past MaxInt64), floats as float64, str as string, bin as []byte, arrays as []any,
// maps as map[string]any when every key is a string and as map[any]any otherwise.
func Decode(data []byte) (any, error) {
	d := decoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(data) {
		return nil, fmt.Errorf("msgpack: %d bytes after the value", len(data)-d.pos)
	}
	return v, nil
}

type decoder struct {
	data []byte
	pos  int
}

const maxDepth = 64

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.data)-d.pos < n {
		return nil, ErrTruncated
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *decoder) uint(n int) (uint64, error) {
	b, err := d.take(n)
	if err != nil {
		return 0, err
	}
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x, nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("msgpack: nested deeper than 64")
	}
	b, err := d.take(1)
	if err != nil {
		return nil, err
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c&0xf0 == 0x80:
		return d.mapOf(int(c&0x0f), depth)
	case c&0xf0 == 0x90:
		return d.arrayOf(int(c&0x0f), depth)
	case c&0xe0 == 0xa0:
		return d.str(int(c & 0x1f))
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := d.uint(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		raw, err := d.take(int(n))
		if err != nil {
			return nil, err
		}
		return append([]byte(nil), raw...), nil
	case 0xc7, 0xc8, 0xc9:
		n, err := d.uint(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return d.ext(int(n))
	case 0xca:
		x, err := d.uint(4)
		return float64(math.Float32frombits(uint32(x))), err
	case 0xcb:
		x, err := d.uint(8)
		return math.Float64frombits(x), err
	case 0xcc, 0xcd, 0xce:
		x, err := d.uint(1 << (c - 0xcc))
		return int64(x), err
	case 0xcf:
		x, err := d.uint(8)
		if err == nil && x > math.MaxInt64 {
			return x, nil
		}
		return int64(x), err
	case 0xd0:
		x, err := d.uint(1)
		return int64(int8(x)), err
	case 0xd1:
		x, err := d.uint(2)
		return int64(int16(x)), err
	case 0xd2:
		x, err := d.uint(4)
		return int64(int32(x)), err
	case 0xd3:
		x, err := d.uint(8)
		return int64(x), err
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return d.ext(1 << (c - 0xd4))
	case 0xd9, 0xda, 0xdb:
		n, err := d.uint(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		return d.str(int(n))
	case 0xdc, 0xdd:
		n, err := d.uint(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return d.arrayOf(int(n), depth)
	case 0xde, 0xdf:
		n, err := d.uint(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return d.mapOf(int(n), depth)
	}
	return nil, fmt.Errorf("msgpack: byte 0x%02x at %d starts no value", c, d.pos-1)
}

func (d *decoder) str(n int) (any, error) {
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func (d *decoder) ext(n int) (any, error) {
	t, err := d.take(1)
	if err != nil {
		return nil, err
	}
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	return Ext{Type: int8(t[0]), Data: append([]byte(nil), b...)}, nil
}

func (d *decoder) arrayOf(n int, depth int) (any, error) {
	if n > len(d.data)-d.pos { // every element takes at least one byte
		return nil, ErrTruncated
	}
	out := make([]any, n)
	for i := range out {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (d *decoder) mapOf(n int, depth int) (any, error) {
	if 2*n > len(d.data)-d.pos {
		return nil, ErrTruncated
	}
	keys := make([]any, n)
	vals := make([]any, n)
	strKeys := true
	for i := 0; i < n; i++ {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, ok := k.(string); !ok {
			strKeys = false
		}
		keys[i], vals[i] = k, v
	}
	if strKeys {
		m := make(map[string]any, n)
		for i, k := range keys {
			m[k.(string)] = vals[i]
		}
		return m, nil
	}
	m := make(map[any]any, n)
	for i, k := range keys {
		switch k.(type) {
		case []any, map[string]any, map[any]any, []byte, Ext:
			return nil, fmt.Errorf("msgpack: a map key of type %T", k)
		}
		m[k] = vals[i]
	}
	return m, nil
}
