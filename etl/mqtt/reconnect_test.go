package mqtt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/corescope/etl/etl/waittest"
)

// With the defaults (persistent session, a stable client id, QoS 1
// subscriptions) a broker restart loses nothing that observers publish at
// QoS 0 while the source is still reconnecting (issue #14 item 4: a clean
// session lost 6,141 of 10,000 in a 3.5 s restart). The broker is
// configured as etc/mosquitto.conf: persistence and queue_qos0_messages.
func TestSourceDefaultsSurviveBrokerRestart(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.WithQueueQoS0(true))
	cfg := Config{
		Broker:   b.URL(),
		ClientID: DefaultClientID("host", filepath.Join(t.TempDir(), "meshcore.db"), "test"),
		QoS:      DefaultQoS,
	}
	if err := (Config{Name: "test", Broker: cfg.Broker, ClientID: cfg.ClientID}).Validate(); err != nil {
		t.Fatal(err)
	}
	h := startSource(t, cfg, nil)
	h.waitSubscribed()

	b.Stop()
	waittest.Until(t, waittest.Timeout, "connection lost", func() bool { return !h.src.State().Connected })
	b.Start()
	// Observers reconnect first and publish at QoS 0; the source may or may
	// not be back yet: either way every message must arrive.
	const n = 2000
	publish(t, newPublisher(t, b.URL()), packetsTopic, 0, "during", n)
	got := payloads(h.receive(n))
	if len(got) != n {
		t.Fatalf("%d distinct messages of %d after a broker restart", len(got), n)
	}
	if st := h.src.State(); st.Connects < 2 {
		t.Fatalf("state %+v: no reconnect", st)
	}
}

// A broker that goes down again and again is rejoined promptly every time:
// the backoff restarts from one second after each connection that
// succeeded. paho's own reconnect kept doubling it across connections, so
// by the third outage it waited MaxReconnectInterval (30 s), longer than
// waitFor's deadline.
func TestSourceFlappingBrokerReconnectsPromptly(t *testing.T) {
	b := mqtttest.StartBroker(t)
	h := startSource(t, Config{Broker: b.URL(), ClientID: "corescope-test-flap"}, nil)
	h.waitSubscribed()
	p := newPublisher(t, b.URL())
	for i := range 4 {
		before := h.src.State()
		b.Stop()
		// Two failed attempts: the backoff has grown to 2 s.
		waittest.Until(t, waittest.Timeout, "two failed reconnection attempts", func() bool {
			return h.src.State().ConnectFailures >= before.ConnectFailures+2
		})
		b.Start()
		started := time.Now()
		waittest.Until(t, waittest.Timeout, "reconnected and resubscribed", func() bool {
			st := h.src.State()
			return st.Subscribed && st.Connects > before.Connects
		})
		t.Logf("outage %d: resubscribed %v after the broker was back", i+1, time.Since(started).Round(10*time.Millisecond))
		publish(t, p, packetsTopic, 1, "flap"+string(rune('a'+i)), 1)
		h.receive(1)
	}
}
