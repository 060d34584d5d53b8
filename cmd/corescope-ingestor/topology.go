package main

import (
	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// The neighbour graph and the resolved paths CoreScope's server reads from
// its writer (head.md §2.8, §2.9): the neighborEdges job builds
// neighbor_edges and refreshes the resolver that the ingest transform uses
// for observations.resolved_path; pruneNeighborEdges deletes old edges.
var _ topology.Source = (*sqlite.DB)(nil)

// topologyJobSpecs translates the config into the specs of the
// neighbour-graph jobs. topo is the resolver neighborEdges refreshes (the
// daemon's, which its transform reads); nil makes one on db, for a run
// from the command line. db may be nil for listings.
//
// Both run at start, after the startup backfills (the path_json and
// from_pubkey ones feed the edges): neighborEdges is CoreScope's warm-up,
// which builds the index before ingest resolves paths with it; the prune
// is a scan of a small table (CoreScope waits 4 minutes).
func topologyJobSpecs(c *config.JobsConfig, db *sqlite.DB, topo *topology.Live) []jobs.Spec {
	var tp *topology.Live
	if db != nil {
		if topo == nil {
			topo = topology.NewLive(db)
		}
		tp = topo
	}
	spec := func(name string, j config.Job, job jobs.Job) jobs.Spec {
		return jobs.Spec{
			Name: name, Schedule: j.Schedule, Enabled: j.Enabled, Timeout: j.Timeout, Jitter: j.Jitter,
			OnStart: true, Job: job,
		}
	}
	return []jobs.Spec{
		spec(maintenance.NameNeighborEdges, c.NeighborEdges, &maintenance.NeighborEdges{
			DB: db, Topology: tp, Chunking: c.NeighborEdges.Chunking(),
		}),
		spec(maintenance.NamePruneNeighborEdges, c.PruneNeighborEdges.Job, &maintenance.PruneNeighborEdges{
			DB: db, Days: c.PruneNeighborEdges.Days, Chunking: c.PruneNeighborEdges.Chunking(),
		}),
	}
}

// firstTopology returns the optional resolver argument, or nil.
func firstTopology(topo []*topology.Live) *topology.Live {
	if len(topo) == 0 {
		return nil
	}
	return topo[0]
}
