package uplink

import (
	"testing"
	"time"
)

const clientTopic = "meshcore/client/a1b2c3d4/packets"

func TestParseClientGPS(t *testing.T) {
	tests := []struct {
		gps      string
		lat, lon float64
		acc      float64 // -1: absent
		ok       bool
	}{
		{`{"lat":37.5,"lon":-122.25}`, 37.5, -122.25, -1, true},
		{`{"lat":"37.5","lon":" -122.25 ","acc_m":"12.5"}`, 37.5, -122.25, 12.5, true},
		{`{"lat":1,"lon":2,"acc_m":8}`, 1, 2, 8, true},
		{`{"lat":1,"lon":2,"acc_m":null}`, 1, 2, -1, true},
		{`{"lat":1}`, 0, 0, -1, false},
		{`{"lat":"north","lon":2}`, 0, 0, -1, false},
		{`{"lat":null,"lon":2}`, 0, 0, -1, false},
		{`[1,2]`, 0, 0, -1, false},
		{`"37.5,-122.25"`, 0, 0, -1, false},
	}
	for _, tt := range tests {
		env, err := Parse(clientTopic, []byte(`{"raw":"0500","gps":`+tt.gps+`}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.gps, err)
		}
		if !env.Client {
			t.Fatalf("%s: Client not set", tt.gps)
		}
		g := env.GPS
		if g.OK != tt.ok || tt.ok && (g.Lat != tt.lat || g.Lon != tt.lon) {
			t.Errorf("gps %s: %+v, want lat %v lon %v ok %v", tt.gps, g, tt.lat, tt.lon, tt.ok)
		}
		if tt.ok && (g.AccM.Valid != (tt.acc >= 0) || g.AccM.Valid && g.AccM.V != tt.acc) {
			t.Errorf("gps %s: acc_m = %+v, want %v", tt.gps, g.AccM, tt.acc)
		}
	}
	// Only client topics read gps.
	env, err := Parse("meshcore/SJC/A1B2/packets", []byte(`{"raw":"0500","gps":{"lat":1,"lon":2}}`))
	if err != nil || env.GPS.OK || env.Client {
		t.Errorf("observer topic: gps = %+v, client %v, err %v", env.GPS, env.Client, err)
	}
}

// head.md §2.2 rules 1–6, as they apply to client_receptions.rx_at.
func TestRxTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ts   string // the raw JSON "timestamp" value; "" = absent
		want time.Time
	}{
		{``, now},
		{`null`, now},
		{`""`, now},
		{`1764158400`, now},             // a number: not a string
		{`"1764158400"`, now},           // an epoch in a string: unparseable
		{`"2026-11-26 11:00:00Z"`, now}, // space separator: unparseable
		{`"2026-11-26T11:00:00Z"`, now.Add(-time.Hour)},          // zoned, an hour ago
		{`"2026-11-26T13:00:00+02:00"`, now.Add(-time.Hour)},     // zoned with an offset
		{`"2026-11-20T12:00:00Z"`, now.Add(-6 * 24 * time.Hour)}, // zoned, six days ago
		{`"2026-11-26T11:59:30.75Z"`, time.Date(2026, 11, 26, 11, 59, 30, 750_000_000, time.UTC)},
		{`"2026-11-26T18:00:00Z"`, now},                       // 6 h ahead: clamped to now
		{`"2026-11-27T03:00:00Z"`, now},                       // 15 h ahead: rejected
		{`"2026-10-26T11:00:00Z"`, now},                       // 31 days old: rejected
		{`"2026-11-26T11:50:00"`, now.Add(-10 * time.Minute)}, // naive, within 15 min
		{`"2026-11-26T11:50:00.5"`, now.Add(-10*time.Minute + 500*time.Millisecond)},
		{`"2026-11-26T12:10:00"`, now}, // naive, ahead: clamped
		{`"2026-11-26T05:00:00"`, now}, // naive, 7 h off: a zone, not a time
	}
	for _, tt := range tests {
		payload := `{"raw":"0500"}`
		if tt.ts != "" {
			payload = `{"raw":"0500","timestamp":` + tt.ts + `}`
		}
		env, err := Parse(clientTopic, []byte(payload))
		if err != nil {
			t.Fatalf("%s: %v", tt.ts, err)
		}
		if got := env.RxTime(now); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("timestamp %s: RxTime = %v, want %v", tt.ts, got, tt.want)
		}
	}
}

func TestFilterBlacklisted(t *testing.T) {
	f := NewFilter(FilterConfig{Blacklist: []string{" DeadBeef "}})
	for id, want := range map[string]bool{"deadbeef": true, "DEADBEEF": true, " deadbeef": true, "dead": false, "": false} {
		if got := f.Blacklisted(id); got != want {
			t.Errorf("Blacklisted(%q) = %v, want %v", id, got, want)
		}
	}
	var none *Filter
	if none.Blacklisted("deadbeef") {
		t.Error("a nil Filter blacklists")
	}
}
