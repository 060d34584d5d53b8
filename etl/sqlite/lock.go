package sqlite

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrLocked is the sentinel for "another process is the writer of this
// database"; errors.Is(err, ErrLocked) is true for a *LockedError.
var ErrLocked = errors.New("database is locked by another writer")

// LockedError is returned (wrapped) by Open when another writer holds the
// database. PID is the holder's process id, or 0 when it could not be found.
type LockedError struct {
	Path string // the database file (as given to Open) or its lock file
	PID  int
}

// Error names the locked file and the holder's pid.
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

// The single-writer lock is two exclusive flocks, both released by the
// kernel when the process exits (a crash never leaves a stale lock):
//
//  1. on the database file itself. A lock on the file, not on a name, is
//     what makes it the file's identity: a symlink, a hard link or a bind
//     mount of the same file all reach the same inode and are refused. (A
//     lock file named after the path misses the links; one named after
//     (dev, inode) still has to live in some directory, and hard links can
//     live in different ones.) flock and SQLite's own fcntl (POSIX) locks
//     are independent on Linux, so the flock does not disturb SQLite. What
//     does is closing a descriptor of the file: the kernel then drops every
//     POSIX lock the process holds on it, SQLite's included. So the
//     descriptor is opened before SQLite opens the file and closed only
//     after SQLite has closed it, and a second Open of a file this process
//     already holds is refused from a table of held files (found by stat,
//     which opens nothing) instead of by opening and closing it. On NFS,
//     Linux emulates flock with POSIX locks, which would mix with SQLite's;
//     SQLite's WAL does not work over NFS anyway.
//  2. on <path>-ingestor.lock, which holds our pid for a refused process to
//     read (the first lock's holder is found in /proc/locks) and keeps
//     earlier versions, which lock only this file, out. It is opened with
//     O_NOFOLLOW and must be a regular file with one link: a symlink or a
//     hard link planted there is an error, never followed or truncated.

// fileID is a file's identity.
type fileID struct{ dev, ino uint64 }

// held lists the database files this process holds the lock of.
var held = struct {
	sync.Mutex
	m map[fileID]*writerLock
}{m: make(map[fileID]*writerLock)}

// writerLock is the lock held by an open DB.
type writerLock struct {
	id     fileID
	db     *os.File   // the database file, flocked
	pid    *os.File   // <path>-ingestor.lock, flocked, holding our pid
	parked []*os.File // descriptors of the file that must outlive SQLite's (see acquireLock)
}

// acquireLock takes the single-writer lock of the database at path,
// creating the (empty) database file if needed. It returns a *LockedError
// when another process, or another DB of this one, holds it.
func acquireLock(path string) (*writerLock, error) {
	held.Lock()
	defer held.Unlock()
	if st, err := os.Stat(path); err == nil && held.m[idOf(st)] != nil {
		return nil, &LockedError{Path: path, PID: os.Getpid()}
	}
	// Read-only is enough for flock, and keeps a read-only file (a fault
	// the writer reports and retries) from failing here first.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	l := &writerLock{id: idOf(st), db: f}
	if h := held.m[l.id]; h != nil {
		// The file was swapped under its name between the stat and the
		// open, to one this process holds. Closing f now would drop that
		// DB's SQLite locks: the holder closes it when it releases.
		h.parked = append(h.parked, f)
		return nil, &LockedError{Path: path, PID: os.Getpid()}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		// No SQLite connection of this process has the file open (it is
		// not in held), so closing f drops nobody's locks.
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := flockHolder(l.id)
			if pid == 0 {
				pid = readPIDAt(lockPath(path))
			}
			return nil, &LockedError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if l.pid, err = lockPIDFile(lockPath(path)); err != nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		return nil, err
	}
	held.m[l.id] = l
	return l, nil
}

// lockPIDFile takes the flock of the lock file lp and writes our pid in it.
func lockPIDFile(lp string) (*os.File, error) {
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("lock file %s is a symbolic link; not following it (remove it): %w", lp, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w", lp, err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !st.Mode().IsRegular() || (ok && sys.Nlink != 1) {
		f.Close()
		return nil, fmt.Errorf("lock file %s is not a regular file with a single link; not writing to it (remove it)", lp)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: lp, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if _, err := f.WriteAt(pid, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	if err := f.Truncate(int64(len(pid))); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	return f, nil
}

// releaseLock releases and closes both locks. The caller must have closed
// every SQLite connection to the file first. The lock file stays: removing
// it would let a process that opened the old inode and one that creates a
// new file both believe they hold it.
func releaseLock(l *writerLock) error {
	if l == nil {
		return nil
	}
	held.Lock()
	defer held.Unlock()
	delete(held.m, l.id)
	var errs []error
	for _, f := range []*os.File{l.pid, l.db} {
		errs = append(errs, syscall.Flock(int(f.Fd()), syscall.LOCK_UN), f.Close())
	}
	for _, f := range l.parked {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

func idOf(st os.FileInfo) fileID {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(sys.Dev), ino: sys.Ino}
}

// flockHolder returns the pid holding a flock on the file id, from
// /proc/locks ("1: FLOCK  ADVISORY  WRITE 1234 fe:00:9979842 0 EOF",
// device as hex major:minor); 0 if not found or not Linux.
func flockHolder(id fileID) int {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	major := (id.dev>>8)&0xfff | (id.dev>>32)&^0xfff
	minor := id.dev&0xff | (id.dev>>12)&^0xff
	want := fmt.Sprintf("%x:%x:%d", major, minor, id.ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || fs[3] != "WRITE" {
			continue // a POSIX lock, or a waiter ("->")
		}
		if devIno(fs[5]) != want {
			continue
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}

// devIno normalises "fe:00:123" to "fe:0:123", as flockHolder formats it.
func devIno(s string) string {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return ""
	}
	for i := range 2 {
		n, err := strconv.ParseUint(parts[i], 16, 32)
		if err != nil {
			return ""
		}
		parts[i] = strconv.FormatUint(n, 16)
	}
	return strings.Join(parts, ":")
}

// readPIDAt reads the pid in the lock file at lp, without following a
// symlink; 0 if unknown.
func readPIDAt(lp string) int {
	f, err := os.OpenFile(lp, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	return readPID(f)
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
