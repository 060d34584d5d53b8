package maintenance

import (
	"context"
	"fmt"
	"strings"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// ObserverBlacklist marks the observers of the configured blacklist
// inactive (CoreScope's startup soft delete, spec head.md §2.11). Their
// metrics are kept, and the soft delete is not undone when an id leaves
// the blacklist: the observer's next message reactivates it.
type ObserverBlacklist struct {
	DB *sqlite.DB
	// IDs is the observerBlacklist; entries are trimmed and empty ones
	// skipped.
	IDs []string
}

// Run soft-deletes the blacklisted observers. Result.Rows counts them.
func (j *ObserverBlacklist) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	var ids []string
	for _, id := range j.IDs {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return jobs.Result{Detail: "observerBlacklist is empty"}, nil
	}
	n, err := j.DB.DeactivateObservers(ctx, ids, dryRun)
	res := jobs.Result{Rows: n, Detail: fmt.Sprintf("blacklisted=%d soft_deleted=%d", len(ids), n)}
	if err != nil {
		return res, fmt.Errorf("observer blacklist: %w", err)
	}
	return res, nil
}
