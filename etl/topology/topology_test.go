package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Keys of the resolver tests (10 hex characters, as in CoreScope's tests):
// "aa" and "bb" are unique 1-byte prefixes, "cc" is shared by two keys.
const (
	keyA  = "aaaaaaaaaa"
	keyB  = "bbbbbbbbbb"
	keyC1 = "cccccccccc"
	keyC2 = "ccdddddddd"
)

const advert, txtMsg = 4, 2

func resolver(edges ...[2]string) *Resolver {
	g := NewGraph(len(edges))
	for _, e := range edges {
		g.Add(e[0], e[1])
	}
	return &Resolver{Index: NewIndex([]string{keyA, strings.ToUpper(keyB), keyC1, keyC2}), Graph: g}
}

func TestResolvePath(t *testing.T) {
	cases := []struct {
		name    string
		r       *Resolver
		typ     int
		from    string
		path    string
		want    []string // "" = null
		wantSQL string   // "" = NULL
	}{
		{
			// CoreScope's TestResolvePathPureFunction: unique prefixes resolve,
			// an ambiguous or unknown one does not; one entry per hop.
			name: "unique, ambiguous, unknown", r: resolver(), typ: txtMsg,
			path: `["AA","CC","FF","BB"]`, want: []string{keyA, "", "", keyB},
			wantSQL: `["aaaaaaaaaa",null,null,"bbbbbbbbbb"]`,
		},
		{name: "no hops", r: resolver(), typ: txtMsg, path: `[]`},
		{name: "empty path_json", r: resolver(), typ: txtMsg, path: ``},
		{name: "unreadable path_json", r: resolver(), typ: txtMsg, path: `[`},
		{
			// TestResolvePathWithContext_AllNilContractPreserved and
			// TestMarshalResolvedPathAllNilReturnsEmpty: all null is NULL.
			name: "all null is NULL", r: resolver(), typ: txtMsg,
			path: `["CC","FF","CC"]`, want: []string{"", "", ""},
		},
		{
			// TestResolveHopWithContext_OneByteCollision_AdjacencyResolves.
			name: "collision resolved by adjacency to the advert origin", r: resolver([2]string{keyA, keyC1}),
			typ: advert, from: strings.ToUpper(keyA), path: `["CC"]`, want: []string{keyC1},
			wantSQL: `["cccccccccc"]`,
		},
		{
			// TestResolveHopWithContext_NoAdjacencyContext_ReturnsNil.
			name: "collision without adjacency", r: resolver(),
			typ: advert, from: keyA, path: `["CC"]`, want: []string{""},
		},
		{
			name: "collision with both candidates adjacent", r: resolver([2]string{keyA, keyC1}, [2]string{keyC2, keyA}),
			typ: advert, from: keyA, path: `["CC"]`, want: []string{""},
		},
		{
			// TestResolvePathWithContext_TwoHopChainAnchoredOnFromNode: the
			// resolved first hop anchors the second.
			name: "two-hop chain", r: resolver([2]string{keyB, keyC2}),
			typ: advert, from: keyA, path: `["BB","CC"]`, want: []string{keyB, keyC2},
			wantSQL: `["bbbbbbbbbb","ccdddddddd"]`,
		},
		{
			// TestResolvePathWithContext_AdvertAnchoring: only adverts anchor.
			name: "non-advert has no anchor", r: resolver([2]string{keyA, keyC1}),
			typ: txtMsg, from: keyA, path: `["CC"]`, want: []string{""},
		},
		{
			// TestResolvePathWithContext_RegressionMultiByteStillWorks.
			name: "2-byte hop", r: resolver(),
			typ: txtMsg, path: `["ccdd","CCCC"]`, want: []string{keyC2, keyC1},
			wantSQL: `["ccdddddddd","cccccccccc"]`,
		},
		{
			name: "seen key is not resolved again", r: resolver(),
			typ: advert, from: keyA, path: `["AA","BB","BB"]`, want: []string{"", keyB, ""},
			wantSQL: `[null,"bbbbbbbbbb",null]`,
		},
		{
			name: "seen candidate is excluded from the adjacency tier", r: resolver([2]string{keyB, keyC1}, [2]string{keyC1, keyC2}),
			typ: txtMsg, path: `["CCCC","BB","CC"]`, want: []string{keyC1, keyB, ""},
			wantSQL: `["cccccccccc","bbbbbbbbbb",null]`,
		},
		{
			name: "an unresolved hop clears the anchor", r: resolver([2]string{keyA, keyC1}),
			typ: advert, from: keyA, path: `["FF","CC"]`, want: []string{"", ""},
		},
		{
			name: "hop wider than any prefix", r: resolver(),
			typ: txtMsg, path: `["aaaaaaaaaa"]`, want: []string{""},
		},
		{
			name: "empty resolver", r: &Resolver{},
			typ: advert, from: keyA, path: `["AA"]`, want: []string{""},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hops, _ := ParseHops(nil, c.path)
			anchor := ""
			if c.typ == advert {
				anchor = c.from
			}
			got := c.r.Resolve(nil, hops, anchor)
			if len(c.want) == 0 {
				c.want = nil
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Resolve = %q, want %q", got, c.want)
			}
			if sql := c.r.ResolvedPath(c.typ, c.from, c.path); sql != c.wantSQL {
				t.Errorf("ResolvedPath = %q, want %q", sql, c.wantSQL)
			}
		})
	}
}

// TestResolvedPathJSON: the value is the JSON array the server decodes as
// []*string (TestMarshalResolvedPathRoundtrip).
func TestResolvedPathJSON(t *testing.T) {
	r := &Resolver{Index: NewIndex([]string{keyA, keyB, `cc"odd\key`})}
	s := r.ResolvedPath(txtMsg, "", `["aa", "ff", "bb", "cc"]`)
	var got []*string
	if err := json.Unmarshal([]byte(s), &got); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	if len(got) != 4 || *got[0] != keyA || got[1] != nil || *got[2] != keyB || *got[3] != `cc"odd\key` {
		t.Errorf("decoded %s wrong", s)
	}
}

func TestIndexUnique(t *testing.T) {
	x := NewIndex([]string{"46D6AB", "46d6ab", "47aa", "", "4700"})
	if x.Len() != 4-1 {
		t.Errorf("Len = %d, want 3 (duplicates after lower-casing and empty keys skipped)", x.Len())
	}
	for hop, want := range map[string]string{"46": "46d6ab", "46D6": "46d6ab", "46d6ab": "46d6ab", "47": "", "47aa": "47aa", "": "", "4": ""} {
		got, ok := x.Unique(hop)
		if got != want || ok != (want != "") {
			t.Errorf("Unique(%q) = %q, %v; want %q", hop, got, ok, want)
		}
	}
	var nilIndex *Index
	if _, ok := nilIndex.Unique("46"); ok || nilIndex.Len() != 0 {
		t.Error("a nil Index is not empty")
	}
}

func TestEdges(t *testing.T) {
	const (
		a   = "46d6aaaaaaaa"
		obs = "OBS1"
	)
	x := NewIndex([]string{a, keyB, keyC1, keyC2, "0b5e"})
	cases := []struct {
		name             string
		typ              int
		from, path, obsv string
		want             []Pair
	}{
		{"advert heard direct", advert, strings.ToUpper(a), `[]`, obs, []Pair{{a, "obs1"}}},
		{"advert heard direct, no path_json", advert, a, ``, obs, []Pair{{a, "obs1"}}},
		{"advert heard direct by itself", advert, a, `[]`, a, nil},
		{"advert heard direct, no observer", advert, a, `[]`, "", nil},
		{"non-advert heard direct", txtMsg, a, `[]`, obs, nil},
		{"advert relayed", advert, a, `["BB","CCCC"]`, obs, []Pair{{a, keyB}, {keyC1, "obs1"}}},
		{"one hop is first and last", advert, a, `["BB"]`, obs, []Pair{{a, keyB}, {keyB, "obs1"}}},
		{"non-advert relayed: observer edge only", txtMsg, a, `["BB","CCCC"]`, obs, []Pair{{keyC1, "obs1"}}},
		{"ambiguous hops never resolve here", advert, a, `["CC","CC"]`, obs, nil},
		{"first hop is the origin", advert, a, `["46","BB"]`, obs, []Pair{{keyB, "obs1"}}},
		{"last hop is the observer", txtMsg, "", `["0B"]`, "0B5E", nil},
		{"unknown hops", advert, a, `["FF"]`, obs, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := x.Edges(nil, c.typ, c.from, c.path, c.obsv)
			if !slices.Equal(got, c.want) {
				t.Errorf("Edges = %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseHops(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`["46","A1B2"]`, []string{"46", "A1B2"}, true},
		{` [ "46" , "A1" ] `, []string{"46", "A1"}, true},
		{`[]`, nil, true},
		{``, nil, true},
		{`null`, nil, true},
		{`["4\u0036"]`, []string{"46"}, true},
		{`[1]`, nil, false},
		{`["46",]`, nil, false},
		{`["46"`, nil, false},
		{`["46"] x`, nil, false},
		{`{}`, nil, false},
	}
	for _, c := range cases {
		got, ok := ParseHops([]string{"keep"}, c.in)
		if ok != c.ok || !slices.Equal(got, append([]string{"keep"}, c.want...)) {
			t.Errorf("ParseHops(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// source is an in-memory Source.
type source struct {
	keys  []string
	pairs [][2]string
	err   error
}

func (s *source) NodeKeys(context.Context) ([]string, error) { return s.keys, s.err }
func (s *source) NeighborPairs(_ context.Context, fn func(a, b string)) error {
	for _, p := range s.pairs {
		fn(p[0], p[1])
	}
	return s.err
}

func TestLive(t *testing.T) {
	ctx := context.Background()
	src := &source{keys: []string{keyA, keyC1, keyC2}}
	l := NewLive(src)
	if got := l.ResolvedPath(advert, keyA, `["AA"]`); got != "" {
		t.Errorf("before the first refresh: %q", got)
	}
	if n, err := l.RefreshIndex(ctx); err != nil || n != 3 {
		t.Fatalf("RefreshIndex = %d, %v", n, err)
	}
	if got := l.ResolvedPath(advert, keyA, `["CC"]`); got != "" {
		t.Errorf("without the graph: %q", got)
	}
	src.pairs = [][2]string{{strings.ToUpper(keyC2), keyA}}
	if n, err := l.RefreshGraph(ctx); err != nil || n != 1 {
		t.Fatalf("RefreshGraph = %d, %v", n, err)
	}
	if got := l.ResolvedPath(advert, keyA, `["CC"]`); got != `["ccdddddddd"]` {
		t.Errorf("with the graph: %q", got)
	}
	if got := l.Edges(nil, txtMsg, "", `["AA"]`, "O"); !slices.Equal(got, [][2]string{{keyA, "o"}}) {
		t.Errorf("Edges = %q", got)
	}
	src.err = errors.New("boom")
	if _, err := l.RefreshIndex(ctx); err == nil {
		t.Error("RefreshIndex hid the source's error")
	}
	if got := l.ResolvedPath(advert, keyA, `["CC"]`); got != `["ccdddddddd"]` {
		t.Errorf("a failed refresh changed the resolver: %q", got)
	}
}

// TestLiveConcurrent reads while refreshes publish (run with -race).
func TestLiveConcurrent(t *testing.T) {
	ctx := context.Background()
	l := NewLive(&source{keys: randomKeys(500, 1), pairs: [][2]string{{keyA, keyB}}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			l.RefreshIndex(ctx)
			l.RefreshGraph(ctx)
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
			l.ResolvedPath(advert, keyA, `["AA","BB","CC"]`)
		}
	}
}

func randomKeys(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, seed))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64())
	}
	return keys
}

// TestIndexMemory10k reports the heap the prefix index of 10,000 nodes
// holds beyond the keys themselves (the keys are loaded from the database
// anyway and shared with the index).
func TestIndexMemory10k(t *testing.T) {
	keys := randomKeys(10000, 7)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := NewIndex(keys)
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("prefix index of %d keys: %d prefixes, %.2f MiB held (keys included: %d lower-cased copies)",
		x.Len(), len(x.slot), float64(held)/(1<<20), len(x.keys))
	runtime.KeepAlive(x)
	runtime.KeepAlive(keys)
}

func BenchmarkParseHops(b *testing.B) {
	const path = `["46","A1","7F"]`
	b.Run("ParseHops", func(b *testing.B) {
		b.ReportAllocs()
		var buf [16]string
		for b.Loop() {
			ParseHops(buf[:0], path)
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var hops []string
			json.Unmarshal([]byte(path), &hops)
		}
	})
}

func BenchmarkResolvedPath10k(b *testing.B) {
	keys := randomKeys(10000, 7)
	g := NewGraph(30000)
	r := rand.New(rand.NewPCG(1, 2))
	for range 30000 {
		g.Add(keys[r.IntN(len(keys))], keys[r.IntN(len(keys))])
	}
	res := &Resolver{Index: NewIndex(keys), Graph: g}
	path := fmt.Sprintf(`[%q,%q,%q]`, strings.ToUpper(keys[1][:2]), keys[2][:4], keys[3][:2])
	b.ReportAllocs()
	for b.Loop() {
		res.ResolvedPath(advert, keys[0], path)
	}
}

func BenchmarkNewIndex10k(b *testing.B) {
	keys := randomKeys(10000, 7)
	b.ReportAllocs()
	for b.Loop() {
		NewIndex(keys)
	}
}
