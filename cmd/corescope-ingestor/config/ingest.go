package config

import (
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/spool"
	"github.com/corescope/etl/etl/transform"
	"github.com/corescope/etl/jobs"
)

// IngestConfig tunes the streaming pipeline; its defaults are the owning
// packages' (etl, jobs, etl/transform, etl/spool). Ours.
type IngestConfig struct {
	// QueueSize is the messages buffered between MQTT and the writer
	// (default etl.DefaultQueueSize, 200000: it absorbs a 50k msg/s burst
	// of several seconds without making the broker drop QoS 0 messages;
	// memory is used only while it fills).
	QueueSize int `koanf:"queueSize"`
	// BatchSize is the records per transaction (default
	// etl.DefaultBatchSize, 1000).
	BatchSize int `koanf:"batchSize"`
	// BatchDelay is the longest a record waits before its batch commits
	// (default etl.DefaultBatchDelay, 100ms).
	BatchDelay time.Duration `koanf:"batchDelay"`
	// ShutdownTimeout bounds the shutdown: the pipeline's drain once the
	// subscriptions have stopped, and the wait for running jobs (default
	// jobs.DefaultShutdownTimeout, 15s).
	ShutdownTimeout time.Duration `koanf:"shutdownTimeout"`
	// MaxMessageBytes is the largest MQTT payload accepted, in bytes
	// (default transform.DefaultMaxMessageBytes, 65536).
	MaxMessageBytes int `koanf:"maxMessageBytes"`
	// QueueMaxBytes bounds the queue by bytes as QueueSize does by
	// messages (payload, topic and a fixed 256-byte overhead per message;
	// default etl.DefaultQueueBytes, 64 MiB: with the queue, the batches
	// and the runtime, the default config stays under 200 MiB RSS); what
	// does not fit goes to the spool.
	QueueMaxBytes int64 `koanf:"queueMaxBytes"`
	// SpoolDir is the on-disk spool's directory; "" = <dbPath>.spool.
	SpoolDir string `koanf:"spoolDir"`
	// SpoolMaxBytes bounds the spool on disk, in bytes (default
	// spool.DefaultMaxBytes, 1 GiB); beyond it messages are dropped and
	// counted.
	SpoolMaxBytes int64 `koanf:"spoolMaxBytes"`
	// Capture tees every received message into rotated JSON Lines files
	// (off unless dir is set), for `corescope-ingestor import`.
	Capture CaptureConfig `koanf:"capture"`
}

// CaptureConfig configures ingest.capture. Ours.
type CaptureConfig struct {
	// Dir is the capture directory; "" (default) disables capture.
	Dir string `koanf:"dir"`
	// MaxFileBytes rotates a file at this size (default 64 MiB).
	MaxFileBytes int64 `koanf:"maxFileBytes"`
	// MaxFileAge rotates a file at this age (default 1h).
	MaxFileAge time.Duration `koanf:"maxFileAge"`
	// Keep is the closed files kept (default 168).
	Keep int `koanf:"keep"`
	// Compress gzips closed files (default true).
	Compress bool `koanf:"compress"`
}

func defaultIngest() IngestConfig {
	return IngestConfig{
		QueueSize:       etl.DefaultQueueSize,
		BatchSize:       etl.DefaultBatchSize,
		BatchDelay:      etl.DefaultBatchDelay,
		ShutdownTimeout: jobs.DefaultShutdownTimeout,
		MaxMessageBytes: transform.DefaultMaxMessageBytes,
		QueueMaxBytes:   etl.DefaultQueueBytes,
		SpoolMaxBytes:   spool.DefaultMaxBytes,
		Capture:         CaptureConfig{Compress: true},
	}
}

// validate checks the pipeline sizes and timings.
func (in *IngestConfig) validate(p *problems) {
	positive := func(key string, v int) {
		if v <= 0 {
			p.addf(key, "must be > 0, got %d", v)
		}
	}
	positive("ingest.queueSize", in.QueueSize)
	positive("ingest.batchSize", in.BatchSize)
	positive("ingest.maxMessageBytes", in.MaxMessageBytes)
	if in.QueueMaxBytes <= 0 {
		p.addf("ingest.queueMaxBytes", "must be > 0, got %d", in.QueueMaxBytes)
	}
	if in.SpoolMaxBytes <= 0 {
		p.addf("ingest.spoolMaxBytes", "must be > 0, got %d", in.SpoolMaxBytes)
	}
	if in.BatchDelay <= 0 {
		p.addf("ingest.batchDelay", "must be > 0, got %v", in.BatchDelay)
	}
	if in.ShutdownTimeout <= 0 {
		p.addf("ingest.shutdownTimeout", "must be > 0, got %v", in.ShutdownTimeout)
	}
	if c := in.Capture; c.Keep < 0 || c.MaxFileBytes < 0 || c.MaxFileAge < 0 {
		p.addf("ingest.capture", "keep, maxFileBytes and maxFileAge must not be negative (0 means the default)")
	}
}
