package topology

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Source is where Live reads the topology from: the database (*sqlite.DB).
type Source interface {
	// NodeKeys returns the public key of every row of nodes (inactive
	// nodes excluded).
	NodeKeys(ctx context.Context) ([]string, error)
	// NeighborPairs calls fn with node_a and node_b of every row of
	// neighbor_edges.
	NeighborPairs(ctx context.Context, fn func(a, b string)) error
}

// Live is the current Resolver, published atomically: readers (the ingest
// path) load it without locks and never wait for a refresh; the
// neighborEdges job rebuilds its parts from the Source and publishes them.
// Until the first refresh it is empty and nothing resolves.
type Live struct {
	src Source
	cur atomic.Pointer[Resolver]
	mu  sync.Mutex // serialises refreshes (writers only)
}

// NewLive returns an empty Live that refreshes from src.
func NewLive(src Source) *Live {
	l := &Live{src: src}
	l.cur.Store(&Resolver{})
	return l
}

// Resolver returns the current Resolver. It never returns nil.
func (l *Live) Resolver() *Resolver { return l.cur.Load() }

// RefreshIndex rebuilds the prefix index from the nodes of the Source and
// publishes it with the current graph. It returns the number of keys.
func (l *Live) RefreshIndex(ctx context.Context) (int, error) {
	keys, err := l.src.NodeKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("refresh prefix index: %w", err)
	}
	x := NewIndex(keys)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.Store(&Resolver{Index: x, Graph: l.cur.Load().Graph})
	return x.Len(), nil
}

// RefreshGraph rebuilds the neighbour graph from the neighbor_edges of the
// Source and publishes it with the current index. It returns the number of
// edges.
func (l *Live) RefreshGraph(ctx context.Context) (int, error) {
	g := NewGraph(l.cur.Load().Graph.Len())
	if err := l.src.NeighborPairs(ctx, g.Add); err != nil {
		return 0, fmt.Errorf("refresh neighbour graph: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.Store(&Resolver{Index: l.cur.Load().Index, Graph: g})
	return g.Len(), nil
}

// Edges is Index.Edges on the current index: the neighbour pairs one
// observation contributes, as the neighborEdges job counts them. It
// appends them to dst as [2]string.
func (l *Live) Edges(dst [][2]string, payloadType int, from, pathJSON, observer string) [][2]string {
	var buf [2]Pair
	for _, p := range l.cur.Load().Index.Edges(buf[:0], payloadType, from, pathJSON, observer) {
		dst = append(dst, p)
	}
	return dst
}

// ResolvedPath is Resolver.ResolvedPath on the current Resolver.
func (l *Live) ResolvedPath(payloadType int, fromPubkey, pathJSON string) string {
	return l.cur.Load().ResolvedPath(payloadType, fromPubkey, pathJSON)
}
