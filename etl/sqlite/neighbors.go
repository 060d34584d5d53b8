package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The neighbour graph (spec head.md §2.9): neighbor_edges rows are
// undirected pairs of lower-case ids, node_a < node_b, with the number of
// observations that showed them as neighbours and the newest such
// observation's time (RFC 3339 UTC seconds). CoreScope's server reads the
// table; we are its only writer.
//
// The builder counts each observation once, in observation id order, and
// keeps its place in etl_state under NeighborCursorKey: the id of the last
// observation counted. The cursor advances in the transaction that adds
// that chunk's edges, so a crash neither loses nor double-counts one.
// Unlike CoreScope's watermark on MAX(last_seen), an id cursor counts late
// observations (an old timestamp under a new id) and moves past
// observations that yield no edge.

// NeighborCursorKey is the etl_state key of the neighbour builder's cursor:
// the last observation id counted into neighbor_edges.
const NeighborCursorKey = "neighborEdges.lastObservationId"

// NodeKeys returns the public key of every row of nodes, as stored
// (inactive nodes are not included).
func (db *DB) NodeKeys(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT public_key FROM nodes WHERE public_key IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("node keys: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("node keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("node keys: %w", err)
	}
	return keys, nil
}

// NeighborPairs calls fn with node_a and node_b of every neighbor_edges
// row.
func (db *DB) NeighborPairs(ctx context.Context, fn func(a, b string)) error {
	rows, err := db.r.QueryContext(ctx, `SELECT node_a, node_b FROM neighbor_edges`)
	if err != nil {
		return fmt.Errorf("neighbour pairs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return fmt.Errorf("neighbour pairs: %w", err)
		}
		fn(a, b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("neighbour pairs: %w", err)
	}
	return nil
}

// neighborObs reads the observations after a cursor with what the edge
// rule needs: the payload type, the origin (from_pubkey, else an advert's
// decoded pubKey, as CoreScope's builder does), the path and the
// observer's id.
const neighborObs = `SELECT o.id, COALESCE(t.payload_type, -1),
    COALESCE(NULLIF(t.from_pubkey, ''),
        CASE WHEN t.payload_type = 4 AND json_valid(t.decoded_json)
            THEN json_extract(t.decoded_json, '$.pubKey') END, ''),
    COALESCE(o.path_json, ''), COALESCE(obs.id, ''), o.timestamp
FROM observations o
JOIN transmissions t ON t.id = o.transmission_id
LEFT JOIN observers obs ON obs.rowid = o.observer_idx
WHERE o.id > ? ORDER BY o.id LIMIT ?`

// NeighborEdgesChunk counts up to limit observations after the builder's
// cursor into neighbor_edges. It reads them on the read pool, asks edges
// for the neighbour pairs each one contributes (canonical, lower case;
// edges appends them to dst), then in one short write transaction adds 1
// per contributing observation to each pair's count, raises its last_seen
// to the observation's time, and moves the cursor past the chunk. It
// returns the observations read, the edge rows written and whether more
// may remain (the chunk was full). With dryRun it counts the observations
// after the cursor and writes nothing.
//
// Without a cursor (the first run on this database) the builder starts at
// the beginning when neighbor_edges is empty. When it is not (CoreScope's
// own writer built it), it starts after the observations that writer had
// already counted: the first one newer than MAX(last_seen).
func (db *DB) NeighborEdgesChunk(ctx context.Context, limit int, edges func(dst [][2]string, payloadType int, from, pathJSON, observer string) [][2]string, dryRun bool) (obs, n int64, more bool, err error) {
	cursor, err := db.neighborCursor(ctx, dryRun)
	if err != nil {
		return 0, 0, false, fmt.Errorf("neighbour edges: %w", err)
	}
	if dryRun {
		err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM observations WHERE id > ?`, cursor).Scan(&obs)
		if err != nil {
			return 0, 0, false, fmt.Errorf("neighbour edges: count: %w", err)
		}
		return obs, 0, false, nil
	}
	if limit <= 0 {
		return 0, 0, false, errors.New("neighbour edges: limit must be > 0")
	}

	type agg struct {
		count    int64
		lastSeen int64 // epoch seconds
	}
	found := make(map[[2]string]*agg)
	var order [][2]string // first-seen order, for a stable write order
	last := cursor
	rows, err := db.r.QueryContext(ctx, neighborObs, cursor, limit)
	if err != nil {
		return 0, 0, false, fmt.Errorf("neighbour edges: read: %w", err)
	}
	var pairs [][2]string
	for rows.Next() {
		var (
			id, ts                 int64
			typ                    int
			from, path, observerID string
		)
		if err := rows.Scan(&id, &typ, &from, &path, &observerID, &ts); err != nil {
			rows.Close()
			return 0, 0, false, fmt.Errorf("neighbour edges: read: %w", err)
		}
		obs++
		last = id
		pairs = edges(pairs[:0], typ, from, path, observerID)
		for _, p := range pairs {
			a := found[p]
			if a == nil {
				a = &agg{lastSeen: ts}
				found[p] = a
				order = append(order, p)
			}
			a.count++
			a.lastSeen = max(a.lastSeen, ts)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, false, fmt.Errorf("neighbour edges: read: %w", err)
	}
	if obs == 0 {
		return 0, 0, false, nil
	}
	more = obs == int64(limit)

	err = db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Compare and set: the chunk counts only if the cursor is where it
		// was read (a concurrent run would have moved it).
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM etl_state WHERE key = ?`, NeighborCursorKey).Scan(&cur); err != nil {
			return fmt.Errorf("cursor: %w", err)
		}
		if cur != strconv.FormatInt(cursor, 10) {
			return fmt.Errorf("cursor moved from %d to %s during the chunk", cursor, cur)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO neighbor_edges (node_a, node_b, count, last_seen)
    VALUES (?, ?, ?, ?)
    ON CONFLICT (node_a, node_b) DO UPDATE SET
        count = COALESCE(count, 0) + excluded.count,
        last_seen = MAX(COALESCE(last_seen, ''), excluded.last_seen)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range order {
			a := found[p]
			seen := time.Unix(a.lastSeen, 0).UTC().Format(time.RFC3339)
			if _, err := stmt.ExecContext(ctx, p[0], p[1], a.count, seen); err != nil {
				return fmt.Errorf("upsert %s-%s: %w", p[0], p[1], err)
			}
		}
		n = int64(len(order))
		return putNeighborCursor(ctx, tx, last, false)
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("neighbour edges: %w", err)
	}
	return obs, n, more, nil
}

// NeighborCursor returns the builder's cursor, the last observation id
// counted into neighbor_edges, and whether it is set.
func (db *DB) NeighborCursor(ctx context.Context) (int64, bool, error) {
	v, ok, err := db.State(ctx, NeighborCursorKey)
	if err != nil || !ok {
		return 0, false, err
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("state %s: %w", NeighborCursorKey, err)
	}
	return id, true, nil
}

// neighborCursor returns the cursor, first setting it when it is absent
// (see NeighborEdgesChunk). A dry run computes the start without storing
// it.
func (db *DB) neighborCursor(ctx context.Context, dryRun bool) (int64, error) {
	id, ok, err := db.NeighborCursor(ctx)
	if err != nil || ok {
		return id, err
	}
	var watermark sql.NullString
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(last_seen) FROM neighbor_edges`).Scan(&watermark); err != nil {
		return 0, fmt.Errorf("watermark: %w", err)
	}
	var start int64
	if watermark.Valid {
		w, err := time.Parse(time.RFC3339, watermark.String)
		if err == nil {
			err = db.r.QueryRowContext(ctx, `SELECT COALESCE(
    (SELECT MIN(id) - 1 FROM observations WHERE timestamp > ?),
    (SELECT MAX(id) FROM observations), 0)`, w.Unix()).Scan(&start)
		}
		if err != nil {
			return 0, fmt.Errorf("start after watermark %q: %w", watermark.String, err)
		}
	}
	if dryRun {
		return start, nil
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return putNeighborCursor(ctx, tx, start, true)
	})
	if err != nil {
		return 0, fmt.Errorf("set cursor: %w", err)
	}
	id, _, err = db.NeighborCursor(ctx)
	return id, err
}

// putNeighborCursor stores the builder's cursor inside tx; with ifAbsent
// it keeps a cursor that is already set.
func putNeighborCursor(ctx context.Context, tx *sql.Tx, id int64, ifAbsent bool) error {
	conflict := `DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
	if ifAbsent {
		conflict = `DO NOTHING`
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO etl_state (key, value, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (key) `+conflict,
		NeighborCursorKey, strconv.FormatInt(id, 10), time.Now().UTC().Format(jobRunTime))
	return err
}

// PruneNeighborEdgesChunk deletes up to limit neighbor_edges rows whose
// last_seen is before cutoff, in one transaction (CoreScope's
// PruneNeighborEdges, chunked). Rows without a last_seen are kept. With
// dryRun it counts every matching row.
func (db *DB) PruneNeighborEdgesChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error) {
	n, more, err = db.deleteChunk(ctx, dryRun, limit,
		`SELECT count(*) FROM neighbor_edges WHERE last_seen < ?`,
		`DELETE FROM neighbor_edges WHERE rowid IN
    (SELECT rowid FROM neighbor_edges WHERE last_seen < ? LIMIT ?)`,
		rfc3339Before(cutoff))
	if err != nil {
		return 0, false, fmt.Errorf("prune neighbor_edges: %w", err)
	}
	return n, more, nil
}
