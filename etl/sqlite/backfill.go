package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
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

// LastSeenBackfillName is CoreScope's _async_migrations name of its
// transmissions.last_seen backfill (head.md §1.2 (4)); it is recorded
// there with status 'done' when BackfillLastSeenChunk has gone through
// every transmission, so that CoreScope's ingestor, given the file back,
// does not redo it.
const LastSeenBackfillName = "tx_last_seen_backfill_v1"

// LastSeenBackfilled reports whether the last_seen backfill is recorded as
// done in _async_migrations (by us or by CoreScope's ingestor).
func (db *DB) LastSeenBackfilled(ctx context.Context) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM _async_migrations WHERE name = ? AND status = 'done'`, LastSeenBackfillName).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("last_seen backfill state: %w", err)
	}
	return n > 0, nil
}

// BackfillLastSeenChunk sets transmissions.last_seen to the newest
// observations.timestamp for up to limit transmissions with id > afterID
// whose last_seen is 0 (rows older than the column), in one write
// transaction. It walks idx_tx_last_seen_zero by id, and each MAX is one
// probe of idx_observations_tx_ts. A transmission without observations
// keeps 0 (CoreScope's rule), and the cursor moves past it, so a pass
// never rescans it. It returns the last id looked at, the rows updated and
// whether more may remain; when none remain it records
// LastSeenBackfillName as done. With dryRun it counts the rows that would
// get a value and changes nothing.
func (db *DB) BackfillLastSeenChunk(ctx context.Context, afterID int64, limit int, dryRun bool) (lastID, n int64, more bool, err error) {
	if dryRun {
		err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM transmissions t
    WHERE t.last_seen = 0 AND t.id > ? AND EXISTS (SELECT 1 FROM observations o WHERE o.transmission_id = t.id)`, afterID).Scan(&n)
		if err != nil {
			return afterID, 0, false, fmt.Errorf("count last_seen backfill: %w", err)
		}
		return afterID, n, false, nil
	}
	if limit <= 0 {
		return afterID, 0, false, errors.New("last_seen backfill: limit must be > 0")
	}
	lastID = afterID
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		var hi sql.NullInt64
		var k int
		if err := t.QueryRowContext(ctx, `SELECT max(id), count(*) FROM
    (SELECT id FROM transmissions WHERE last_seen = 0 AND id > ? ORDER BY id LIMIT ?)`, afterID, limit).Scan(&hi, &k); err != nil {
			return err
		}
		more = k == limit
		if k > 0 {
			c, err := execRows(ctx, t, `UPDATE transmissions SET last_seen = m.ts
FROM (SELECT t.id AS id, (SELECT max(o.timestamp) FROM observations o WHERE o.transmission_id = t.id) AS ts
      FROM transmissions t WHERE t.last_seen = 0 AND t.id > ?1 AND t.id <= ?2) AS m
WHERE transmissions.id = m.id AND m.ts > 0`, afterID, hi.Int64)
			if err != nil {
				return err
			}
			n, lastID = c, hi.Int64
		}
		if !more {
			return markAsyncDone(ctx, t, LastSeenBackfillName)
		}
		return nil
	})
	if err != nil {
		return afterID, 0, false, fmt.Errorf("last_seen backfill: %w", err)
	}
	return lastID, n, more, nil
}

// markAsyncDone records name as done in CoreScope's _async_migrations,
// replacing a pending or failed row CoreScope's ingestor left.
func markAsyncDone(ctx context.Context, t *sql.Tx, name string) error {
	_, err := t.ExecContext(ctx, `INSERT INTO _async_migrations (name, status, started_at, ended_at)
    VALUES (?, 'done', datetime('now'), datetime('now'))
    ON CONFLICT (name) DO UPDATE SET status = 'done', ended_at = excluded.ended_at, error = NULL`, name)
	return err
}

// FromPubkeyCursorKey is the etl_state key of the from_pubkey backfill:
// the highest transmissions.id it has checked.
const FromPubkeyCursorKey = "backfill_from_pubkey.checked_id"

// FromPubkeyCursor returns the highest transmission id the from_pubkey
// backfill has checked (0 before its first chunk).
func (db *DB) FromPubkeyCursor(ctx context.Context) (int64, error) {
	v, ok, err := db.State(ctx, FromPubkeyCursorKey)
	if err != nil || !ok {
		return 0, err
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("state %s: %w", FromPubkeyCursorKey, err)
	}
	return id, nil
}

// BackfillFromPubkeyChunk gives up to limit ADVERT transmissions with
// id > afterID and a NULL from_pubkey one (head.md §2.13): decoded_json's
// $.pubKey as stored, or the empty string when it has none or is not JSON, so that the
// row is never looked at again. It walks the ADVERTs by id through
// idx_transmissions_payload_type (the from_pubkey index would list every
// non-ADVERT row too) and stores its cursor in etl_state under
// FromPubkeyCursorKey in the same transaction; when none remain the cursor
// becomes the largest transmission id, so the next start checks only newer
// rows. It returns the last id checked, the rows updated and whether more
// may remain. With dryRun it counts the rows and changes nothing.
func (db *DB) BackfillFromPubkeyChunk(ctx context.Context, afterID int64, limit int, dryRun bool) (lastID, n int64, more bool, err error) {
	// +from_pubkey: keep the planner off idx_transmissions_from_pubkey.
	const pending = `payload_type = 4 AND +from_pubkey IS NULL`
	if dryRun {
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM transmissions WHERE `+pending+` AND id > ?`, afterID).Scan(&n); err != nil {
			return afterID, 0, false, fmt.Errorf("count from_pubkey backfill: %w", err)
		}
		return afterID, n, false, nil
	}
	if limit <= 0 {
		return afterID, 0, false, errors.New("from_pubkey backfill: limit must be > 0")
	}
	lastID = afterID
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		var hi sql.NullInt64
		var k int
		if err := t.QueryRowContext(ctx, `SELECT max(id), count(*) FROM
    (SELECT id FROM transmissions WHERE `+pending+` AND id > ? ORDER BY id LIMIT ?)`, afterID, limit).Scan(&hi, &k); err != nil {
			return err
		}
		more = k == limit
		cursor := hi.Int64
		if k > 0 {
			c, err := execRows(ctx, t, `UPDATE transmissions SET from_pubkey = CASE
        WHEN NOT json_valid(decoded_json) THEN ''
        WHEN json_type(decoded_json, '$.pubKey') = 'text' THEN json_extract(decoded_json, '$.pubKey')
        ELSE '' END
    WHERE `+pending+` AND id > ?1 AND id <= ?2`, afterID, hi.Int64)
			if err != nil {
				return err
			}
			n = c
		}
		if !more {
			// Every row up to the newest has been checked in this
			// transaction (ingest waits for it).
			if err := t.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM transmissions`).Scan(&cursor); err != nil {
				return err
			}
			cursor = max(cursor, afterID)
		}
		lastID = cursor
		_, err := t.ExecContext(ctx, `INSERT INTO etl_state (key, value, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			FromPubkeyCursorKey, strconv.FormatInt(cursor, 10), time.Now().UTC().Format(jobRunTime))
		return err
	})
	if err != nil {
		return afterID, 0, false, fmt.Errorf("from_pubkey backfill: %w", err)
	}
	return lastID, n, more, nil
}

// ChannelCasingName is CoreScope's _migrations name of the Public channel
// casing fix (head.md §2.14); it is recorded when no 'public' row is left.
const ChannelCasingName = "channel_hash_casing_v1"

// NormalizePublicChannelChunk renames channel_hash 'public' to 'Public' on
// up to limit GRP_TXT transmissions (payload_type 5), found through the
// partial idx_tx_channel_hash, in one write transaction; decoded_json is
// left as it is, as CoreScope does. When none remain it records
// ChannelCasingName in _migrations. With dryRun it counts the rows.
func (db *DB) NormalizePublicChannelChunk(ctx context.Context, limit int, dryRun bool) (n int64, more bool, err error) {
	const pending = `FROM transmissions WHERE channel_hash = 'public' AND payload_type = 5`
	if dryRun {
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) `+pending).Scan(&n); err != nil {
			return 0, false, fmt.Errorf("count public channel rows: %w", err)
		}
		return n, false, nil
	}
	if limit <= 0 {
		return 0, false, errors.New("public channel casing: limit must be > 0")
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		c, err := execRows(ctx, t, `UPDATE transmissions SET channel_hash = 'Public'
    WHERE id IN (SELECT id `+pending+` LIMIT ?)`, limit)
		if err != nil {
			return err
		}
		n, more = c, c == int64(limit)
		if !more {
			_, err := t.ExecContext(ctx, `INSERT OR IGNORE INTO _migrations (name) VALUES (?)`, ChannelCasingName)
			return err
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("public channel casing: %w", err)
	}
	return n, more, nil
}

// LowercaseNodeKeysChunk lower-cases up to limit public keys of nodes,
// then inactive_nodes, that have upper-case letters (head.md §1.2: the
// server matches lower-case keys exactly), in one write transaction. When
// the lower-case key already exists in the same table, the two rows are
// merged into one: the row with the newer last_seen (the lower-case one on
// a tie) is kept whole, with advert_count the sum of both and first_seen
// the earlier of both, and the other is deleted; each merge is logged.
// It returns the keys fixed, how many of them were merges, and whether
// more may remain. With dryRun it counts the keys and changes nothing.
func (db *DB) LowercaseNodeKeysChunk(ctx context.Context, limit int, dryRun bool) (n, merged int64, more bool, err error) {
	tables := []string{"nodes", "inactive_nodes"}
	if dryRun {
		for _, table := range tables {
			var c int64
			if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE public_key != lower(public_key)`).Scan(&c); err != nil {
				return 0, 0, false, fmt.Errorf("count upper-case node keys: %w", err)
			}
			n += c
		}
		return n, 0, false, nil
	}
	if limit <= 0 {
		return 0, 0, false, errors.New("lower-case node keys: limit must be > 0")
	}
	type merge struct{ table, key, kept string }
	var merges []merge
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		n, merged, merges = 0, 0, nil
		for _, table := range tables {
			rows, err := t.QueryContext(ctx, `SELECT public_key, lower(public_key) FROM `+table+`
    WHERE public_key != lower(public_key) LIMIT ?`, limit-int(n))
			if err != nil {
				return err
			}
			var keys [][2]string
			for rows.Next() {
				var k [2]string
				if err := rows.Scan(&k[0], &k[1]); err != nil {
					rows.Close()
					return err
				}
				keys = append(keys, k)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, k := range keys {
				kept, err := lowercaseNodeKey(ctx, t, table, k[0], k[1])
				if err != nil {
					return fmt.Errorf("%s %s: %w", table, k[0], err)
				}
				if kept != "" {
					merged++
					merges = append(merges, merge{table, k[0], kept})
				}
				n++
			}
			if n == int64(limit) {
				more = true
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("lower-case node keys: %w", err)
	}
	for _, m := range merges {
		db.log.Info("node key case clash merged", "table", m.table, "public_key", m.key, "kept", m.kept)
	}
	return n, merged, more, nil
}

// lowercaseNodeKey gives the row key of table the lower-case key lower. On
// a clash with an existing lower row it merges the two (see
// LowercaseNodeKeysChunk) and returns which one it kept: "upper" (the row
// that had key) or "lower"; "" when there was no clash.
func lowercaseNodeKey(ctx context.Context, t *sql.Tx, table, key, lower string) (kept string, err error) {
	var upperNewer bool
	err = t.QueryRowContext(ctx, `SELECT COALESCE(u.last_seen, '') > COALESCE(l.last_seen, '')
    FROM `+table+` u, `+table+` l WHERE u.public_key = ? AND l.public_key = ?`, key, lower).Scan(&upperNewer)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = t.ExecContext(ctx, `UPDATE `+table+` SET public_key = ? WHERE public_key = ?`, lower, key)
		return "", err
	}
	if err != nil {
		return "", err
	}
	survivor, loser := lower, key
	kept = "lower"
	if upperNewer {
		survivor, loser, kept = key, lower, "upper"
	}
	if _, err := t.ExecContext(ctx, `UPDATE `+table+` SET
    advert_count = COALESCE(`+table+`.advert_count, 0) + COALESCE(o.advert_count, 0),
    first_seen = CASE WHEN o.first_seen IS NOT NULL AND (`+table+`.first_seen IS NULL OR o.first_seen < `+table+`.first_seen)
                      THEN o.first_seen ELSE `+table+`.first_seen END
    FROM `+table+` AS o WHERE `+table+`.public_key = ? AND o.public_key = ?`, survivor, loser); err != nil {
		return "", err
	}
	if _, err := t.ExecContext(ctx, `DELETE FROM `+table+` WHERE public_key = ?`, loser); err != nil {
		return "", err
	}
	if survivor == key {
		if _, err := t.ExecContext(ctx, `UPDATE `+table+` SET public_key = ? WHERE public_key = ?`, lower, key); err != nil {
			return "", err
		}
	}
	return kept, nil
}

// DefaultScopeBackfillName is CoreScope's _migrations name of its one-time
// nodes.default_scope backfill (head.md §2.6); it is recorded when
// BackfillDefaultScopeChunk has gone through every node.
const DefaultScopeBackfillName = "backfill_default_scope_v1"

// DefaultScopeBackfilled reports whether the default_scope backfill is
// recorded as done (by us or by CoreScope's ingestor).
func (db *DB) DefaultScopeBackfilled(ctx context.Context) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM _migrations WHERE name = ?`, DefaultScopeBackfillName).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("default_scope backfill state: %w", err)
	}
	return n > 0, nil
}

// BackfillDefaultScopeChunk sets default_scope on up to limit nodes with
// public_key > afterKey (in key order) that have a matched transport
// ADVERT: the scope_name of the one with the greatest first_seen, found
// through idx_transmissions_from_pubkey (CoreScope's
// BackfillDefaultScopeAsync; inactive_nodes is not touched, as there).
// Only transmissions stored with configured regions have a non-empty
// scope_name, so without regions nothing changes. It returns the last key
// looked at, the nodes updated and whether more may remain; when none
// remain it records DefaultScopeBackfillName. With dryRun it counts the
// nodes that would change.
func (db *DB) BackfillDefaultScopeChunk(ctx context.Context, afterKey string, limit int, dryRun bool) (lastKey string, n int64, more bool, err error) {
	const newest = `(SELECT t.scope_name FROM transmissions t
    WHERE t.from_pubkey = nodes.public_key AND t.payload_type = 4 AND t.scope_name != ''
    ORDER BY t.first_seen DESC LIMIT 1)`
	if dryRun {
		err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM nodes WHERE public_key > ?
    AND `+newest+` IS NOT NULL AND `+newest+` IS NOT default_scope`, afterKey).Scan(&n)
		if err != nil {
			return afterKey, 0, false, fmt.Errorf("count default_scope backfill: %w", err)
		}
		return afterKey, n, false, nil
	}
	if limit <= 0 {
		return afterKey, 0, false, errors.New("default_scope backfill: limit must be > 0")
	}
	lastKey = afterKey
	err = db.WriteChunk(ctx, func(ctx context.Context, t *sql.Tx) error {
		var hi sql.NullString
		var k int
		if err := t.QueryRowContext(ctx, `SELECT max(public_key), count(*) FROM
    (SELECT public_key FROM nodes WHERE public_key > ? ORDER BY public_key LIMIT ?)`, afterKey, limit).Scan(&hi, &k); err != nil {
			return err
		}
		more = k == limit
		if k > 0 {
			c, err := execRows(ctx, t, `UPDATE nodes SET default_scope = `+newest+`
    WHERE public_key > ?1 AND public_key <= ?2 AND `+newest+` IS NOT NULL AND `+newest+` IS NOT default_scope`, afterKey, hi.String)
			if err != nil {
				return err
			}
			n, lastKey = c, hi.String
		}
		if !more {
			_, err := t.ExecContext(ctx, `INSERT OR IGNORE INTO _migrations (name) VALUES (?)`, DefaultScopeBackfillName)
			return err
		}
		return nil
	})
	if err != nil {
		return afterKey, 0, false, fmt.Errorf("default_scope backfill: %w", err)
	}
	return lastKey, n, more, nil
}
