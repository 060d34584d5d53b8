package main

import (
	"log/slog"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// lifecycleJobSpecs translates the config into the data-lifecycle jobs:
// backup (off by default, daily when on) and reprocess (no schedule by
// default; `jobs run reprocess`, and once at start after a decoder upgrade
// when jobs.reprocess.onDecoderUpgrade is set). db may be nil for
// listings. reprocess decodes with a transform built from cfg, exactly as
// ingest stores packets now.
func lifecycleJobSpecs(cfg *config.Config, db *sqlite.DB, log *slog.Logger) []jobs.Spec {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &cfg.Jobs
	rp := &maintenance.Reprocess{
		DB: db, DecoderVersion: meshcore.DecoderVersion, TypeName: meshcore.PayloadTypeName,
		OnUpgrade: c.Reprocess.OnDecoderUpgrade,
		Chunking:  c.Reprocess.Chunking(),
	}
	if db != nil {
		// Quiet: the daemon's own transform already logged the keys.
		if tr, err := newTransformer(cfg, nil, slog.New(slog.DiscardHandler), nil); err == nil {
			rp.Decode = tr.Redecode
		}
	}
	return []jobs.Spec{
		{
			Name: maintenance.NameBackup, Schedule: c.Backup.Schedule, Enabled: c.Backup.Enabled,
			Timeout: c.Backup.Timeout, Jitter: c.Backup.Jitter,
			Job: &maintenance.Backup{DB: db, Dir: c.Backup.Dir, Keep: c.Backup.Keep, Compress: c.Backup.Compress},
		},
		{
			Name: maintenance.NameReprocess, Schedule: c.Reprocess.Schedule, Enabled: c.Reprocess.Enabled,
			Timeout: c.Reprocess.Timeout, Jitter: c.Reprocess.Jitter, OnStart: c.Reprocess.OnDecoderUpgrade,
			Job: rp,
		},
	}
}
