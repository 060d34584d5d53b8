package config

import (
	"fmt"
	"strings"
	"time"

	corejobs "github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// Job defaults; the chunking and the history kept are jobs/maintenance's
// and jobs' defaults. Job names are maintenance.Name*.
const (
	// DefaultJobTimeout bounds one run of a maintenance job.
	DefaultJobTimeout = 10 * time.Minute
	// DefaultPrunePacketsTimeout bounds one packet prune, which may work
	// through a large backlog the first time.
	DefaultPrunePacketsTimeout = 30 * time.Minute
	// DefaultWALCheckpointTimeout bounds one WAL checkpoint.
	DefaultWALCheckpointTimeout = time.Minute
)

// Job holds the options every job has. Each job kind embeds it (flattened:
// its keys sit next to the kind's own), so that decoding rejects an option
// given to a job it does not belong to.
type Job struct {
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
	// maintenance.DefaultChunkRows, 5000).
	ChunkRows int `koanf:"chunkRows"`
	// ChunkBudget is the longest a chunk may take before yielding
	// (default maintenance.DefaultChunkBudget, 100ms).
	ChunkBudget time.Duration `koanf:"chunkBudget"`
}

// Chunking returns the job's chunk options.
func (j *Job) Chunking() maintenance.Chunking {
	return maintenance.Chunking{Rows: j.ChunkRows, Budget: j.ChunkBudget}
}

// DaysJob is a retention job: staleNodes, staleObservers, pruneMetrics,
// prunePackets, pruneClientReceptions, pruneNeighborEdges.
type DaysJob struct {
	Job `koanf:",flatten"`
	// Days is the retention in days; its default is the legacy retention
	// key (see RetentionConfig).
	Days int `koanf:"days"`
}

// VacuumJob is the incremental vacuum.
type VacuumJob struct {
	Job `koanf:",flatten"`
	// Pages is the pages freed per run; default db.incrementalVacuumPages.
	Pages int `koanf:"pages"`
	// OnStartup runs a full VACUUM before ingest when the file is not in
	// incremental auto-vacuum mode; default db.vacuumOnStartup.
	OnStartup bool `koanf:"onStartup"`
}

// BackupJob writes a verified online copy of the database.
type BackupJob struct {
	Job `koanf:",flatten"`
	// Dir is where backups are written; default "backups" next to the
	// database.
	Dir string `koanf:"dir"`
	// Keep is the newest backups kept (default
	// maintenance.DefaultBackupKeep, 7; 0 means the default).
	Keep int `koanf:"keep"`
	// Compress is "gzip" or "" for none (default none).
	Compress string `koanf:"compress"`
}

// ReprocessJob re-decodes stored packets.
type ReprocessJob struct {
	Job `koanf:",flatten"`
	// OnDecoderUpgrade runs the job once at start when the decoder version
	// differs from the one of its last finished pass (default false).
	OnDecoderUpgrade bool `koanf:"onDecoderUpgrade"`
}

// JobsConfig configures every maintenance job.
type JobsConfig struct {
	// StaleNodes moves nodes not seen for Days to inactive_nodes.
	StaleNodes DaysJob `koanf:"staleNodes"`
	// StaleObservers marks observers not seen for Days inactive.
	StaleObservers DaysJob `koanf:"staleObservers"`
	// PruneMetrics deletes observer_metrics and dropped_packets older than Days.
	PruneMetrics DaysJob `koanf:"pruneMetrics"`
	// PrunePackets deletes transmissions (and their observations) older
	// than Days; enabled only when Days > 0.
	PrunePackets DaysJob `koanf:"prunePackets"`
	// Vacuum runs the incremental vacuum.
	Vacuum VacuumJob `koanf:"vacuum"`
	// WALCheckpoint truncates the WAL.
	WALCheckpoint Job `koanf:"walCheckpoint"`
	// MultibyteSnapshot applies the server's mbcap-snapshot/snapshot.json
	// (default every 5 minutes, and at start).
	MultibyteSnapshot Job `koanf:"multibyteSnapshot"`
	// PruneRequests executes the server's prune-requests/request-*.json
	// (default every 15 s, and at start).
	PruneRequests Job `koanf:"pruneRequests"`
	// PruneClientReceptions deletes client RX coverage rows older than Days
	// (retention.clientRxDays); enabled only when Days > 0. Default daily,
	// and at start.
	PruneClientReceptions DaysJob `koanf:"pruneClientReceptions"`
	// NeighborEdges builds neighbor_edges from new observations and
	// refreshes the resolved_path resolver (default every minute, and at
	// start; chunkRows maintenance.DefaultNeighborEdgesChunkRows
	// observations read per chunk).
	NeighborEdges Job `koanf:"neighborEdges"`
	// PruneNeighborEdges deletes neighbor_edges not seen for Days (default
	// daily, and at start; days defaults to neighborEdgesMaxAgeDays).
	PruneNeighborEdges DaysJob `koanf:"pruneNeighborEdges"`
	// Backup writes a verified online copy of the database (off by
	// default; daily when enabled).
	Backup BackupJob `koanf:"backup"`
	// Reprocess re-decodes stored packets with the current decoder and
	// keys (no schedule by default: run it with `jobs run reprocess`).
	Reprocess ReprocessJob `koanf:"reprocess"`
	// HistoryPerJob is the runs kept per job (default
	// jobs.DefaultHistoryPerJob, 50).
	HistoryPerJob int `koanf:"historyPerJob"`
}

// NamedJob is a job's common options with its name.
type NamedJob struct {
	Name string
	*Job
}

// List returns every job with its name, in a fixed order.
func (j *JobsConfig) List() []NamedJob {
	return []NamedJob{
		{maintenance.NameStaleNodes, &j.StaleNodes.Job},
		{maintenance.NameStaleObservers, &j.StaleObservers.Job},
		{maintenance.NamePruneMetrics, &j.PruneMetrics.Job},
		{maintenance.NamePrunePackets, &j.PrunePackets.Job},
		{maintenance.NameVacuum, &j.Vacuum.Job},
		{maintenance.NameWALCheckpoint, &j.WALCheckpoint},
		{maintenance.NameMultibyteSnapshot, &j.MultibyteSnapshot},
		{maintenance.NamePruneRequests, &j.PruneRequests},
		{maintenance.NamePruneClientReceptions, &j.PruneClientReceptions.Job},
		{maintenance.NameNeighborEdges, &j.NeighborEdges},
		{maintenance.NamePruneNeighborEdges, &j.PruneNeighborEdges.Job},
		{maintenance.NameBackup, &j.Backup.Job},
		{maintenance.NameReprocess, &j.Reprocess.Job},
	}
}

// defaultJobs returns the jobs' defaults; the days of the retention jobs
// and the vacuum options come from the legacy keys in normalizeJobs.
func defaultJobs() JobsConfig {
	job := func(schedule string, timeout time.Duration) Job {
		return Job{
			Schedule:    schedule,
			Enabled:     true,
			Timeout:     timeout,
			ChunkRows:   maintenance.DefaultChunkRows,
			ChunkBudget: maintenance.DefaultChunkBudget,
		}
	}
	days := func(schedule string, timeout time.Duration) DaysJob {
		return DaysJob{Job: job(schedule, timeout)}
	}
	edges := job("@every 1m", DefaultJobTimeout)
	edges.ChunkRows = maintenance.DefaultNeighborEdgesChunkRows
	backup := job("@daily", DefaultPrunePacketsTimeout)
	backup.Enabled = false
	return JobsConfig{
		StaleNodes:            days("@hourly", DefaultJobTimeout),
		StaleObservers:        days("@daily", DefaultJobTimeout),
		PruneMetrics:          days("@daily", DefaultJobTimeout),
		PrunePackets:          days("@daily", DefaultPrunePacketsTimeout),
		Vacuum:                VacuumJob{Job: job("", DefaultJobTimeout)},
		WALCheckpoint:         job("@hourly", DefaultWALCheckpointTimeout),
		MultibyteSnapshot:     job("@every 5m", DefaultJobTimeout),
		PruneRequests:         job("@every 15s", DefaultJobTimeout),
		PruneClientReceptions: days("@daily", DefaultJobTimeout),
		NeighborEdges:         edges,
		PruneNeighborEdges:    days("@daily", DefaultJobTimeout),
		Backup:                BackupJob{Job: backup, Keep: maintenance.DefaultBackupKeep},
		Reprocess:             ReprocessJob{Job: job("", DefaultPrunePacketsTimeout)},
		HistoryPerJob:         corejobs.DefaultHistoryPerJob,
	}
}

// normalizeJobs merges the legacy retention and db keys with the job
// options and validates each job.
func (c *Config) normalizeJobs(isSet func(string) bool, p *problems) {
	c.normalizeRetention(isSet, p)
	c.normalizeVacuum(isSet, p)
	jobs := &c.Jobs
	for _, j := range jobs.List() {
		j.validate(p, "jobs."+j.Name, j.Name)
	}
	if jobs.Backup.Keep < 0 {
		p.addf("jobs.backup.keep", "must be ≥ 0 copies (0 = the default, %d), got %d", maintenance.DefaultBackupKeep, jobs.Backup.Keep)
	}
	switch jobs.Backup.Compress {
	case maintenance.CompressNone, maintenance.CompressGzip:
	default:
		p.addf("jobs.backup.compress", "%q: want gzip, or empty for none", jobs.Backup.Compress)
	}
	if jobs.HistoryPerJob <= 0 {
		p.addf("jobs.historyPerJob", "must be > 0 runs, got %d", jobs.HistoryPerJob)
	}
}

// validate checks the common options of the job name under key.
func (j *Job) validate(p *problems, key, name string) {
	j.Schedule = strings.TrimSpace(j.Schedule)
	switch {
	case j.Schedule == "" && name == maintenance.NameVacuum:
		// Runs only chained after a prune job that deleted rows.
	case j.Schedule == "" && name == maintenance.NameReprocess:
		// Runs on demand (and after a decoder upgrade, if asked).
	case j.Schedule == "":
		p.addf(key+".schedule", "required (a cron spec or a descriptor such as @daily; set enabled: false to turn the job off)")
	default:
		if err := corejobs.ValidateSchedule(j.Schedule); err != nil {
			p.add(key+".schedule", fmt.Errorf("parse %q: %w", j.Schedule, err))
		}
	}
	if j.Timeout <= 0 {
		p.addf(key+".timeout", "must be > 0, got %v", j.Timeout)
	}
	if j.Jitter < 0 {
		p.addf(key+".jitter", "must be ≥ 0, got %v", j.Jitter)
	}
	if j.ChunkRows <= 0 {
		p.addf(key+".chunkRows", "must be > 0 rows, got %d", j.ChunkRows)
	}
	if j.ChunkBudget <= 0 {
		p.addf(key+".chunkBudget", "must be > 0, got %v", j.ChunkBudget)
	}
}
