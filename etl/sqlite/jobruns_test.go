package sqlite

import (
	"context"
	"testing"
	"time"
)

func TestJobRunsBoundedPerJob(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	start := time.Date(2026, 5, 17, 3, 0, 0, 123e6, time.UTC)
	for i := range 6 {
		for _, job := range []string{"a", "b"} {
			r := JobRun{Job: job, Started: start.Add(time.Duration(i) * time.Hour), Finished: start.Add(time.Duration(i)*time.Hour + 1500*time.Millisecond),
				Result: "success", Rows: int64(i), DryRun: i == 5}
			if i == 4 {
				r.Result, r.Err = "error", "boom"
			}
			if err := db.RecordJobRun(ctx, r, 3); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := mtInt(t, db, "SELECT count(*) FROM job_runs"); n != 6 {
		t.Errorf("job_runs rows = %d, want 3 per job", n)
	}
	runs, err := db.LastJobRuns(ctx, "a", 10)
	if err != nil || len(runs) != 3 {
		t.Fatalf("LastJobRuns = %v, %v", runs, err)
	}
	r := runs[0]
	if r.Rows != 5 || !r.DryRun || !r.Started.Equal(start.Add(5*time.Hour)) || r.Finished.Sub(r.Started) != 1500*time.Millisecond || r.Err != "" {
		t.Errorf("newest run = %+v", r)
	}
	if runs[1].Result != "error" || runs[1].Err != "boom" || runs[2].Rows != 3 {
		t.Errorf("older runs = %+v", runs[1:])
	}
	if runs, _ := db.LastJobRuns(ctx, "b", 1); len(runs) != 1 || runs[0].Rows != 5 {
		t.Errorf("LastJobRuns(b, 1) = %+v", runs)
	}
}
