package mqtt

import (
	"strings"
	"testing"
	"time"
)

// Broker URLs that net/url rejects, or accepts without a host, must never
// be echoed with their password (issue #14 item 6).
func TestParseBrokerNeverEchoesPassword(t *testing.T) {
	const secret = "s3cr%zzet"
	tests := []struct {
		name, url string
		want      string // substring of the error
	}{
		{"bad escape in password", "mqtt://user:" + secret + "@host:1883", "invalid user name or password"},
		{"bad escape in host", "mqtt://user:s3cret@ho%zzst:1883", "invalid URL escape"},
		{"bad port", "mqtt://user:s3cret@host:18x3", "invalid port"},
		{"port out of range", "mqtt://user:s3cret@host:70000", "invalid port"},
		{"space in userinfo", "mqtt://us er:s3cret@host:1883", ""},
		{"space in password", "mqtt://user:s3 cret@host:1883", ""},
		{"missing slashes", "mqtt:user:s3cret@host:1883", "missing host"},
		{"one slash", "mqtt:/user:s3cret@host:1883", "missing host"},
		{"no scheme", "user:s3cret@host:1883", ""},
		{"missing colon", "mqtt//user:s3cret@host:1883", ""},
		{"bad scheme", "http://user:s3cret@host:1883", `scheme "http"`},
		{"no host", "mqtt://user:s3cret@", "missing host"},
		{"control character", "mqtt://user:s3cret@host:1883/\x7f", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBroker(tt.url)
			if err == nil {
				t.Fatalf("ParseBroker(%q) accepted it", tt.url)
			}
			msg := err.Error()
			if strings.Contains(msg, "s3cr") || strings.Contains(msg, "%zzet") {
				t.Fatalf("error echoes the password: %v", err)
			}
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q, want it to contain %q", msg, tt.want)
			}
			if err := (Config{Name: "a", Broker: tt.url, CleanSession: true}).Validate(); err == nil ||
				strings.Contains(err.Error(), "s3cr") {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestParseBrokerAccepts(t *testing.T) {
	for _, u := range []string{
		"tcp://127.0.0.1:1883", "mqtt://h", "mqtts://u:p%40ss@h:8883", "ssl://h:8883", "tls://h:8883",
		"ws://h/mqtt", "wss://u:p@h:443/mqtt", "tcp://[::1]:1883",
	} {
		if _, err := ParseBroker(u); err != nil {
			t.Errorf("ParseBroker(%q): %v", u, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"mqtt://user:pw@host:1883":       "mqtt://user:xxxxx@host:1883",
		"mqtt://user@host:1883":          "mqtt://user@host:1883",
		"mqtt://host:1883":               "mqtt://host:1883",
		"wss://u:p@h/mqtt":               "wss://u:xxxxx@h/mqtt",
		"mqtt://u:p@ss@host":             "mqtt://u:xxxxx@host",
		"mqtt://u:pa/ss@host":            "mqtt://u:xxxxx@host",
		"mqtt://us er:p w@host":          "mqtt://us er:xxxxx@host",
		"mqtt:user:pw@host":              "mqtt:user:xxxxx@host",
		"mqtt:/user:pw@host":             "mqtt:/user:xxxxx@host",
		"user:pw@host:1883":              "user:xxxxx@host:1883",
		"mqtt//user:pw@host":             "mqtt//user:xxxxx@host",
		"":                               "",
		"not a url":                      "not a url",
		"mqtt://user:p%zz@host:1883/top": "mqtt://user:xxxxx@host:1883/top",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultClientID(t *testing.T) {
	a := DefaultClientID("box", "/var/lib/corescope/meshcore.db", "local")
	if a != DefaultClientID("box", "/var/lib/corescope/meshcore.db", "local") {
		t.Fatal("not stable")
	}
	if len(a) > 23 || !strings.HasPrefix(a, "csi-") {
		t.Fatalf("client id %q: want csi-… of at most 23 characters", a)
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			t.Fatalf("client id %q has %q", a, c)
		}
	}
	for _, other := range []string{
		DefaultClientID("box2", "/var/lib/corescope/meshcore.db", "local"),
		DefaultClientID("box", "/srv/meshcore.db", "local"),
		DefaultClientID("box", "/var/lib/corescope/meshcore.db", "remote"),
	} {
		if other == a {
			t.Errorf("%q: same id for a different host, database or source", other)
		}
	}
}

func TestIsTLS(t *testing.T) {
	for broker, want := range map[string]bool{
		"mqtt://h:1883": false, "MQTT://h:1883": false, "mqtts://h:8883": true, "tcp://h:1883": false,
		"ssl://h:8883": true, "tls://h:8883": true, "ws://h:9001/mqtt": false, "wss://h:443/mqtt": true,
	} {
		u, err := ParseBroker(broker)
		if err != nil {
			t.Fatalf("%s: %v", broker, err)
		}
		if got := IsTLS(u); got != want {
			t.Errorf("IsTLS(%s) = %v, want %v", broker, got, want)
		}
	}
}

func TestMessageCounter(t *testing.T) {
	var c messageCounter
	t0 := time.Unix(1_000_000, 0)
	for i := range 10 {
		c.add(t0.Add(time.Duration(i) * time.Minute)) // 0..9 minutes
	}
	total, window := c.counts(t0.Add(9 * time.Minute))
	if total != 10 || window != 5 { // minutes 5..9 are within the last five minutes
		t.Errorf("total %d, window %d; want 10, 5", total, window)
	}
	if _, window := c.counts(t0.Add(time.Hour)); window != 0 {
		t.Errorf("window an hour later = %d", window)
	}
}
