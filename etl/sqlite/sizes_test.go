package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

func TestSizes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := db.Sizes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.FileBytes <= 0 || s.PageSize != 4096 || s.FreelistPages < 0 {
		t.Fatalf("sizes = %+v", s)
	}
}
