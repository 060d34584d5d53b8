package maintenance

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// NameBackup is the online backup job.
const NameBackup = "backup"

// Backup defaults.
const (
	DefaultBackupKeep = 7         // newest copies kept
	DefaultBackupDir  = "backups" // next to the database
	backupPrefix      = "corescope-"
	backupPartial     = ".partial"
	backupTimeLayout  = "20060102T150405Z"
)

// Backup compressions.
const (
	CompressNone = ""
	CompressGzip = "gzip"
)

// Backup writes a consistent, verified copy of the database into Dir
// (VACUUM INTO from a read-only connection: ingest is not blocked), named
// corescope-<UTC time>.db (.db.gz when compressed), and keeps the newest
// Keep copies. The copy is written under a .partial name and renamed only
// once it is verified, complete and synced, so a half-written file never
// looks like a backup; partial files left by a crash are removed by the next
// run. A full or read-only backup volume fails the run with a clear error,
// removes the partial file and leaves the database untouched.
//
// Compression is gzip (standard library, readable everywhere with gunzip);
// SQLite files compress to about a quarter.
type Backup struct {
	DB       *sqlite.DB
	Dir      string // default DefaultBackupDir next to the database
	Keep     int    // default DefaultBackupKeep
	Compress string // CompressNone or CompressGzip
	Now      func() time.Time
}

// Run takes one backup. Result.Rows is the copy's total row count over the
// checked tables; a dry run reports the file it would write and the copies
// it would delete.
func (j *Backup) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	dir := j.dir()
	keep := j.Keep
	if keep <= 0 {
		keep = DefaultBackupKeep
	}
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	name := backupPrefix + now().UTC().Format(backupTimeLayout) + ".db"
	if j.Compress == CompressGzip {
		name += ".gz"
	}
	final := filepath.Join(dir, name)
	if dryRun {
		old, err := backups(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return jobs.Result{}, fmt.Errorf("backup: %w", err)
		}
		drop := excess(append(old, name), keep)
		return jobs.Result{Detail: fmt.Sprintf("dry run: would write %s and delete %d old copies %v", final, len(drop), drop)}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return jobs.Result{}, fmt.Errorf("backup: %w", volumeError(err))
	}
	removePartials(dir)
	// SQLite reports an unwritable directory only as "unable to open":
	// probe it first for a clear error.
	probe, err := os.CreateTemp(dir, backupPrefix+"probe-*"+backupPartial)
	if err != nil {
		return jobs.Result{}, fmt.Errorf("backup: %w", volumeError(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	if _, err := os.Stat(final); err == nil {
		return jobs.Result{}, fmt.Errorf("backup: %s already exists", final)
	}

	copyPath := filepath.Join(dir, strings.TrimSuffix(name, ".gz")+backupPartial)
	counts, err := j.DB.BackupInto(ctx, copyPath)
	if err != nil {
		return jobs.Result{}, volumeError(err)
	}
	written := copyPath
	if j.Compress == CompressGzip {
		gz := filepath.Join(dir, name+backupPartial)
		err := gzipFile(copyPath, gz)
		os.Remove(copyPath)
		if err != nil {
			os.Remove(gz)
			return jobs.Result{}, fmt.Errorf("backup: compress: %w", volumeError(err))
		}
		written = gz
	} else if err := syncFile(copyPath); err != nil {
		os.Remove(copyPath)
		return jobs.Result{}, fmt.Errorf("backup: %w", volumeError(err))
	}
	if err := os.Rename(written, final); err != nil {
		os.Remove(written)
		return jobs.Result{}, fmt.Errorf("backup: %w", err)
	}
	syncDir(dir)

	var rows int64
	for _, c := range counts {
		rows += c.Rows
	}
	old, err := backups(dir)
	if err != nil {
		return jobs.Result{Rows: rows}, fmt.Errorf("backup: list %s: %w", dir, err)
	}
	var removed []string
	for _, f := range excess(old, keep) {
		if err := os.Remove(filepath.Join(dir, f)); err == nil {
			removed = append(removed, f)
		}
	}
	size := int64(0)
	if st, err := os.Stat(final); err == nil {
		size = st.Size()
	}
	return jobs.Result{Rows: rows, Detail: fmt.Sprintf("%s bytes=%d %s removed=%d",
		final, size, sqlite.FormatCounts(counts), len(removed))}, nil
}

func (j *Backup) dir() string {
	if j.Dir != "" {
		return j.Dir
	}
	return filepath.Join(filepath.Dir(j.DB.Path()), DefaultBackupDir)
}

// backups lists the finished backups in dir, oldest first (the names sort
// by time).
func backups(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, backupPrefix) &&
			(strings.HasSuffix(n, ".db") || strings.HasSuffix(n, ".db.gz")) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// excess returns the names beyond the newest keep.
func excess(names []string, keep int) []string {
	slices.Sort(names)
	if len(names) <= keep {
		return nil
	}
	return names[:len(names)-keep]
}

// removePartials deletes the .partial files an interrupted run left.
func removePartials(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), backupPrefix) && strings.HasSuffix(e.Name(), backupPartial) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// volumeError makes a full or read-only backup volume say so.
func volumeError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "database or disk is full"):
		return fmt.Errorf("backup volume is full: %w", err)
	case errors.Is(err, syscall.EROFS) || errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "readonly"):
		return fmt.Errorf("backup volume is read-only or not writable: %w", err)
	}
	return err
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(out, gzip.DefaultCompression)
	if err != nil {
		out.Close()
		return err
	}
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
