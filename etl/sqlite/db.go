package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Defaults for Options.
const (
	DefaultBusyTimeout = 5 * time.Second // how long a statement waits for a lock held by another connection
	DefaultReadConns   = 4               // connections in the read-only pool
)

// Options tunes Open. The zero value is valid.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection (SQLite busy_timeout) before failing with SQLITE_BUSY.
	// Zero means DefaultBusyTimeout (5 s).
	BusyTimeout time.Duration
	// ReadConns is the size of the read-only pool returned by Reader.
	// Zero means DefaultReadConns (4).
	ReadConns int
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// DB is a CoreScope SQLite database opened by its single writer: one write
// connection shared, in turn, by ingest (Apply) and maintenance (WriteChunk,
// WithWriteConn), plus a small read-only pool.
type DB struct {
	path string
	log  *slog.Logger
	lock *writerLock

	w *sql.DB // write pool: exactly one connection
	r *sql.DB // read-only pool

	gate writerGate

	// Guarded by holding the writer (gate.sem).
	stmts     *applyStmts      // statements prepared on the write connection; nil until the first Apply
	observers map[string]int64 // observers.id → rowid, valid while no one else rewrote observers
	txs       txCache          // transmissions Apply inserted recently, valid while no one else wrote
	timeCache timeFormatter

	probe probeResult // the last write probe (RunProbe)

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it if needed) the database at path as its single
// writer. It first takes the writer lock, on the file's identity (any path,
// symlink or hard link to it) and on <path>-ingestor.lock, and returns a
// wrapped *LockedError (errors.Is(err, ErrLocked)) when another writer holds
// it. Open does not migrate: call Migrate before Apply.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = DefaultReadConns
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	lock, err := acquireLock(path)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := &DB{path: path, log: log, lock: lock, gate: newWriterGate(), timeCache: newTimeFormatter()}
	if err := db.open(ctx, opts); err != nil {
		if db.r != nil {
			db.r.Close()
		}
		if db.w != nil {
			db.w.Close()
		}
		releaseLock(lock)
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

func (db *DB) open(ctx context.Context, opts Options) error {
	// A file that does not exist yet (or is empty) is new: it gets
	// auto_vacuum=INCREMENTAL. Existing files keep their mode; converting
	// them takes a full VACUUM, which is a maintenance job's decision.
	fresh := true
	if st, err := os.Stat(db.path); err == nil && st.Size() > 0 {
		fresh = false
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}

	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	var q []string
	// busy_timeout: wait for a lock held by another connection (a reader's
	// checkpoint, CoreScope's server if it still writes) instead of failing
	// at once with SQLITE_BUSY. The driver runs it first.
	q = append(q, "_pragma=busy_timeout("+busy+")")
	if fresh {
		// auto_vacuum=INCREMENTAL lets the vacuum job return free pages to
		// the OS without a full VACUUM. It only takes effect before the
		// first page is written, so it is set on new files only; the driver
		// applies it before journal_mode (sorted) and before any table.
		q = append(q, "_pragma=auto_vacuum(2)")
	}
	// foreign_keys: observations.transmission_id references transmissions;
	// enforcing it catches a prune that deletes parents before children.
	q = append(q, "_pragma=foreign_keys(1)")
	// journal_mode=WAL: readers (CoreScope's server, our read pool) never
	// block the writer and the writer never blocks them. Persistent in the
	// file; setting it on every connection is a no-op after the first.
	q = append(q, "_pragma=journal_mode(WAL)")
	// synchronous=NORMAL: in WAL mode a commit survives a process crash
	// (SIGKILL, panic) without an fsync per commit; only an OS crash or a
	// power loss can roll back the last commits since the previous
	// checkpoint. That is the documented trade-off: the WAL is synced at
	// every checkpoint, and a commit per batch would otherwise cost an fsync.
	q = append(q, "_pragma=synchronous(1)")
	// cache_size: 16 MiB of page cache (SQLite's default is 2 MiB), so the
	// upper levels of the hash, first_seen and dedup indexes stay in memory
	// as the tables grow; it is allocated as it fills.
	q = append(q, "_pragma=cache_size(-16384)")
	// wal_autocheckpoint: a checkpoint inside a commit runs on the write
	// connection and holds up the batch that triggered it (≈40% of a prune
	// chunk, and every latency spike). RunCheckpointer does the routine
	// PASSIVE checkpoints from its own connection without blocking the
	// writer; this large threshold is only the safety net for when it is not
	// running (the one-shot subcommands) or cannot keep up.
	q = append(q, "_pragma=wal_autocheckpoint("+strconv.Itoa(safetyCheckpointPages)+")")
	// _txlock=immediate: BeginTx issues BEGIN IMMEDIATE, taking the write
	// lock at the start of the transaction, so a transaction never fails
	// half-way on a lock upgrade (SQLITE_BUSY_SNAPSHOT).
	q = append(q, "_txlock=immediate")
	w, err := sql.Open("sqlite", fileURI(db.path)+"?"+strings.Join(q, "&"))
	if err != nil {
		return err
	}
	// Exactly one write connection, kept forever: SQLite has one writer,
	// and a single connection serialises ours without SQLITE_BUSY between
	// our own goroutines. Prepared statements live on it.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db.w = w
	if err := w.PingContext(ctx); err != nil {
		return err
	}

	// The read pool: mode=ro opens the file read-only and query_only
	// rejects any write that would slip through, so nothing but the write
	// connection ever takes the write lock. busy_timeout covers the short
	// WAL-index locks of a checkpoint.
	r, err := sql.Open("sqlite", fileURI(db.path)+"?mode=ro&_pragma=busy_timeout("+busy+")&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	db.r = r
	if err := r.PingContext(ctx); err != nil {
		return err
	}
	db.log.Info("database opened", "path", db.path, "new_file", fresh,
		"busy_timeout_ms", opts.BusyTimeout.Milliseconds(), "read_conns", opts.ReadConns)
	return nil
}

// fileURI turns a file path into an SQLite URI filename, escaping the
// characters that have a meaning in a URI.
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// Path returns the database file path.
func (db *DB) Path() string { return db.path }

// Reader returns the read-only pool (mode=ro, query_only), for the queries
// the daemon itself needs. It must not be closed by the caller.
func (db *DB) Reader() *sql.DB { return db.r }

// Close checkpoints the WAL into the database (wal_checkpoint(TRUNCATE), so
// the -wal file is left empty), closes both pools and releases the writer
// lock. It waits for a running Apply or maintenance chunk to finish.
// Calling Close more than once returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		// Readers first: an open read transaction would keep the TRUNCATE
		// checkpoint from resetting the WAL.
		if err := db.r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close reader: %w", err))
		}
		ctx := WithComponent(context.Background(), ComponentOther)
		if err := db.gate.acquire(ctx); err == nil {
			if db.stmts != nil {
				db.stmts.close()
				db.stmts = nil
			}
			if _, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				errs = append(errs, fmt.Errorf("checkpoint: %w", err))
			} else {
				db.log.Info("wal checkpoint complete")
			}
			db.gate.release()
		}
		if err := db.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
		if err := releaseLock(db.lock); err != nil {
			errs = append(errs, fmt.Errorf("release lock: %w", err))
		}
		if len(errs) > 0 {
			db.closeErr = fmt.Errorf("close database: %w", errors.Join(errs...))
		}
	})
	return db.closeErr
}

// AutoVacuumMode returns PRAGMA auto_vacuum as the file has it now: 0 NONE,
// 1 FULL, 2 INCREMENTAL. SQLite answers the pragma from the connection's
// cached copy of the file header, refreshed only when a transaction reads
// page 1, so the pragma runs after a read of sqlite_schema in the same read
// transaction; a bare PRAGMA on a pooled reader could report the mode from
// before a VACUUM.
func (db *DB) AutoVacuumMode(ctx context.Context) (int, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("auto_vacuum mode: %w", err)
	}
	defer tx.Rollback()
	var n, mode int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return 0, fmt.Errorf("auto_vacuum mode: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return 0, fmt.Errorf("auto_vacuum mode: %w", err)
	}
	return mode, nil
}

// WriteChunk runs fn in one short write transaction (BEGIN IMMEDIATE) and
// commits it, or rolls it back when fn returns an error. Before taking the
// writer it yields to ingest: while an Apply is waiting for or holding the
// writer, it waits, so ingest waits at most for one chunk. Maintenance jobs
// call it once per bounded chunk.
func (db *DB) WriteChunk(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := db.gate.acquireYielding(ctx); err != nil {
		return err
	}
	defer db.gate.release()
	// A maintenance chunk may rewrite observers and transmissions.
	db.forgetWrites()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// WithWriteConn runs fn with exclusive use of the write connection outside a
// transaction, for statements that cannot run in one (VACUUM,
// incremental_vacuum, wal_checkpoint, pragmas). Like WriteChunk it yields to
// ingest first. fn must not leave a transaction open.
func (db *DB) WithWriteConn(ctx context.Context, fn func(ctx context.Context, conn *sql.Conn) error) error {
	if err := db.gate.acquireYielding(ctx); err != nil {
		return err
	}
	defer db.gate.release()
	// VACUUM may renumber the implicit rowids of observers.
	db.forgetWrites()
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("write connection: %w", err)
	}
	defer conn.Close()
	return fn(ctx, conn)
}

// writerGate serialises users of the write connection and gives ingest
// priority: sem is the writer itself (capacity 1, so acquisition can be
// cancelled); ingest counts the Apply calls waiting for or holding it, and
// idle is closed whenever that count drops to zero, to wake yielding
// maintenance without polling.
type writerGate struct {
	sem chan struct{}

	mu     sync.Mutex
	ingest int
	idle   chan struct{}

	// perf measures every acquisition; see WriterPerf.
	perf writerPerf
	// The current holder's measurement, guarded by holding sem.
	holder    string
	heldSince time.Time
	waited    time.Duration
	contended bool
}

func newWriterGate() writerGate {
	idle := make(chan struct{})
	close(idle)
	return writerGate{sem: make(chan struct{}, 1), idle: idle}
}

// acquire takes the writer, waiting as long as ctx allows. The wait and
// the hold are measured under ctx's component label (WithComponent),
// ComponentIngest when it has none.
func (g *writerGate) acquire(ctx context.Context) error {
	return g.take(ctx, componentOf(ctx, ComponentIngest), time.Now(), false)
}

// take takes the writer for component, which asked for it at asked;
// contended says whether it already had to wait.
func (g *writerGate) take(ctx context.Context, component string, asked time.Time, contended bool) error {
	select {
	case g.sem <- struct{}{}:
	default:
		contended = true
		select {
		case g.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := time.Now()
	g.holder, g.heldSince, g.waited, g.contended = component, now, now.Sub(asked), contended
	return nil
}

// release gives the writer back and records the holder's wait and hold.
func (g *writerGate) release() {
	g.perf.record(g.holder, g.waited, time.Since(g.heldSince), g.contended)
	<-g.sem
}

// enterIngest announces an Apply; leaveIngest ends it.
func (g *writerGate) enterIngest() {
	g.mu.Lock()
	if g.ingest == 0 {
		g.idle = make(chan struct{})
	}
	g.ingest++
	g.mu.Unlock()
}

func (g *writerGate) leaveIngest() {
	g.mu.Lock()
	g.ingest--
	if g.ingest == 0 {
		close(g.idle)
	}
	g.mu.Unlock()
}

// ingestIdle returns a channel closed once no Apply is waiting or running,
// and whether that is already the case.
func (g *writerGate) ingestIdle() (<-chan struct{}, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.idle, g.ingest == 0
}

// acquireYielding takes the writer for maintenance: it first waits until no
// Apply is waiting or running, and gives the writer back if an Apply
// arrived while it was taking it.
//
// Its wait is measured from the first call, under ctx's component label
// (ComponentMaintenance when it has none); yielding counts as contention.
func (g *writerGate) acquireYielding(ctx context.Context) error {
	component, asked, contended := componentOf(ctx, ComponentMaintenance), time.Now(), false
	for {
		idle, ok := g.ingestIdle()
		contended = contended || !ok
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := g.take(ctx, component, asked, contended); err != nil {
			return err
		}
		if _, ok := g.ingestIdle(); ok {
			return nil
		}
		contended = true
		<-g.sem // give it back unmeasured: the wait goes on
	}
}

// OpenReadOnly opens path read-only (mode=ro, query_only) without the writer
// lock, for tools that inspect a database a running daemon writes (the load
// generator's verifier). It never creates the file.
func OpenReadOnly(path string, conns int) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open read-only: %w", err)
	}
	r, err := sql.Open("sqlite", fileURI(path)+"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open read-only: %w", err)
	}
	r.SetMaxOpenConns(max(conns, 1))
	return r, nil
}
