package broker

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/waittest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A hash written by mosquitto_passwd 2.0.11 for alice / s3cret.
const mosquittoHash = "$7$101$fZTV9fUMXd8Ii13e$Cw61OR+xy8bJaVJdXKy3cxt6exKmV/uOq7h2fFuNb8zsxNBdV5gyM1dxDQ+7DJJB5/UXZmWqv+HqXK1C1hN1hA=="

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sink collects what the broker enqueues; acks are left to the test.
type sink struct{ ch chan etl.Message }

func newSink() *sink { return &sink{ch: make(chan etl.Message, 100)} }

func (s *sink) enqueue(ctx context.Context, m etl.Message) error {
	select {
	case s.ch <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sink) next(t *testing.T) etl.Message {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the pipeline")
	}
	return etl.Message{}
}

func startBroker(t *testing.T, cfg Config, s *sink) *Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = freeAddr(t)
	}
	b, err := Open(cfg, s.enqueue, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return b
}

func publisher(t *testing.T, b *Broker, user, pass string) (*mqtt.Publisher, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := mqtt.NewPublisher(ctx, mqtt.PublisherConfig{Broker: "tcp://" + b.Addr(), Username: user, Password: pass})
	if err == nil {
		t.Cleanup(p.Close)
	}
	return p, err
}

func TestPublishReachesPipelineAndQoS1WaitsForCommit(t *testing.T) {
	s := newSink()
	b := startBroker(t, Config{}, s)
	p, err := publisher(t, b, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if err := p.Publish("meshcore/SJC/obs1/packets", 0, false, []byte(`{"raw":"00"}`)).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.next(t)
	if m.Topic != "meshcore/SJC/obs1/packets" || string(m.Payload) != `{"raw":"00"}` || m.Source != DefaultSourceName || m.Ack != nil {
		t.Fatalf("QoS 0 message = %+v", m)
	}

	pending := p.Publish("meshcore/SJC/obs1/packets", 1, false, []byte(`{"raw":"01"}`))
	m = s.next(t)
	if m.Ack == nil {
		t.Fatal("QoS 1 message without Ack")
	}
	// Not committed yet: the PUBACK must not have been sent.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := pending.Wait(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("QoS 1 publish completed before the commit: %v", err)
	}
	m.Ack()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := pending.Wait(wctx); err != nil {
		t.Fatalf("QoS 1 publish after commit: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	dir := t.TempDir()
	pwfile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pwfile, []byte("# users\nalice:"+mosquittoHash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bobHash, err := HashPassword("hunter2")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink()
	b := startBroker(t, Config{PasswordFile: pwfile, Users: []User{{Name: "bob", PasswordHash: bobHash}}}, s)
	for _, c := range []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "s3cret", true},
		{"bob", "hunter2", true},
		{"alice", "wrong", false},
		{"mallory", "s3cret", false},
		{"", "", false},
	} {
		_, err := publisher(t, b, c.user, c.pass)
		if (err == nil) != c.ok {
			t.Errorf("connect as %q/%q: err = %v, want ok=%v", c.user, c.pass, err, c.ok)
		}
	}
	// paho retries a refused 3.1.1 CONNECT once as 3.1: each refusal may count twice.
	if got := b.authFailures.Load(); got < 3 {
		t.Errorf("auth failures = %d, want at least 3", got)
	}
}

func TestTopicACLAndSizeLimit(t *testing.T) {
	s := newSink()
	b := startBroker(t, Config{MaxMessageBytes: 1000}, s)
	p, err := publisher(t, b, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// Ordered on one connection: the denied message is never delivered,
	// the allowed one after it is.
	p.Publish("other/topic", 0, false, []byte("x"))
	p.Publish("meshcore/SJC/obs1/status", 0, false, []byte(`{"status":"online"}`))
	if m := s.next(t); m.Topic != "meshcore/SJC/obs1/status" {
		t.Fatalf("got %q, want the allowed topic only", m.Topic)
	}
	if got := b.denied.Load(); got != 1 {
		t.Errorf("denied = %d, want 1", got)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(b.Collector())
	p.Publish("meshcore/SJC/obs1/packets", 0, false, []byte(strings.Repeat("a", 5000)))
	waittest.Until(t, waittest.Timeout, "the oversized message to close the connection", func() bool { return b.tooLarge.Load() > 0 })
	select {
	case m := <-s.ch:
		t.Fatalf("oversized message reached the pipeline: %d bytes", len(m.Payload))
	default:
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP corescope_broker_messages_dropped_total Messages the embedded broker dropped or refused, by reason.
# TYPE corescope_broker_messages_dropped_total counter
corescope_broker_messages_dropped_total{reason="acl_denied"} 1
corescope_broker_messages_dropped_total{reason="slow_subscriber"} 0
corescope_broker_messages_dropped_total{reason="too_large"} 1
`), "corescope_broker_messages_dropped_total"); err != nil {
		t.Error(err)
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Open(Config{Listen: l.Addr().String()}, newSink().enqueue, nil)
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("err = %v, want one naming %s", err, l.Addr())
	}
}

func TestValidate(t *testing.T) {
	hash, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"off", Config{}, ""},
		{"loopback anonymous", Config{Listen: "127.0.0.1:1884"}, ""},
		{"localhost anonymous", Config{Listen: "localhost:1884"}, ""},
		{"ipv6 loopback", Config{Listen: "[::1]:1884"}, ""},
		{"all interfaces anonymous", Config{Listen: ":1884"}, "reachable from other hosts"},
		{"lan anonymous", Config{Listen: "192.168.1.5:1884"}, "reachable from other hosts"},
		{"lan with users", Config{Listen: "0.0.0.0:1884", Users: []User{{Name: "a", PasswordHash: hash}}}, ""},
		{"lan with tls", Config{Listen: "0.0.0.0:8883", CertFile: "c.pem", KeyFile: "k.pem"}, ""},
		{"cert without key", Config{Listen: "127.0.0.1:1884", CertFile: "c.pem"}, "both or neither"},
		{"plain text password", Config{Listen: "127.0.0.1:1884", Users: []User{{Name: "a", PasswordHash: "secret"}}}, "users[0].passwordHash"},
		{"no port", Config{Listen: "127.0.0.1"}, "host:port"},
		{"wildcard prefix", Config{Listen: "127.0.0.1:1884", TopicPrefixes: []string{"meshcore/#"}}, "topicPrefixes[0]"},
		{"missing password file", Config{Listen: "127.0.0.1:1884", PasswordFile: "/nonexistent/pw"}, "passwordFile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error echoes the password: %v", err)
			}
		})
	}
}

func TestPasswordHashes(t *testing.T) {
	h, err := parseHash(mosquittoHash)
	if err != nil {
		t.Fatal(err)
	}
	if !h.verify("s3cret") || h.verify("s3cret ") {
		t.Fatal("mosquitto_passwd $7$ hash not verified correctly")
	}
	ours, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ours, "$7$"+strconv.Itoa(HashIterations)+"$") {
		t.Fatalf("hash %q", ours)
	}
	h, err = parseHash(ours)
	if err != nil || !h.verify("correct horse") || h.verify("wrong") {
		t.Fatalf("own hash round trip failed: %v", err)
	}
	for _, bad := range []string{"", "plain", "$2b$10$abc", "$7$x$AAAA$AAAA", "$7$10$!!$AAAA", "$6$AAAA$short"} {
		if _, err := parseHash(bad); err == nil {
			t.Errorf("parseHash(%q) accepted", bad)
		}
	}
}
