package config

import "github.com/corescope/etl/jobs/maintenance"

// DBConfig is CoreScope's db section: the defaults of the vacuum job.
type DBConfig struct {
	// VacuumOnStartup runs one full VACUUM before ingest starts, to switch
	// an old file to incremental auto-vacuum (default false).
	VacuumOnStartup bool `koanf:"vacuumOnStartup"`
	// IncrementalVacuumPages is the pages freed per vacuum run (default
	// maintenance.DefaultVacuumPages, 1024).
	IncrementalVacuumPages int `koanf:"incrementalVacuumPages"`
	// Load is CoreScope's server startup loading; accepted and ignored.
	Load DBLoadConfig `koanf:"load"`
}

// DBLoadConfig is the db.load section that CoreScope's server reads (the
// rows per chunk of its startup load). The ingestor ignores it; it is
// declared so that a misspelled key next to it is still reported.
type DBLoadConfig struct {
	// ChunkSize is the server's rows per startup chunk; ignored.
	ChunkSize int `koanf:"chunkSize"`
}

func defaultDB() DBConfig {
	return DBConfig{IncrementalVacuumPages: maintenance.DefaultVacuumPages}
}

// normalizeVacuum merges the db section with the vacuum job's pages and
// onStartup, and mirrors the effective values back into the db section.
func (c *Config) normalizeVacuum(isSet func(string) bool, p *problems) {
	v := &c.Jobs.Vacuum
	pages, ok := vacuumPages(p, "db.incrementalVacuumPages", c.DB.IncrementalVacuumPages)
	if isSet("jobs.vacuum.pages") {
		jp, jok := vacuumPages(p, "jobs.vacuum.pages", v.Pages)
		if isSet("db.incrementalVacuumPages") && ok && jok && jp != pages {
			p.addf("jobs.vacuum.pages", "%d disagrees with db.incrementalVacuumPages: %d; set only one of them", v.Pages, c.DB.IncrementalVacuumPages)
		}
		pages = jp
	}
	v.Pages, c.DB.IncrementalVacuumPages = pages, pages
	onStartup := c.DB.VacuumOnStartup
	if isSet("jobs.vacuum.onStartup") {
		if isSet("db.vacuumOnStartup") && v.OnStartup != onStartup {
			p.addf("jobs.vacuum.onStartup", "%t disagrees with db.vacuumOnStartup: %t; set only one of them", v.OnStartup, onStartup)
		}
		onStartup = v.OnStartup
	}
	v.OnStartup, c.DB.VacuumOnStartup = onStartup, onStartup
}

// vacuumPages validates a page count (0 means the default).
func vacuumPages(p *problems, key string, v int) (int, bool) {
	switch {
	case v < 0:
		p.addf(key, "must be ≥ 0 pages (0 means the default, %d), got %d", maintenance.DefaultVacuumPages, v)
		return maintenance.DefaultVacuumPages, false
	case v == 0:
		return maintenance.DefaultVacuumPages, true
	}
	return v, true
}
