package main

import (
	"errors"
	"flag"
	"log/slog"
	"os"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
)

// configFlag is the -config flag shared by the daemon and the subcommands.
// It remembers whether it was given: a missing default config.json means
// zero-config defaults, a missing explicit file is an error.
type configFlag struct {
	path     string
	explicit bool
}

// newConfigFlag registers -config on fs.
func newConfigFlag(fs *flag.FlagSet) *configFlag {
	f := &configFlag{path: config.DefaultPath}
	fs.Var(f, "config", "config file, YAML (.yaml, .yml) or JSON")
	return f
}

// String implements flag.Value.
func (f *configFlag) String() string { return f.path }

// Set implements flag.Value.
func (f *configFlag) Set(s string) error {
	f.path, f.explicit = s, true
	return nil
}

// load loads and validates the config with the process environment. A
// config error is returned as a usageError (exit status 2).
func (f *configFlag) load(log *slog.Logger) (*config.Config, error) {
	cfg, err := config.Load(f.path, f.explicit, os.Environ(), log)
	if err != nil {
		if _, ok := errors.AsType[*config.Error](err); ok {
			return nil, usageError{err}
		}
		return nil, err
	}
	return cfg, nil
}
