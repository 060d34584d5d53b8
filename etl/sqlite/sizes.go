package sqlite

import (
	"context"
	"fmt"
	"os"
)

// Sizes describes the database files.
type Sizes struct {
	FileBytes     int64 // the main database file
	WALBytes      int64 // the write-ahead log (0 when absent)
	PageSize      int64 // bytes per page
	FreelistPages int64 // free pages, returned to the OS by incremental vacuum
}

// Sizes reports the file sizes and the free-page count, from the read pool.
func (db *DB) Sizes(ctx context.Context) (Sizes, error) {
	var s Sizes
	fi, err := os.Stat(db.path)
	if err != nil {
		return s, fmt.Errorf("sizes: %w", err)
	}
	s.FileBytes = fi.Size()
	if fi, err := os.Stat(db.path + "-wal"); err == nil {
		s.WALBytes = fi.Size()
	}
	if err := db.Reader().QueryRowContext(ctx, "SELECT page_size, freelist_count FROM pragma_page_size, pragma_freelist_count").Scan(&s.PageSize, &s.FreelistPages); err != nil {
		return s, fmt.Errorf("sizes: %w", err)
	}
	return s, nil
}
