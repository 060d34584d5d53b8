package main

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestErrorsWrappedOnce pins the error chains of the daemon and the migrate
// subcommand: the callee names its own operation ("open database",
// "migrate", "mqtt source %q"), the caller adds only its step, so no phrase
// appears twice.
func TestErrorsWrappedOnce(t *testing.T) {
	dir := t.TempDir()
	// A database below a regular file: its directory cannot be created.
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unopenable := filepath.Join(notDir, "data", "meshcore.db")
	// A database whose _migrations is a view: the first migration cannot
	// record itself.
	unmigratable := filepath.Join(dir, "view.db")
	db, err := sql.Open("sqlite", "file:"+unmigratable)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE VIEW _migrations AS SELECT 1 AS name"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A TLS source whose CA file holds no certificate fails when it runs.
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	config := func(dbPath string, sources string) string {
		p := filepath.Join(t.TempDir(), "config.json")
		body := `{"dbPath":"` + dbPath + `","http":{"listen":""},"stats":{"file":""}` + sources + `}`
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badSource := `,"mqttSources":[{"name":"x","broker":"mqtts://127.0.0.1:1","caFile":"` + notPEM + `"}]`
	cases := []struct {
		name string
		args []string
		want string // the error's prefix
	}{
		{"daemon open", []string{"-config", config(unopenable, "")}, "open database: mkdir "},
		{"daemon migrate", []string{"-config", config(unmigratable, "")}, "migrate: etl_base_schema_v1: "},
		{"migrate open", []string{"migrate", "-db", unopenable}, "open database: mkdir "},
		{"migrate migrate", []string{"migrate", "-db", unmigratable}, "migrate: etl_base_schema_v1: "},
		{"daemon source", []string{"-config", config(filepath.Join(dir, "ok.db"), badSource)}, `stream ingest: mqtt source "x": CA file `},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := run(ctx, c.args, strings.NewReader(""), io.Discard, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.want) {
				t.Errorf("error %q, want the prefix %q", msg, c.want)
			}
			for _, phrase := range []string{"open database: ", "migrate: ", "ingest: ", "mqtt source "} {
				if strings.Count(msg, phrase) > 1 {
					t.Errorf("error %q names %q twice", msg, phrase)
				}
			}
		})
	}
}
