// Package sqlite is the SQLite sink of the ETL: it owns the database file of
// CoreScope as its single writer and holds all the SQL of the project.
//
// Open takes an exclusive advisory lock on the file itself and on a lock
// file next to it (a second writer, through any path to the same file, is
// refused with ErrLocked), opens one write connection and a small
// read-only pool, and sets the pragmas the workload needs (WAL,
// synchronous=NORMAL, busy_timeout, foreign_keys, auto_vacuum=INCREMENTAL on
// new files). Migrate applies the embedded migrations of package migrations.
//
// Three kinds of users share the write connection, one at a time:
//
//   - Apply (the etl.Sink of the ingest pipeline) writes a batch of records
//     in one transaction with prepared statements;
//   - WriteChunk runs one bounded maintenance chunk in a transaction;
//   - WithWriteConn lends the connection outside a transaction (VACUUM,
//     checkpoints, pragmas).
//
// Ingest has priority: WriteChunk and WithWriteConn wait while an Apply is
// waiting for, or holding, the writer, so ingest waits at most one chunk.
//
// Time formats follow CoreScope (spec/ingestor.md §1.8): RFC 3339 UTC
// seconds for *_seen columns and metrics buckets, epoch seconds for
// observations.timestamp, "YYYY-MM-DD HH:MM:SS" UTC for dropped_at.
package sqlite
