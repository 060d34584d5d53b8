package config

import "testing"

// The README's first command runs the daemon on etc/quickstart.yaml: it must
// load, run the embedded broker on loopback and need no external broker.
func TestQuickStartConfig(t *testing.T) {
	c := mustLoad(t, "../../../etc/quickstart.yaml", nil)
	if c.Broker.Listen != "127.0.0.1:1884" || len(c.MQTTSources) != 0 || c.DBPath != "data/meshcore.db" {
		t.Fatalf("quick start: broker %q, %d sources, db %q", c.Broker.Listen, len(c.MQTTSources), c.DBPath)
	}
}
