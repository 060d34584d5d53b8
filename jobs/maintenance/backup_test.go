package maintenance_test

import (
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/sqlite/sqlitetest"
	"github.com/corescope/etl/jobs/maintenance"
)

// dump renders every table of the database at path, rows in rowid order.
func dump(t testing.TB, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tb := range tables {
		fmt.Fprintf(&b, "== %s\n", tb)
		rs, err := db.Query("SELECT * FROM " + tb + " ORDER BY rowid")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rs.Next() {
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%v|", v)
			}
			b.WriteByte('\n')
		}
		rs.Close()
	}
	return b.String()
}

func TestBackupDestroyRestore(t *testing.T) {
	for _, compress := range []string{maintenance.CompressNone, maintenance.CompressGzip} {
		t.Run("compress="+compress, func(t *testing.T) {
			ctx := context.Background()
			path := sqlitetest.CopyFixture(t)
			db, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			want := dump(t, path)
			dir := filepath.Join(t.TempDir(), "backups")
			tick := now
			job := &maintenance.Backup{DB: db, Dir: dir, Keep: 2, Compress: compress, Now: func() time.Time { return tick }}

			// Three runs, a minute apart: the newest two are kept.
			var res []string
			for i := range 3 {
				tick = now.Add(time.Duration(i) * time.Minute)
				r, err := job.Run(ctx, false)
				if err != nil {
					t.Fatal(err)
				}
				if r.Rows == 0 || !strings.Contains(r.Detail, "transmissions=") {
					t.Fatalf("result %+v", r)
				}
				res = append(res, r.Detail)
			}
			ents, _ := os.ReadDir(dir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			ext := ".db"
			if compress == maintenance.CompressGzip {
				ext = ".db.gz"
			}
			wantNames := []string{"corescope-20260520T120100Z" + ext, "corescope-20260520T120200Z" + ext}
			if fmt.Sprint(names) != fmt.Sprint(wantNames) {
				t.Fatalf("backups = %v, want %v", names, wantNames)
			}

			// Destroy the database, restore the newest copy, compare.
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			for _, suf := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suf)
			}
			restore(t, filepath.Join(dir, wantNames[1]), path)
			if got := dump(t, path); got != want {
				t.Fatalf("restored database differs from the original (%d vs %d bytes of dump)", len(got), len(want))
			}
			db2, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			if applied, err := db2.Migrate(ctx); err != nil || len(applied) != 0 {
				t.Fatalf("restored file needs migrations %v: %v", applied, err)
			}
		})
	}
}

func restore(t *testing.T, backup, dst string) {
	t.Helper()
	in, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var r io.Reader = in
	if strings.HasSuffix(backup, ".gz") {
		zr, err := gzip.NewReader(in)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, r); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBackupDryRunAndPartials(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	dir := t.TempDir()
	partial := filepath.Join(dir, "corescope-20260101T000000Z.db.partial")
	if err := os.WriteFile(partial, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	job := &maintenance.Backup{DB: db, Dir: dir, Now: clock}
	r, err := job.Run(ctx, true)
	if err != nil || !strings.Contains(r.Detail, "would write") {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("dry run wrote files: %v", ents)
	}
	if _, err := job.Run(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatal("a partial file of an interrupted run was kept")
	}
}

// mountTmpfs mounts a small tmpfs (root only); the test is skipped where
// mounting is not allowed.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := osexec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { osexec.Command("umount", dir).Run() })
	return dir
}

func TestBackupVolumeFullOrReadOnly(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	full := mountTmpfs(t, "size=64k")
	ro := mountTmpfs(t, "size=1m,ro")
	for _, c := range []struct {
		dir, want string
	}{
		{full, "backup volume is full"},
		{ro, "read-only"},
	} {
		_, err := (&maintenance.Backup{DB: db, Dir: c.dir, Now: clock}).Run(ctx, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("backup into %s: err = %v, want %q", c.dir, err, c.want)
		}
		if ents, _ := os.ReadDir(c.dir); len(ents) != 0 {
			t.Fatalf("partial files left in %s: %v", c.dir, ents)
		}
	}
	// The database is untouched and still writable.
	exec(t, db, `INSERT INTO observers (id) VALUES ('after-failed-backup')`)
}
