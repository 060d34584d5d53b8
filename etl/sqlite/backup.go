package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// backupTables are the tables whose row counts check a backup.
var backupTables = []string{
	"transmissions", "observations", "nodes", "inactive_nodes", "observers", "observer_metrics", "dropped_packets",
}

// TableCount is one table's row count.
type TableCount struct {
	Table string
	Rows  int64
}

// ErrBackupMismatch is returned (wrapped) when a copy's check fails.
var ErrBackupMismatch = errors.New("backup check failed")

// BackupInto writes a consistent copy of the database to dst with
// VACUUM INTO, from a connection of its own opened read-only: the copy is
// one read transaction's snapshot, and the writer is never blocked (WAL).
// dst must not exist. The copy is then checked: PRAGMA integrity_check must
// be "ok", and each main table's row count must lie between the source's
// counts read just before and just after the copy (ingest may add rows
// meanwhile; with no write in between they must be equal). It returns the
// copy's counts. On any error dst is removed.
func (db *DB) BackupInto(ctx context.Context, dst string) (counts []TableCount, err error) {
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	src, err := sql.Open("sqlite", fileURI(db.path)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	src.SetMaxOpenConns(1)
	before, err := tableCounts(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("backup: count source: %w", err)
	}
	if _, err := src.ExecContext(ctx, "VACUUM INTO "+sqlQuote(dst)); err != nil {
		return nil, fmt.Errorf("backup: vacuum into: %w", err)
	}
	after, err := tableCounts(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("backup: count source: %w", err)
	}
	cp, err := sql.Open("sqlite", fileURI(dst)+"?mode=ro")
	if err != nil {
		return nil, fmt.Errorf("backup: open copy: %w", err)
	}
	defer cp.Close()
	var ok string
	if err := cp.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&ok); err != nil {
		return nil, fmt.Errorf("backup: integrity_check: %w", err)
	}
	if ok != "ok" {
		return nil, fmt.Errorf("backup: integrity_check: %s: %w", ok, ErrBackupMismatch)
	}
	counts, err = tableCounts(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("backup: count copy: %w", err)
	}
	for i, c := range counts {
		lo, hi := min(before[i].Rows, after[i].Rows), max(before[i].Rows, after[i].Rows)
		if c.Rows < lo || c.Rows > hi {
			return nil, fmt.Errorf("backup: %s has %d rows, source had %d before and %d after: %w",
				c.Table, c.Rows, before[i].Rows, after[i].Rows, ErrBackupMismatch)
		}
	}
	return counts, nil
}

// tableCounts counts the rows of backupTables in one read transaction; a
// table the file does not have counts 0.
func tableCounts(ctx context.Context, db *sql.DB) ([]TableCount, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out := make([]TableCount, 0, len(backupTables))
	for _, t := range backupTables {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, t).Scan(&exists); err != nil {
			return nil, err
		}
		c := TableCount{Table: t}
		if exists > 0 {
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&c.Rows); err != nil {
				return nil, fmt.Errorf("%s: %w", t, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// sqlQuote returns s as an SQL string literal.
func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// FormatCounts formats counts as "transmissions=12 observations=40 …".
func FormatCounts(counts []TableCount) string {
	var b strings.Builder
	for i, c := range counts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.Table)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(c.Rows, 10))
	}
	return b.String()
}
