package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/mqtt"
)

// The embedded broker: observers publish to the daemon itself, no
// mosquitto involved.

func embeddedConfig(t *testing.T, broker map[string]any) *testConfig {
	t.Helper()
	return &testConfig{HTTP: true, Extra: map[string]any{"broker": broker, "mqttSources": []any{}}}
}

func embeddedPublisher(t *testing.T, addr, user, pass string) (*mqtt.Publisher, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := mqtt.NewPublisher(ctx, mqtt.PublisherConfig{Broker: "tcp://" + addr, Username: user, Password: pass})
	if err == nil {
		t.Cleanup(p.Close)
	}
	return p, err
}

func TestBrokerEmbeddedIngestsWithoutMosquitto(t *testing.T) {
	parallelDaemon(t)
	addr := freeLoopbackAddr(t)
	cfg := embeddedConfig(t, map[string]any{"listen": addr})
	d := startDaemonNoWait(t, cfg)
	eventually(t, 15*time.Second, "the embedded broker", func() bool {
		return strings.Contains(d.logs.String(), "embedded MQTT broker on "+addr)
	})
	pub, err := embeddedPublisher(t, addr, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Truncate(time.Second)
	for i := range 50 {
		for _, o := range []string{"Obs A", "Obs B"} {
			publish(t, pub, packetsTopic("SJC", observerKey(o)), false, packetJSON(o, uniquePacket(i), ts))
		}
	}
	publish(t, pub, statusTopic("SJC", observerKey("Obs A")), false, statusJSON("Obs A", ts, "Heltec V3"))
	db := openDB(t, cfg.DBPath())
	// QoS 1 PUBACKs come after the commit: everything is stored already.
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != 50 {
		t.Fatalf("transmissions = %d, want 50", n)
	}
	if n := count(t, db, "SELECT count(*) FROM observations"); n != 100 {
		t.Fatalf("observations = %d, want 100", n)
	}
	if n := count(t, db, "SELECT count(*) FROM observers WHERE model = 'Heltec V3'"); n != 1 {
		t.Fatal("status not stored")
	}
	if v := d.metric("corescope_broker_messages_received_total"); v != 101 {
		t.Errorf("corescope_broker_messages_received_total = %v", v)
	}
	eventually(t, 15*time.Second, "/readyz 200", func() bool {
		code, _ := httpGet(t, d.url("/readyz"))
		return code == 200
	})
}

func TestBrokerEmbeddedAuthAndACL(t *testing.T) {
	parallelDaemon(t)
	addr := freeLoopbackAddr(t)
	hash := "$7$101$fZTV9fUMXd8Ii13e$Cw61OR+xy8bJaVJdXKy3cxt6exKmV/uOq7h2fFuNb8zsxNBdV5gyM1dxDQ+7DJJB5/UXZmWqv+HqXK1C1hN1hA==" // alice / s3cret (mosquitto_passwd)
	cfg := embeddedConfig(t, map[string]any{"listen": addr, "users": []any{map[string]any{"name": "alice", "passwordHash": hash}}})
	d := startDaemonNoWait(t, cfg)
	eventually(t, 15*time.Second, "the embedded broker", func() bool {
		return strings.Contains(d.logs.String(), "embedded MQTT broker on")
	})
	if _, err := embeddedPublisher(t, addr, "alice", "wrong"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if _, err := embeddedPublisher(t, addr, "", ""); err == nil {
		t.Fatal("an anonymous client was accepted")
	}
	pub, err := embeddedPublisher(t, addr, "alice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Truncate(time.Second)
	pub.Publish("elsewhere/x", 0, false, packetJSON("Obs A", uniquePacket(1), ts))
	publish(t, pub, packetsTopic("SJC", observerKey("Obs A")), false, packetJSON("Obs A", uniquePacket(2), ts))
	db := openDB(t, cfg.DBPath())
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != 1 {
		t.Fatalf("transmissions = %d, want only the one under meshcore/", n)
	}
	if v := d.metric(`corescope_broker_messages_dropped_total{reason="acl_denied"}`); v != 1 {
		t.Errorf("acl_denied = %v", v)
	}
}

func TestBrokerEmbeddedConfigErrors(t *testing.T) {
	for _, c := range []struct {
		broker map[string]any
		want   string
	}{
		{map[string]any{"listen": "0.0.0.0:1884"}, "broker.listen"},
		{map[string]any{"listen": "127.0.0.1:1884", "users": []any{map[string]any{"name": "a", "passwordHash": "plain"}}}, "broker.users[0].passwordHash"},
		{map[string]any{"listen": "127.0.0.1:1884", "certFile": "x.pem"}, "broker.certFile"},
	} {
		cfg := &testConfig{Extra: map[string]any{"broker": c.broker}}
		_, stderr, err := runCmd(t, "check", "-config", cfg.Write(t))
		if exitCode(err, &strings.Builder{}) != 2 || !strings.Contains(err.Error()+stderr, c.want) {
			t.Errorf("%v: err %v, stderr %s; want exit 2 naming %s", c.broker, err, stderr, c.want)
		}
	}
	// A port already in use is a clear startup error naming the address.
	addr := freeLoopbackAddr(t)
	hold, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	cfg := &testConfig{Extra: map[string]any{"broker": map[string]any{"listen": addr}, "mqttSources": []any{}}}
	_, stderr, err := runCmd(t, "-config", cfg.Write(t))
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("daemon with a busy broker port: %v\n%s", err, stderr)
	}
}

// TestBrokerEmbeddedSIGKILLLosesNothingAcknowledged kills the daemon while
// a QoS 1 publisher streams into its embedded broker, restarts it, and
// checks that every message the broker acknowledged is stored.
func TestBrokerEmbeddedSIGKILLLosesNothingAcknowledged(t *testing.T) {
	parallelDaemon(t)
	const total = 3000
	addr := freeLoopbackAddr(t)
	cfg := embeddedConfig(t, map[string]any{"listen": addr})
	cfg.HTTP = false
	first := startDaemonProcess(t, cfg)
	first.waitLog("embedded MQTT broker on", 1)
	pub, err := embeddedPublisher(t, addr, "", "")
	if err != nil {
		t.Fatal(err)
	}
	topic := packetsTopic("SJC", observerKey("Obs K"))
	ts := time.Now().UTC().Truncate(time.Second)
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, 50)
	killed := make(chan struct{})
	go func() {
		// Kill once a third is acknowledged.
		eventually(t, time.Minute, "a third acknowledged", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= total/3
		})
		first.kill()
		close(killed)
	}()
	for i := range total {
		select {
		case <-killed:
		case sem <- struct{}{}:
			raw := uniquePacket(i)
			tok := pub.Publish(topic, 1, false, packetJSON("Obs K", raw, ts))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if tok.Wait(ctx) == nil {
					mu.Lock()
					acked = append(acked, meshcore.ContentHash(raw))
					mu.Unlock()
				}
			}()
			continue
		}
		break
	}
	<-killed
	pub.Close()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the kill")
	}
	// Restart (the spool, if it holds anything, is replayed) and check.
	second := startDaemonProcess(t, cfg)
	second.waitLog("embedded MQTT broker on", 1)
	db := openDB(t, cfg.DBPath())
	missing := 0
	for _, h := range acked {
		if count(t, db, "SELECT count(*) FROM transmissions WHERE hash = ?", h) != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged messages are not stored after SIGKILL", missing, len(acked))
	}
	t.Logf("%d messages acknowledged before SIGKILL, all stored", len(acked))
	second.signal(syscall.SIGTERM)
}
