package config

import "strings"

// DefaultMaxMemoryMB is the Go runtime's soft memory limit in MiB unless
// GOMEMLIMIT is set: the garbage collector works harder, rather than the heap
// growing, while a burst fills the ingest queue (a small VM or a Raspberry
// Pi). 0 means this default. CoreScope HEAD's runtime.maxMemoryMB.
const DefaultMaxMemoryMB = 128

// RuntimeConfig is CoreScope HEAD's runtime section.
type RuntimeConfig struct {
	// MaxMemoryMB is the Go soft memory limit in MiB (default 128; 0 means
	// 128). The GOMEMLIMIT environment variable wins.
	MaxMemoryMB int `koanf:"maxMemoryMB"`
}

// ClientRxCoverageConfig is CoreScope HEAD's clientRxCoverage section.
type ClientRxCoverageConfig struct {
	// Enabled stores GPS-tagged receptions published by mobile companions
	// on meshcore/client/<pubkey>/packets (default false).
	Enabled bool `koanf:"enabled"`
}

// normalizeHEADKeys applies the keys CoreScope HEAD added that are not a
// job's days (those are in normalizeJobs).
func (c *Config) normalizeHEADKeys(isSet func(string) bool, p *problems) {
	// ingestBufferSize is HEAD's name for the in-memory queue; 0 or
	// negative means HEAD's default there, so it leaves ours alone.
	if isSet("ingestBufferSize") && c.IngestBufferSize > 0 {
		if isSet("ingest.queueSize") {
			if c.IngestBufferSize != c.Ingest.QueueSize {
				p.addf("ingestBufferSize", "%d disagrees with ingest.queueSize: %d; set only one of them", c.IngestBufferSize, c.Ingest.QueueSize)
			}
		} else {
			c.Ingest.QueueSize = c.IngestBufferSize
		}
	}
	c.IngestBufferSize = c.Ingest.QueueSize

	switch m := c.Runtime.MaxMemoryMB; {
	case m < 0:
		p.addf("runtime.maxMemoryMB", "must be ≥ 0 MiB (0 means the default, %d), got %d", DefaultMaxMemoryMB, m)
	case m == 0:
		c.Runtime.MaxMemoryMB = DefaultMaxMemoryMB
	}

	regions := c.HashRegions[:0]
	for _, r := range c.HashRegions {
		// HEAD skips empty entries; '#' is prepended by meshcore.NewRegions.
		if r = strings.TrimSpace(r); r != "" {
			regions = append(regions, r)
		}
	}
	c.HashRegions = regions
}

// MemoryLimit returns the Go soft memory limit in bytes and where it comes
// from: the GOMEMLIMIT environment variable wins (the runtime applied it
// at start; the limit is then not ours to set, and bytes is 0), then
// runtime.maxMemoryMB.
func (c *Config) MemoryLimit(lookupEnv func(string) (string, bool)) (bytes int64, from string) {
	if v, ok := lookupEnv("GOMEMLIMIT"); ok && v != "" {
		return 0, "GOMEMLIMIT"
	}
	return int64(c.Runtime.MaxMemoryMB) << 20, "runtime.maxMemoryMB"
}
