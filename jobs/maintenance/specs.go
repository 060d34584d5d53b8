package maintenance

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
)

// Deps are what the jobs of Specs work with.
type Deps struct {
	// DB is the database; nil builds the specs for a listing only.
	DB *sqlite.DB
	// DBPath is the database file: the server's snapshot and prune-request
	// files are in its directory, where CoreScope's server writes them.
	DBPath string
	// Topology is the resolver the ingest transform reads, which
	// neighborEdges refreshes; nil makes one on DB.
	Topology *topology.Live
	// ObserverBlacklist is the config's observerBlacklist.
	ObserverBlacklist []string
	// Redecode decodes a stored packet as ingest would now, for reprocess;
	// nil leaves reprocess unable to run.
	Redecode func(rawHex string) (*etl.Packet, error)
	// Log receives the jobs' own warnings; nil discards.
	Log *slog.Logger
}

// Specs returns the scheduler specs of every maintenance job, in a fixed
// order: the retention jobs, the vacuum and the WAL checkpoint, the
// startup backfills, the server's queues, the neighbour graph, backup and
// reprocess. Each job's writes are labelled with its name in the stats
// file's writer_perf.
//
// The four retention jobs run once when the scheduler starts, concurrently
// with ingest, as CoreScope runs them at startup (spec §3.1), and the
// prunes chain the vacuum when they deleted rows. The backfills are not
// configurable: they run at every start and return at once when done.
func (c *Config) Specs(d Deps) []jobs.Spec {
	db := d.DB
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var vacuum []string
	if c.Vacuum.Enabled {
		vacuum = []string{NameVacuum}
	}
	topo := d.Topology
	if topo == nil && db != nil {
		topo = topology.NewLive(db)
	}
	dir := filepath.Dir(d.DBPath)
	startup := func(name string, job jobs.Job) jobs.Spec {
		return jobs.Spec{Name: name, Enabled: true, OnStart: true, Timeout: DefaultLongJobTimeout, Job: job}
	}
	specs := []jobs.Spec{
		c.StaleNodes.spec(NameStaleNodes, &StaleNodes{DB: db, Days: c.StaleNodes.Days, Chunking: c.StaleNodes.Chunking()}, true, vacuum...),
		c.StaleObservers.spec(NameStaleObservers, &StaleObservers{DB: db, Days: c.StaleObservers.Days, Chunking: c.StaleObservers.Chunking()}, true),
		c.PruneMetrics.spec(NamePruneMetrics, &PruneMetrics{DB: db, Days: c.PruneMetrics.Days, Chunking: c.PruneMetrics.Chunking()}, true, vacuum...),
		c.PrunePackets.spec(NamePrunePackets, &PrunePackets{DB: db, Days: c.PrunePackets.Days, Chunking: c.PrunePackets.Chunking()}, true, vacuum...),
		c.Vacuum.spec(NameVacuum, &Vacuum{DB: db, Pages: c.Vacuum.Pages, Chunking: c.Vacuum.Chunking()}, false),
		c.WALCheckpoint.spec(NameWALCheckpoint, &WALCheckpoint{DB: db}, false),

		// CoreScope's one-time path_json backfill of legacy observations,
		// then the backfills that bring a file written by an older
		// CoreScope up to what today's server reads (head.md §1.2, §2.6,
		// §2.13, §2.14).
		startup(NameBackfillPathJSON, &BackfillPathJSON{DB: db, Path: pathFromRaw}),
		startup(NameBackfillLastSeen, &BackfillLastSeen{DB: db}),
		startup(NameBackfillFromPubkey, &BackfillFromPubkey{DB: db}),
		startup(NameNormalizePublicChannel, &NormalizePublicChannel{DB: db}),
		startup(NameLowercaseNodeKeys, &LowercaseNodeKeys{DB: db}),
		startup(NameBackfillDefaultScope, &BackfillDefaultScope{DB: db}),

		// What CoreScope's read-only server hands to its writer through
		// files next to the database (head.md §2.10–§2.12). The snapshot
		// also runs at start (CoreScope waits two minutes): applying the
		// server's latest file again changes nothing.
		c.MultibyteSnapshot.spec(NameMultibyteSnapshot, &MultibyteSnapshot{
			DB: db, Path: filepath.Join(dir, MultibyteSnapshotFile), Chunking: c.MultibyteSnapshot.Chunking(),
		}, true),
		c.PruneRequests.spec(NamePruneRequests, &PruneRequests{
			DB: db, Dir: filepath.Join(dir, PruneRequestsDir), Log: log.With("job", NamePruneRequests),
		}, true),
		// Client RX coverage retention (§2.16) runs whether or not the
		// feature is on, so that rows written while it was on expire.
		c.PruneClientReceptions.spec(NamePruneClientReceptions, &PruneClientReceptions{
			DB: db, Days: c.PruneClientReceptions.Days, Chunking: c.PruneClientReceptions.Chunking(),
		}, true, vacuum...),
		// CoreScope's startup soft delete of blacklisted observers.
		{Name: NameObserverBlacklist, Enabled: true, OnStart: true, Timeout: DefaultJobTimeout,
			Job: &ObserverBlacklist{DB: db, IDs: d.ObserverBlacklist}},

		// The neighbour graph (§2.8, §2.9), both at start after the
		// backfills that feed it: neighborEdges is CoreScope's warm-up,
		// which builds the index before ingest resolves paths with it; the
		// prune scans a small table (CoreScope waits 4 minutes).
		c.NeighborEdges.spec(NameNeighborEdges, &NeighborEdges{DB: db, Topology: topo, Chunking: c.NeighborEdges.Chunking()}, true),
		c.PruneNeighborEdges.spec(NamePruneNeighborEdges, &PruneNeighborEdges{
			DB: db, Days: c.PruneNeighborEdges.Days, Chunking: c.PruneNeighborEdges.Chunking(),
		}, true),

		// Data lifecycle: backup (off by default), and reprocess (on
		// demand, and at start after a decoder upgrade when asked).
		c.Backup.spec(NameBackup, &Backup{DB: db, Dir: c.Backup.Dir, Keep: c.Backup.Keep, Compress: c.Backup.Compress}, false),
		c.Reprocess.spec(NameReprocess, &Reprocess{
			DB: db, Decode: d.Redecode, DecoderVersion: meshcore.DecoderVersion, TypeName: meshcore.PayloadTypeName,
			OnUpgrade: c.Reprocess.OnDecoderUpgrade, Chunking: c.Reprocess.Chunking(),
		}, c.Reprocess.OnDecoderUpgrade),
	}
	for i := range specs {
		specs[i].Job = WithComponent(specs[i].Name, specs[i].Job)
	}
	return specs
}

// FullVacuumSpec is the spec of the startup full VACUUM that converts a
// file to incremental auto-vacuum; the daemon adds it only when it is to
// run, and runs it with Scheduler.RunNow before ingest starts.
func FullVacuumSpec(db *sqlite.DB) jobs.Spec {
	return jobs.Spec{Name: NameFullVacuum, Enabled: true, Job: WithComponent(NameFullVacuum, &FullVacuum{DB: db})}
}

// WithComponent runs job with its writes labelled name in the stats file's
// writer_perf.
func WithComponent(name string, job jobs.Job) jobs.Job {
	return jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
		return job.Run(sqlite.WithComponent(ctx, name), dryRun)
	})
}

// pathFromRaw is the path_json of a raw packet, by the decoder's rule (the
// header hops, or the route hops of a TRACE).
func pathFromRaw(raw string) (string, bool) {
	p, err := meshcore.Decode(raw, meshcore.Options{})
	if err != nil {
		return "", false
	}
	return p.PathJSON, true
}
