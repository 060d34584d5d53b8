package maintenance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corescope/etl/jobs"
)

// Defaults of the options every job has; the chunking defaults are
// DefaultChunkRows and DefaultChunkBudget.
const (
	// DefaultJobTimeout bounds one run of a maintenance job.
	DefaultJobTimeout = 10 * time.Minute
	// DefaultLongJobTimeout bounds one run of the jobs that may work
	// through a large backlog: prunePackets (the first time), backup,
	// reprocess and the startup backfills.
	DefaultLongJobTimeout = 30 * time.Minute
	// DefaultWALCheckpointTimeout bounds one WAL checkpoint.
	DefaultWALCheckpointTimeout = time.Minute
)

// JobConfig holds the options every job has. Each job kind's config embeds
// it (flattened: its keys sit next to the kind's own), so that strict
// decoding rejects an option given to a job it does not belong to. The
// koanf tags are the config file's key names.
type JobConfig struct {
	// Schedule is a 5-field cron spec or a descriptor (@hourly, @every 90m),
	// optionally prefixed with "CRON_TZ=Zone ". Empty (vacuum and
	// reprocess only) means the job runs only chained or on demand.
	Schedule string `koanf:"schedule"`
	// Enabled turns the job on (default true, except prunePackets and
	// pruneClientReceptions when days is 0, staleObservers when days is
	// -1, and backup, which are off).
	Enabled bool `koanf:"enabled"`
	// Timeout bounds one run; must be > 0 (default 10m; prunePackets,
	// backup and reprocess 30m, walCheckpoint 1m).
	Timeout time.Duration `koanf:"timeout"`
	// Jitter delays each scheduled run by a random duration in [0, Jitter)
	// (default 0).
	Jitter time.Duration `koanf:"jitter"`
	// ChunkRows is the rows per chunk transaction (default
	// DefaultChunkRows, 5000).
	ChunkRows int `koanf:"chunkRows"`
	// ChunkBudget is the longest a chunk may take before yielding
	// (default DefaultChunkBudget, 100ms).
	ChunkBudget time.Duration `koanf:"chunkBudget"`
}

// Chunking returns the job's chunk options.
func (j *JobConfig) Chunking() Chunking {
	return Chunking{Rows: j.ChunkRows, Budget: j.ChunkBudget}
}

// spec returns the scheduler spec of the job name running job.
func (j *JobConfig) spec(name string, job jobs.Job, onStart bool, then ...string) jobs.Spec {
	return jobs.Spec{
		Name: name, Schedule: j.Schedule, Enabled: j.Enabled, Timeout: j.Timeout, Jitter: j.Jitter,
		OnStart: onStart, Then: then, Job: job,
	}
}

// DaysConfig configures a retention job: staleNodes, staleObservers,
// pruneMetrics, prunePackets, pruneClientReceptions, pruneNeighborEdges.
type DaysConfig struct {
	JobConfig `koanf:",flatten"`
	// Days is the retention in days; the config loader defaults it from
	// CoreScope's retention keys.
	Days int `koanf:"days"`
}

// VacuumConfig configures the incremental vacuum.
type VacuumConfig struct {
	JobConfig `koanf:",flatten"`
	// Pages is the pages freed per run; default db.incrementalVacuumPages.
	Pages int `koanf:"pages"`
	// OnStartup runs a full VACUUM before ingest when the file is not in
	// incremental auto-vacuum mode; default db.vacuumOnStartup.
	OnStartup bool `koanf:"onStartup"`
}

// BackupConfig configures the verified online copy of the database.
type BackupConfig struct {
	JobConfig `koanf:",flatten"`
	// Dir is where backups are written; default "backups" next to the
	// database.
	Dir string `koanf:"dir"`
	// Keep is the newest backups kept (default DefaultBackupKeep, 7; 0
	// means the default).
	Keep int `koanf:"keep"`
	// Compress is "gzip" or "" for none (default none).
	Compress string `koanf:"compress"`
}

// ReprocessConfig configures the re-decoding of stored packets.
type ReprocessConfig struct {
	JobConfig `koanf:",flatten"`
	// OnDecoderUpgrade runs the job once at start when the decoder version
	// differs from the one of its last finished pass (default false).
	OnDecoderUpgrade bool `koanf:"onDecoderUpgrade"`
}

// Config configures every maintenance job: the config file's jobs section.
type Config struct {
	// StaleNodes moves nodes not seen for Days to inactive_nodes.
	StaleNodes DaysConfig `koanf:"staleNodes"`
	// StaleObservers marks observers not seen for Days inactive.
	StaleObservers DaysConfig `koanf:"staleObservers"`
	// PruneMetrics deletes observer_metrics and dropped_packets older than Days.
	PruneMetrics DaysConfig `koanf:"pruneMetrics"`
	// PrunePackets deletes transmissions (and their observations) older
	// than Days; enabled only when Days > 0.
	PrunePackets DaysConfig `koanf:"prunePackets"`
	// Vacuum runs the incremental vacuum.
	Vacuum VacuumConfig `koanf:"vacuum"`
	// WALCheckpoint truncates the WAL.
	WALCheckpoint JobConfig `koanf:"walCheckpoint"`
	// MultibyteSnapshot applies the server's mbcap-snapshot/snapshot.json
	// (default every 5 minutes, and at start).
	MultibyteSnapshot JobConfig `koanf:"multibyteSnapshot"`
	// PruneRequests executes the server's prune-requests/request-*.json
	// (default every 15 s, and at start).
	PruneRequests JobConfig `koanf:"pruneRequests"`
	// PruneClientReceptions deletes client RX coverage rows older than Days
	// (retention.clientRxDays); enabled only when Days > 0. Default daily,
	// and at start.
	PruneClientReceptions DaysConfig `koanf:"pruneClientReceptions"`
	// NeighborEdges builds neighbor_edges from new observations and
	// refreshes the resolved_path resolver (default every minute, and at
	// start; chunkRows DefaultNeighborEdgesChunkRows observations read per
	// chunk).
	NeighborEdges JobConfig `koanf:"neighborEdges"`
	// PruneNeighborEdges deletes neighbor_edges not seen for Days (default
	// daily, and at start; days defaults to neighborEdgesMaxAgeDays).
	PruneNeighborEdges DaysConfig `koanf:"pruneNeighborEdges"`
	// Backup writes a verified online copy of the database (off by
	// default; daily when enabled).
	Backup BackupConfig `koanf:"backup"`
	// Reprocess re-decodes stored packets with the current decoder and
	// keys (no schedule by default: run it with `jobs run reprocess`).
	Reprocess ReprocessConfig `koanf:"reprocess"`
	// HistoryPerJob is the runs kept per job (default
	// jobs.DefaultHistoryPerJob, 50).
	HistoryPerJob int `koanf:"historyPerJob"`
}

// DefaultConfig returns the jobs' defaults. The days of the retention jobs
// are left 0: each job reads 0 as its own default.
func DefaultConfig() Config {
	job := func(schedule string, timeout time.Duration) JobConfig {
		return JobConfig{
			Schedule:    schedule,
			Enabled:     true,
			Timeout:     timeout,
			ChunkRows:   DefaultChunkRows,
			ChunkBudget: DefaultChunkBudget,
		}
	}
	days := func(schedule string, timeout time.Duration) DaysConfig {
		return DaysConfig{JobConfig: job(schedule, timeout)}
	}
	edges := job("@every 1m", DefaultJobTimeout)
	edges.ChunkRows = DefaultNeighborEdgesChunkRows
	backup := job("@daily", DefaultLongJobTimeout)
	backup.Enabled = false
	return Config{
		StaleNodes:            days("@hourly", DefaultJobTimeout),
		StaleObservers:        days("@daily", DefaultJobTimeout),
		PruneMetrics:          days("@daily", DefaultJobTimeout),
		PrunePackets:          days("@daily", DefaultLongJobTimeout),
		Vacuum:                VacuumConfig{JobConfig: job("", DefaultJobTimeout)},
		WALCheckpoint:         job("@hourly", DefaultWALCheckpointTimeout),
		MultibyteSnapshot:     job("@every 5m", DefaultJobTimeout),
		PruneRequests:         job("@every 15s", DefaultJobTimeout),
		PruneClientReceptions: days("@daily", DefaultJobTimeout),
		NeighborEdges:         edges,
		PruneNeighborEdges:    days("@daily", DefaultJobTimeout),
		Backup:                BackupConfig{JobConfig: backup, Keep: DefaultBackupKeep},
		Reprocess:             ReprocessConfig{JobConfig: job("", DefaultLongJobTimeout)},
		HistoryPerJob:         jobs.DefaultHistoryPerJob,
	}
}

// NamedJob is a job's common options with its name.
type NamedJob struct {
	Name string
	*JobConfig
}

// List returns every configurable job with its name, in a fixed order.
func (c *Config) List() []NamedJob {
	return []NamedJob{
		{NameStaleNodes, &c.StaleNodes.JobConfig},
		{NameStaleObservers, &c.StaleObservers.JobConfig},
		{NamePruneMetrics, &c.PruneMetrics.JobConfig},
		{NamePrunePackets, &c.PrunePackets.JobConfig},
		{NameVacuum, &c.Vacuum.JobConfig},
		{NameWALCheckpoint, &c.WALCheckpoint},
		{NameMultibyteSnapshot, &c.MultibyteSnapshot},
		{NamePruneRequests, &c.PruneRequests},
		{NamePruneClientReceptions, &c.PruneClientReceptions.JobConfig},
		{NameNeighborEdges, &c.NeighborEdges},
		{NamePruneNeighborEdges, &c.PruneNeighborEdges.JobConfig},
		{NameBackup, &c.Backup.JobConfig},
		{NameReprocess, &c.Reprocess.JobConfig},
	}
}

// Validate trims the schedules and reports every problem, joined; each
// error starts with the key path below the jobs section
// ("prunePackets.schedule") and a colon. The days are the config loader's
// to check, with CoreScope's retention keys.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	for _, j := range c.List() {
		j.Schedule = strings.TrimSpace(j.Schedule)
		switch {
		case j.Schedule == "" && (j.Name == NameVacuum || j.Name == NameReprocess):
			// Vacuum runs chained after a prune that deleted rows;
			// reprocess on demand (and after a decoder upgrade, if asked).
		case j.Schedule == "":
			add(j.Name+".schedule", "required (a cron spec or a descriptor such as @daily; set enabled: false to turn the job off)")
		default:
			if err := jobs.ValidateSchedule(j.Schedule); err != nil {
				add(j.Name+".schedule", "parse %q: %w", j.Schedule, err)
			}
		}
		if j.Timeout <= 0 {
			add(j.Name+".timeout", "must be > 0, got %v", j.Timeout)
		}
		if j.Jitter < 0 {
			add(j.Name+".jitter", "must be ≥ 0, got %v", j.Jitter)
		}
		if j.ChunkRows <= 0 {
			add(j.Name+".chunkRows", "must be > 0 rows, got %d", j.ChunkRows)
		}
		if j.ChunkBudget <= 0 {
			add(j.Name+".chunkBudget", "must be > 0, got %v", j.ChunkBudget)
		}
	}
	if c.Backup.Keep < 0 {
		add("backup.keep", "must be ≥ 0 copies (0 = the default, %d), got %d", DefaultBackupKeep, c.Backup.Keep)
	}
	switch c.Backup.Compress {
	case CompressNone, CompressGzip:
	default:
		add("backup.compress", "%q: want gzip, or empty for none", c.Backup.Compress)
	}
	if c.HistoryPerJob <= 0 {
		add("historyPerJob", "must be > 0 runs, got %d", c.HistoryPerJob)
	}
	return errors.Join(errs...)
}
