package maintenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// MultibyteSnapshotFile is where CoreScope's server writes its multi-byte
// capability snapshot, relative to the database's directory.
var MultibyteSnapshotFile = filepath.Join("mbcap-snapshot", "snapshot.json")

// ErrMalformedSnapshot marks a snapshot file that cannot be applied.
var ErrMalformedSnapshot = errors.New("malformed multi-byte capability snapshot")

// MultibyteSnapshot applies the server's multi-byte capability snapshot
// (spec head.md §2.10): "confirmed" → 2, "suspected" → 1, anything else is
// skipped, so a stored value is never reset to 0. The file is left in
// place (the server rewrites it every analytics cycle) and re-applying it
// changes nothing. A missing file is a no-op; a malformed one fails the
// run with ErrMalformedSnapshot (logged and counted by the scheduler) and
// is tried again at the next run.
type MultibyteSnapshot struct {
	DB *sqlite.DB
	// Path is the snapshot file: MultibyteSnapshotFile in the database's
	// directory.
	Path     string
	Chunking Chunking

	mu      sync.Mutex
	applied string // writtenAt of the last snapshot applied in full
}

// snapshot is the server's file (internal/mbcapqueue).
type snapshot struct {
	WrittenAt string `json:"writtenAt"`
	Entries   []struct {
		PublicKey string `json:"public_key"`
		Status    string `json:"status"`
		Evidence  string `json:"evidence"`
	} `json:"entries"`
}

// Run applies the snapshot once. Result.Rows counts the node rows changed.
// A snapshot whose writtenAt equals the last one this process applied is
// skipped.
func (j *MultibyteSnapshot) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := os.ReadFile(j.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return jobs.Result{Detail: "no snapshot file"}, nil
	}
	if err != nil {
		return jobs.Result{}, fmt.Errorf("multibyte snapshot: %w", err)
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return jobs.Result{}, fmt.Errorf("multibyte snapshot: %s: %w: %v", j.Path, ErrMalformedSnapshot, err)
	}
	if !dryRun && s.WrittenAt != "" && s.WrittenAt == j.applied {
		return jobs.Result{Detail: "unchanged since writtenAt=" + s.WrittenAt}, nil
	}
	var keys, evidence []string
	var sups []int
	skipped := 0
	for _, e := range s.Entries {
		key := strings.ToLower(strings.TrimSpace(e.PublicKey))
		var sup int
		switch e.Status {
		case "confirmed":
			sup = 2
		case "suspected":
			sup = 1
		}
		if sup == 0 || key == "" {
			skipped++
			continue
		}
		keys, sups, evidence = append(keys, key), append(sups, sup), append(evidence, e.Evidence)
	}

	var active, inactive, unchanged int64
	off := 0
	p, err := j.Chunking.loop(ctx, false, func(ctx context.Context, limit int) (bool, error) {
		end := min(off+limit, len(keys))
		a, i, u, err := j.DB.ApplyMultibyteCaps(ctx, keys[off:end], sups[off:end], evidence[off:end], dryRun)
		if err != nil {
			return false, err
		}
		active, inactive, unchanged = active+a, inactive+i, unchanged+u
		off = end
		return off < len(keys), nil
	})
	unknown := int64(off) - active - inactive - unchanged
	res := jobs.Result{
		Rows: active + inactive,
		Detail: fmt.Sprintf("writtenAt=%s entries=%d skipped=%d active=%d inactive=%d unchanged=%d unknown_nodes=%d %s",
			s.WrittenAt, len(s.Entries), skipped, active, inactive, unchanged, unknown, p),
	}
	if err != nil {
		return res, fmt.Errorf("multibyte snapshot: %w", err)
	}
	if !dryRun {
		j.applied = s.WrittenAt
	}
	return res, nil
}
