package uplink

import (
	"testing"
	"time"
)

func TestClockSkew(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ts   string // the raw JSON "timestamp" value
		skew int64
		ok   bool
	}{
		{`"2026-11-26T05:00:00"`, -25200, true},              // 7 h behind (head.md §6 case 1)
		{`"2026-11-26T13:59:59.9"`, 7199, true},              // 2 h ahead, truncated toward zero
		{`"2026-11-26T11:30:00.123456"`, -1799, true},        // 29 min 59.88 s behind, truncated toward zero
		{`"2026-11-26T11:44:59.5"`, -900, true},              // just over 15 min
		{`"2026-11-26T11:45:00"`, 0, false},                  // exactly 15 min: within tolerance
		{`"2026-11-26T12:10:00"`, 0, false},                  // within 15 min
		{`"2026-11-27T08:00:00"`, 0, false},                  // 20 h ahead: garbage, no skew
		{`"2026-10-26T11:00:00"`, 0, false},                  // 31 days behind
		{`"2026-11-26T09:00:00Z"`, 0, false},                 // zoned: never skew
		{`"2026-11-26T09:00:00+01:00"`, 0, false},            // zoned
		{`"2026-11-26 09:00:00"`, 0, false},                  // space separator: not CoreScope's naive layout
		{`" 2026-11-26T09:00:00"`, 0, false},                 // surrounding space
		{`1764136800`, 0, false},                             // epoch number
		{`"1764136800"`, 0, false},                           // epoch in a string
		{`null`, 0, false},                                   // absent
		{`"garbage"`, 0, false},                              // unparseable
		{`"2026-11-26T05:00:00.123456789123"`, -25199, true}, // long fraction
	}
	for _, tt := range tests {
		env, err := Parse("meshcore/SJC/A1B2/packets", []byte(`{"raw":"0500","timestamp":`+tt.ts+`}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.ts, err)
		}
		skew, ok := env.ClockSkew(now)
		if skew != tt.skew || ok != tt.ok {
			t.Errorf("timestamp %s: ClockSkew = %d, %v; want %d, %v", tt.ts, skew, ok, tt.skew, tt.ok)
		}
	}
}

func TestStatusRepeat(t *testing.T) {
	tests := []struct {
		repeat   string // raw JSON; "" = absent
		v, valid bool
	}{
		{`true`, true, true},
		{`false`, false, true},
		{`1`, true, true},
		{`0`, false, true},
		{`-2.5`, true, true},
		{`" ON "`, true, true},
		{`"Yes"`, true, true},
		{`"1"`, true, true},
		{`"off"`, false, true},
		{`"NO"`, false, true},
		{`"0"`, false, true},
		{`"false"`, false, true},
		{`"maybe"`, false, false},
		{`""`, false, false},
		{`null`, false, false},
		{`[]`, false, false},
		{`{}`, false, false},
		{``, false, false},
	}
	for _, tt := range tests {
		payload := `{"status":"online"}`
		if tt.repeat != "" {
			payload = `{"status":"online","repeat":` + tt.repeat + `}`
		}
		env, err := Parse("meshcore/SJC/A1B2/status", []byte(payload))
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		if got := env.Meta.CanRelay; got.V != tt.v || got.Valid != tt.valid {
			t.Errorf("repeat %s: CanRelay = %+v, want %v valid %v", tt.repeat, got, tt.v, tt.valid)
		}
		// head.md §2.4 quirk not copied: "repeat" alone is no metrics sample.
		if env.HasMeta {
			t.Errorf("repeat %s: HasMeta = true for a status without metrics", tt.repeat)
		}
	}
}
