package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/corescope/etl/etl/sqlite"
)

// cmdMigrate implements "migrate [-config PATH] [-db PATH]": it opens the
// database as its writer (refused while a daemon holds the writer lock),
// applies the pending migrations, prints their names and exits. -db
// overrides the config's dbPath. A config or flag error is a usageError
// (exit status 2); a failing migration is rolled back and not recorded
// (exit status 1).
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlag(fs)
	dbPath := fs.String("db", "", "SQLite database file (default: the config's dbPath)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("migrate: unexpected arguments %q", fs.Args())}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	path := *dbPath
	if path == "" {
		cfg, err := cf.load(log)
		if err != nil {
			return err
		}
		path = cfg.DBPath
	}

	// sqlite names its operations: "open database: …", "migrate: …",
	// "close database: …".
	db, err := sqlite.Open(ctx, path, sqlite.Options{Logger: log.With("component", "db")})
	if err != nil {
		return err
	}
	applied, err := db.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintf(stdout, "applied %s\n", name)
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "%s is up to date\n", path)
	}
	return nil
}
