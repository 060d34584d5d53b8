// Package sqlitetest gives tests a private copy of a real CoreScope
// database: testdata/corescope-fixture.db, a legacy file captured from a
// CoreScope deployment (spec ingestor.md §1.7).
package sqlitetest

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// FixturePath returns the path of the repository's fixture database. Tests
// must not open it for writing: use CopyFixture.
func FixturePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "corescope-fixture.db")
}

// CopyFixture copies the fixture database into a new directory of
// t.TempDir() and returns the copy's path.
func CopyFixture(t testing.TB) string {
	t.Helper()
	src, err := os.Open(FixturePath())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(t.TempDir(), "fixture.db")
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
