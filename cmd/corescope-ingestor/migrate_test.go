package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCmdMigrate(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "data", "meshcore.db")
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"dbPath":"`+dbPath+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := cmdMigrate(ctx, []string{"-config", cfg}, &out, &errb); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "applied etl_base_schema_v1") || !strings.Contains(out.String(), "applied from_pubkey_v1") {
		t.Errorf("output:\n%s", out.String())
	}
	out.Reset()
	if err := cmdMigrate(ctx, []string{"-db", dbPath}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Errorf("second run output:\n%s", out.String())
	}

	var ue usageError
	if err := cmdMigrate(ctx, []string{"-config", filepath.Join(dir, "missing.json")}, &out, &errb); !errors.As(err, &ue) {
		t.Errorf("missing explicit config: %v, want a usageError", err)
	}
	if err := cmdMigrate(ctx, []string{"extra"}, &out, &errb); !errors.As(err, &ue) {
		t.Errorf("extra argument: %v, want a usageError", err)
	}
}
