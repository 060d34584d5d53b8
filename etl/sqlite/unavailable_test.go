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
	// A failure of the records themselves is not about availability.
	bad := packetRec("0000000000000001", "OBS", time.Now())
	bad.Kind = 99
	if _, err := db.Apply(ctx, []etl.Record{bad}); err == nil || errors.Is(err, etl.ErrUnavailable) {
		t.Fatalf("Apply of an invalid record: err = %v, want an error that is not etl.ErrUnavailable", err)
	}
}
