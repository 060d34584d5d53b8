package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PathJSONBackfillName is CoreScope's _migrations name of its asynchronous
// path_json backfill (spec ingestor.md §1.5); it is recorded when the
// backfill has gone through every observation.
const PathJSONBackfillName = "backfill_path_json_from_raw_hex_v1"

// PathJSONBackfilled reports whether the path_json backfill is recorded as
// done.
func (db *DB) PathJSONBackfilled(ctx context.Context) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM _migrations WHERE name = ?`, PathJSONBackfillName).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("path_json backfill state: %w", err)
	}
	return n > 0, nil
}

// BackfillPathJSONChunk fills path_json for up to limit observations with
// id > afterID whose path_json is NULL or empty (legacy rows), from the
// observation's raw hex or else its transmission's: path derives it, and
// returns false when the packet cannot be decoded (the row then gets "[]",
// which marks it done, as CoreScope does). It returns the last id
// it looked at (the cursor for the next chunk) and how many rows it
// updated. A row whose new path would duplicate another observation of the
// same transmission and observer keeps its empty path (the dedup index
// forbids both). When no row is left it records PathJSONBackfillName. With
// dryRun it counts the rows that need a path and changes nothing.
func (db *DB) BackfillPathJSONChunk(ctx context.Context, afterID int64, limit int, path func(rawHex string) (string, bool), dryRun bool) (lastID, n int64, more bool, err error) {
	const pending = `FROM observations o JOIN transmissions t ON t.id = o.transmission_id
    WHERE o.id > ? AND (o.path_json IS NULL OR o.path_json = '')`
	if dryRun {
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) `+pending, afterID).Scan(&n); err != nil {
			return afterID, 0, false, fmt.Errorf("count path_json backfill: %w", err)
		}
		return afterID, n, false, nil
	}
	if limit <= 0 {
		return afterID, 0, false, errors.New("path_json backfill: limit must be > 0")
	}
	lastID = afterID
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		rows, err := t.QueryContext(ctx, `SELECT o.id, COALESCE(NULLIF(o.raw_hex, ''), t.raw_hex, '') `+pending+` ORDER BY o.id LIMIT ?`, afterID, limit)
		if err != nil {
			return err
		}
		type row struct {
			id  int64
			raw string
		}
		var todo []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.raw); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		more = len(todo) == limit
		for _, r := range todo {
			p, ok := "[]", false
			if r.raw != "" {
				p, ok = path(r.raw)
			}
			if !ok {
				p = "[]"
			}
			c, err := execRows(ctx, t, `UPDATE OR IGNORE observations SET path_json = ? WHERE id = ?`, p, r.id)
			if err != nil {
				return err
			}
			n += c
			lastID = r.id
		}
		if !more {
			_, err := t.ExecContext(ctx, `INSERT OR IGNORE INTO _migrations(name) VALUES (?)`, PathJSONBackfillName)
			return err
		}
		return nil
	})
	if err != nil {
		return afterID, 0, false, fmt.Errorf("path_json backfill: %w", err)
	}
	return lastID, n, more, nil
}
