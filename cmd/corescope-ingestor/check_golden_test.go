package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/check")

// generatedClientID matches a client id derived from the host name and the
// absolute database path, which differ between machines and checkouts.
var generatedClientID = regexp.MustCompile(`clientId: csi-[0-9a-f]+`)

// TestCmdCheckGolden pins the effective config that check prints for the
// example configs (CoreScope's seed-era and HEAD config.json, the annotated
// reference and the quick start).
func TestCmdCheckGolden(t *testing.T) {
	for name, path := range map[string]string{
		"corescope-config.example":      "../../testdata/corescope-config.example.json",
		"corescope-config-head.example": "../../testdata/corescope-config-head.example.json",
		"corescope-ingestor":            "../../etc/corescope-ingestor.yaml",
		"quickstart":                    "../../etc/quickstart.yaml",
	} {
		t.Run(name, func(t *testing.T) {
			cleanEnv(t)
			var stdout, stderr bytes.Buffer
			if err := cmdCheck(context.Background(), []string{"-config", path}, &stdout, &stderr); err != nil {
				t.Fatalf("check: %v\n%s", err, stderr.String())
			}
			got := generatedClientID.ReplaceAll(stdout.Bytes(), []byte("clientId: csi-<generated>"))
			golden := filepath.Join("testdata", "check", name+".yaml")
			if *updateGolden {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("check %s printed:\n%s\nwant (%s):\n%s", path, got, golden, want)
			}
		})
	}
}
