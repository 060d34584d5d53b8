package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// FullVacuum switches a file whose auto_vacuum is not INCREMENTAL (an old
// CoreScope database) to INCREMENTAL with one full VACUUM (spec §3.2
// CheckAutoVacuum with db.vacuumOnStartup). VACUUM rewrites the whole file,
// needs about twice its size in free disk and holds the writer throughout,
// so the daemon runs it at startup, before ingest starts, and it is not a
// scheduled job. It does nothing on a file that is already INCREMENTAL.
type FullVacuum struct {
	DB *sqlite.DB
}

// Run converts the file if needed. Result.Rows counts the free pages the
// VACUUM released.
func (j *FullVacuum) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	mode, err := j.DB.AutoVacuumMode(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if mode == autoVacuumIncremental {
		return jobs.Result{Detail: "nothing to do: auto_vacuum=INCREMENTAL"}, nil
	}
	free, err := j.DB.FreelistCount(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if dryRun {
		return jobs.Result{Rows: free, Detail: fmt.Sprintf("would VACUUM: auto_vacuum=%s free_pages=%d", autoVacuumName(mode), free)}, nil
	}
	if err := j.DB.FullVacuum(ctx); err != nil {
		return jobs.Result{}, err
	}
	after, err := j.DB.AutoVacuumMode(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if after != autoVacuumIncremental {
		return jobs.Result{}, fmt.Errorf("full vacuum: auto_vacuum is still %s after VACUUM", autoVacuumName(after))
	}
	return jobs.Result{Rows: free, Detail: fmt.Sprintf("auto_vacuum %s -> INCREMENTAL, freed_pages=%d", autoVacuumName(mode), free)}, nil
}
