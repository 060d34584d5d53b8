package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// check exits 0 on CoreScope HEAD's example config and on the seed-era
// one, and prints no password.
func TestCmdCheckCoreScopeExamples(t *testing.T) {
	cleanEnv(t)
	for _, path := range []string{"../../testdata/corescope-config-head.example.json", "../../testdata/corescope-config.example.json"} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"check", "-config", path}, nil, &stdout, &stderr)
		if code := exitCode(err, io.Discard); code != 0 {
			t.Errorf("check -config %s: exit %d: %v\n%s", path, code, err, stderr.String())
		}
		if strings.Contains(stdout.String(), "your-password") {
			t.Errorf("check -config %s prints a password", path)
		}
	}
}

// Keys that look like HEAD's keys misspelled, and bad values of HEAD's keys,
// make check exit 2 (the messages are pinned in the config package).
func TestCmdCheckHEADKeyErrors(t *testing.T) {
	for _, file := range []string{
		`{"hashRegion": ["#eu"]}`,
		`{"ingestBuferSize": 10}`,
		`{"neighborEdgeMaxAgeDays": 3}`,
		`{"retention": {"clientRxDay": 3}}`,
		`{"runtime": {"maxMemorMB": 3}}`,
		`{"clientRxCoverage": {"enable": true}}`,
		`{"db": {"load": {"chunkSise": 5}}}`,
		`{"neighborEdgesMaxAgeDays": -1}`,
		`{"retention": {"clientRxDays": -2}}`,
		`{"runtime": {"maxMemoryMB": -1}}`,
		`{"ingestBufferSize": 10, "ingest": {"queueSize": 20}}`,
		`{"neighborEdgesMaxAgeDays": 3, "jobs": {"pruneNeighborEdges": {"days": 4}}}`,
		`{"retention": {"clientRxDays": 3}, "jobs": {"pruneClientReceptions": {"days": 4}}}`,
		`{"retention": {"clientRxDays": 0}, "jobs": {"pruneClientReceptions": {"enabled": true}}}`,
		`{"hashRegions": [{"a": 1}]}`,
	} {
		cleanEnv(t)
		err := run(context.Background(), []string{"check", "-config", writeConfig(t, "config.json", file)}, nil, io.Discard, io.Discard)
		if code := exitCode(err, io.Discard); code != 2 {
			t.Errorf("check %s: exit %d, want 2", file, code)
		}
	}
}
