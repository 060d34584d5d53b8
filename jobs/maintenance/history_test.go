package maintenance_test

import (
	"context"
	"testing"
	"time"

	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

func TestHistory(t *testing.T) {
	ctx := context.Background()
	h := maintenance.History{DB: newDB(t), Keep: 2}
	t0 := time.Now().Truncate(time.Millisecond)
	for i := range 3 {
		r := jobs.Run{Job: "a", Started: t0.Add(time.Duration(i) * time.Second), Finished: t0.Add(time.Duration(i)*time.Second + time.Millisecond),
			Result: jobs.ResultSuccess, Rows: int64(i), DryRun: i == 1, Err: "e"}
		if err := h.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := h.LastRuns(ctx, "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Rows != 2 || runs[1].Rows != 1 || !runs[1].DryRun || runs[0].Err != "e" ||
		!runs[0].Started.Equal(t0.Add(2*time.Second)) || runs[0].Result != jobs.ResultSuccess {
		t.Errorf("runs = %+v", runs)
	}
}
