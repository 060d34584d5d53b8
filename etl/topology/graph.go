package topology

import (
	"slices"
	"strings"
)

// Pair is an undirected neighbour pair in canonical form: both keys lower
// case and Pair[0] < Pair[1] (byte order), as neighbor_edges stores
// node_a and node_b.
type Pair [2]string

// NewPair returns the canonical pair of a and b, lower-cased.
func NewPair(a, b string) Pair {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if b < a {
		a, b = b, a
	}
	return Pair{a, b}
}

// Graph is an undirected neighbour graph: each key's neighbours. Build it
// with NewGraph and Add, then only read it: reads are safe for concurrent
// use once no more Adds happen. A nil Graph is empty.
type Graph struct {
	adj   map[string][]string
	edges int
}

// NewGraph returns an empty graph sized for n keys.
func NewGraph(n int) *Graph {
	return &Graph{adj: make(map[string][]string, n)}
}

// Add records that a and b are neighbours. Empty keys, self-loops and
// repeated pairs are ignored.
func (g *Graph) Add(a, b string) {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if a == "" || b == "" || a == b || slices.Contains(g.adj[a], b) {
		return
	}
	g.adj[a] = append(g.adj[a], b)
	g.adj[b] = append(g.adj[b], a)
	g.edges++
}

// Len returns the number of edges.
func (g *Graph) Len() int {
	if g == nil {
		return 0
	}
	return g.edges
}

// Keys returns the number of keys with at least one neighbour.
func (g *Graph) Keys() int {
	if g == nil {
		return 0
	}
	return len(g.adj)
}

// Neighbours returns the neighbours of key (lower case). The slice belongs
// to the Graph: do not modify it.
func (g *Graph) Neighbours(key string) []string {
	if g == nil {
		return nil
	}
	return g.adj[key]
}

// Adjacent reports whether a and b (lower case) are neighbours.
func (g *Graph) Adjacent(a, b string) bool {
	return slices.Contains(g.Neighbours(a), b)
}
