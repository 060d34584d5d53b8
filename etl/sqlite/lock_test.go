package sqlite

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// openHelper runs TestLockHelperProcess (open_test.go) in a second process
// on path and returns its output.
func openHelper(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	return string(out)
}

// TestLockByFileIdentity opens a database, then has a second process open
// the same file through a symlink and through a hard link: both are
// refused, naming this process.
func TestLockByFileIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}

	other := t.TempDir() // another directory: a lock next to the path cannot see it
	symlink := filepath.Join(other, "via-symlink.db")
	if err := os.Symlink(path, symlink); err != nil {
		t.Fatal(err)
	}
	hardlink := filepath.Join(other, "via-hardlink.db")
	if err := os.Link(path, hardlink); err != nil {
		t.Fatal(err)
	}
	want := "held by pid " + strconv.Itoa(os.Getpid())
	for _, p := range []string{symlink, hardlink} {
		out := openHelper(t, p)
		if !strings.Contains(out, "HELPER: locked=true") || !strings.Contains(out, want) {
			t.Errorf("%s: the second process was not refused with %q:\n%s", filepath.Base(p), want, out)
		}
	}
	// Same process, same answer, and the first DB still works afterwards:
	// the refused Open must not have dropped SQLite's own locks.
	for _, p := range []string{symlink, hardlink} {
		_, err := Open(context.Background(), p, Options{})
		var le *LockedError
		if !errors.As(err, &le) || le.PID != os.Getpid() {
			t.Errorf("Open(%s) in the same process: %v, want a LockedError naming pid %d", filepath.Base(p), err, os.Getpid())
		}
	}
	apply(t, db, packetRec("00000000000000aa", "OBS1", t0))

	// Released on Close: the hard link opens now.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if out := openHelper(t, hardlink); !strings.Contains(out, "HELPER: opened") {
		t.Errorf("after Close, the hard link does not open:\n%s", out)
	}
}

// TestLockFilePlanted plants a symlink, then a hard link to another file,
// at <db>-ingestor.lock: Open refuses both, naming the path, and leaves the
// target untouched (it neither follows the symlink nor writes our pid into
// the linked file); with the planted file gone, Open works.
func TestLockFilePlanted(t *testing.T) {
	for _, c := range []struct {
		name  string
		plant func(target, link string) error
		errno error // nil: any error naming the lock file
	}{
		{"symlink", os.Symlink, syscall.ELOOP},
		{"hard link", os.Link, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.db")
			target := filepath.Join(dir, "precious")
			const content = "do not truncate me\n"
			if err := os.WriteFile(target, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := c.plant(target, lockPath(path)); err != nil {
				t.Fatal(err)
			}
			db, err := Open(context.Background(), path, Options{})
			if err == nil {
				db.Close()
				t.Fatalf("Open used a %s as its lock file", c.name)
			}
			if !strings.Contains(err.Error(), lockPath(path)) || (c.errno != nil && !errors.Is(err, c.errno)) {
				t.Errorf("error %q does not name the lock file as a %s", err, c.name)
			}
			if b, err := os.ReadFile(target); err != nil || string(b) != content {
				t.Errorf("%s target changed: %q, %v", c.name, b, err)
			}
			if err := os.Remove(lockPath(path)); err != nil {
				t.Fatal(err)
			}
			db, err = Open(context.Background(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		})
	}
}
