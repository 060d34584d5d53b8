package uplink

import (
	"errors"
	"strings"
	"testing"
)

const validKey = "D5EF2ED77CEABCB22082F8794D5F9D89F2257E70533863E924DEBE6EBDDA312A" // a real observer id: 64 hex

// TestParseValidatesObserverInput: what an observer controls (the topic's
// observer and region segments, the payload's origin, origin_id and region)
// is bounded, non-empty where it is an identity, and free of control
// characters; anything else is rejected with a counted reason.
func TestParseValidatesObserverInput(t *testing.T) {
	pkt := `{"origin":"ag loft rpt","raw":"0A00"}`
	long := func(n int) string { return strings.Repeat("A", n) }
	tests := []struct {
		name, topic, payload string
		reason               string // "" = accepted
	}{
		// Accepted: what real uplinks send, and the bounds themselves.
		{"real packet", "meshcore/SJC/" + validKey + "/packets", meshcoretomqttPacket, ""},
		{"real status", "meshcore/SJC/" + validKey + "/status", statsStatus, ""},
		{"short test id", "meshcore/SJC/A1B2/packets", pkt, ""},
		{"observer at the bound", "meshcore/SJC/" + long(MaxObserverLen) + "/packets", pkt, ""},
		{"region at the bound", "meshcore/" + long(MaxRegionLen) + "/A1B2/packets", pkt, ""},
		{"payload region at the bound", "meshcore/SJC/A1B2/packets", `{"raw":"0A00","region":"` + long(MaxRegionLen) + `"}`, ""},
		{"origin at the bound", "meshcore/SJC/A1B2/packets", `{"raw":"0A00","origin":"` + long(MaxOriginLen) + `"}`, ""},
		{"origin with emoji", "meshcore/SJC/A1B2/packets", `{"raw":"0A00","origin":"📡 Kennedy Rptr"}`, ""},
		{"empty IATA falls back", "meshcore//A1B2/packets", pkt, ""},
		{"client layout", "meshcore/client/" + validKey + "/packets", pkt, ""},
		{"short layout", "meshcore/packets", `{"origin_id":"` + validKey + `","raw":"0A00"}`, ""},
		{"companion without observer", "meshcore/message/channel/0", `{"text":"hi"}`, ""},
		// Identity.
		{"empty observer", "meshcore/SJC//packets", pkt, ReasonEmptyObserver},
		{"empty observer, status", "meshcore/SJC//status", `{"status":"online"}`, ReasonEmptyObserver},
		{"empty client key", "meshcore/client//packets", pkt, ReasonEmptyObserver},
		{"short layout without origin_id", "meshcore/packets", `{"raw":"0A00"}`, ReasonEmptyObserver},
		{"60,000-char observer", "meshcore/SJC/" + long(60000) + "/packets", pkt, ReasonInvalidObserver},
		{"observer over the bound", "meshcore/SJC/" + long(MaxObserverLen+1) + "/packets", pkt, ReasonInvalidObserver},
		{"observer with NUL", "meshcore/SJC/A1\x00B2/packets", pkt, ReasonInvalidObserver},
		{"observer with newline", "meshcore/SJC/A1\nB2/status", `{"status":"online"}`, ReasonInvalidObserver},
		{"observer with C1 control", "meshcore/SJC/A1\u0085B2/packets", pkt, ReasonInvalidObserver},
		{"observer not UTF-8", "meshcore/SJC/A1\xffB2/packets", pkt, ReasonInvalidObserver},
		{"origin_id too long", "meshcore/packets", `{"origin_id":"` + long(MaxObserverLen+1) + `","raw":"0A00"}`, ReasonInvalidObserver},
		// Region.
		{"30,000-char payload region", "meshcore/SJC/A1B2/packets", `{"raw":"0A00","region":"` + long(30000) + `"}`, ReasonInvalidRegion},
		{"topic IATA over the bound", "meshcore/" + long(MaxRegionLen+1) + "/A1B2/packets", pkt, ReasonInvalidRegion},
		{"IATA with DEL", "meshcore/SJ\x7fC/A1B2/packets", pkt, ReasonInvalidRegion},
		{"payload region with tab", "meshcore/SJC/A1B2/status", `{"status":"online","region":"S\tJC"}`, ReasonInvalidRegion},
		// Name.
		{"NUL in origin", "meshcore/SJC/A1B2/packets", `{"raw":"0A00","origin":"evil\u0000name"}`, ReasonInvalidOrigin},
		{"escape in origin", "meshcore/SJC/A1B2/status", `{"status":"online","origin":"\u001b[31mred"}`, ReasonInvalidOrigin},
		{"origin over the bound", "meshcore/SJC/A1B2/packets", `{"raw":"0A00","origin":"` + long(MaxOriginLen+1) + `"}`, ReasonInvalidOrigin},
		{"companion origin with NUL", "meshcore/message/direct/x", `{"text":"hi","origin":"a\u0000"}`, ReasonInvalidOrigin},
		// Ignored topics are not read, so not judged.
		{"ignored debug, empty observer", "meshcore/SJC//debug", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse(tt.topic, []byte(tt.payload))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Reason != tt.reason {
				t.Fatalf("err = %v (kind %v), want reject %q", err, env.Kind, tt.reason)
			}
			if len(err.Error()) > 200 {
				t.Errorf("the error echoes the input (%d bytes): %.80s…", len(err.Error()), err)
			}
		})
	}
}

func TestValidText(t *testing.T) {
	for _, tt := range []struct {
		s    string
		max  int
		want bool
	}{
		{"", 4, true},
		{"abcd", 4, true},
		{"abcde", 4, false},
		{"é", 2, true}, // bytes, not runes
		{"éé", 3, false},
		{"a\x00", 4, false},
		{"a\x1f", 4, false},
		{"a\x7f", 4, false},
		{"a\u009f", 4, false},
		{"a\u00a0", 4, true},
		{"a\xc3", 4, false}, // truncated UTF-8
	} {
		if got := validText(tt.s, tt.max); got != tt.want {
			t.Errorf("validText(%q, %d) = %v, want %v", tt.s, tt.max, got, tt.want)
		}
	}
}
