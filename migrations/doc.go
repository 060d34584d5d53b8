// Package migrations holds the database migrations of a CoreScope SQLite
// file, as numbered SQL files embedded in FS. The runner is
// etl/sqlite.(*DB).Migrate; this package has no code.
//
// # Files
//
// Each file is NNNN_name.sql, numbered from 0001 without gaps. The runner
// applies them in number order, each in its own transaction, and records
// name in CoreScope's bookkeeping table _migrations(name TEXT PRIMARY KEY)
// in that same transaction. A migration whose name is already recorded is
// skipped; a failing migration is rolled back, is not recorded, and stops
// the run. Names are CoreScope's own for the migrations CoreScope has (so a
// database shared with, or upgraded from, CoreScope's ingestor stays
// consistent); ours start with "etl_" so they can never collide with a
// future CoreScope name.
//
// Every statement must be idempotent (IF NOT EXISTS, guarded UPDATEs):
// legacy files have no _migrations table, so every migration runs on them,
// against tables that may already have what it creates. A migration never
// runs VACUUM or changes journal_mode (neither can run in a transaction).
//
// # Directives
//
// SQLite has no ADD COLUMN IF NOT EXISTS, and legacy files already have
// some of the columns CoreScope adds. A line starting with "-- +etl " is a
// directive interpreted by the runner; the SQL between directives runs as is.
//
//	-- +etl add-column TABLE COLUMN DEFINITION…
//	    ALTER TABLE TABLE ADD COLUMN COLUMN DEFINITION…, only when
//	    pragma_table_info(TABLE) has no COLUMN.
//	-- +etl if-added TABLE COLUMN
//	    The SQL that follows, up to the next directive or the end of the file,
//	    runs only if an earlier add-column of this file added TABLE.COLUMN.
//	    Used for backfills: a column that already existed holds what its
//	    writer put there and is left alone.
//
// schema/schema.sql is the schema of a new database after all migrations;
// a test in package schema fails when it drifts.
package migrations

import "embed"

// FS holds the migration files (*.sql) at its root.
//
//go:embed *.sql
var FS embed.FS
