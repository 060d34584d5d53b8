package topology

import (
	"slices"
	"strings"
)

// PrefixLengths are the prefix widths, in hex characters, under which Index
// files every key (CoreScope's buildPrefixIndex): path hops of 1, 2, 3, 4, 6
// and 8 bytes.
var PrefixLengths = [...]int{2, 4, 6, 8, 12, 16}

// maxHop is the longest hop Index can match (the widest prefix).
const maxHop = 16

// Index maps key prefixes to the node keys that have them. The zero value
// and nil are empty indexes. An Index is immutable once built and safe for
// concurrent use.
type Index struct {
	keys []string // distinct lower-case keys
	// slot is the entry of each prefix: v >= 0 is the only key, keys[v];
	// v < 0 means several keys, multi[-v-1].
	slot  map[string]int32
	multi [][]int32
}

// NewIndex indexes keys (node public keys, in any case). Duplicates after
// lower-casing count once; empty keys are skipped.
func NewIndex(keys []string) *Index {
	x := &Index{slot: make(map[string]int32, len(keys)*len(PrefixLengths))}
	lower := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			lower = append(lower, strings.ToLower(k))
		}
	}
	slices.Sort(lower)
	x.keys = slices.Compact(lower)
	for i, k := range x.keys {
		for _, n := range PrefixLengths {
			if len(k) < n {
				break
			}
			p := k[:n] // shares k's bytes: no allocation per prefix
			v, ok := x.slot[p]
			switch {
			case !ok:
				x.slot[p] = int32(i)
			case v >= 0:
				x.multi = append(x.multi, []int32{v, int32(i)})
				x.slot[p] = -int32(len(x.multi))
			default:
				x.multi[-v-1] = append(x.multi[-v-1], int32(i))
			}
		}
	}
	return x
}

// Len returns the number of distinct keys indexed.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return len(x.keys)
}

// lookup returns the slot of hop, compared in lower case, without
// allocating.
func (x *Index) lookup(hop string) (int32, bool) {
	if x == nil || len(hop) == 0 || len(hop) > maxHop {
		return 0, false
	}
	var buf [maxHop]byte
	for i := 0; i < len(hop); i++ {
		c := hop[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	v, ok := x.slot[string(buf[:len(hop)])]
	return v, ok
}

// Unique returns the only key that starts with hop (in any case), and
// false when no key or several keys do.
func (x *Index) Unique(hop string) (string, bool) {
	v, ok := x.lookup(hop)
	if !ok || v < 0 {
		return "", false
	}
	return x.keys[v], true
}

// candidates returns the keys that start with hop: n is how many; when n
// is 1 the key is one, otherwise the keys are x.key(many[i]).
func (x *Index) candidates(hop string) (n int, one string, many []int32) {
	v, ok := x.lookup(hop)
	switch {
	case !ok:
		return 0, "", nil
	case v >= 0:
		return 1, x.keys[v], nil
	}
	m := x.multi[-v-1]
	return len(m), "", m
}

// among reports whether key is one of the keys at positions many (which
// are in increasing order, as candidates returns them).
func (x *Index) among(many []int32, key string) bool {
	_, ok := slices.BinarySearchFunc(many, key, func(i int32, k string) int {
		return strings.Compare(x.keys[i], k)
	})
	return ok
}
