package maintenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// PruneRequestsDir is the directory of CoreScope's geo-prune request queue,
// relative to the database's directory.
const PruneRequestsDir = "prune-requests"

// PruneRequestChunk is the most nodes deleted per transaction.
const PruneRequestChunk = 500

// PruneRequests executes the geo-prune requests CoreScope's server leaves
// in Dir (spec head.md §2.12): for each request-<id>.json, in name order,
// it deletes the listed nodes in chunks of PruneRequestChunk, writes
// result-<id>.json atomically (a temporary file renamed into place) and
// removes the request.
//
// Unlike CoreScope's ingestor, which retries a request with an invalid id
// every 15 s forever, a request that can never succeed is not retried: one
// that cannot be read or parsed, or whose id is not 1–64 hex characters, or
// whose id differs from its file name, gets a result with an "error" when
// its file name carries a valid id (so the server's status poll ends), and
// is otherwise renamed to rejected-<name>; either way the reason is logged.
type PruneRequests struct {
	DB *sqlite.DB
	// Dir is PruneRequestsDir in the database's directory.
	Dir string
	// Log receives a warning per rejected request; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// pruneRequest is the server's request file (internal/prunequeue).
type pruneRequest struct {
	ID          string          `json:"id"`
	RequestedAt json.RawMessage `json:"requestedAt"`
	Reason      string          `json:"reason,omitempty"`
	Pubkeys     []string        `json:"pubkeys"`
}

// pruneResult is the result file the server polls for.
type pruneResult struct {
	ID          string          `json:"id"`
	RequestedAt json.RawMessage `json:"requestedAt,omitempty"`
	CompletedAt string          `json:"completedAt"`
	Deleted     int64           `json:"deleted"`
	Error       string          `json:"error,omitempty"`
}

var pruneRequestID = regexp.MustCompile(`^[0-9a-fA-F]{1,64}$`)

// Run processes every pending request once. Result.Rows counts the nodes
// deleted. A dry run reports how many nodes the pending requests would
// delete and touches no file.
func (j *PruneRequests) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	names, err := filepath.Glob(filepath.Join(j.Dir, "request-*.json"))
	if err != nil {
		return jobs.Result{}, fmt.Errorf("prune requests: %w", err)
	}
	slices.Sort(names)
	var done, rejected int
	var deleted int64
	for _, path := range names {
		if err := ctx.Err(); err != nil {
			return j.result(dryRun, done, rejected, deleted), err
		}
		n, ok, err := j.process(ctx, path, dryRun)
		deleted += n
		if err != nil {
			return j.result(dryRun, done, rejected, deleted), fmt.Errorf("prune requests: %s: %w", filepath.Base(path), err)
		}
		if ok {
			done++
		} else {
			rejected++
		}
	}
	return j.result(dryRun, done, rejected, deleted), nil
}

func (j *PruneRequests) result(dryRun bool, done, rejected int, deleted int64) jobs.Result {
	verb := "deleted"
	if dryRun {
		verb = "would_delete"
	}
	return jobs.Result{Rows: deleted, Detail: fmt.Sprintf("requests=%d rejected=%d %s=%d", done, rejected, verb, deleted)}
}

// process handles one request file. ok is false when it was rejected. An
// error (the database or the directory failed) leaves the request for the
// next run.
func (j *PruneRequests) process(ctx context.Context, path string, dryRun bool) (deleted int64, ok bool, err error) {
	name := filepath.Base(path)
	fileID := strings.TrimSuffix(strings.TrimPrefix(name, "request-"), ".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, true, nil // taken away meanwhile
	}
	var req pruneRequest
	var perr error
	if err == nil {
		perr = json.Unmarshal(b, &req)
	}
	var reason string
	switch {
	case err != nil:
		reason = "unreadable: " + err.Error()
	case perr != nil:
		reason = "not a JSON prune request: " + perr.Error()
	case !pruneRequestID.MatchString(req.ID):
		reason = fmt.Sprintf("invalid id %q (want 1-64 hex characters)", req.ID)
	case req.ID != fileID:
		reason = fmt.Sprintf("id %q differs from the file name", req.ID)
	}
	if reason != "" {
		if dryRun {
			return 0, false, nil
		}
		return 0, false, j.reject(path, fileID, req.RequestedAt, reason)
	}

	// The result exists: the request was done but not removed (a crash
	// between the two steps). Keep the result, remove the request.
	resultPath := filepath.Join(j.Dir, "result-"+req.ID+".json")
	if _, err := os.Lstat(resultPath); err == nil {
		if dryRun {
			return 0, true, nil
		}
		return 0, true, removeRequest(path)
	}

	keys := make([]string, 0, len(req.Pubkeys))
	for _, k := range req.Pubkeys {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var dbErr error
	for c := range slices.Chunk(keys, PruneRequestChunk) {
		n, err := j.DB.DeleteNodes(ctx, c, dryRun)
		deleted += n
		if err != nil {
			dbErr = err
			break
		}
	}
	if dryRun {
		return deleted, true, dbErr
	}
	if dbErr != nil && ctx.Err() != nil {
		return deleted, true, dbErr // stopped: the next run finishes the request
	}
	res := pruneResult{ID: req.ID, RequestedAt: req.RequestedAt, CompletedAt: j.now().UTC().Format(time.RFC3339Nano), Deleted: deleted}
	if dbErr != nil {
		res.Error = dbErr.Error()
	}
	if err := writeJSONAtomic(resultPath, res); err != nil {
		return deleted, true, err
	}
	if err := removeRequest(path); err != nil {
		return deleted, true, err
	}
	if dbErr != nil {
		j.log().Warn("prune request failed", "request", name, "deleted", deleted, "err", dbErr)
	}
	return deleted, true, nil
}

// reject answers a request that can never succeed: with an error result
// when its file name carries a valid id, else by renaming it aside.
func (j *PruneRequests) reject(path, fileID string, requestedAt json.RawMessage, reason string) error {
	name := filepath.Base(path)
	if pruneRequestID.MatchString(fileID) {
		if !json.Valid(requestedAt) {
			requestedAt = nil
		}
		res := pruneResult{ID: fileID, RequestedAt: requestedAt, CompletedAt: j.now().UTC().Format(time.RFC3339Nano), Error: "rejected: " + reason}
		if err := writeJSONAtomic(filepath.Join(j.Dir, "result-"+fileID+".json"), res); err != nil {
			return err
		}
		if err := removeRequest(path); err != nil {
			return err
		}
		j.log().Warn("prune request rejected; error result written", "request", name, "reason", reason)
		return nil
	}
	aside := filepath.Join(j.Dir, "rejected-"+name)
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("move rejected request aside: %w", err)
	}
	j.log().Warn("prune request rejected; moved aside", "request", name, "to", filepath.Base(aside), "reason", reason)
	return nil
}

func (j *PruneRequests) now() time.Time {
	if j.Now == nil {
		return time.Now()
	}
	return j.Now()
}

func (j *PruneRequests) log() *slog.Logger {
	if j.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return j.Log
}

func removeRequest(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove request: %w", err)
	}
	return nil
}

// writeJSONAtomic writes v as indented JSON to a temporary file next to
// path, syncs it and renames it over path, so that a reader sees the whole
// file or none. The mode is 0644: the server may run as another user.
func writeJSONAtomic(path string, v any) (err error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
