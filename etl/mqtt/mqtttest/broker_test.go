package mqtttest

import (
	"net"
	"strings"
	"testing"
)

func TestBrokerRestartKeepsPort(t *testing.T) {
	b := StartBroker(t, WithMaxQueued(5000), WithConfigLine("# extra line"))
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || b.URL() != "tcp://"+b.Addr() {
		t.Fatalf("URL %s, Addr %s", b.URL(), b.Addr())
	}
	dial := func() error {
		c, err := net.Dial("tcp", b.Addr())
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	if err := dial(); err == nil {
		t.Fatal("still accepting after Stop")
	}
	b.Stop() // idempotent
	b.Start()
	if err := dial(); err != nil {
		t.Fatalf("not accepting after Start: %v", err)
	}
	if !strings.Contains(b.Log(), "Saving in-memory database") {
		t.Errorf("persistence file not saved at stop:\n%s", b.Log())
	}
}
