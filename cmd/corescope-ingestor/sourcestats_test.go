package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/corescope/etl/jobs/maintenance"
)

// headStatsKeys are the stats file's keys that today's CoreScope server
// reads for its writer, liveness and MQTT status panels (head.md §2.19).
var headStatsKeys = []string{"writer_perf", "source_liveness", "source_statuses", "watchdogLastTickUnix", "watchdogPanicCount"}

// baseStatsKeys drops headStatsKeys from keys.
func baseStatsKeys(keys []string) []string {
	return slices.DeleteFunc(keys, func(k string) bool { return slices.Contains(headStatsKeys, k) })
}

// TestOpsStatsFileServerPanels runs the daemon against a real broker and
// checks the stats-file keys of today's server: writer_perf for the ingest
// path and the startup jobs, source_liveness, source_statuses with the
// broker's password masked, and the watchdog tick.
func TestOpsStatsFileServerPanels(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	broker := strings.Replace(b.URL(), "://", "://ingestor:s3cret-pw@", 1)
	cfg := &testConfig{Sources: []testSource{{Name: "s", Broker: broker}}, StatsFile: true}
	startDaemon(t, cfg)
	pub := newPublisher(t, b)
	ts := time.Now().UTC()
	for i := range 3 {
		publish(t, pub, packetsTopic("SJC", observerKey("Obs A")), false, packetJSON("Obs A", uniquePacket(i), ts))
	}

	type perf struct {
		Count     *uint64  `json:"count"`
		Contended *uint64  `json:"contention_total"`
		WaitP50   *float64 `json:"wait_ms_p50"`
		WaitP95   *float64 `json:"wait_ms_p95"`
		WaitP99   *float64 `json:"wait_ms_p99"`
		WaitMax   *float64 `json:"wait_ms_max"`
		HoldP50   *float64 `json:"hold_ms_p50"`
		HoldP95   *float64 `json:"hold_ms_p95"`
		HoldP99   *float64 `json:"hold_ms_p99"`
		HoldMax   *float64 `json:"hold_ms_max"`
	}
	type status struct {
		Name               string  `json:"name"`
		Broker             string  `json:"broker"`
		Connected          bool    `json:"connected"`
		LastConnectUnix    int64   `json:"lastConnectUnix"`
		LastDisconnectUnix *int64  `json:"lastDisconnectUnix"`
		LastPacketUnix     int64   `json:"lastPacketUnix"`
		ConnectCount       uint64  `json:"connectCount"`
		DisconnectCount    *uint64 `json:"disconnectCount"`
		PacketsTotal       uint64  `json:"packetsTotal"`
		PacketsLast5m      uint64  `json:"packetsLast5m"`
	}
	var s struct {
		WriterPerf     map[string]perf `json:"writer_perf"`
		SourceLiveness map[string]struct {
			LastReceiptUnix int64 `json:"lastReceiptUnix"`
			LastMessageUnix int64 `json:"lastMessageUnix"`
		} `json:"source_liveness"`
		SourceStatuses []status `json:"source_statuses"`
		WatchdogTick   int64    `json:"watchdogLastTickUnix"`
		WatchdogPanics *int64   `json:"watchdogPanicCount"`
	}
	var raw []byte
	eventually(t, 10*time.Second, "three packets in source_statuses, the ingest path and a job in writer_perf", func() bool {
		b, err := os.ReadFile(cfg.StatsPath())
		if err != nil {
			return false
		}
		raw = b
		s.WriterPerf, s.SourceLiveness, s.SourceStatuses = nil, nil, nil
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("stats file: %v\n%s", err, b)
		}
		_, job := s.WriterPerf[maintenance.NameStaleNodes] // the first startup job, under its name
		ing, ok := s.WriterPerf["mqtt_handler"]
		return ok && job && ing.Count != nil && *ing.Count >= 1 && len(s.SourceStatuses) == 1 && s.SourceStatuses[0].PacketsTotal == 3 &&
			s.SourceLiveness["s"].LastMessageUnix != 0
	})

	for name, p := range s.WriterPerf {
		if p.Count == nil || p.Contended == nil || p.WaitP50 == nil || p.WaitP95 == nil || p.WaitP99 == nil || p.WaitMax == nil ||
			p.HoldP50 == nil || p.HoldP95 == nil || p.HoldP99 == nil || p.HoldMax == nil {
			t.Errorf("writer_perf.%s lacks a key: %s", name, raw)
		}
	}
	now := time.Now().Unix()
	st := s.SourceStatuses[0]
	if st.Name != "s" || !st.Connected || st.ConnectCount != 1 || st.DisconnectCount == nil || st.PacketsLast5m != 3 ||
		st.LastConnectUnix < now-60 || st.LastPacketUnix < now-60 || st.LastDisconnectUnix == nil || *st.LastDisconnectUnix != 0 {
		t.Errorf("source_statuses[0] = %+v", st)
	}
	if strings.Contains(string(raw), "s3cret-pw") || !strings.Contains(st.Broker, "ingestor:") {
		t.Errorf("broker not masked: %q", st.Broker)
	}
	if l := s.SourceLiveness["s"]; l.LastReceiptUnix < now-60 || l.LastMessageUnix < l.LastReceiptUnix-60 {
		t.Errorf("source_liveness = %+v", s.SourceLiveness)
	}
	if s.WatchdogTick < now-60 || s.WatchdogPanics != nil {
		t.Errorf("watchdogLastTickUnix = %d, watchdogPanicCount = %v (want a recent tick, no panic count)", s.WatchdogTick, s.WatchdogPanics)
	}
}
