package maintenance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
)

// Neighbour-graph defaults.
const (
	// DefaultNeighborEdgesChunkRows is the observations read per chunk of
	// neighborEdges. The write transaction of a chunk holds only its
	// distinct edges (at most two per observation, usually far fewer), so
	// chunks are larger than a prune's.
	DefaultNeighborEdgesChunkRows = 20000
	// DefaultNeighborEdgesMaxAgeDays is how long an edge not seen again is
	// kept (CoreScope's neighborEdgesMaxAgeDays).
	DefaultNeighborEdgesMaxAgeDays = 5
)

// NeighborEdges builds neighbor_edges from the observations not counted
// yet and refreshes the resolver of observations.resolved_path (spec
// head.md §2.8, §2.9): it rebuilds the prefix index from nodes, counts the
// new observations in chunks that yield to ingest, then reloads the graph.
// The first run on an existing database walks its whole history.
type NeighborEdges struct {
	DB *sqlite.DB
	// Topology is the resolver the job keeps fresh and counts edges with:
	// the daemon's, which its ingest transform reads.
	Topology *topology.Live
	// Chunking bounds the chunks; Rows is observations read per chunk
	// (0 means DefaultNeighborEdgesChunkRows).
	Chunking Chunking
}

// Run does one pass. Result.Rows counts the edge rows written (one per
// distinct pair per chunk).
func (j *NeighborEdges) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	if j.Topology == nil {
		return jobs.Result{}, errors.New("neighbour edges: no topology")
	}
	c := j.Chunking
	if c.Rows <= 0 {
		c.Rows = DefaultNeighborEdgesChunkRows
	}
	var keys int
	if !dryRun {
		var err error
		if keys, err = j.Topology.RefreshIndex(ctx); err != nil {
			return jobs.Result{}, err
		}
	}
	var obs, n int64
	p, err := c.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		o, e, more, err := j.DB.NeighborEdgesChunk(ctx, limit, j.Topology.Edges, dryRun)
		obs, n = obs+o, n+e
		return more, err
	})
	res := jobs.Result{Rows: n}
	if dryRun {
		res.Detail = fmt.Sprintf("observations=%d pending", obs)
		return res, err
	}
	if err != nil {
		res.Detail = fmt.Sprintf("observations=%d edge_rows=%d %s", obs, n, p)
		return res, err
	}
	// Reload the graph even when nothing was added: the prune changes it
	// too.
	edges, err := j.Topology.RefreshGraph(ctx)
	res.Detail = fmt.Sprintf("observations=%d edge_rows=%d nodes=%d graph_edges=%d %s", obs, n, keys, edges, p)
	return res, err
}

// PruneNeighborEdges deletes neighbour edges not seen for Days days
// (CoreScope's PruneNeighborEdges, in chunks). last_seen is RFC 3339 UTC;
// the DB compares it in that format.
type PruneNeighborEdges struct {
	DB *sqlite.DB
	// Days is the age in days after which an edge is deleted; 0 (or less)
	// means DefaultNeighborEdgesMaxAgeDays, as in CoreScope.
	Days     int
	Chunking Chunking
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run deletes one pass of old edges. Result.Rows counts the edges deleted.
func (j *PruneNeighborEdges) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	days := j.Days
	if days <= 0 {
		days = DefaultNeighborEdgesMaxAgeDays
	}
	before := cutoff(j.Now, days)
	var n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		d, more, err := j.DB.PruneNeighborEdgesChunk(ctx, before, limit, dryRun)
		n += d
		return more, err
	})
	res := jobs.Result{
		Rows:   n,
		Detail: fmt.Sprintf("edges=%d before=%s %s", n, before.Format(time.RFC3339), p),
	}
	return res, err
}
