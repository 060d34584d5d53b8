package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestOpenNewFilePragmas(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	mode, err := db.AutoVacuumMode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Errorf("auto_vacuum = %d, want 2 (INCREMENTAL) on a new file", mode)
	}
	err = db.WithWriteConn(ctx, func(ctx context.Context, conn *sql.Conn) error {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"synchronous":  "1",
			"busy_timeout": "5000",
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				return err
			}
			if got != want {
				t.Errorf("write conn: %s = %s, want %s", pragma, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var qo, bt int
	if err := db.Reader().QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil {
		t.Fatal(err)
	}
	if err := db.Reader().QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&bt); err != nil {
		t.Fatal(err)
	}
	if qo != 1 || bt != 5000 {
		t.Errorf("reader: query_only=%d busy_timeout=%d, want 1 and 5000", qo, bt)
	}
	if _, err := db.Reader().ExecContext(ctx, "INSERT INTO _migrations VALUES ('x')"); err == nil {
		t.Error("reader accepted a write")
	}
}

func TestOpenExistingFileKeepsAutoVacuum(t *testing.T) {
	path := copyFixture(t)
	db := openMigrated(t, path)
	mode, err := db.AutoVacuumMode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if mode != 0 {
		t.Errorf("auto_vacuum = %d, want 0: an existing file keeps its mode until a full VACUUM", mode)
	}
}

func TestOpenCreatesParentDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "x.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q", db.Path())
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Errorf("parent dir mode = %v, want 0755", st.Mode().Perm())
	}
}

func TestLockSameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Open: %#v, want a LockedError naming pid %d", err, os.Getpid())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Released on Close.
	db, err = Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db.Close()
}

const lockHelperEnv = "ETL_SQLITE_LOCK_HELPER_DB"

// TestLockHelperProcess is not a test: TestLockSecondProcess runs the test
// binary again with only this test and the database path in the
// environment, as the second writer process.
func TestLockHelperProcess(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	db, err := Open(context.Background(), path, Options{})
	if err == nil {
		db.Close()
		fmt.Println("HELPER: opened")
		return
	}
	fmt.Printf("HELPER: locked=%v error=%v\n", errors.Is(err, ErrLocked), err)
}

func TestLockSecondProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := "pid " + strconv.Itoa(os.Getpid())
	if !strings.Contains(string(out), "HELPER: locked=true") || !strings.Contains(string(out), want) {
		t.Fatalf("second process was not refused with the holder's pid (%s):\n%s", want, out)
	}
}

func TestCloseLeavesWALEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := openMigrated(t, path)
	apply(t, db, packetRec("00000000000000aa", "OBS1", t0), packetRec("00000000000000bb", "OBS2", t0))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path + "-wal")
	if err == nil && st.Size() != 0 {
		t.Errorf("-wal has %d bytes after Close, want 0 or absent", st.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	// The data is in the main file.
	raw := rawOpen(t, path)
	if n := queryInt(t, raw, "SELECT count(*) FROM transmissions"); n != 2 {
		t.Errorf("transmissions = %d after reopen, want 2", n)
	}
}
