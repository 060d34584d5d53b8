// Package sqlitetest gives tests a private copy of a real CoreScope
// database: testdata/corescope-fixture.db, a legacy file captured from a
// CoreScope deployment (spec ingestor.md §1.7), or
// testdata/corescope-head-fixture.db, a file written by today's CoreScope
// ingestor (spec head.md).
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

// HeadFixturePath returns the path of the database written by today's
// CoreScope ingestor (the repository's copy of
// ../shared/testdata/corescope-head-fixture.db). Tests must not open it
// for writing: use CopyHeadFixture.
func HeadFixturePath() string {
	return filepath.Join(filepath.Dir(FixturePath()), "corescope-head-fixture.db")
}

// CopyFixture copies the fixture database into a new directory of
// t.TempDir() and returns the copy's path.
func CopyFixture(t testing.TB) string {
	t.Helper()
	return copyFile(t, FixturePath())
}

// CopyHeadFixture copies the database written by today's CoreScope
// ingestor into a new directory of t.TempDir() and returns the copy's path.
func CopyHeadFixture(t testing.TB) string {
	t.Helper()
	return copyFile(t, HeadFixturePath())
}

func copyFile(t testing.TB, path string) string {
	t.Helper()
	src, err := os.Open(path)
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
