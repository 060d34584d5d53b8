package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/corescope/etl/etl"
)

// mergeChunk is the observations per Apply (one transaction) and the rows
// per write chunk of the other tables during a merge.
const mergeChunk = 2000

// MergeFile merges the CoreScope database at path (either era, opened
// read-only) into db: its observations, with their transmissions, through
// Apply, so that they are deduplicated exactly as live traffic, then its
// observers, nodes and metrics (mergeRows), in chunks that yield to
// ingest. progress is called after each chunk of observations with those
// merged so far and their total. Merging the same file again adds nothing;
// merging db's own file returns ErrForeignIsSelf.
func (db *DB) MergeFile(ctx context.Context, path string, progress func(merged, total int64)) error {
	if a, err := os.Stat(path); err == nil {
		if b, err := os.Stat(db.path); err == nil && os.SameFile(a, b) {
			return ErrForeignIsSelf
		}
	}
	f, err := openForeign(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	total, err := f.observations(ctx)
	if err != nil {
		return err
	}
	var merged, after int64
	for {
		recs, last, err := f.packetRecords(ctx, after, mergeChunk)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		if _, err := db.Apply(ctx, recs); err != nil {
			return fmt.Errorf("merge observations after id %d: %w", after, err)
		}
		after = last
		merged += int64(len(recs))
		progress(merged, total)
	}
	c, err := db.mergeRows(ctx, f, mergeChunk)
	if err != nil {
		return err
	}
	db.log.Info("merged database", "path", path, "observations", merged, "observers", c.observers,
		"nodes", c.nodes, "inactive_nodes", c.inactiveNodes, "metrics", c.metrics)
	return nil
}

// foreignDB is another CoreScope database (either era), opened read-only
// to be merged into this one.
type foreignDB struct {
	db   *sql.DB
	cols map[string]map[string]bool // table → columns present
}

// openForeign opens the CoreScope database at path read-only.
func openForeign(ctx context.Context, path string) (*foreignDB, error) {
	db, err := sql.Open("sqlite", fileURI(path)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f := &foreignDB{db: db, cols: map[string]map[string]bool{}}
	for _, t := range []string{"transmissions", "observations", "observers", "nodes", "inactive_nodes", "observer_metrics"} {
		rows, err := db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", t)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		f.cols[t] = map[string]bool{}
		for rows.Next() {
			var c string
			rows.Scan(&c)
			f.cols[t][c] = true
		}
		rows.Close()
	}
	if !f.cols["observations"]["observer_idx"] || !f.cols["transmissions"]["hash"] {
		db.Close()
		return nil, fmt.Errorf("open %s: not a CoreScope database of a supported era (transmissions and observations.observer_idx are required)", path)
	}
	return f, nil
}

// Close closes the foreign database.
func (f *foreignDB) Close() error { return f.db.Close() }

// col returns table.column, or NULL when the foreign file lacks it.
func (f *foreignDB) col(alias, table, column string) string {
	if f.cols[table][column] {
		return alias + "." + column
	}
	return "NULL"
}

// observations returns the number of observations, for progress.
func (f *foreignDB) observations(ctx context.Context) (int64, error) {
	var n int64
	err := f.db.QueryRowContext(ctx, "SELECT count(*) FROM observations").Scan(&n)
	return n, err
}

// packetRecords returns up to limit observations with id > afterID, in id
// order, as the packet records ingest would have produced: the
// transmission's stored columns, the observation's, its observer's id and
// the observation time. lastID is the last observation id read (afterID
// when none).
func (f *foreignDB) packetRecords(ctx context.Context, afterID int64, limit int) (recs []etl.Record, lastID int64, err error) {
	q := `SELECT o.id, o.timestamp, COALESCE(obs.id, ''), COALESCE(o.direction, ''), o.snr, o.rssi, o.score,
    COALESCE(o.path_json, '[]'), COALESCE(` + f.col("o", "observations", "raw_hex") + `, ''),
    t.hash, COALESCE(t.raw_hex, ''), COALESCE(t.route_type, 0), COALESCE(t.payload_type, 0), COALESCE(t.payload_version, 0),
    COALESCE(t.decoded_json, ''), COALESCE(` + f.col("t", "transmissions", "channel_hash") + `, ''),
    COALESCE(` + f.col("t", "transmissions", "from_pubkey") + `, ''), ` + f.col("t", "transmissions", "scope_name") + `
FROM observations o
JOIN transmissions t ON t.id = o.transmission_id
LEFT JOIN observers obs ON obs.rowid = o.observer_idx
WHERE o.id > ? ORDER BY o.id LIMIT ?`
	rows, err := f.db.QueryContext(ctx, q, afterID, limit)
	if err != nil {
		return nil, afterID, fmt.Errorf("read observations: %w", err)
	}
	defer rows.Close()
	lastID = afterID
	for rows.Next() {
		var (
			id, ts   int64
			observer string
			p        etl.Packet
			scope    sql.NullString
		)
		if err := rows.Scan(&id, &ts, &observer, &p.Direction, &p.SNR, &p.RSSI, &p.Score, &p.PathJSON, &p.ObsRawHex,
			&p.Hash, &p.RawHex, &p.RouteType, &p.PayloadType, &p.PayloadVersion, &p.DecodedJSON, &p.ChannelHash,
			&p.FromPubkey, &scope); err != nil {
			return nil, afterID, fmt.Errorf("read observations: %w", err)
		}
		lastID = id
		if scope.Valid {
			p.Scope = sql.Null[string]{V: scope.String, Valid: true}
		}
		p.Companion = observer == ""
		recs = append(recs, etl.Record{Kind: etl.KindPacket, Time: time.Unix(ts, 0).UTC(), Observer: etl.Observer{ID: observer}, Packet: &p})
	}
	return recs, lastID, rows.Err()
}

// mergeCounts counts what mergeRows changed.
type mergeCounts struct {
	observers, nodes, inactiveNodes, metrics int64
}

// mergeRows merges f's observers, nodes, inactive nodes and
// observer metrics into db, in chunks that yield to ingest. The row seen
// most recently wins the descriptive columns (name, role, position,
// firmware, …); first_seen takes the earliest, last_seen the latest, the
// counters the larger value (both files may have counted the same
// packets); a metrics sample already present is kept. A node active in
// either file ends up in nodes (the staleNodes job moves it back if it is
// stale).
func (db *DB) mergeRows(ctx context.Context, f *foreignDB, chunk int) (mergeCounts, error) {
	var c mergeCounts
	var err error
	if c.observers, err = db.mergeTable(ctx, f, "observers", observerMerge, chunk); err != nil {
		return c, err
	}
	if c.nodes, err = db.mergeTable(ctx, f, "nodes", nodeMerge("nodes"), chunk); err != nil {
		return c, err
	}
	if c.inactiveNodes, err = db.mergeTable(ctx, f, "inactive_nodes", nodeMerge("inactive_nodes"), chunk); err != nil {
		return c, err
	}
	if c.metrics, err = db.mergeTable(ctx, f, "observer_metrics", metricsMerge, chunk); err != nil {
		return c, err
	}
	err = db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM inactive_nodes WHERE public_key IN (SELECT public_key FROM nodes)`)
		return err
	})
	if err != nil {
		return c, fmt.Errorf("merge nodes: %w", err)
	}
	return c, nil
}

// mergeSpec is how one table is merged: its columns (all of which the
// destination has) and the upsert.
type mergeSpec struct {
	cols   []string
	upsert string // INSERT … VALUES (one ? per column) ON CONFLICT …
}

var observerMerge = mergeSpec{
	cols: []string{"id", "name", "iata", "last_seen", "first_seen", "packet_count", "model", "firmware", "client_version",
		"radio", "battery_mv", "uptime_secs", "noise_floor", "inactive", "last_packet_at", "clock_skew_seconds",
		"clock_skew_count_24h", "clock_last_naive_at", "can_relay", "can_relay_seen"},
	upsert: `INSERT INTO observers (id, name, iata, last_seen, first_seen, packet_count, model, firmware, client_version,
    radio, battery_mv, uptime_secs, noise_floor, inactive, last_packet_at, clock_skew_seconds,
    clock_skew_count_24h, clock_last_naive_at, can_relay, can_relay_seen)
VALUES (?, ?, ?, ?, ?, COALESCE(?, 0), ?, ?, ?, ?, ?, ?, ?, COALESCE(?, 0), ?, ?, COALESCE(?, 0), ?, COALESCE(?, 1), COALESCE(?, 0))
ON CONFLICT (id) DO UPDATE SET ` + newerWins("last_seen", "name", "iata", "model", "firmware", "client_version", "radio",
		"battery_mv", "uptime_secs", "noise_floor") + `,
    last_seen = MAX(COALESCE(last_seen, ''), COALESCE(excluded.last_seen, '')),
    first_seen = MIN(COALESCE(first_seen, excluded.first_seen), COALESCE(excluded.first_seen, first_seen)),
    last_packet_at = MAX(COALESCE(last_packet_at, ''), COALESCE(excluded.last_packet_at, '')),
    packet_count = MAX(COALESCE(packet_count, 0), excluded.packet_count),
    inactive = MIN(COALESCE(inactive, 0), excluded.inactive),
    clock_skew_seconds = CASE WHEN COALESCE(excluded.clock_last_naive_at, '') > COALESCE(clock_last_naive_at, '')
        THEN excluded.clock_skew_seconds ELSE clock_skew_seconds END,
    clock_skew_count_24h = CASE WHEN COALESCE(excluded.clock_last_naive_at, '') > COALESCE(clock_last_naive_at, '')
        THEN excluded.clock_skew_count_24h ELSE clock_skew_count_24h END,
    clock_last_naive_at = MAX(COALESCE(clock_last_naive_at, ''), COALESCE(excluded.clock_last_naive_at, '')),
    can_relay = CASE WHEN excluded.can_relay_seen = 1 AND (COALESCE(can_relay_seen, 0) = 0 OR excluded.last_seen > last_seen)
        THEN excluded.can_relay ELSE can_relay END,
    can_relay_seen = MAX(COALESCE(can_relay_seen, 0), excluded.can_relay_seen)`,
}

func nodeMerge(table string) mergeSpec {
	return mergeSpec{
		cols: []string{"public_key", "name", "role", "lat", "lon", "last_seen", "first_seen", "advert_count", "battery_mv",
			"temperature_c", "foreign_advert", "default_scope", "multibyte_sup", "multibyte_evidence"},
		upsert: `INSERT INTO ` + table + ` (public_key, name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv,
    temperature_c, foreign_advert, default_scope, multibyte_sup, multibyte_evidence)
SELECT lower(?1), ?2, ?3, ?4, ?5, ?6, ?7, COALESCE(?8, 0), ?9, ?10, COALESCE(?11, 0), ?12, COALESCE(?13, 0), ?14
WHERE true` + skipIfActive(table) + `
ON CONFLICT (public_key) DO UPDATE SET ` + newerWins("last_seen", "name", "role", "lat", "lon", "battery_mv",
			"temperature_c", "default_scope", "multibyte_evidence") + `,
    foreign_advert = CASE WHEN COALESCE(excluded.last_seen, '') > COALESCE(last_seen, '') THEN excluded.foreign_advert ELSE foreign_advert END,
    last_seen = MAX(COALESCE(last_seen, ''), COALESCE(excluded.last_seen, '')),
    first_seen = MIN(COALESCE(first_seen, excluded.first_seen), COALESCE(excluded.first_seen, first_seen)),
    advert_count = MAX(COALESCE(advert_count, 0), excluded.advert_count),
    multibyte_sup = MAX(multibyte_sup, excluded.multibyte_sup)`,
	}
}

// skipIfActive keeps a foreign inactive node out of inactive_nodes when it
// is active here.
func skipIfActive(table string) string {
	if table == "inactive_nodes" {
		return ` AND NOT EXISTS (SELECT 1 FROM nodes WHERE public_key = lower(?1))`
	}
	return ""
}

var metricsMerge = mergeSpec{
	cols: []string{"observer_id", "timestamp", "noise_floor", "tx_air_secs", "rx_air_secs", "recv_errors", "battery_mv",
		"packets_sent", "packets_recv"},
	upsert: `INSERT OR IGNORE INTO observer_metrics (observer_id, timestamp, noise_floor, tx_air_secs, rx_air_secs,
    recv_errors, battery_mv, packets_sent, packets_recv) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
}

// newerWins sets each column from the incoming row when its time column
// is later, keeping the stored value where the incoming one is NULL.
func newerWins(timeCol string, cols ...string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf(`%[2]s = CASE WHEN COALESCE(excluded.%[1]s, '') > COALESCE(%[1]s, '') THEN COALESCE(excluded.%[2]s, %[2]s) ELSE COALESCE(%[2]s, excluded.%[2]s) END`, timeCol, c)
	}
	return strings.Join(parts, ",\n    ")
}

// mergeTable copies table from f in rowid order, chunk rows per write
// transaction, through spec's upsert; it returns the rows read.
func (db *DB) mergeTable(ctx context.Context, f *foreignDB, table string, spec mergeSpec, chunk int) (int64, error) {
	if len(f.cols[table]) == 0 {
		return 0, nil
	}
	sel := make([]string, len(spec.cols))
	for i, c := range spec.cols {
		sel[i] = f.col("x", table, c)
	}
	q := "SELECT x.rowid, " + strings.Join(sel, ", ") + " FROM " + table + " x WHERE x.rowid > ? ORDER BY x.rowid LIMIT ?"
	var after, total int64
	for {
		rows, err := f.db.QueryContext(ctx, q, after, chunk)
		if err != nil {
			return total, fmt.Errorf("merge %s: %w", table, err)
		}
		var batch [][]any
		for rows.Next() {
			vals := make([]any, len(spec.cols)+1)
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return total, fmt.Errorf("merge %s: %w", table, err)
			}
			after = vals[0].(int64)
			batch = append(batch, vals[1:])
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("merge %s: %w", table, err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		err = db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, spec.upsert)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, v := range batch {
				if _, err := st.ExecContext(ctx, v...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("merge %s: %w", table, err)
		}
		total += int64(len(batch))
		if len(batch) < chunk {
			return total, nil
		}
	}
}

// ErrForeignIsSelf is returned when a database would be merged into itself.
var ErrForeignIsSelf = errors.New("cannot merge a database into itself")
