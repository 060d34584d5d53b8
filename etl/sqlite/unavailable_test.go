package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
)

// A full disk is about the store, not the records: Apply reports it as
// etl.ErrUnavailable so that the pipeline retries instead of skipping.
func TestApplyReportsFullDatabaseAsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	err := db.WithWriteConn(ctx, func(ctx context.Context, c *sql.Conn) error {
		var pages int64
		if err := c.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			return err
		}
		_, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]etl.Record, 2000)
	for i := range recs {
		recs[i] = packetRec(fmt.Sprintf("%016x", i), "OBS", time.Now())
	}
	_, err = db.Apply(ctx, recs)
	if !errors.Is(err, etl.ErrUnavailable) {
		t.Fatalf("Apply on a full database: err = %v, want etl.ErrUnavailable", err)
	}
	// A record-level failure is not: an unmigrated file is refused as such.
	if errors.Is(ErrNotMigrated, etl.ErrUnavailable) {
		t.Fatal("ErrNotMigrated must not be an availability error")
	}
}
