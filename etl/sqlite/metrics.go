package sqlite

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dbCollector exports the database file sizes at scrape time.
type dbCollector struct {
	db                  *DB
	file, wal, freelist *prometheus.Desc
}

// Collector returns a collector of the file sizes of db, read at scrape
// time: corescope_db_file_size_bytes, corescope_db_wal_size_bytes and
// corescope_db_freelist_bytes.
func (db *DB) Collector() prometheus.Collector {
	return &dbCollector{
		db:       db,
		file:     prometheus.NewDesc("corescope_db_file_size_bytes", "Size of the SQLite database file.", nil, nil),
		wal:      prometheus.NewDesc("corescope_db_wal_size_bytes", "Size of the SQLite write-ahead log.", nil, nil),
		freelist: prometheus.NewDesc("corescope_db_freelist_bytes", "Bytes in free pages (reclaimable by incremental vacuum).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.file
	ch <- c.wal
	ch <- c.freelist
}

// Collect implements prometheus.Collector.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.db.Sizes(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.file, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.file, prometheus.GaugeValue, float64(s.FileBytes))
	ch <- prometheus.MustNewConstMetric(c.wal, prometheus.GaugeValue, float64(s.WALBytes))
	ch <- prometheus.MustNewConstMetric(c.freelist, prometheus.GaugeValue, float64(s.FreelistPages*s.PageSize))
}

// CheckpointMetrics exports the results of the background WAL checkpoints
// (RunCheckpointer) and logs when they start and stop failing.
type CheckpointMetrics struct {
	log                      *slog.Logger
	runs                     *prometheus.CounterVec
	busy, frames, copied, at prometheus.Gauge
	failing                  bool
}

// NewCheckpointMetrics registers the checkpoint metrics with reg.
func NewCheckpointMetrics(reg prometheus.Registerer, log *slog.Logger) *CheckpointMetrics {
	m := &CheckpointMetrics{
		log: log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_db_checkpoints_total",
			Help: "Background passive WAL checkpoints that changed something, by result (ok, busy, error).",
		}, []string{"result"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corescope_db_last_checkpoint_busy",
			Help: "1 if the last WAL checkpoint could not complete (readers or the writer in the way).",
		}),
		frames: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corescope_db_last_checkpoint_log_frames",
			Help: "Frames in the WAL at the last checkpoint.",
		}),
		copied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corescope_db_last_checkpoint_checkpointed_frames",
			Help: "Frames copied into the database by the last checkpoint.",
		}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corescope_db_last_checkpoint_timestamp_seconds",
			Help: "Unix time of the last checkpoint result.",
		}),
	}
	reg.MustRegister(m.runs, m.busy, m.frames, m.copied, m.at)
	return m
}

// Observe records one checkpoint result; pass it to RunCheckpointer. It
// is called from one goroutine.
func (m *CheckpointMetrics) Observe(r CheckpointResult, err error) {
	m.at.SetToCurrentTime()
	if err != nil {
		m.runs.WithLabelValues("error").Inc()
		if !m.failing {
			m.log.Warn("wal checkpoint failed", "err", err)
		}
		m.failing = true
		return
	}
	if m.failing {
		m.log.Info("wal checkpoints working again")
	}
	m.failing = false
	result := "ok"
	if r.Busy {
		result = "busy"
	}
	m.runs.WithLabelValues(result).Inc()
	m.busy.Set(boolFloat(r.Busy))
	m.frames.Set(float64(r.LogFrames))
	m.copied.Set(float64(r.Checkpointed))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
