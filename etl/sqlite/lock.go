package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// ErrLocked is the sentinel for "another process is the writer of this
// database"; errors.Is(err, ErrLocked) is true for a *LockedError.
var ErrLocked = errors.New("database is locked by another writer")

// LockedError is returned (wrapped) by Open when another process holds the
// writer lock of the database. PID is the holder's process id as written in
// the lock file, or 0 when it could not be read.
type LockedError struct {
	Path string // the lock file
	PID  int
}

// Error names the lock file and the holder's pid.
func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%v: %s is held by another process", ErrLocked, e.Path)
	}
	return fmt.Sprintf("%v: %s is held by pid %d", ErrLocked, e.Path, e.PID)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// lockPath returns the writer lock file of the database at path.
func lockPath(path string) string { return path + "-ingestor.lock" }

// acquireLock takes the single-writer-process lock: an exclusive advisory
// flock on <path>-ingestor.lock, held for the life of the returned file. The
// lock is released by the kernel when the process exits, so a crash never
// leaves a stale lock behind. Our pid is written into the file so that a
// refused process can name the holder.
func acquireLock(path string) (*os.File, error) {
	lp := lockPath(path)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: lp, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	return f, nil
}

// readPID reads the pid the lock holder wrote; 0 if unknown.
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// releaseLock unlocks and closes the lock file. The file itself stays: removing
// it would let a process that opened the old inode and one that creates a new
// file both believe they hold the lock.
func releaseLock(f *os.File) error {
	if f == nil {
		return nil
	}
	uerr := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return errors.Join(uerr, f.Close())
}
