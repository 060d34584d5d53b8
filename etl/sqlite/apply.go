package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/corescope/etl/etl"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

var _ etl.Sink = (*DB)(nil)

// ErrNotMigrated is returned (wrapped) by Apply on a database that Migrate
// has not brought up to date.
var ErrNotMigrated = errors.New("database is not migrated")

// sqlNow is SQLite's current time in the format of the *_seen columns.
const sqlNow = `strftime('%Y-%m-%dT%H:%M:%SZ', 'now')`

// clampLastSeen is the upsert of a last_seen column in head.md §2.2's
// clamp form (see below).
const clampLastSeen = `CASE WHEN last_seen IS NULL OR last_seen <= excluded.last_seen THEN excluded.last_seen
                     ELSE MAX(MIN(last_seen, ` + sqlNow + `), excluded.last_seen) END`

// observerPacketSet is the conflict clause of the packet-path observer
// upserts.
const observerPacketSet = `
    name = COALESCE(excluded.name, name),
    iata = COALESCE(excluded.iata, iata),
    last_seen = ` + clampLastSeen + `,
    last_packet_at = CASE WHEN last_packet_at IS NULL OR last_packet_at <= excluded.last_packet_at THEN excluded.last_packet_at
                          ELSE MAX(MIN(last_packet_at, ` + sqlNow + `), excluded.last_packet_at) END,
    packet_count = COALESCE(packet_count, 0) + excluded.packet_count,
    inactive = 0`

// applyStmt names a statement of the write path: its index in applySQL,
// in the statements prepared on the write connection and in those a batch
// has bound to its transaction.
type applyStmt int

const (
	stmtTxInsert applyStmt = iota
	stmtTxGet
	stmtTxLower
	stmtTxLastSeen
	stmtObserverPacket
	stmtObserverPacketSkew
	stmtObserverSkew
	stmtObserverStatus
	stmtObserverRowid
	stmtObsInsert
	stmtObsMerge
	stmtObsFindNull
	stmtObsMergeID
	stmtNodeLeaveInactive
	stmtNodeRestore
	stmtNodeUpsert
	stmtMetricsReplace
	stmtDroppedInsert
	stmtClientRxInsert
	stmtClientObserverUpsert
	stmtCount
)

// applySQL is the text of each write-path statement, prepared once on the
// write connection.
var applySQL = [stmtCount]string{
	// A new transmission's last_seen is its first copy's epoch second
	// (head.md §2.7); scope_name is written here only, never by a
	// duplicate (§2.5).
	stmtTxInsert: `INSERT INTO transmissions
    (raw_hex, hash, first_seen, route_type, payload_type, payload_version, decoded_json, channel_hash, from_pubkey, last_seen, scope_name)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(hash) DO NOTHING`,

	// The existing transmission of a copy, and what the copy changes in it,
	// as bit flags: 1 = the copy is earlier than first_seen (spec §9 #3: it
	// lowers first_seen), 2 = it is later than last_seen (head.md §2.7).
	// Flags rather than the two times: the driver allocates per column
	// and per text value read.
	stmtTxGet: `SELECT id, COALESCE(first_seen > ?, 0) + 2 * (last_seen < ?) FROM transmissions WHERE hash = ?`,

	stmtTxLower: `UPDATE transmissions SET first_seen = ? WHERE id = ?`,

	// head.md §2.7: after an observation write, last_seen rises to its
	// epoch second; it never decreases.
	stmtTxLastSeen: `UPDATE transmissions SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2`,

	// Times in the observer and node upserts follow head.md §2.2's clamp
	// form MAX(MIN(COALESCE(stored, ''), now), t): monotone for stored
	// times up to now (a late, older record never moves them back), while
	// a stored time in the future (a clock that was wrong) is pulled down
	// to now. Written as a CASE, now (SQLite's clock, the statement's
	// time) is only computed when the stored time is the later one, and
	// costs no bound parameter.

	// The packet-path observer upsert (spec §2.7a with §9 #4, #9): "" is
	// bound as NULL so it never blanks a stored name; a packet reactivates
	// a soft-deleted observer.
	stmtObserverPacket: `INSERT INTO observers (id, name, iata, last_seen, first_seen, packet_count, last_packet_at)
VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?4)
ON CONFLICT(id) DO UPDATE SET ` + observerPacketSet,

	// The same for a packet whose observer's naive clock is skewed: ?6 is
	// the skew in seconds, recorded per head.md §2.3 with its 24 h rolling
	// count (?7 = t − 24 h, compared as text). A separate statement, since
	// with the driver every bound parameter costs an allocation per row.
	stmtObserverPacketSkew: `INSERT INTO observers (id, name, iata, last_seen, first_seen, packet_count, last_packet_at,
    clock_skew_seconds, clock_skew_count_24h, clock_last_naive_at)
VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?4, ?6, 1, ?4)
ON CONFLICT(id) DO UPDATE SET ` + observerPacketSet + `,
    clock_skew_seconds = excluded.clock_skew_seconds,
    clock_skew_count_24h = CASE WHEN clock_last_naive_at IS NULL OR clock_last_naive_at < ?7 THEN 1
                                ELSE COALESCE(clock_skew_count_24h, 0) + 1 END,
    clock_last_naive_at = excluded.clock_last_naive_at`,

	// The clock skew of a dropped packet's observer (head.md §2.3), which
	// no packet upsert records. An observer first seen this way gets its
	// first_seen and last_seen like any other (CoreScope's leaves them
	// NULL); packet_count stays 0. ?5 = t − 24 h.
	stmtObserverSkew: `INSERT INTO observers
    (id, name, iata, last_seen, first_seen, clock_skew_seconds, clock_skew_count_24h, clock_last_naive_at)
VALUES (?1, ?2, ?3, ?4, ?4, ?6, 1, ?4)
ON CONFLICT(id) DO UPDATE SET
    clock_skew_seconds = excluded.clock_skew_seconds,
    clock_skew_count_24h = CASE WHEN clock_last_naive_at IS NULL OR clock_last_naive_at < ?5 THEN 1
                                ELSE COALESCE(clock_skew_count_24h, 0) + 1 END,
    clock_last_naive_at = excluded.clock_last_naive_at`,

	// The status-path observer upsert (spec §2.7b with §9 #9, #10): meta
	// fields COALESCE(new, old); packet_count untouched (0 on insert); a
	// retained replay (?12 = 1) fills metadata but leaves last_seen and
	// inactive alone. ?13 is the "repeat" flag, 1/0/NULL (head.md §2.4):
	// NULL keeps can_relay (1 on insert), and can_relay_seen, once 1,
	// stays 1.
	stmtObserverStatus: `INSERT INTO observers
    (id, name, iata, last_seen, first_seen, packet_count, model, firmware, client_version, radio, battery_mv, uptime_secs, noise_floor,
     can_relay, can_relay_seen)
VALUES (?1, ?2, ?3, ?4, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11, COALESCE(?13, 1), ?13 IS NOT NULL)
ON CONFLICT(id) DO UPDATE SET
    name = COALESCE(excluded.name, name),
    iata = COALESCE(excluded.iata, iata),
    model = COALESCE(excluded.model, model),
    firmware = COALESCE(excluded.firmware, firmware),
    client_version = COALESCE(excluded.client_version, client_version),
    radio = COALESCE(excluded.radio, radio),
    battery_mv = COALESCE(excluded.battery_mv, battery_mv),
    uptime_secs = COALESCE(excluded.uptime_secs, uptime_secs),
    noise_floor = COALESCE(excluded.noise_floor, noise_floor),
    can_relay = COALESCE(?13, can_relay),
    can_relay_seen = CASE WHEN ?13 IS NULL THEN can_relay_seen ELSE 1 END,
    last_seen = CASE WHEN ?12 THEN last_seen ELSE ` + clampLastSeen + ` END,
    inactive = CASE WHEN ?12 THEN inactive ELSE 0 END`,

	stmtObserverRowid: `SELECT rowid FROM observers WHERE id = ?`,

	// The dedup key is the UNIQUE index idx_observations_dedup
	// (transmission_id, observer_idx, COALESCE(path_json, '')).
	stmtObsInsert: `INSERT INTO observations
    (transmission_id, observer_idx, direction, snr, rssi, score, path_json, timestamp, raw_hex, resolved_path)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,

	// A duplicate keeps the first non-NULL snr/rssi/score/raw_hex; direction,
	// timestamp and path stay as first inserted. Its resolved_path replaces
	// the stored one unless it is NULL (head.md §2.8: COALESCE(new, old)).
	stmtObsMerge: `UPDATE observations SET
    snr = COALESCE(snr, ?4), rssi = COALESCE(rssi, ?5), score = COALESCE(score, ?6), raw_hex = COALESCE(raw_hex, ?7),
    resolved_path = COALESCE(?8, resolved_path)
WHERE transmission_id = ?1 AND observer_idx = ?2 AND COALESCE(path_json, '') = ?3`,

	// Observations without an observer (companion bridges) are not covered
	// by the UNIQUE index (NULLs are distinct): look them up first.
	stmtObsFindNull: `SELECT id FROM observations
WHERE transmission_id = ? AND observer_idx IS NULL AND COALESCE(path_json, '') = ? LIMIT 1`,

	stmtObsMergeID: `UPDATE observations SET
    snr = COALESCE(snr, ?2), rssi = COALESCE(rssi, ?3), score = COALESCE(score, ?4), raw_hex = COALESCE(raw_hex, ?5),
    resolved_path = COALESCE(?6, resolved_path)
WHERE id = ?1`,

	// spec §9 #12: a node that advertises again leaves inactive_nodes; its
	// stored row (first_seen, advert_count, default_scope, the server's
	// multi-byte capability, …) comes back with it.
	stmtNodeLeaveInactive: `DELETE FROM inactive_nodes WHERE public_key = ?
RETURNING name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv, temperature_c, foreign_advert,
    default_scope, multibyte_sup, multibyte_evidence`,

	stmtNodeRestore: `INSERT INTO nodes
    (public_key, name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv, temperature_c, foreign_advert,
     default_scope, multibyte_sup, multibyte_evidence)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, 0), ?)
ON CONFLICT(public_key) DO NOTHING`,

	// spec §2.6 with §9 #9 (NULL keeps the stored value) and #11
	// (foreign_advert follows the latest located advert, not sticky).
	// ?7 is 1 when the advert's transmission is new, else 0. ?11 is the
	// region of a matched transport advert (head.md §2.6; NULL keeps the
	// stored one: default_scope is never cleared).
	stmtNodeUpsert: `INSERT INTO nodes
    (public_key, name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv, temperature_c, foreign_advert, default_scope)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT(public_key) DO UPDATE SET
    name = COALESCE(excluded.name, name),
    role = COALESCE(excluded.role, role),
    lat = COALESCE(excluded.lat, lat),
    lon = COALESCE(excluded.lon, lon),
    default_scope = COALESCE(excluded.default_scope, default_scope),
    last_seen = ` + clampLastSeen + `,
    first_seen = CASE WHEN first_seen IS NULL OR excluded.first_seen < first_seen THEN excluded.first_seen ELSE first_seen END,
    advert_count = COALESCE(advert_count, 0) + excluded.advert_count,
    battery_mv = COALESCE(excluded.battery_mv, battery_mv),
    temperature_c = COALESCE(excluded.temperature_c, temperature_c),
    foreign_advert = CASE WHEN excluded.lat IS NOT NULL AND excluded.lon IS NOT NULL
                          THEN excluded.foreign_advert ELSE foreign_advert END`,

	// The last status of a bucket replaces the whole row (spec §2.8d).
	stmtMetricsReplace: `INSERT OR REPLACE INTO observer_metrics
    (observer_id, timestamp, noise_floor, tx_air_secs, rx_air_secs, recv_errors, battery_mv, packets_sent, packets_recv)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,

	// A redelivered drop (same hash, observer and reason) adds no row.
	stmtDroppedInsert: `INSERT INTO dropped_packets
    (hash, raw_hex, reason, observer_id, observer_name, node_pubkey, node_name, dropped_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
WHERE NOT EXISTS (SELECT 1 FROM dropped_packets WHERE observer_id IS ?4 AND hash IS ?1 AND reason = ?3)`,

	// A mobile client's reception (head.md §2.16); a redelivery (same
	// client, node heard and rx_at) adds no row.
	stmtClientRxInsert: `INSERT INTO client_receptions
    (rx_pubkey, heard_key, heard_keylen, rssi, snr, lat, lon, pos_acc_m, rx_at, ingested_at, src)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(rx_pubkey, heard_key, rx_at) DO NOTHING`,

	// The client's self-reported name: name and last_seen are overwritten.
	stmtClientObserverUpsert: `INSERT INTO client_observers (pubkey, name, last_seen) VALUES (?, ?, ?)
ON CONFLICT(pubkey) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen`,
}

// applyStmts are the write-path statements prepared on the write
// connection, by applyStmt.
type applyStmts [stmtCount]*sql.Stmt

func prepareApplyStmts(ctx context.Context, db *sql.DB) (*applyStmts, error) {
	var s applyStmts
	for i, text := range applySQL {
		st, err := db.PrepareContext(ctx, text)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		s[i] = st
	}
	return &s, nil
}

func (s *applyStmts) close() {
	for _, st := range s {
		if st != nil {
			st.Close()
		}
	}
}

// Apply writes recs in one transaction (BEGIN IMMEDIATE), in order, and
// commits; on any error it rolls back and nothing of recs is stored. It is
// idempotent: applying the same records again creates no rows. Apply has
// priority over maintenance: a WriteChunk or WithWriteConn that has not
// started yet waits for it. It implements etl.Sink.
func (db *DB) Apply(ctx context.Context, recs []etl.Record) (etl.ApplyResult, error) {
	if len(recs) == 0 {
		return etl.ApplyResult{}, nil
	}
	db.gate.enterIngest()
	defer db.gate.leaveIngest()
	if err := db.gate.acquire(ctx); err != nil {
		return etl.ApplyResult{}, fmt.Errorf("apply batch: %w", err)
	}
	defer db.gate.release()

	res, err := db.applyLocked(ctx, recs)
	if err != nil {
		// Rows inserted by the rolled-back transaction are gone; so are
		// the rowids cached from them.
		db.forgetWrites()
		if unavailable(err) {
			return etl.ApplyResult{}, fmt.Errorf("apply batch: %w: %w", etl.ErrUnavailable, err)
		}
		return etl.ApplyResult{}, fmt.Errorf("apply batch: %w", err)
	}
	return res, nil
}

// unavailable reports whether err is about the database as a whole rather
// than the records being written: retrying the same batch later can
// succeed, and skipping records would lose them for nothing.
func unavailable(err error) bool {
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // primary result code
	case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED, sqlite3lib.SQLITE_NOMEM,
		sqlite3lib.SQLITE_READONLY, sqlite3lib.SQLITE_IOERR, sqlite3lib.SQLITE_FULL,
		sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_PROTOCOL, sqlite3lib.SQLITE_NOTADB:
		return true
	}
	return false
}

func (db *DB) applyLocked(ctx context.Context, recs []etl.Record) (res etl.ApplyResult, err error) {
	if db.stmts == nil {
		// Without the dedup index, ON CONFLICT DO NOTHING would silently
		// store duplicate observations: refuse an unmigrated file.
		var n int
		if err := db.w.QueryRowContext(ctx,
			`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'idx_observations_dedup'`).Scan(&n); err != nil {
			return res, err
		}
		if n == 0 {
			return res, ErrNotMigrated
		}
		st, err := prepareApplyStmts(ctx, db.w)
		if err != nil {
			return res, err
		}
		db.stmts = st
	}
	if db.observers == nil {
		db.observers = make(map[string]int64)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	b := batch{db: db, ctx: ctx, tx: tx, now: time.Now()}
	for i := range recs {
		r := &recs[i]
		switch r.Kind {
		case etl.KindPacket:
			err = b.packet(r)
		case etl.KindStatus:
			err = b.status(r)
		case etl.KindDropped:
			err = b.dropped(r)
		case etl.KindClientReception:
			err = b.clientReception(r)
		default:
			err = fmt.Errorf("unknown record kind %d", r.Kind)
		}
		if err != nil {
			return res, fmt.Errorf("record %d (%s): %w", i, r.Kind, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	return b.res, nil
}

// batch is the state of one Apply transaction. Transaction-bound statements
// are created on first use.
type batch struct {
	db  *DB
	ctx context.Context
	tx  *sql.Tx
	now time.Time // stands in for a record without a Time
	res etl.ApplyResult

	st [stmtCount]*sql.Stmt
}

// recordTime is the record's time, or the batch's start for a record
// without one.
func (b *batch) recordTime(r *etl.Record) time.Time {
	if r.Time.IsZero() {
		return b.now
	}
	return r.Time
}

// stmt returns statement s bound to the batch's transaction.
func (b *batch) stmt(s applyStmt) *sql.Stmt {
	if b.st[s] == nil {
		b.st[s] = b.tx.StmtContext(b.ctx, b.db.stmts[s])
	}
	return b.st[s]
}

func (b *batch) packet(r *etl.Record) error {
	p := r.Packet
	if p == nil {
		return errors.New("packet record without packet")
	}
	if p.Hash == "" {
		return errors.New("packet without hash")
	}
	t := b.recordTime(r)
	ts := b.db.timeCache.rfc3339(t)

	// The observer first (spec §9 #4), so the observation gets its rowid.
	var observerIdx any // nil = NULL
	if !p.Companion && r.Observer.ID != "" {
		rowid, err := b.observerForPacket(r, ts)
		if err != nil {
			return err
		}
		observerIdx = rowid
	}

	// Transmission: one insert-or-get (spec §9 #3).
	txID, isNew, later, err := b.transmission(p, ts, t.Unix())
	if err != nil {
		return err
	}

	// Observation, deduplicated by (transmission, observer, path).
	path := p.PathJSON
	if path == "" {
		path = "[]"
	}
	snr, rssi, score := nullFloat(p.SNR), nullFloat(p.RSSI), nullFloat(p.Score)
	rawHex := nullString(p.ObsRawHex)
	resolved := nullString(p.ResolvedPath)
	merge := snr != nil || rssi != nil || score != nil || rawHex != nil || resolved != nil
	if observerIdx == nil {
		var id int64
		err := b.stmt(stmtObsFindNull).QueryRowContext(b.ctx, txID, path).Scan(&id)
		switch {
		case err == nil:
			b.res.ObsDupes++
			if merge {
				if _, err := b.stmt(stmtObsMergeID).ExecContext(b.ctx, id, snr, rssi, score, rawHex, resolved); err != nil {
					return fmt.Errorf("merge observation: %w", err)
				}
			}
		case errors.Is(err, sql.ErrNoRows):
			if _, err := b.stmt(stmtObsInsert).ExecContext(b.ctx,
				txID, nil, nullString(p.Direction), snr, rssi, score, path, t.Unix(), rawHex, resolved); err != nil {
				return fmt.Errorf("insert observation: %w", err)
			}
			b.res.ObsInserted++
		default:
			return fmt.Errorf("find observation: %w", err)
		}
	} else {
		res, err := b.stmt(stmtObsInsert).ExecContext(b.ctx,
			txID, observerIdx, nullString(p.Direction), snr, rssi, score, path, t.Unix(), rawHex, resolved)
		if err != nil {
			return fmt.Errorf("insert observation: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			b.res.ObsInserted++
		} else {
			b.res.ObsDupes++
			if merge {
				if _, err := b.stmt(stmtObsMerge).ExecContext(b.ctx,
					txID, observerIdx, path, snr, rssi, score, rawHex, resolved); err != nil {
					return fmt.Errorf("merge observation: %w", err)
				}
			}
		}
	}

	// head.md §2.7: the observation just written raises last_seen. The
	// insert-or-get told whether it is later than the stored value, so a
	// copy that is not (the usual case: a new transmission, or copies heard
	// in the same second) costs no statement.
	if later {
		if _, err := b.stmt(stmtTxLastSeen).ExecContext(b.ctx, txID, t.Unix()); err != nil {
			return fmt.Errorf("update transmission last_seen: %w", err)
		}
	}

	if p.Node != nil {
		if err := b.node(p.Node, ts, isNew); err != nil {
			return err
		}
	}
	return nil
}

// observerForPacket upserts the packet's observer and returns its rowid,
// from the cache when the row is known to exist.
func (b *batch) observerForPacket(r *etl.Record, ts string) (int64, error) {
	var err error
	if sk := r.Observer.ClockSkew; sk.Valid {
		_, err = b.stmt(stmtObserverPacketSkew).ExecContext(b.ctx,
			r.Observer.ID, nullString(r.Observer.Name), nullString(r.Observer.IATA), ts, 1,
			sk.V, skewCutoff(b.recordTime(r)))
	} else {
		_, err = b.stmt(stmtObserverPacket).ExecContext(b.ctx,
			r.Observer.ID, nullString(r.Observer.Name), nullString(r.Observer.IATA), ts, 1)
	}
	if err != nil {
		return 0, fmt.Errorf("upsert observer: %w", err)
	}
	b.res.ObserverUpserts++
	if rowid, ok := b.db.observers[r.Observer.ID]; ok {
		return rowid, nil
	}
	var rowid int64
	if err := b.stmt(stmtObserverRowid).QueryRowContext(b.ctx, r.Observer.ID).Scan(&rowid); err != nil {
		return 0, fmt.Errorf("observer rowid: %w", err)
	}
	b.db.observers[r.Observer.ID] = rowid
	return rowid, nil
}

// transmission inserts the packet's transmission or finds the existing one;
// later reports that epoch, the copy's time, is after the existing one's
// last_seen.
func (b *batch) transmission(p *etl.Packet, ts string, epoch int64) (id int64, isNew, later bool, err error) {
	if e, ok := b.db.txs.get(p.Hash); ok {
		// A copy of a transmission this process inserted: its stored
		// first_seen and last_seen are known without a statement.
		b.res.TxDupes++
		if ts < e.firstSeen {
			if _, err := b.stmt(stmtTxLower).ExecContext(b.ctx, ts, e.id); err != nil {
				return 0, false, false, fmt.Errorf("update first_seen: %w", err)
			}
			e.firstSeen = ts
		}
		later = epoch > e.lastSeen
		if later {
			e.lastSeen = epoch // the caller raises the stored value
		}
		b.db.txs.put(p.Hash, e)
		return e.id, false, later, nil
	}
	var scope any // NULL: not transport-scoped
	if p.Scope.Valid {
		scope = p.Scope.V
	}
	res, err := b.stmt(stmtTxInsert).ExecContext(b.ctx,
		p.RawHex, p.Hash, ts, p.RouteType, p.PayloadType, p.PayloadVersion,
		nullString(p.DecodedJSON), nullString(p.ChannelHash), nullString(p.FromPubkey), epoch, scope)
	if err != nil {
		return 0, false, false, fmt.Errorf("insert transmission: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		id, err := res.LastInsertId()
		if err != nil {
			return 0, false, false, fmt.Errorf("insert transmission: %w", err)
		}
		b.res.TxInserted++
		b.db.txs.put(p.Hash, txEntry{id: id, firstSeen: ts, lastSeen: epoch})
		return id, true, false, nil
	}
	var flags int64
	if err := b.stmt(stmtTxGet).QueryRowContext(b.ctx, ts, epoch, p.Hash).Scan(&id, &flags); err != nil {
		return 0, false, false, fmt.Errorf("find transmission: %w", err)
	}
	b.res.TxDupes++
	if flags&1 != 0 {
		if _, err := b.stmt(stmtTxLower).ExecContext(b.ctx, ts, id); err != nil {
			return 0, false, false, fmt.Errorf("update first_seen: %w", err)
		}
	}
	return id, false, flags&2 != 0, nil
}

// node upserts an advert's node; newAdvert is whether its transmission is new.
func (b *batch) node(n *etl.Node, ts string, newAdvert bool) error {
	if n.PublicKey == "" {
		return errors.New("advert node without public key")
	}
	if err := b.leaveInactive(n.PublicKey); err != nil {
		return err
	}
	advert, foreign := 0, 0
	if newAdvert {
		advert = 1
	}
	if n.Foreign {
		foreign = 1
	}
	if _, err := b.stmt(stmtNodeUpsert).ExecContext(b.ctx,
		n.PublicKey, nullString(n.Name), nullString(n.Role), nullFloat(n.Lat), nullFloat(n.Lon), ts,
		advert, nullInt(n.BatteryMV), nullFloat(n.TemperatureC), foreign, nullString(n.DefaultScope)); err != nil {
		return fmt.Errorf("upsert node: %w", err)
	}
	b.res.NodeUpserts++
	return nil
}

// leaveInactive moves a node that advertises again out of inactive_nodes,
// back into nodes (unless nodes has it already).
func (b *batch) leaveInactive(pubkey string) error {
	rows, err := b.stmt(stmtNodeLeaveInactive).QueryContext(b.ctx, pubkey)
	if err != nil {
		return fmt.Errorf("leave inactive_nodes: %w", err)
	}
	var (
		name, role, lastSeen, firstSeen      sql.NullString
		scope, mbEvidence                    sql.NullString
		lat, lon, temp                       sql.NullFloat64
		adverts, battery, foreign, mbSupport sql.NullInt64
		found                                bool
	)
	for rows.Next() {
		found = true
		if err := rows.Scan(&name, &role, &lat, &lon, &lastSeen, &firstSeen, &adverts, &battery, &temp, &foreign,
			&scope, &mbSupport, &mbEvidence); err != nil {
			rows.Close()
			return fmt.Errorf("leave inactive_nodes: %w", err)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("leave inactive_nodes: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("leave inactive_nodes: %w", err)
	}
	if !found {
		return nil
	}
	if _, err := b.stmt(stmtNodeRestore).ExecContext(b.ctx,
		pubkey, name, role, lat, lon, lastSeen, firstSeen, adverts, battery, temp, foreign,
		scope, mbSupport, mbEvidence); err != nil {
		return fmt.Errorf("restore node: %w", err)
	}
	return nil
}

func (b *batch) status(r *etl.Record) error {
	s := r.Status
	if s == nil {
		return errors.New("status record without status")
	}
	if r.Observer.ID == "" {
		return errors.New("status without observer id")
	}
	retained := 0
	if s.Retained {
		retained = 1
	}
	if _, err := b.stmt(stmtObserverStatus).ExecContext(b.ctx,
		r.Observer.ID, nullString(r.Observer.Name), nullString(r.Observer.IATA), b.db.timeCache.rfc3339(b.recordTime(r)),
		nullString(s.Model), nullString(s.Firmware), nullString(s.ClientVersion), nullString(s.Radio),
		nullInt(s.BatteryMV), nullInt(s.UptimeSecs), nullFloat(s.NoiseFloor), retained,
		nullBool(s.CanRelay)); err != nil {
		return fmt.Errorf("upsert observer: %w", err)
	}
	b.res.ObserverUpserts++
	if m := s.Metrics; m != nil {
		if _, err := b.stmt(stmtMetricsReplace).ExecContext(b.ctx,
			r.Observer.ID, b.db.timeCache.rfc3339(m.Bucket), nullFloat(m.NoiseFloor),
			nullInt(m.TxAirSecs), nullInt(m.RxAirSecs), nullInt(m.RecvErrors), nullInt(m.BatteryMV),
			nullInt(m.PacketsSent), nullInt(m.PacketsRecv)); err != nil {
			return fmt.Errorf("insert metrics: %w", err)
		}
		b.res.MetricsRows++
	}
	return nil
}

func (b *batch) dropped(r *etl.Record) error {
	d := r.Drop
	if d == nil {
		return errors.New("dropped record without drop")
	}
	if d.Reason == "" {
		return errors.New("dropped record without reason")
	}
	res, err := b.stmt(stmtDroppedInsert).ExecContext(b.ctx,
		nullString(d.Hash), nullString(d.RawHex), d.Reason, nullString(r.Observer.ID), nullString(r.Observer.Name),
		nullString(d.NodePubkey), nullString(d.NodeName), b.db.timeCache.datetime(b.recordTime(r)))
	if err != nil {
		return fmt.Errorf("insert dropped packet: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		b.res.Dropped++
	}
	// A dropped packet still shows its observer's clock (head.md §2.1
	// step 6.3).
	if r.Observer.ClockSkew.Valid && r.Observer.ID != "" {
		t := b.recordTime(r)
		if _, err := b.stmt(stmtObserverSkew).ExecContext(b.ctx,
			r.Observer.ID, nullString(r.Observer.Name), nullString(r.Observer.IATA), b.db.timeCache.rfc3339(t),
			skewCutoff(t), r.Observer.ClockSkew.V); err != nil {
			return fmt.Errorf("record clock skew: %w", err)
		}
	}
	return nil
}

// clientReception writes a mobile client's reception and, when the client
// named itself, its client_observers row (head.md §2.16). ingested_at and
// last_seen are the record time (the receipt time).
func (b *batch) clientReception(r *etl.Record) error {
	c := r.Client
	if c == nil {
		return errors.New("client reception record without reception")
	}
	if c.RxPubkey == "" || c.HeardKey == "" || c.Src == "" || c.RxAt.IsZero() {
		return errors.New("client reception without client, node heard, source or time")
	}
	ts := b.db.timeCache.rfc3339(b.recordTime(r))
	rxAt := c.RxAt.UTC().Format(time.RFC3339)
	if _, err := b.stmt(stmtClientRxInsert).ExecContext(b.ctx,
		c.RxPubkey, c.HeardKey, len(c.HeardKey)/2, nullInt(c.RSSI), nullFloat(c.SNR), c.Lat, c.Lon,
		nullFloat(c.AccM), rxAt, ts, c.Src); err != nil {
		return fmt.Errorf("insert client reception: %w", err)
	}
	if c.Name != "" {
		if _, err := b.stmt(stmtClientObserverUpsert).ExecContext(b.ctx,
			c.RxPubkey, c.Name, ts); err != nil {
			return fmt.Errorf("upsert client observer: %w", err)
		}
	}
	return nil
}

// skewCutoff is the start of the clock-skew count's 24 h window ending at t,
// in the text format of clock_last_naive_at.
func skewCutoff(t time.Time) string {
	return t.Add(-24 * time.Hour).UTC().Format(time.RFC3339)
}

// nullString binds "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullFloat(v sql.Null[float64]) any {
	if !v.Valid {
		return nil
	}
	return v.V
}

func nullBool(v sql.Null[bool]) any {
	switch {
	case !v.Valid:
		return nil
	case v.V:
		return 1
	}
	return 0
}

func nullInt(v sql.Null[int64]) any {
	if !v.Valid {
		return nil
	}
	return v.V
}

// timeFormatter formats record times in the database's text formats
// (spec §1.8), remembering the last second formatted: a batch's records
// mostly share a few seconds.
type timeFormatter struct {
	rfcSec, dtSec int64
	rfc, dt       string
}

func newTimeFormatter() timeFormatter { return timeFormatter{rfcSec: -1 << 63, dtSec: -1 << 63} }

// rfc3339 returns t as RFC 3339 UTC with second precision
// (2026-05-17T18:13:27Z), the format of every *_seen column.
func (f *timeFormatter) rfc3339(t time.Time) string {
	s := t.Unix()
	if s != f.rfcSec {
		f.rfcSec, f.rfc = s, time.Unix(s, 0).UTC().Format(time.RFC3339)
	}
	return f.rfc
}

// datetime returns t as SQLite's datetime() text (2026-05-17 18:13:27, UTC),
// the format of dropped_packets.dropped_at and transmissions.created_at.
func (f *timeFormatter) datetime(t time.Time) string {
	s := t.Unix()
	if s != f.dtSec {
		f.dtSec, f.dt = s, time.Unix(s, 0).UTC().Format(time.DateTime)
	}
	return f.dt
}
