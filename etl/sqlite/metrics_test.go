package sqlite

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	db := openTest(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(db.Collector())
	n, err := testutil.GatherAndCount(reg, "corescope_db_file_size_bytes", "corescope_db_wal_size_bytes", "corescope_db_freelist_bytes")
	if err != nil || n != 3 {
		t.Fatalf("gathered %d metrics: %v", n, err)
	}
}

func TestCheckpointMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewCheckpointMetrics(reg, slog.New(slog.DiscardHandler))
	m.Observe(CheckpointResult{Busy: true, LogFrames: 10, Checkpointed: 4}, nil)
	m.Observe(CheckpointResult{}, errors.New("disk I/O error"))
	want := `
# HELP corescope_db_checkpoints_total Background passive WAL checkpoints that changed something, by result (ok, busy, error).
# TYPE corescope_db_checkpoints_total counter
corescope_db_checkpoints_total{result="busy"} 1
corescope_db_checkpoints_total{result="error"} 1
# HELP corescope_db_last_checkpoint_busy 1 if the last WAL checkpoint could not complete (readers or the writer in the way).
# TYPE corescope_db_last_checkpoint_busy gauge
corescope_db_last_checkpoint_busy 1
# HELP corescope_db_last_checkpoint_log_frames Frames in the WAL at the last checkpoint.
# TYPE corescope_db_last_checkpoint_log_frames gauge
corescope_db_last_checkpoint_log_frames 10
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "corescope_db_checkpoints_total", "corescope_db_last_checkpoint_busy", "corescope_db_last_checkpoint_log_frames"); err != nil {
		t.Error(err)
	}
}
