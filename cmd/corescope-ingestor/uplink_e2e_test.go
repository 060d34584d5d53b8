package main

import (
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
)

// TestE2EObserverInputBounded publishes, through a real broker to the
// daemon, what an observer must not make us store: an empty observer id, a
// 60,000-character one, a 30,000-character region, a NUL in the name. None
// of it reaches the database (no transmission, observation or observer
// row) and each is counted under its reason; a good packet after them is
// stored.
func TestE2EObserverInputBounded(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL()}}, HTTP: true}
	d := startDaemon(t, cfg)
	pub := newPublisher(t, b)
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	obs := observerKey("Obs V")

	bad := []struct{ topic, payload string }{
		{packetsTopic("SJC", ""), string(packetJSON("Obs V", uniquePacket(1), ts))},                                                    // empty_observer
		{statusTopic("SJC", ""), string(statusJSON("Obs V", ts, "Heltec"))},                                                            // empty_observer
		{packetsTopic("SJC", strings.Repeat("A", 60000)), string(packetJSON("Obs V", uniquePacket(2), ts))},                            // invalid_observer
		{packetsTopic("SJC", obs), `{"origin":"Obs V","raw":"` + uniquePacket(3) + `","region":"` + strings.Repeat("R", 30000) + `"}`}, // invalid_region
		{packetsTopic(strings.Repeat("R", 1000), obs), string(packetJSON("Obs V", uniquePacket(4), ts))},                               // invalid_region
		{packetsTopic("SJC", obs), string(packetJSON("evil\x00name", uniquePacket(5), ts))},                                            // invalid_origin
	}
	for _, m := range bad {
		publish(t, pub, m.topic, false, []byte(m.payload))
	}
	good := uniquePacket(6)
	publish(t, pub, packetsTopic("SJC", obs), false, packetJSON("Obs V", good, ts))
	db := openDB(t, cfg.DBPath())
	eventually(t, 10*time.Second, "the good packet", func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions WHERE hash = ?", meshcore.ContentHash(good)) == 1
	})
	for q, want := range map[string]int64{
		"SELECT count(*) FROM transmissions":   1,
		"SELECT count(*) FROM observations":    1,
		"SELECT count(*) FROM dropped_packets": 0,
		"SELECT count(*) FROM observers":       1,
		"SELECT count(*) FROM observers WHERE length(id) > 128 OR length(iata) > 32 OR instr(name, char(0)) > 0 OR id = ''": 0,
	} {
		if n := count(t, db, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	scrape := d.metrics()
	for series, want := range map[string]float64{
		`corescope_ingest_rejects_total{reason="empty_observer"}`:   2,
		`corescope_ingest_rejects_total{reason="invalid_observer"}`: 1,
		`corescope_ingest_rejects_total{reason="invalid_region"}`:   2,
		`corescope_ingest_rejects_total{reason="invalid_origin"}`:   1,
	} {
		if got, _ := metricValue(scrape, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if err := d.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}
