package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// cmdCheck implements "check [-config PATH]": it loads and validates the
// config with the process environment and prints the effective config as
// YAML, secrets redacted. A config error is returned as a usageError (exit
// status 2) listing every problem.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlag(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("check: unexpected arguments %q", fs.Args())}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := cf.load(log)
	if err != nil {
		return err
	}
	out, err := cfg.Redacted().YAML()
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	fmt.Fprintf(stdout, "# effective configuration of %s (secrets redacted)\n", cf.path)
	_, err = stdout.Write(out)
	return err
}
