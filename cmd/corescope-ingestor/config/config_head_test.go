package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/jobs/maintenance"
)

// headExampleConfig is CoreScope HEAD's (a06ac8ac) own config.example.json.
const headExampleConfig = "../../../testdata/corescope-config-head.example.json" // a copy of ../shared/testdata

// HEAD's example config loads unchanged, and the keys HEAD's ingestor reads
// are honoured (issue #9 M8).
func TestLoadConfigCoreScopeHEADExample(t *testing.T) {
	c := mustLoad(t, headExampleConfig, nil)
	if want := []string{"#belgium", "#eu"}; !reflect.DeepEqual(c.HashRegions, want) {
		t.Errorf("hashRegions = %q, want %q", c.HashRegions, want)
	}
	if c.Retention.ClientRxDays != 30 || c.NeighborEdgesMaxAgeDays != maintenance.DefaultNeighborEdgesMaxAgeDays {
		t.Errorf("retention.clientRxDays = %d, neighborEdgesMaxAgeDays = %d", c.Retention.ClientRxDays, c.NeighborEdgesMaxAgeDays)
	}
	// They are the defaults of their jobs' days, like the other retention keys.
	if j := c.Jobs.PruneClientReceptions; j.Days != 30 || !j.Enabled {
		t.Errorf("pruneClientReceptions = %+v, want days 30 enabled", j)
	}
	if j := c.Jobs.PruneNeighborEdges; j.Days != maintenance.DefaultNeighborEdgesMaxAgeDays || !j.Enabled {
		t.Errorf("pruneNeighborEdges = %+v, want days 5 enabled", j)
	}
	if c.IngestBufferSize != 50000 || c.Ingest.QueueSize != 50000 {
		t.Errorf("ingestBufferSize %d → ingest.queueSize %d, want 50000", c.IngestBufferSize, c.Ingest.QueueSize)
	}
	if c.Runtime.MaxMemoryMB != DefaultMaxMemoryMB { // 0 in the file: the default
		t.Errorf("runtime.maxMemoryMB = %d", c.Runtime.MaxMemoryMB)
	}
	if c.ClientRxCoverage.Enabled || c.DB.Load.ChunkSize != 10000 || c.Retention.PacketDays != 30 {
		t.Errorf("clientRxCoverage = %+v, db = %+v", c.ClientRxCoverage, c.DB)
	}
	if len(c.MQTTSources) != 3 || c.MQTTSources[2].Name != "wsmqtt" || !strings.HasPrefix(c.MQTTSources[2].Broker, "wss://") {
		t.Errorf("sources = %+v", c.MQTTSources)
	}
}

// Keys that look like HEAD's keys misspelled are still errors (exit 2,
// naming the key), and bad values are reported with their key path.
func TestLoadConfigHEADKeyErrors(t *testing.T) {
	tests := []struct {
		name, file string // JSON
		want       []string
	}{
		{"misspelled hashRegions", `{"hashRegion": ["#eu"]}`, []string{`hashRegion: unknown key (did you mean "hashRegions"?)`}},
		{"misspelled ingestBufferSize", `{"ingestBuferSize": 10}`, []string{`ingestBuferSize: unknown key (did you mean "ingestBufferSize"?)`}},
		{"misspelled neighborEdgesMaxAgeDays", `{"neighborEdgeMaxAgeDays": 3}`, []string{`neighborEdgeMaxAgeDays: unknown key (did you mean "neighborEdgesMaxAgeDays"?)`}},
		{"misspelled clientRxDays", `{"retention": {"clientRxDay": 3}}`, []string{`retention.clientRxDay: unknown key (did you mean "clientRxDays"?)`}},
		{"misspelled maxMemoryMB", `{"runtime": {"maxMemorMB": 3}}`, []string{`runtime.maxMemorMB: unknown key (did you mean "maxMemoryMB"?)`}},
		{"misspelled clientRxCoverage.enabled", `{"clientRxCoverage": {"enable": true}}`, []string{`clientRxCoverage.enable: unknown key (did you mean "enabled"?)`}},
		{"misspelled db.load.chunkSize", `{"db": {"load": {"chunkSise": 5}}}`, []string{`db.load.chunkSise: unknown key (did you mean "chunkSize"?)`}},
		{"negative neighbor age", `{"neighborEdgesMaxAgeDays": -1}`, []string{`neighborEdgesMaxAgeDays: must be ≥ 0`}},
		{"negative clientRxDays", `{"retention": {"clientRxDays": -2}}`, []string{`retention.clientRxDays: must be ≥ 0 (0 means keep client RX coverage rows forever)`}},
		{"negative memory", `{"runtime": {"maxMemoryMB": -1}}`, []string{`runtime.maxMemoryMB: must be ≥ 0 MiB`}},
		{"buffer and queue disagree", `{"ingestBufferSize": 10, "ingest": {"queueSize": 20}}`, []string{`ingestBufferSize: 10 disagrees with ingest.queueSize: 20`}},
		{"neighbor age and job disagree", `{"neighborEdgesMaxAgeDays": 3, "jobs": {"pruneNeighborEdges": {"days": 4}}}`,
			[]string{`jobs.pruneNeighborEdges.days: 4 disagrees with neighborEdgesMaxAgeDays: 3`}},
		{"client RX days and job disagree", `{"retention": {"clientRxDays": 3}, "jobs": {"pruneClientReceptions": {"days": 4}}}`,
			[]string{`jobs.pruneClientReceptions.days: 4 disagrees with retention.clientRxDays: 3`}},
		{"client RX job enabled while kept forever", `{"retention": {"clientRxDays": 0}, "jobs": {"pruneClientReceptions": {"enabled": true}}}`,
			[]string{`jobs.pruneClientReceptions.enabled: cannot be true while retention.clientRxDays is 0`}},
		{"region not a string", `{"hashRegions": [{"a": 1}]}`, []string{`hashRegions[0]: want string`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "config.json", tt.file)
			_, err := Load(path, true, nil, nil)
			assertProblems(t, err, tt.want...)
		})
	}
}

func TestLoadConfigHEADKeyValues(t *testing.T) {
	c := mustLoad(t, writeConfig(t, "config.json", `{
  "hashRegions": [" #eu ", "", "belgium"],
  "ingestBufferSize": -5,
  "neighborEdgesMaxAgeDays": 0,
  "runtime": {"maxMemoryMB": 300},
  "clientRxCoverage": {"enabled": true},
  "retention": {"clientRxDays": 0}
}`), nil)
	if want := []string{"#eu", "belgium"}; !reflect.DeepEqual(c.HashRegions, want) {
		t.Errorf("hashRegions = %q, want %q", c.HashRegions, want)
	}
	if c.Ingest.QueueSize != etl.DefaultQueueSize || c.IngestBufferSize != etl.DefaultQueueSize {
		t.Errorf("a negative ingestBufferSize changed the queue: %d / %d", c.Ingest.QueueSize, c.IngestBufferSize)
	}
	if c.NeighborEdgesMaxAgeDays != maintenance.DefaultNeighborEdgesMaxAgeDays || c.Retention.ClientRxDays != 0 || !c.ClientRxCoverage.Enabled {
		t.Errorf("config = %+v", c)
	}
	if c.Jobs.PruneNeighborEdges.Days != maintenance.DefaultNeighborEdgesMaxAgeDays || c.Jobs.PruneClientReceptions.Enabled {
		t.Errorf("jobs = %+v", c.Jobs)
	}
	noEnv := func(string) (string, bool) { return "", false }
	if b, from := c.MemoryLimit(noEnv); b != 300<<20 || from != "runtime.maxMemoryMB" {
		t.Errorf("memory limit %d from %s, want 300 MiB from runtime.maxMemoryMB", b, from)
	}
	env := func(k string) (string, bool) { return "1GiB", k == "GOMEMLIMIT" }
	if b, from := c.MemoryLimit(env); b != 0 || from != "GOMEMLIMIT" {
		t.Errorf("GOMEMLIMIT does not win: %d from %s", b, from)
	}
	def := mustLoad(t, writeConfig(t, "config.json", `{}`), nil)
	if b, _ := def.MemoryLimit(noEnv); b != DefaultMaxMemoryMB<<20 {
		t.Errorf("default memory limit %d", b)
	}
}

// Configured channel names are normalised ("public" is "Public"); within
// one layer the canonical spelling wins a collision, with a warning; a
// later layer overrides an earlier one; the built-in Public key is added
// with the lowest priority (head.md §2.14).
func TestDecoderOptionsChannelNames(t *testing.T) {
	const (
		k1 = "11111111111111111111111111111111"
		k2 = "22222222222222222222222222222222"
	)
	c := mustLoad(t, writeConfig(t, "config.json", `{"channelKeys": {"public": "`+k1+`", "Public": "`+k2+`", "PUBLIC": "`+k1+`"}}`), nil)
	keys, err := c.ChannelKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Name != "Public" || fmt.Sprintf("%x", keys[0].Key) != k2 {
		t.Fatalf("keys = %v, want only Public = %s (the canonical spelling)", keys, k2)
	}
	var logs bytes.Buffer
	opts, err := c.DecoderOptions(testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "channel key ignored") || !strings.Contains(logs.String(), "channel=public") {
		t.Errorf("no warning for the dropped spelling:\n%s", logs.String())
	}
	// The configured Public replaces the built-in one.
	if names := opts.Keys.Names(); !reflect.DeepEqual(names, []string{"Public"}) {
		t.Errorf("keyring = %q", names)
	}

	// Without configured keys the built-in Public key is there; regions
	// come from hashRegions.
	c = mustLoad(t, writeConfig(t, "config.json", `{"hashChannels": ["#test"], "hashRegions": ["#eu", "belgium"]}`), nil)
	opts, err = c.DecoderOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if names := opts.Keys.Names(); !reflect.DeepEqual(names, []string{"#test", "Public"}) {
		t.Errorf("keyring = %q, want the configured key first, then the built-in Public", names)
	}
	if opts.Regions.Len() != 2 || !opts.VerifySignatures {
		t.Errorf("regions %d, verify %v", opts.Regions.Len(), opts.VerifySignatures)
	}
}
