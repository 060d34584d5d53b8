package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// The writes that CoreScope's read-only server hands to its writer through
// files next to the database (spec head.md §2.10–§2.12): geo-prune node
// deletes, the multi-byte capability snapshot, and the observer blacklist.
// The files are read by jobs/maintenance; the SQL is here.

// DeleteNodes deletes the nodes whose public_key is in keys, in one write
// transaction, and returns how many it deleted (CoreScope's geo-prune,
// spec head.md §2.12). Only nodes rows go: observations, transmissions and
// inactive_nodes are kept. Callers bound len(keys) per call. With dryRun it
// counts the matching nodes and deletes nothing.
func (db *DB) DeleteNodes(ctx context.Context, keys []string, dryRun bool) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	js, err := json.Marshal(keys)
	if err != nil {
		return 0, fmt.Errorf("delete nodes: %w", err)
	}
	var n int64
	if dryRun {
		if err := db.r.QueryRowContext(ctx,
			`SELECT count(*) FROM nodes WHERE public_key IN (SELECT value FROM json_each(?))`, string(js)).Scan(&n); err != nil {
			return 0, fmt.Errorf("count nodes: %w", err)
		}
		return n, nil
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		var err error
		n, err = execRows(ctx, t, `DELETE FROM nodes WHERE public_key IN (SELECT value FROM json_each(?))`, string(js))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete nodes: %w", err)
	}
	return n, nil
}

// ApplyMultibyteCaps sets multibyte_sup = sups[i] and multibyte_evidence =
// evidence[i] of node keys[i], for every i, in one write transaction (spec
// head.md §2.10): on the nodes row if there is one, else on the
// inactive_nodes row. A row that already has the values is not rewritten.
// It returns the nodes and inactive_nodes rows changed and the rows that
// were already up to date; keys in neither table are not counted. With
// dryRun it only counts.
func (db *DB) ApplyMultibyteCaps(ctx context.Context, keys []string, sups []int, evidence []string, dryRun bool) (active, inactive, unchanged int64, err error) {
	if len(sups) != len(keys) || len(evidence) != len(keys) {
		return 0, 0, 0, errors.New("apply multibyte capabilities: keys, sups and evidence differ in length")
	}
	if len(keys) == 0 {
		return 0, 0, 0, nil
	}
	apply := func(ctx context.Context, q querier, write bool) error {
		active, inactive, unchanged = 0, 0, 0
		for i, key := range keys {
			for _, table := range []string{"nodes", "inactive_nodes"} {
				var same bool
				err := q.QueryRowContext(ctx, `SELECT multibyte_sup IS ?2 AND multibyte_evidence IS ?3
    FROM `+table+` WHERE public_key = ?1`, key, sups[i], evidence[i]).Scan(&same)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				if err != nil {
					return err
				}
				switch {
				case same:
					unchanged++
				case table == "nodes":
					active++
				default:
					inactive++
				}
				if write && !same {
					if _, err := q.ExecContext(ctx, `UPDATE `+table+` SET multibyte_sup = ?2, multibyte_evidence = ?3
    WHERE public_key = ?1`, key, sups[i], evidence[i]); err != nil {
						return err
					}
				}
				break
			}
		}
		return nil
	}
	if dryRun {
		err = apply(ctx, db.r, false)
	} else {
		err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error { return apply(ctx, t, true) })
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("apply multibyte capabilities: %w", err)
	}
	return active, inactive, unchanged, nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// DeactivateObservers marks the active observers whose id is in ids
// (compared case-insensitively) inactive, in one write transaction, and
// returns how many it changed: CoreScope's observer-blacklist soft delete
// (spec head.md §2.11). Their metrics are kept; the next message of such an
// observer, if it is let through, reactivates it. With dryRun it counts.
func (db *DB) DeactivateObservers(ctx context.Context, ids []string, dryRun bool) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return 0, fmt.Errorf("deactivate observers: %w", err)
	}
	const where = `WHERE LOWER(id) IN (SELECT LOWER(value) FROM json_each(?)) AND (inactive IS NULL OR inactive = 0)`
	var n int64
	if dryRun {
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM observers `+where, string(js)).Scan(&n); err != nil {
			return 0, fmt.Errorf("count observers: %w", err)
		}
		return n, nil
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		var err error
		n, err = execRows(ctx, t, `UPDATE observers SET inactive = 1 `+where, string(js))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deactivate observers: %w", err)
	}
	return n, nil
}
