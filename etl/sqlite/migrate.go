package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/corescope/etl/migrations"
)

// migration is one parsed migration file.
type migration struct {
	name  string // the _migrations.name it is recorded under
	file  string
	steps []step
}

// step is one unit of a migration: plain SQL, or a directive.
type step struct {
	sql string // SQL to execute (plain SQL, or the guarded SQL of if-added)

	// add-column: ALTER TABLE table ADD COLUMN column def, when missing.
	// if-added: run sql only if this migration added table.column.
	kind   stepKind
	table  string
	column string
	def    string
}

type stepKind uint8

const (
	stepSQL stepKind = iota
	stepAddColumn
	stepIfAdded
)

const directivePrefix = "-- +etl "

var (
	fileNameRE   = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)
	identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// loadMigrations parses every *.sql file of fsys, in file-name order. See
// the migrations package documentation for the file format.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var out []migration
	seen := map[string]bool{}
	for i, f := range files {
		m := fileNameRE.FindStringSubmatch(f)
		if m == nil {
			return nil, fmt.Errorf("migration %s: file name is not NNNN_name.sql", f)
		}
		if n, _ := strconv.Atoi(m[1]); n != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %04d", f, i+1)
		}
		if seen[m[2]] {
			return nil, fmt.Errorf("migration %s: duplicate name %s", f, m[2])
		}
		seen[m[2]] = true
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		steps, err := parseMigration(string(b))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", f, err)
		}
		out = append(out, migration{name: m[2], file: path.Base(f), steps: steps})
	}
	return out, nil
}

// parseMigration splits a migration file into steps at its directive lines.
func parseMigration(text string) ([]step, error) {
	var (
		steps []step
		cur   strings.Builder
		// guard is the pending if-added directive the next SQL belongs to.
		guard *step
	)
	flush := func() {
		s := cur.String()
		cur.Reset()
		if guard != nil {
			guard.sql = s
			steps = append(steps, *guard)
			guard = nil
			return
		}
		if hasSQL(s) {
			steps = append(steps, step{kind: stepSQL, sql: s})
		}
	}
	added := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		if !strings.HasPrefix(l, directivePrefix) {
			cur.WriteString(l)
			cur.WriteByte('\n')
			continue
		}
		flush()
		f := strings.Fields(strings.TrimPrefix(l, directivePrefix))
		if len(f) < 3 || !identifierRE.MatchString(f[1]) || !identifierRE.MatchString(f[2]) {
			return nil, fmt.Errorf("line %d: malformed directive %q", line, l)
		}
		switch f[0] {
		case "add-column":
			if len(f) < 4 {
				return nil, fmt.Errorf("line %d: add-column needs TABLE COLUMN DEFINITION", line)
			}
			steps = append(steps, step{kind: stepAddColumn, table: f[1], column: f[2], def: strings.Join(f[3:], " ")})
			added[f[1]+"."+f[2]] = true
		case "if-added":
			if len(f) != 3 {
				return nil, fmt.Errorf("line %d: if-added needs TABLE COLUMN", line)
			}
			if !added[f[1]+"."+f[2]] {
				return nil, fmt.Errorf("line %d: if-added %s.%s without an earlier add-column", line, f[1], f[2])
			}
			guard = &step{kind: stepIfAdded, table: f[1], column: f[2]}
		default:
			return nil, fmt.Errorf("line %d: unknown directive %q", line, f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if guard != nil && !hasSQL(cur.String()) {
		return nil, fmt.Errorf("if-added %s.%s guards no SQL", guard.table, guard.column)
	}
	flush()
	return steps, nil
}

// hasSQL reports whether s has a line that is neither blank nor a comment.
func hasSQL(s string) bool {
	for l := range strings.Lines(s) {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--") {
			return true
		}
	}
	return false
}

// Migrate applies the embedded migrations that are not yet recorded in
// _migrations, in order, each in its own transaction that also records it.
// A failing migration is rolled back, is not recorded, and stops Migrate
// with its error. It returns the names applied by this call.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	ms, err := loadMigrations(migrations.FS)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return db.migrate(ctx, ms)
}

func (db *DB) migrate(ctx context.Context, ms []migration) (applied []string, err error) {
	if err := db.gate.acquire(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer db.gate.release()
	// Schema changes invalidate cached rowids and prepared statements.
	db.forgetWrites()
	if db.stmts != nil {
		db.stmts.close()
		db.stmts = nil
	}

	// CoreScope's bookkeeping table, created exactly as CoreScope does.
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY)`); err != nil {
		return nil, fmt.Errorf("migrate: create _migrations: %w", err)
	}
	done := map[string]bool{}
	rows, err := db.w.QueryContext(ctx, `SELECT name FROM _migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		done[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}

	for _, m := range ms {
		if done[m.name] {
			continue
		}
		if err := db.applyMigration(ctx, m); err != nil {
			return applied, fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		db.log.Info("migration applied", "name", m.name)
		applied = append(applied, m.name)
	}
	return applied, nil
}

// applyMigration runs one migration and records it, in one transaction.
func (db *DB) applyMigration(ctx context.Context, m migration) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	added := map[string]bool{}
	for _, s := range m.steps {
		switch s.kind {
		case stepSQL:
			if _, err := tx.ExecContext(ctx, s.sql); err != nil {
				return err
			}
		case stepAddColumn:
			ok, err := hasColumn(ctx, tx, s.table, s.column)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
			// Identifiers are checked by parseMigration; the definition is
			// the migration file's own text.
			q := "ALTER TABLE " + s.table + " ADD COLUMN " + s.column + " " + s.def
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("add column %s.%s: %w", s.table, s.column, err)
			}
			added[s.table+"."+s.column] = true
		case stepIfAdded:
			if !added[s.table+"."+s.column] {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.sql); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO _migrations (name) VALUES (?)`, m.name); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// hasColumn reports whether table has column.
func hasColumn(ctx context.Context, tx *sql.Tx, table, column string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("table info %s: %w", table, err)
	}
	return n > 0, nil
}

// Schema returns the DDL of every table, index, view and trigger of the
// database, in a deterministic order (each table or view followed by its
// indexes and triggers, by name), without SQLite's
// internal objects (sqlite_sequence, autoindexes). schema/schema.sql is this
// text for a freshly migrated database.
func (db *DB) Schema(ctx context.Context) (string, error) {
	rows, err := db.r.QueryContext(ctx, `
SELECT type, name, sql FROM sqlite_master
WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
ORDER BY tbl_name, CASE type WHEN 'index' THEN 1 WHEN 'trigger' THEN 2 ELSE 0 END, name`)
	if err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, ddl string
		if err := rows.Scan(&typ, &name, &ddl); err != nil {
			return "", fmt.Errorf("schema: %w", err)
		}
		fmt.Fprintf(&b, "-- %s %s\n%s;\n\n", typ, name, strings.TrimSpace(ddl))
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	return b.String(), nil
}
