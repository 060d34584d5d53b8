package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/corescope/etl/etl/uplink"
	"github.com/corescope/etl/etl/waittest"
)

// logBuffer collects log output; safe for concurrent use.
type logBuffer = mqtttest.LogBuffer

// harness runs one Source against a test broker with a channel-backed Enqueue.
type harness struct {
	t    *testing.T
	src  *Source
	reg  *prometheus.Registry
	msgs chan etl.Message
	logs *logBuffer
	stop context.CancelFunc
	done chan error
}

func chanEnqueue(ch chan etl.Message) Enqueue {
	return func(ctx context.Context, m etl.Message) error {
		select {
		case ch <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// startSource runs a source with cfg (Name defaults to "test"). A nil enq
// delivers to h.msgs. The source is stopped at the end of the test.
func startSource(t *testing.T, cfg Config, enq Enqueue) *harness {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.QoS == 0 {
		cfg.QoS = DefaultQoS // the tests exercise acknowledged delivery
	}
	h := &harness{t: t, reg: prometheus.NewRegistry(), msgs: make(chan etl.Message, 10000), logs: &logBuffer{}, done: make(chan error, 1)}
	if enq == nil {
		enq = chanEnqueue(h.msgs)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.src = NewSource(cfg, enq, log, NewMetrics(h.reg, uplink.TopicKind, uplink.TopicKinds))
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- h.src.Run(ctx) }()
	t.Cleanup(func() {
		h.shutdown()
		if t.Failed() {
			t.Logf("source %s log:\n%s", cfg.Name, h.logs.String())
		}
	})
	return h
}

// shutdown stops the source and returns how long Run took to return.
func (h *harness) shutdown() time.Duration {
	h.t.Helper()
	if h.stop == nil {
		return 0
	}
	start := time.Now()
	h.stop()
	h.stop = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(waittest.Timeout):
		h.t.Fatalf("Run did not return after cancel")
	}
	return time.Since(start)
}

func (h *harness) waitSubscribed() {
	h.t.Helper()
	waittest.Until(h.t, waittest.Timeout, "subscribed", func() bool { return h.src.State().Subscribed })
}

// receive returns the next n messages.
func (h *harness) receive(n int) []etl.Message {
	h.t.Helper()
	out := make([]etl.Message, 0, n)
	timeout := time.After(waittest.Timeout)
	for len(out) < n {
		select {
		case m := <-h.msgs:
			out = append(out, m)
		case <-timeout:
			h.t.Fatalf("received %d of %d messages", len(out), n)
		}
	}
	return out
}

func (h *harness) metric(name string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func newPublisher(t *testing.T, url string) *Publisher {
	t.Helper()
	p, err := NewPublisher(context.Background(), PublisherConfig{Broker: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// publish publishes payloads p0…p(n-1) with the prefix on topic and waits
// for each.
func publish(t *testing.T, p *Publisher, topic string, qos byte, prefix string, n int) {
	t.Helper()
	pend := make([]Pending, 0, n)
	for i := range n {
		pend = append(pend, p.Publish(topic, qos, false, fmt.Appendf(nil, "%s%d", prefix, i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waittest.Timeout)
	defer cancel()
	for _, pd := range pend {
		if err := pd.Wait(ctx); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

func payloads(ms []etl.Message) map[string]int {
	out := make(map[string]int)
	for _, m := range ms {
		out[string(m.Payload)]++
	}
	return out
}

const packetsTopic = "meshcore/SJC/AABBCCDD/packets"

func TestSourceReceives(t *testing.T) {
	b := mqtttest.StartBroker(t)
	h := startSource(t, Config{Broker: b.URL(), CleanSession: true}, nil)
	h.waitSubscribed()
	p := newPublisher(t, b.URL())

	publish(t, p, packetsTopic, 1, "p", 100)
	publish(t, p, "meshcore/SJC/AABBCCDD/status", 0, "s", 3)
	publish(t, p, "meshcore/message/channel/0", 1, "m", 2)
	publish(t, p, "meshcore/SJC/AABBCCDD/serial/commands", 1, "o", 1)
	got := h.receive(106)

	before := time.Now()
	for _, m := range got {
		if m.Source != "test" || m.Received.IsZero() || m.Received.After(before) || m.Retained {
			t.Fatalf("bad message %+v", m)
		}
		switch {
		case strings.HasPrefix(string(m.Payload), "p"):
			if m.Topic != packetsTopic || m.Ack == nil {
				t.Fatalf("QoS 1 packet: topic %q, ack %v", m.Topic, m.Ack != nil)
			}
			m.Ack()
			m.Ack() // idempotent
		case strings.HasPrefix(string(m.Payload), "s"):
			if m.Ack != nil {
				t.Fatalf("QoS 0 delivery carries an Ack")
			}
		}
	}
	if n := len(payloads(got)); n != 106 {
		t.Fatalf("%d distinct payloads, want 106", n)
	}

	st := h.src.State()
	if !st.Connected || st.Connects != 1 || st.LastMessage.IsZero() || st.ConnectedSince.IsZero() ||
		st.Messages != 106 || st.MessagesLast5m != 106 || !st.LastDisconnect.IsZero() {
		t.Fatalf("state %+v", st)
	}
	for sub, want := range map[string]float64{"packets": 100, "status": 3, "message": 2, "other": 1} {
		if got := testutil.ToFloat64(h.src.m.received[sub]); got != want {
			t.Errorf("messages_received_total{subtopic=%s} = %v, want %v", sub, got, want)
		}
	}
	if h.metric("corescope_mqtt_source_connected") != 1 || h.metric("corescope_mqtt_connects_total") != 1 {
		t.Errorf("connected/connects metrics wrong")
	}
	if ts := h.metric("corescope_mqtt_last_message_timestamp_seconds"); ts < float64(before.Add(-time.Minute).Unix()) {
		t.Errorf("last message timestamp %v", ts)
	}
	h.shutdown()
	if h.src.State().Connected || h.metric("corescope_mqtt_source_connected") != 0 {
		t.Errorf("still connected after shutdown")
	}
}

func TestSourceRetainedFlag(t *testing.T) {
	b := mqtttest.StartBroker(t)
	p := newPublisher(t, b.URL())
	ctx := context.Background()
	if err := p.Publish("meshcore/SJC/AABBCCDD/status", 1, true, []byte("retained")).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	h := startSource(t, Config{Broker: b.URL(), CleanSession: true}, nil)
	first := h.receive(1)[0]
	if string(first.Payload) != "retained" || !first.Retained {
		t.Fatalf("first message %q retained=%v, want the retained replay", first.Payload, first.Retained)
	}
	h.waitSubscribed()
	publish(t, p, "meshcore/SJC/AABBCCDD/status", 1, "live", 1)
	if m := h.receive(1)[0]; m.Retained {
		t.Fatalf("live message %q flagged retained", m.Payload)
	}
}

// A persistent session keeps QoS 1 messages published while the source is
// down, and redelivers those that were received but never acknowledged.
func TestSourcePersistentSession(t *testing.T) {
	b := mqtttest.StartBroker(t)
	cfg := Config{Broker: b.URL(), ClientID: "corescope-test-persist", CleanSession: false}
	p := newPublisher(t, b.URL())
	// Each restart follows the previous Run's return at once: Run closes
	// gracefully, so the broker has read the last PUBACKs and the DISCONNECT
	// before the same client id connects again.
	stop := func(h *harness) { t.Helper(); h.shutdown() }

	// First run creates the session and its subscription.
	h := startSource(t, cfg, nil)
	h.waitSubscribed()
	stop(h)

	// Published while down: queued by the broker.
	publish(t, p, packetsTopic, 1, "down", 50)
	h = startSource(t, cfg, nil)
	got := h.receive(50)
	if n := len(payloads(got)); n != 50 {
		t.Fatalf("%d distinct messages after restart, want 50", n)
	}
	// Not acknowledged: the broker must send them again after a reconnect.
	stop(h)
	h = startSource(t, cfg, nil)
	again := h.receive(50)
	if n := len(payloads(again)); n != 50 {
		t.Fatalf("%d distinct redelivered messages, want 50", n)
	}
	// Acknowledge out of order, from several goroutines, as a pipeline
	// might: paho allows it and mosquitto matches PUBACKs by packet id.
	var wg sync.WaitGroup
	for i := len(again) - 1; i >= 0; i-- {
		wg.Add(1)
		go func() { defer wg.Done(); again[i].Ack() }()
	}
	wg.Wait()
	// Acknowledged now: nothing comes back after the next reconnect, and the
	// first message is a new one.
	stop(h)
	h = startSource(t, cfg, nil)
	h.waitSubscribed()
	publish(t, p, packetsTopic, 1, "marker", 1)
	if m := h.receive(1)[0]; string(m.Payload) != "marker0" {
		t.Fatalf("after acking everything, got %q first, want marker0", m.Payload)
	}

	// The session and its queue survive a broker restart (persistence).
	stop(h)
	publish(t, p, packetsTopic, 1, "restart", 20)
	b.Stop()
	b.Start()
	h = startSource(t, cfg, nil)
	if n := len(payloads(h.receive(20))); n != 20 {
		t.Fatalf("%d distinct messages after a broker restart, want 20", n)
	}
}

// At shutdown a persistent session waits for the pipeline to acknowledge
// what it was handed, so those messages are not redelivered.
func TestSourceShutdownWaitsForAcks(t *testing.T) {
	b := mqtttest.StartBroker(t)
	cfg := Config{Broker: b.URL(), ClientID: "corescope-test-grace"}
	p := newPublisher(t, b.URL())
	h := startSource(t, cfg, nil)
	h.waitSubscribed()
	publish(t, p, packetsTopic, 1, "slow", 20)
	got := h.receive(20)
	// A "pipeline" that commits once Run has been told to stop, while it
	// is stopping.
	stopping := make(chan struct{})
	stop := h.stop
	h.stop = func() { stop(); close(stopping) }
	go func() {
		<-stopping
		for _, m := range got {
			m.Ack()
		}
	}()
	h.shutdown()
	if n := h.src.unacked.Load(); n != 0 {
		t.Fatalf("%d messages unacknowledged at disconnect", n)
	}
	h = startSource(t, cfg, nil)
	h.waitSubscribed()
	publish(t, p, packetsTopic, 1, "marker", 1)
	if m := h.receive(1)[0]; string(m.Payload) != "marker0" {
		t.Fatalf("got %q first, want marker0: acknowledged messages were redelivered", m.Payload)
	}
}

func TestSourceReconnectsAfterBrokerRestart(t *testing.T) {
	b := mqtttest.StartBroker(t)
	h := startSource(t, Config{Broker: b.URL(), CleanSession: true, MaxReconnectInterval: 200 * time.Millisecond}, nil)
	h.waitSubscribed()
	p := newPublisher(t, b.URL())
	publish(t, p, packetsTopic, 1, "before", 10)
	h.receive(10)

	b.Stop()
	waittest.Until(t, waittest.Timeout, "connection lost", func() bool { return !h.src.State().Connected })
	if h.metric("corescope_mqtt_source_connected") != 0 {
		t.Errorf("connected gauge still 1")
	}
	b.Start()
	waittest.Until(t, waittest.Timeout, "reconnected and resubscribed", func() bool {
		st := h.src.State()
		return st.Subscribed && st.Connects >= 2
	})
	st := h.src.State()
	if st.Disconnects < 1 || st.LastError == "" || st.LastDisconnect.IsZero() {
		t.Errorf("state after restart %+v", st)
	}
	if h.metric("corescope_mqtt_connects_total") < 2 || h.metric("corescope_mqtt_disconnects_total") < 1 {
		t.Errorf("connects/disconnects metrics not incremented")
	}
	p2 := newPublisher(t, b.URL())
	publish(t, p2, packetsTopic, 1, "after", 10)
	if n := len(payloads(h.receive(10))); n != 10 {
		t.Fatalf("got %d distinct messages after restart", n)
	}
}

func TestSourceDeadBrokerDoesNotBlockOthers(t *testing.T) {
	b := mqtttest.StartBroker(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "tcp://" + l.Addr().String()
	l.Close() // nothing listens there now: connection refused

	dead := startSource(t, Config{Name: "dead", Broker: deadURL, CleanSession: true, MaxReconnectInterval: 50 * time.Millisecond}, nil)
	live := startSource(t, Config{Name: "live", Broker: b.URL(), CleanSession: true}, nil)
	live.waitSubscribed()
	publish(t, newPublisher(t, b.URL()), packetsTopic, 1, "x", 5)
	live.receive(5)

	waittest.Until(t, waittest.Timeout, "the dead source to keep retrying", func() bool { return dead.src.State().ConnectFailures >= 3 })
	st := dead.src.State()
	if st.Connected || st.Connects != 0 || st.LastError == "" {
		t.Fatalf("dead source state %+v", st)
	}
	if d := dead.shutdown(); d > 3*time.Second {
		t.Errorf("dead source took %s to stop", d)
	}
}

func TestSourceStallWatchdogForcesReconnect(t *testing.T) {
	b := mqtttest.StartBroker(t)
	// A persistent session, so that the message published at the end is
	// queued if another forced reconnect is under way.
	h := startSource(t, Config{Broker: b.URL(), ClientID: "corescope-test-stall", StallAfter: 300 * time.Millisecond}, nil)
	waittest.Until(t, waittest.Timeout, "a forced reconnect", func() bool {
		st := h.src.State()
		return st.ForcedReconnects >= 1 && st.Connects >= 2 && st.Subscribed
	})
	if h.metric("corescope_mqtt_forced_reconnects_total") < 1 {
		t.Errorf("forced reconnects metric not incremented")
	}
	if !strings.Contains(h.logs.String(), "stalled") {
		t.Errorf("no stall warning logged")
	}
	// Still works after the forced reconnect.
	publish(t, newPublisher(t, b.URL()), packetsTopic, 1, "x", 1)
	h.receive(1)
}

// Back-pressure: while Enqueue blocks, the time is counted and the watchdog
// does not mistake it for a stall.
func TestSourceEnqueueBlockedSeconds(t *testing.T) {
	b := mqtttest.StartBroker(t)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var mu sync.Mutex
	var blocked time.Duration
	enq := func(ctx context.Context, m etl.Message) error {
		start := time.Now()
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		blocked += time.Since(start)
		mu.Unlock()
		return nil
	}
	h := startSource(t, Config{Broker: b.URL(), CleanSession: true, StallAfter: 100 * time.Millisecond}, enq)
	h.waitSubscribed()
	p := newPublisher(t, b.URL())
	publish(t, p, packetsTopic, 1, "x", 1)
	<-entered
	blockedAt := time.Now()
	forced := h.src.State().ForcedReconnects // a stall before the message arrived is possible on a slow machine
	// Hold the queue "full" until the watchdog has run well past StallAfter,
	// when a watchdog that ignored back-pressure would force a reconnect.
	waittest.Until(t, waittest.Timeout, "a watchdog run 4×StallAfter into the block", func() bool {
		return h.src.WatchdogLastTick().Sub(blockedAt) > 4*100*time.Millisecond
	})
	if f := h.src.State().ForcedReconnects; f != forced {
		t.Errorf("%d forced reconnects while blocked on a full queue", f-forced)
	}
	close(release)
	waittest.Until(t, waittest.Timeout, "blocked time counted", func() bool { return h.metric("corescope_mqtt_enqueue_blocked_seconds_total") > 0 })
	mu.Lock()
	want := blocked.Seconds()
	mu.Unlock()
	if got := h.metric("corescope_mqtt_enqueue_blocked_seconds_total"); got < want {
		t.Errorf("enqueue_blocked_seconds_total = %v, want ≥ %v", got, want)
	}
}

// Run returns promptly on cancel even while Enqueue is blocked on a full
// queue and messages keep arriving.
func TestSourceShutdownIsPrompt(t *testing.T) {
	b := mqtttest.StartBroker(t)
	entered := make(chan struct{}, 1)
	enq := func(ctx context.Context, m etl.Message) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
	h := startSource(t, Config{Broker: b.URL(), CleanSession: true}, enq)
	h.waitSubscribed()
	publish(t, newPublisher(t, b.URL()), packetsTopic, 1, "x", 20)
	<-entered
	if d := h.shutdown(); d > 3*time.Second {
		t.Errorf("Run took %s to return, want about %s at most", d, shutdownTimeout)
	}
}

func TestSourceNeverLogsPassword(t *testing.T) {
	b := mqtttest.StartBroker(t)
	url := strings.Replace(b.URL(), "tcp://", "tcp://user:urlsecret@", 1)
	h := startSource(t, Config{Broker: url, Username: "user", Password: "cfgsecret", CleanSession: true}, nil)
	h.waitSubscribed()
	h.shutdown()
	logs := h.logs.String()
	if !strings.Contains(logs, "mqtt connected") {
		t.Fatalf("no connect line logged:\n%s", logs)
	}
	if strings.Contains(logs, "urlsecret") || strings.Contains(logs, "cfgsecret") {
		t.Fatalf("password in the log:\n%s", logs)
	}
}

func TestSourceRunRejectsBadConfig(t *testing.T) {
	s := NewSource(Config{Name: "bad", Broker: "http://x"}, chanEnqueue(nil), nil, nil)
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("Run accepted an invalid config")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"ok", Config{Name: "a", Broker: "tcp://127.0.0.1:1883", CleanSession: true}, ""},
		{"persistent ok", Config{Name: "a", Broker: "ssl://h:8883", ClientID: "id"}, ""},
		{"ws ok", Config{Name: "a", Broker: "wss://h/mqtt", CleanSession: true}, ""},
		{"no name", Config{Broker: "tcp://h:1", CleanSession: true}, "name: empty"},
		{"no broker", Config{Name: "a", CleanSession: true}, "broker: required"},
		{"bad scheme", Config{Name: "a", Broker: "http://h:1", CleanSession: true}, `scheme "http"`},
		{"no host", Config{Name: "a", Broker: "tcp://", CleanSession: true}, "missing host"},
		{"persistent needs id", Config{Name: "a", Broker: "tcp://h:1"}, "clientId: required"},
		{"qos", Config{Name: "a", Broker: "tcp://h:1", CleanSession: true, QoS: 3}, "qos: must be 0, 1 or 2, got 3"},
		{"empty topic", Config{Name: "a", Broker: "tcp://h:1", CleanSession: true, Topics: []string{""}}, "topics[0]: empty"},
		{"bad filter", Config{Name: "a", Broker: "tcp://h:1", CleanSession: true, Topics: []string{"a/#/b"}}, "topics[0]: invalid topic"},
		{"plus filter", Config{Name: "a", Broker: "tcp://h:1", CleanSession: true, Topics: []string{"a/x+"}}, "'+' must be a whole level"},
		{"password without user", Config{Name: "a", Broker: "tcp://h:1", CleanSession: true, Password: "p"}, "password: set without username"},
		{"keepalive", Config{Name: "a", Broker: "tcp://h:1", CleanSession: true, KeepAlive: time.Millisecond}, "keepAlive: must be at least 1s"},
		{"ca without tls", Config{Name: "a", Broker: "tcp://h:1", CleanSession: true, CAFile: "source_test.go"}, "caFile: set for a broker without TLS"},
		{"ca missing", Config{Name: "a", Broker: "ssl://h:1", CleanSession: true, CAFile: "nonexistent.pem"}, "caFile: stat nonexistent.pem"},
		{"password redacted", Config{Name: "a", Broker: "http://u:pw@h:1", CleanSession: true}, "u:xxxxx@h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), ":pw@"):
				t.Fatalf("password in error: %v", err)
			}
		})
	}
}

func TestSourceTLS(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.WithTLS())
	if !strings.HasPrefix(b.URL(), "ssl://") {
		t.Fatalf("URL %s", b.URL())
	}
	pub, err := NewPublisher(context.Background(), PublisherConfig{Broker: b.URL(), CAFile: b.CAFile()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)

	t.Run("ca file", func(t *testing.T) {
		h := startSource(t, Config{Name: "ca", Broker: b.URL(), CAFile: b.CAFile(), CleanSession: true}, nil)
		h.waitSubscribed()
		publish(t, pub, packetsTopic, 1, "ca", 3)
		h.receive(3)
	})
	t.Run("insecure", func(t *testing.T) {
		h := startSource(t, Config{Name: "insecure", Broker: b.URL(), InsecureSkipVerify: true, CleanSession: true}, nil)
		h.waitSubscribed()
		publish(t, pub, packetsTopic, 1, "insecure", 3)
		h.receive(3)
	})
	t.Run("unknown authority", func(t *testing.T) {
		h := startSource(t, Config{Name: "strict", Broker: b.URL(), CleanSession: true, MaxReconnectInterval: 50 * time.Millisecond}, nil)
		waittest.Until(t, waittest.Timeout, "failed attempts", func() bool { return h.src.State().ConnectFailures >= 2 })
		if st := h.src.State(); st.Connected || !strings.Contains(st.LastError, "certificate") {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("bad ca file", func(t *testing.T) {
		s := NewSource(Config{Name: "bad", Broker: b.URL(), CAFile: "/nonexistent.pem", CleanSession: true}, chanEnqueue(nil), nil, nil)
		if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "caFile: stat /nonexistent.pem") {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestWatchdogAliveWhileRunning(t *testing.T) {
	b := mqtttest.StartBroker(t)
	h := startSource(t, Config{Broker: b.URL(), CleanSession: true, StallAfter: 200 * time.Millisecond}, nil)
	waittest.Until(t, waittest.Timeout, "the watchdog alive", func() bool { return h.src.WatchdogAlive(time.Now()) })
	h.shutdown()
	if h.src.WatchdogAlive(time.Now().Add(time.Second)) {
		t.Fatal("watchdog reported alive a second after Run returned")
	}
}
