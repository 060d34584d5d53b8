package maintenance_test

import (
	"context"
	"strings"
	"testing"

	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// TestErrorsNameTheOperationOnce pins the rule that the callee names its own
// operation and the caller adds only its step: a job whose database call
// fails returns that call's error, which names the operation once ("wal
// checkpoint: …", not "wal checkpoint: wal checkpoint: …").
func TestErrorsNameTheOperationOnce(t *testing.T) {
	db := newDB(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		phrase string
		job    jobs.Job
	}{
		{"wal checkpoint", &maintenance.WALCheckpoint{DB: db}},
		{"last_seen backfill", &maintenance.BackfillLastSeen{DB: db}},
		{"public channel casing", &maintenance.NormalizePublicChannel{DB: db}},
		{"lower-case node keys", &maintenance.LowercaseNodeKeys{DB: db}},
	} {
		_, err := c.job.Run(context.Background(), false)
		if err == nil {
			t.Errorf("%s: no error on a closed database", c.phrase)
			continue
		}
		if n := strings.Count(err.Error(), c.phrase); n != 1 {
			t.Errorf("error %q names %q %d times, want once", err, c.phrase, n)
		}
	}
}
