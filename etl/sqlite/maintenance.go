package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The maintenance chunks (used by the jobs of jobs/maintenance). Each
// writing call is one short transaction through WriteChunk (or one step of
// the write connection through WithWriteConn), so it yields to ingest first
// and holds the writer for one bounded chunk; ctx cancellation rolls the
// chunk back. Dry runs count in one read on the read-only pool and never
// take the writer.
//
// The ...Chunk methods with a cutoff share one contract: each call changes
// at most limit rows older than cutoff (compared in the column's own time
// format) and reports how many it changed and whether more may remain (more
// is true when the chunk was full). With dryRun the call only counts every
// matching row, ignores limit, reports more=false and writes nothing.
//
// Time comparisons use each column's own format (spec §1.8):
//
//   - RFC 3339 columns (transmissions.first_seen, nodes/observers.last_seen,
//     observer_metrics.timestamp) are compared with rfc3339Before, which is
//     right for values with and without milliseconds;
//   - dropped_packets.dropped_at (YYYY-MM-DD HH:MM:SS) is compared with a
//     cutoff in that same format (spec §9 #13).
//
// Both are text comparisons, so the indexes on those columns serve them.

// rfc3339Before returns the bound for "column < bound" meaning "before
// cutoff" on an RFC 3339 UTC text column: cutoff's second without the zone,
// "2026-05-17T18:13:27". Every value in an earlier second sorts before it,
// with or without milliseconds, and every value in that second or later
// sorts after it: "…:27Z" and "…:27.535Z" both extend the bound. Comparing
// with "…:27Z" instead would wrongly put "…:27.535Z" before the cutoff,
// because '.' sorts before 'Z'. A cutoff's fraction of a second is dropped,
// so a row is at most one second late to expire, never early.
func rfc3339Before(cutoff time.Time) string {
	return cutoff.UTC().Format("2006-01-02T15:04:05")
}

// datetimeBefore returns the bound for "column < bound" on a column in
// SQLite's datetime() format (dropped_packets.dropped_at, created_at).
func datetimeBefore(cutoff time.Time) string {
	return cutoff.UTC().Format(time.DateTime)
}

// PruneTransmissionsChunk deletes up to limit transmissions whose
// first_seen is before cutoff, oldest first, in one transaction: their
// observations first, because observations.transmission_id references
// transmissions with no cascade (spec §3.2). It returns the rows deleted
// from each table and whether the chunk was full. With dryRun it counts
// every matching transmission and observation and deletes nothing.
func (db *DB) PruneTransmissionsChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (tx, obs int64, more bool, err error) {
	before := rfc3339Before(cutoff)
	if dryRun {
		err = db.r.QueryRowContext(ctx, `SELECT
    (SELECT count(*) FROM transmissions WHERE first_seen < ?1),
    (SELECT count(*) FROM observations WHERE transmission_id IN
        (SELECT id FROM transmissions WHERE first_seen < ?1))`, before).Scan(&tx, &obs)
		if err != nil {
			return 0, 0, false, fmt.Errorf("count old transmissions: %w", err)
		}
		return tx, obs, false, nil
	}
	if limit <= 0 {
		return 0, 0, false, errors.New("prune transmissions: limit must be > 0")
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		ids, n, err := selectKeys(ctx, t,
			`SELECT id FROM transmissions WHERE first_seen < ? ORDER BY first_seen LIMIT ?`, before, limit)
		if err != nil || n == 0 {
			return err
		}
		more = n == limit
		if obs, err = execRows(ctx, t,
			`DELETE FROM observations WHERE transmission_id IN (SELECT value FROM json_each(?))`, ids); err != nil {
			return err
		}
		tx, err = execRows(ctx, t, `DELETE FROM transmissions WHERE id IN (SELECT value FROM json_each(?))`, ids)
		return err
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("prune transmissions: %w", err)
	}
	return tx, obs, more, nil
}

// PruneObserverMetricsChunk deletes up to limit observer_metrics rows whose
// timestamp is before cutoff, in one transaction. With dryRun it counts
// every matching row.
func (db *DB) PruneObserverMetricsChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error) {
	n, more, err = db.deleteChunk(ctx, dryRun, limit,
		`SELECT count(*) FROM observer_metrics WHERE timestamp < ?`,
		`DELETE FROM observer_metrics WHERE rowid IN
    (SELECT rowid FROM observer_metrics WHERE timestamp < ? ORDER BY timestamp LIMIT ?)`,
		rfc3339Before(cutoff))
	if err != nil {
		return 0, false, fmt.Errorf("prune observer_metrics: %w", err)
	}
	return n, more, nil
}

// PruneDroppedPacketsChunk deletes up to limit dropped_packets rows whose
// dropped_at is before cutoff, in one transaction, comparing in
// dropped_at's own YYYY-MM-DD HH:MM:SS format. dropped_at has no index;
// rows are visited in id order, which is insertion order, so the old rows
// come first. With dryRun it counts every matching row.
func (db *DB) PruneDroppedPacketsChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error) {
	n, more, err = db.deleteChunk(ctx, dryRun, limit,
		`SELECT count(*) FROM dropped_packets WHERE dropped_at < ?`,
		`DELETE FROM dropped_packets WHERE id IN
    (SELECT id FROM dropped_packets WHERE dropped_at < ? ORDER BY id LIMIT ?)`,
		datetimeBefore(cutoff))
	if err != nil {
		return 0, false, fmt.Errorf("prune dropped_packets: %w", err)
	}
	return n, more, nil
}

// MarkObserversInactiveChunk sets inactive = 1 on up to limit active
// observers whose last_seen is before cutoff, in one transaction. Their
// observer_metrics are kept (spec §9 #27). With dryRun it counts every
// matching observer.
func (db *DB) MarkObserversInactiveChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error) {
	n, more, err = db.deleteChunk(ctx, dryRun, limit,
		`SELECT count(*) FROM observers WHERE last_seen < ? AND COALESCE(inactive, 0) = 0`,
		`UPDATE observers SET inactive = 1 WHERE rowid IN
    (SELECT rowid FROM observers WHERE last_seen < ? AND COALESCE(inactive, 0) = 0 ORDER BY last_seen LIMIT ?)`,
		rfc3339Before(cutoff))
	if err != nil {
		return 0, false, fmt.Errorf("mark observers inactive: %w", err)
	}
	return n, more, nil
}

// nodeColumns are the columns MoveStaleNodesChunk copies, named rather than
// taken by position with SELECT * (spec §9 #12). A column added to nodes
// and inactive_nodes must be added here.
const nodeColumns = `public_key, name, role, lat, lon, last_seen, first_seen,
    advert_count, battery_mv, temperature_c, foreign_advert,
    default_scope, multibyte_sup, multibyte_evidence`

// MoveStaleNodesChunk moves up to limit nodes whose last_seen is before
// cutoff into inactive_nodes, in one transaction: it inserts (or replaces
// an older copy) then deletes them from nodes. Nodes with a NULL last_seen
// never move. With dryRun it counts every matching node.
func (db *DB) MoveStaleNodesChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error) {
	before := rfc3339Before(cutoff)
	if dryRun {
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE last_seen < ?`, before).Scan(&n); err != nil {
			return 0, false, fmt.Errorf("count stale nodes: %w", err)
		}
		return n, false, nil
	}
	if limit <= 0 {
		return 0, false, errors.New("move stale nodes: limit must be > 0")
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		keys, k, err := selectKeys(ctx, t,
			`SELECT public_key FROM nodes WHERE last_seen < ? ORDER BY last_seen LIMIT ?`, before, limit)
		if err != nil || k == 0 {
			return err
		}
		more = k == limit
		copied, err := execRows(ctx, t, `INSERT OR REPLACE INTO inactive_nodes (`+nodeColumns+`)
    SELECT `+nodeColumns+` FROM nodes WHERE public_key IN (SELECT value FROM json_each(?))`, keys)
		if err != nil {
			return err
		}
		if n, err = execRows(ctx, t, `DELETE FROM nodes WHERE public_key IN (SELECT value FROM json_each(?))`, keys); err != nil {
			return err
		}
		if copied != n || n != int64(k) {
			return fmt.Errorf("copied %d nodes but deleted %d of %d", copied, n, k)
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("move stale nodes: %w", err)
	}
	return n, more, nil
}

// deleteChunk runs a one-statement chunk: with dryRun, count(bound) on the
// read pool; otherwise change(bound, limit) in one write transaction. more
// is true when the chunk changed limit rows.
func (db *DB) deleteChunk(ctx context.Context, dryRun bool, limit int, count, change, bound string) (n int64, more bool, err error) {
	if dryRun {
		if err := db.r.QueryRowContext(ctx, count, bound).Scan(&n); err != nil {
			return 0, false, fmt.Errorf("count: %w", err)
		}
		return n, false, nil
	}
	if limit <= 0 {
		return 0, false, errors.New("limit must be > 0")
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		var err error
		n, err = execRows(ctx, t, change, bound, limit)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return n, n == int64(limit), nil
}

// selectKeys runs a one-column query and returns its values as a JSON
// array, for "IN (SELECT value FROM json_each(?))", and their count. Using
// the same key list for every statement of a chunk makes them act on
// exactly the same rows.
func selectKeys(ctx context.Context, t *sql.Tx, q string, args ...any) (string, int, error) {
	rows, err := t.QueryContext(ctx, q, args...)
	if err != nil {
		return "", 0, err
	}
	defer rows.Close()
	var keys []any
	for rows.Next() {
		var k any
		if err := rows.Scan(&k); err != nil {
			return "", 0, err
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	if len(keys) == 0 {
		return "", 0, nil
	}
	js, err := json.Marshal(keys)
	if err != nil {
		return "", 0, err
	}
	return string(js), len(keys), nil
}

// execRows runs a statement and returns the rows it changed.
func execRows(ctx context.Context, t *sql.Tx, q string, args ...any) (int64, error) {
	res, err := t.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// FreelistCount returns PRAGMA freelist_count: the unused pages in the file.
func (db *DB) FreelistCount(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&n); err != nil {
		return 0, fmt.Errorf("freelist_count: %w", err)
	}
	return n, nil
}

// IncrementalVacuumChunk frees up to pages free pages (pages must be > 0;
// incremental_vacuum(0) would free them all) with PRAGMA
// incremental_vacuum, and returns the pages freed and the pages still
// free. The pragma frees one page per step, so every result row is read:
// a plain Exec steps it once and frees a single page (spec §9 #8). In a
// file whose auto_vacuum is not INCREMENTAL it does nothing.
func (db *DB) IncrementalVacuumChunk(ctx context.Context, pages int) (freed, free int64, err error) {
	if pages <= 0 {
		return 0, 0, errors.New("incremental vacuum: pages must be > 0")
	}
	err = db.WithWriteConn(ctx, func(ctx context.Context, conn *sql.Conn) error {
		var before int64
		if err := conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&before); err != nil {
			return err
		}
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", pages))
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
			return err
		}
		freed = before - free
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("incremental vacuum: %w", err)
	}
	return freed, free, nil
}

// FullVacuum sets auto_vacuum = INCREMENTAL and rebuilds the file with
// VACUUM, which is what makes the new mode take effect on an existing
// file. It holds the writer for the whole rebuild and needs free disk
// about twice the file size; cancelling ctx interrupts it and leaves the
// file as it was. VACUUM keeps the rowids of observers, which
// observations.observer_idx refers to (spec §9 #30; tested).
func (db *DB) FullVacuum(ctx context.Context) error {
	err := db.WithWriteConn(ctx, func(ctx context.Context, conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, "VACUUM")
		return err
	})
	if err != nil {
		return fmt.Errorf("full vacuum: %w", err)
	}
	return nil
}

// CheckpointTruncate runs PRAGMA wal_checkpoint(TRUNCATE): it copies the
// WAL into the database and truncates the -wal file. It returns the
// pragma's row: busy is true when a reader (or the busy timeout) kept the
// checkpoint from completing, log is the number of frames in the WAL and
// checkpointed the number copied.
func (db *DB) CheckpointTruncate(ctx context.Context) (busy bool, log, checkpointed int64, err error) {
	err = db.WithWriteConn(ctx, func(ctx context.Context, conn *sql.Conn) error {
		var b int
		if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&b, &log, &checkpointed); err != nil {
			return err
		}
		busy = b != 0
		return nil
	})
	if err != nil {
		return false, 0, 0, fmt.Errorf("wal checkpoint: %w", err)
	}
	return busy, log, checkpointed, nil
}
