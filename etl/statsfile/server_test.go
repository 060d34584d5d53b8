package statsfile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServerPanelKeys checks the keys today's CoreScope server reads
// (head.md §2.19), their JSON types, and that empty ones are left out.
func TestServerPanelKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.json")
	tick := time.Date(2026, 11, 26, 6, 3, 11, 0, time.UTC)
	c := Counters{
		WriterPerf: map[string]WriterPerf{
			"mqtt_handler":  {Count: 10, ContentionTotal: 2, WaitP50: 0.01, WaitP95: 0.5, WaitP99: 1.25, WaitMax: 3, HoldP50: 2, HoldP95: 4, HoldP99: 5, HoldMax: 9.5},
			"pruneRequests": {Count: 1},
		},
		SourceLiveness: map[string]SourceLiveness{"eu": {LastReceiptUnix: 1795500191, LastMessageUnix: 1795500190}},
		SourceStatuses: []SourceStatus{{
			Name: "eu", Broker: "mqtt://u:xxxxx@broker:1883", Connected: true,
			LastConnectUnix: 1795500000, LastPacketUnix: 1795500191, ConnectCount: 1,
			PacketsTotal: 42, PacketsLast5m: 40,
		}},
		WatchdogLastTick: tick,
	}
	w := NewWriter(path, 0, func() Counters { return c }, nil, nil)
	if err := w.WriteOnce(tick.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}

	wp, ok := got["writer_perf"].(map[string]any)
	if !ok {
		t.Fatalf("writer_perf missing or not an object: %s", b)
	}
	ingest, _ := wp["mqtt_handler"].(map[string]any)
	for _, k := range []string{"count", "contention_total", "wait_ms_p50", "wait_ms_p95", "wait_ms_p99", "wait_ms_max",
		"hold_ms_p50", "hold_ms_p95", "hold_ms_p99", "hold_ms_max"} {
		if _, ok := ingest[k].(float64); !ok {
			t.Errorf("writer_perf.mqtt_handler.%s = %v, want a number", k, ingest[k])
		}
	}
	if ingest["wait_ms_p99"] != 1.25 || ingest["contention_total"] != 2.0 {
		t.Errorf("writer_perf.mqtt_handler = %v", ingest)
	}

	live, _ := got["source_liveness"].(map[string]any)
	eu, _ := live["eu"].(map[string]any)
	if eu["lastReceiptUnix"] != 1795500191.0 || eu["lastMessageUnix"] != 1795500190.0 {
		t.Errorf("source_liveness = %v", got["source_liveness"])
	}

	sts, _ := got["source_statuses"].([]any)
	if len(sts) != 1 {
		t.Fatalf("source_statuses = %v, want a list of one", got["source_statuses"])
	}
	st := sts[0].(map[string]any)
	for k, kind := range map[string]string{
		"name": "string", "broker": "string", "connected": "bool",
		"lastConnectUnix": "number", "lastDisconnectUnix": "number", "lastPacketUnix": "number",
		"connectCount": "number", "disconnectCount": "number", "packetsTotal": "number", "packetsLast5m": "number",
	} {
		var ok bool
		switch kind {
		case "string":
			_, ok = st[k].(string)
		case "bool":
			_, ok = st[k].(bool)
		case "number":
			_, ok = st[k].(float64)
		}
		if !ok {
			t.Errorf("source_statuses[0].%s = %v, want a %s", k, st[k], kind)
		}
	}
	if _, ok := st["lastError"]; ok {
		t.Errorf("lastError present while empty: %v", st)
	}
	if got["watchdogLastTickUnix"] != float64(tick.Unix()) {
		t.Errorf("watchdogLastTickUnix = %v, want %d", got["watchdogLastTickUnix"], tick.Unix())
	}
	if _, ok := got["watchdogPanicCount"]; ok {
		t.Error("watchdogPanicCount present while 0")
	}

	// Nothing to report: the keys are left out.
	w = NewWriter(path, 0, func() Counters { return Counters{WatchdogPanics: 1} }, nil, nil)
	if err := w.WriteOnce(tick); err != nil {
		t.Fatal(err)
	}
	got = nil
	b, _ = os.ReadFile(path)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"writer_perf", "source_liveness", "source_statuses", "watchdogLastTickUnix"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s present while empty: %s", k, b)
		}
	}
	if got["watchdogPanicCount"] != 1.0 {
		t.Errorf("watchdogPanicCount = %v, want 1", got["watchdogPanicCount"])
	}
}
