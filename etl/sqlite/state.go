package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// State returns the value stored under key in etl_state, our own durable
// key-value table (job cursors, heartbeats), and whether the key exists. It
// reads through the read pool, so it sees the last committed value.
func (db *DB) State(ctx context.Context, key string) (value string, ok bool, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT value FROM etl_state WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("state %s: %w", key, err)
	}
	return value, true, nil
}

// SetState stores value under key in etl_state (insert or replace), with
// updated_at set to now (RFC 3339 UTC, milliseconds). It writes through the
// write connection like a maintenance chunk, yielding to ingest first.
func (db *DB) SetState(ctx context.Context, key, value string) error {
	now := time.Now().UTC().Format(jobRunTime)
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO etl_state (key, value, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, value, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("set state %s: %w", key, err)
	}
	return nil
}
