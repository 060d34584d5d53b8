package config

import (
	"time"

	"github.com/corescope/etl/etl/statsfile"
	"github.com/corescope/etl/etl/uplink"
)

// StatsConfig configures CoreScope's per-second stats file.
type StatsConfig struct {
	// File is the stats path; "" disables it (default
	// statsfile.DefaultPath; env CORESCOPE_INGESTOR_STATS).
	File string `koanf:"file"`
	// Interval is the write period (default statsfile.DefaultInterval,
	// 1s). Ours.
	Interval time.Duration `koanf:"interval"`
}

func defaultStats() StatsConfig {
	return StatsConfig{File: statsfile.DefaultPath, Interval: statsfile.DefaultInterval}
}

func (s *StatsConfig) validate(p *problems) {
	if s.Interval <= 0 {
		p.addf("stats.interval", "must be > 0, got %v", s.Interval)
	}
}

// MetricsConfig is CoreScope's metrics section.
type MetricsConfig struct {
	// SampleIntervalSec is the observer_metrics bucket in seconds; the
	// server must use the same value (0 means
	// uplink.DefaultMetricsIntervalSec, 300).
	SampleIntervalSec int `koanf:"sampleIntervalSec"`
}

func defaultMetrics() MetricsConfig {
	return MetricsConfig{SampleIntervalSec: uplink.DefaultMetricsIntervalSec}
}

func (m *MetricsConfig) validate(p *problems) {
	if m.SampleIntervalSec < 0 {
		p.addf("metrics.sampleIntervalSec", "must be ≥ 0 seconds (0 means the default, %d), got %d", uplink.DefaultMetricsIntervalSec, m.SampleIntervalSec)
	} else if m.SampleIntervalSec == 0 {
		m.SampleIntervalSec = uplink.DefaultMetricsIntervalSec
	}
}
