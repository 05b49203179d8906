package core

// A port of CPython's difflib.SequenceMatcher(None, a, b).get_opcodes() (Lib/difflib.py):
// isjunk None, autojunk True. Tokens are whole strings compared as Python compares str; for
// valid UTF-8 that is byte equality, so tokens are interned to integer ids and the algorithm
// runs on ids. find_longest_match keeps CPython's tie-breaking (the earliest i, then the
// earliest j, of the longest block), the "popular" purge of b2j when len(b) >= 200, the
// extension of a block by equal non-junk elements (popular ones included), matching blocks
// found by the same queue order, sorted and merged, and the same opcodes.

import (
	"sort"
	"sync"
)

// Opcode is one of get_opcodes()' tuples: tag and the ranges a[I1:I2], b[J1:J2].
type Opcode struct {
	Tag            string
	I1, I2, J1, J2 int
}

type block struct{ i, j, k int }

type matcher struct {
	a, b []int32 // interned ids; a token of a that is not in b is -1
	// b2j as one flat array: the indices in b (ascending) of id are at[start[id]:start[id+1]];
	// a popular id has an empty range
	start, at []int32
	// find_longest_match's j2len dictionaries as two rows indexed by j+1, cleared after use
	prev, cur       []int32
	prevSet, curSet []int32
	ids             map[string]int32
	count, fill     []int32
}

// matchers are reused: a diff then allocates almost nothing but its opcodes, and the GC of a
// service diffing large inputs has little to do (README.md "diff").
var matchers = sync.Pool{New: func() any { return &matcher{ids: map[string]int32{}} }}

// grow returns s resized to n, reusing its array when it is large enough; the contents are
// unspecified unless zero is set.
func grow(s []int32, n int, zero bool) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	s = s[:n]
	if zero {
		clear(s)
	}
	return s
}

// Opcodes returns SequenceMatcher(None, a, b).get_opcodes().
func Opcodes(a, b []string) []Opcode {
	m := matchers.Get().(*matcher)
	m.init(a, b)
	blocks := m.matchingBlocks()
	// no string of this request stays reachable from the pool; a map grown by a large diff is
	// dropped rather than cleared (clear costs its capacity, on every later small diff)
	if len(m.count) > 1<<14 {
		m.ids = map[string]int32{}
	} else {
		clear(m.ids)
	}
	matchers.Put(m)
	ops := make([]Opcode, 0, 2*len(blocks))
	i, j := 0, 0
	for _, bl := range blocks {
		tag := ""
		switch {
		case i < bl.i && j < bl.j:
			tag = "replace"
		case i < bl.i:
			tag = "delete"
		case j < bl.j:
			tag = "insert"
		}
		if tag != "" {
			ops = append(ops, Opcode{tag, i, bl.i, j, bl.j})
		}
		i, j = bl.i+bl.k, bl.j+bl.k
		if bl.k > 0 {
			ops = append(ops, Opcode{"equal", bl.i, i, bl.j, j})
		}
	}
	return ops
}

func (m *matcher) init(a, b []string) {
	ids := m.ids
	bi := grow(m.b, len(b), false)
	count := m.count[:0]
	for j, s := range b {
		id, ok := ids[s]
		if !ok {
			id = int32(len(count))
			ids[s] = id
			count = append(count, 0)
		}
		bi[j] = id
		count[id]++
	}
	// __chain_b: with autojunk and len(b) >= 200, tokens occurring more than len(b)//100 + 1
	// times are popular: removed from b2j (never anchors), still equal in the extensions.
	popular := int32(-1)
	if n := len(b); n >= 200 {
		popular = int32(n/100 + 1)
	}
	start := grow(m.start, len(count)+1, false)
	start[0] = 0
	for id, c := range count {
		if popular >= 0 && c > popular {
			c = 0
		}
		start[id+1] = start[id] + c
	}
	at := grow(m.at, int(start[len(count)]), false)
	fill := append(m.fill[:0], start[:len(count)]...)
	for j, id := range bi {
		if start[id+1] > start[id] {
			at[fill[id]] = int32(j)
			fill[id]++
		}
	}
	ai := grow(m.a, len(a), false)
	for i, s := range a {
		if id, ok := ids[s]; ok {
			ai[i] = id
		} else {
			ai[i] = -1
		}
	}
	m.a, m.b, m.start, m.at, m.count, m.fill = ai, bi, start, at, count, fill
	m.prev, m.cur = grow(m.prev, len(b)+1, true), grow(m.cur, len(b)+1, true)
}

// longest is find_longest_match(alo, ahi, blo, bhi) with no junk.
func (m *matcher) longest(alo, ahi, blo, bhi int) block {
	a, b, start, at := m.a, m.b, m.start, m.at
	prev, cur, prevSet, curSet := m.prev, m.cur, m.prevSet[:0], m.curSet[:0]
	besti, bestj, bestsize := alo, blo, 0
	// prev[j+1] is j2len[j] of the previous row (0 when absent); cur is the row being built.
	for i := alo; i < ahi; i++ {
		if id := a[i]; id >= 0 {
			for _, jj := range at[start[id]:start[id+1]] {
				j := int(jj)
				if j < blo {
					continue
				}
				if j >= bhi {
					break
				}
				k := prev[j] + 1 // j2len.get(j-1, 0) + 1
				cur[j+1] = k
				curSet = append(curSet, int32(j+1))
				if int(k) > bestsize {
					besti, bestj, bestsize = i-int(k)+1, j-int(k)+1, int(k)
				}
			}
		}
		for _, x := range prevSet {
			prev[x] = 0
		}
		prev, cur = cur, prev
		prevSet, curSet = curSet, prevSet[:0]
	}
	for _, x := range prevSet {
		prev[x] = 0
	}
	m.prev, m.cur, m.prevSet, m.curSet = prev, cur, prevSet[:0], curSet[:0]
	// Extend by equal elements on each side (no element is junk; popular ones are not junk).
	for besti > alo && bestj > blo && a[besti-1] == b[bestj-1] {
		besti, bestj, bestsize = besti-1, bestj-1, bestsize+1
	}
	for besti+bestsize < ahi && bestj+bestsize < bhi && a[besti+bestsize] == b[bestj+bestsize] {
		bestsize++
	}
	return block{besti, bestj, bestsize}
}

// matchingBlocks is get_matching_blocks(), with its sentinel (len(a), len(b), 0).
func (m *matcher) matchingBlocks() []block {
	la, lb := len(m.a), len(m.b)
	type span struct{ alo, ahi, blo, bhi int }
	queue := []span{{0, la, 0, lb}}
	var found []block
	for len(queue) > 0 {
		q := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		x := m.longest(q.alo, q.ahi, q.blo, q.bhi)
		if x.k == 0 {
			continue
		}
		found = append(found, x)
		if q.alo < x.i && q.blo < x.j {
			queue = append(queue, span{q.alo, x.i, q.blo, x.j})
		}
		if x.i+x.k < q.ahi && x.j+x.k < q.bhi {
			queue = append(queue, span{x.i + x.k, q.ahi, x.j + x.k, q.bhi})
		}
	}
	sort.Slice(found, func(p, q int) bool {
		if found[p].i != found[q].i {
			return found[p].i < found[q].i
		}
		if found[p].j != found[q].j {
			return found[p].j < found[q].j
		}
		return found[p].k < found[q].k
	})
	out := make([]block, 0, len(found)+1)
	i1, j1, k1 := 0, 0, 0
	for _, x := range found {
		if i1+k1 == x.i && j1+k1 == x.j {
			k1 += x.k
		} else {
			if k1 > 0 {
				out = append(out, block{i1, j1, k1})
			}
			i1, j1, k1 = x.i, x.j, x.k
		}
	}
	if k1 > 0 {
		out = append(out, block{i1, j1, k1})
	}
	return append(out, block{la, lb, 0})
}
