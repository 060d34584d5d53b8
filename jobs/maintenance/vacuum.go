package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// DefaultVacuumPages is the most pages one Vacuum run frees when
// Vacuum.Pages is 0 (CoreScope's db.incrementalVacuumPages default).
const DefaultVacuumPages = 1024

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// autoVacuumName names PRAGMA auto_vacuum values in details.
func autoVacuumName(mode int) string {
	switch mode {
	case 0:
		return "NONE"
	case 1:
		return "FULL"
	case autoVacuumIncremental:
		return "INCREMENTAL"
	}
	return fmt.Sprint(mode)
}

// Vacuum returns free pages to the file system with PRAGMA
// incremental_vacuum, stepped to completion in chunks of pages. The
// reference stepped it once and so freed a single page per call (spec §9
// #8). It does nothing unless the file is in INCREMENTAL auto-vacuum mode
// (see FullVacuum).
type Vacuum struct {
	DB *sqlite.DB
	// Pages is the most pages one run frees; 0 means DefaultVacuumPages
	// and a negative value the whole freelist.
	Pages int
	// Chunking bounds each step; Chunking.Rows counts pages.
	Chunking Chunking
}

// Run frees up to Pages pages. Result.Rows counts the pages freed.
func (j *Vacuum) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	mode, err := j.DB.AutoVacuumMode(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if mode != autoVacuumIncremental {
		return jobs.Result{Detail: fmt.Sprintf("nothing to do: auto_vacuum=%s (set jobs.vacuum.onStartup to convert the file)", autoVacuumName(mode))}, nil
	}
	free, err := j.DB.FreelistCount(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	target := int64(j.Pages)
	switch {
	case j.Pages == 0:
		target = DefaultVacuumPages
	case j.Pages < 0:
		target = free
	}
	target = min(target, free)
	if dryRun || target == 0 {
		return jobs.Result{Rows: target, Detail: fmt.Sprintf("pages=%d free_before=%d", target, free)}, nil
	}
	var freed int64
	left := free
	p, err := j.Chunking.loop(ctx, false, func(ctx context.Context, limit int) (bool, error) {
		f, l, err := j.DB.IncrementalVacuumChunk(ctx, int(min(int64(limit), target-freed)))
		freed, left = freed+f, l
		return f > 0 && freed < target && left > 0, err
	})
	return jobs.Result{Rows: freed, Detail: fmt.Sprintf("pages=%d free_before=%d free_after=%d %s", freed, free, left, p)}, err
}
