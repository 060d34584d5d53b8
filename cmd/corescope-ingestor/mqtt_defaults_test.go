package main

import (
	"context"
	"testing"
	"time"

	"github.com/corescope/etl/etl/mqtt/mqtttest"
)

// With a source that sets nothing but its broker (a persistent session,
// QoS 1 subscriptions and a generated client id by default), a broker
// restart loses none of what observers publish at QoS 0 while the daemon
// is reconnecting (issue #14 item 4: with a clean session, 6,141 of 10,000
// published during a 3.5 s restart were lost). The broker is configured as
// etc/mosquitto.conf: persistence and queue_qos0_messages.
func TestE2EDefaultsSurviveBrokerRestart(t *testing.T) {
	parallelDaemon(t)
	const n = 1000
	b := mqtttest.StartBroker(t, mqtttest.WithQueueQoS0(true))
	cfg := &testConfig{
		Sources: []testSource{{Name: "a", Broker: b.URL()}},
		// Only the broker: every other per-source key takes its default.
		Extra: map[string]any{"mqttSources": []any{map[string]any{"name": "a", "broker": b.URL()}}},
	}
	d := startDaemon(t, cfg)
	db := openDB(t, cfg.DBPath())

	b.Stop()
	b.Start()
	// Observers reconnect first; the daemon may or may not be back yet.
	p := newPublisher(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := time.Now()
	for i := range n {
		if err := p.Publish(packetsTopic("SJC", observerKey("A")), 0, false, packetJSON("A", uniquePacket(i), ts)).Wait(ctx); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	eventually(t, 30*time.Second, "every packet stored", func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions") == n
	})
	if err := d.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}
