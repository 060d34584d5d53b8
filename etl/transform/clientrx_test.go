package transform

import (
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/uplink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const clientKeyHex = "c0ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee0123456789"

// Client packets built from the decoder vectors: the same payloads with a
// path in front.
var (
	rawRelayedAdvert  = "11" + "42" + "7D1DDA2A" + rawAdvertBadSig[4:]                     // FLOOD advert, two 2-byte hops
	rawShortHopAdvert = "11" + "02" + "7DDA" + rawAdvertBadSig[4:]                         // FLOOD advert, two 1-byte hops
	rawDirectAdvert   = "12" + "41" + "7D1D" + rawAdvertBadSig[4:]                         // DIRECT advert, one 2-byte hop
	rawRelayedResp    = "05" + "81" + "ABCDEF" + rawFloodResponse[4:]                      // FLOOD response, one 3-byte hop
	goodAdvertKey     = "66be7e332c7a453332bd9d0a7f7db055f5c5ef1a06ada66d98b39fb6810c473a" // rawAdvertGood's node
)

func clientMsg(key, payload string) *etl.Message {
	return msg("main", "meshcore/client/"+key+"/packets", payload)
}

func clientPayload(raw, extra string) string {
	return `{"raw":"` + raw + `","gps":{"lat":"37.77","lon":-122.42,"acc_m":8},"direction":"rx","SNR":-7.25,"rssi":"-101.9"` + extra + `}`
}

func TestClientReceptionHeard(t *testing.T) {
	tr, _ := newTestTransformer(t, func(c *Config) { c.ClientRx = true })
	received := time.Date(2026, 11, 26, 6, 2, 18, 0, time.UTC)
	tests := []struct {
		name, raw, extra string
		heard, src       string
		rxAt             time.Time
	}{
		{"relayed advert: last hop", rawRelayedAdvert, `,"timestamp":"2026-11-26T06:01:00Z"`, "da2a", "rxlog", time.Date(2026, 11, 26, 6, 1, 0, 0, time.UTC)},
		{"relayed response: 3-byte hop", rawRelayedResp, ``, "abcdef", "rxlog", received},
		{"zero-hop advert: the advertiser", rawAdvertGood, `,"timestamp":"2026-11-26T06:00:00"`, goodAdvertKey, "advert", time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)},
		{"bad signature still heard", rawAdvertBadSig, `,"timestamp":"2026-11-26T16:00:00Z"`, "", "advert", received},
	}
	for _, tt := range tests {
		recs := tr.Transform(clientMsg(strings.ToUpper(clientKeyHex), clientPayload(tt.raw, `,"origin":"Alice's phone"`+tt.extra)), nil)
		if len(recs) != 1 || recs[0].Kind != etl.KindClientReception {
			t.Fatalf("%s: records = %+v", tt.name, recs)
		}
		r := recs[0]
		c := r.Client
		if tt.heard != "" && c.HeardKey != tt.heard || c.Src != tt.src || len(c.HeardKey) < 4 || c.HeardKey != strings.ToLower(c.HeardKey) {
			t.Errorf("%s: heard %q src %q, want %q %q", tt.name, c.HeardKey, c.Src, tt.heard, tt.src)
		}
		if c.RxPubkey != clientKeyHex || c.Name != "Alice's phone" || c.Lat != 37.77 || c.Lon != -122.42 ||
			!c.AccM.Valid || c.AccM.V != 8 || c.SNR.V != -7.25 || !c.RSSI.Valid || c.RSSI.V != -101 {
			t.Errorf("%s: reception = %+v", tt.name, c)
		}
		if !c.RxAt.Equal(tt.rxAt) || !r.Time.Equal(received) || r.Observer.ID != "" {
			t.Errorf("%s: rx_at %v time %v observer %+v, want rx_at %v, the receipt time, no observer", tt.name, c.RxAt, r.Time, r.Observer, tt.rxAt)
		}
	}
	if got := testutil.ToFloat64(tr.m.clientRx.WithLabelValues(clientHeard)); got != 4 {
		t.Errorf("client receptions heard = %v, want 4", got)
	}
	if got := testutil.ToFloat64(tr.m.packets); got != 0 {
		t.Errorf("client receptions counted as %v observer packets", got)
	}
}

// head.md §2.16: what does not say which node the client heard directly is
// not stored, and counted by why.
func TestClientReceptionNotHeard(t *testing.T) {
	tr, _ := newTestTransformer(t, func(c *Config) { c.ClientRx = true })
	tests := []struct{ name, payload, result string }{
		{"direction tx", strings.Replace(clientPayload(rawRelayedAdvert, ""), `"rx"`, `"tx"`, 1), clientNotRx},
		{"no direction", strings.Replace(clientPayload(rawRelayedAdvert, ""), `"direction":"rx",`, ``, 1), clientNotRx},
		{"direct route", clientPayload(rawDirectAdvert, ""), clientDirectRoute},
		{"1-byte hops", clientPayload(rawShortHopAdvert, ""), clientShortHop},
		{"zero-hop non-advert", clientPayload(rawFloodResponse, ""), clientUnattributed},
	}
	for _, tt := range tests {
		before := testutil.ToFloat64(tr.m.clientRx.WithLabelValues(tt.result))
		if recs := tr.Transform(clientMsg(clientKeyHex, tt.payload), nil); len(recs) != 0 {
			t.Errorf("%s: records = %+v, want none", tt.name, recs)
		}
		if got := testutil.ToFloat64(tr.m.clientRx.WithLabelValues(tt.result)) - before; got != 1 {
			t.Errorf("%s: result %q counted %v times, want 1", tt.name, tt.result, got)
		}
	}
	// Direction is compared case-insensitively.
	if recs := tr.Transform(clientMsg(clientKeyHex, strings.Replace(clientPayload(rawRelayedAdvert, ""), `"rx"`, `"RX"`, 1)), nil); len(recs) != 1 {
		t.Errorf("direction RX: records = %+v", recs)
	}
}

func TestClientReceptionRejects(t *testing.T) {
	tests := []struct {
		name, topic, payload string
		reason, filtered     string
	}{
		{"non-hex key", "meshcore/client/zz" + clientKeyHex[2:] + "/packets", clientPayload(rawRelayedAdvert, ""), ReasonClientPubkey, ""},
		{"symbols in key", "meshcore/client/!@#$/packets", clientPayload(rawRelayedAdvert, ""), ReasonClientPubkey, ""},
		{"one hex digit", "meshcore/client/a/packets", clientPayload(rawRelayedAdvert, ""), ReasonClientPubkey, ""},
		{"65 hex digits", "meshcore/client/" + clientKeyHex + "0/packets", clientPayload(rawRelayedAdvert, ""), ReasonClientPubkey, ""},
		{"no gps", "meshcore/client/" + clientKeyHex + "/packets", `{"raw":"` + rawRelayedAdvert + `","direction":"rx"}`, ReasonClientNoGPS, ""},
		{"gps without lon", "meshcore/client/" + clientKeyHex + "/packets", `{"raw":"` + rawRelayedAdvert + `","direction":"rx","gps":{"lat":1}}`, ReasonClientNoGPS, ""},
		{"lat out of range", "meshcore/client/" + clientKeyHex + "/packets", `{"raw":"` + rawRelayedAdvert + `","direction":"rx","gps":{"lat":90.5,"lon":0}}`, ReasonClientGPSRange, ""},
		{"lon out of range", "meshcore/client/" + clientKeyHex + "/packets", `{"raw":"` + rawRelayedAdvert + `","direction":"rx","gps":{"lat":0,"lon":-180.01}}`, ReasonClientGPSRange, ""},
		{"bad hex", "meshcore/client/" + clientKeyHex + "/packets", clientPayload("11zz", ""), ReasonClientDecode, ""},
		{"blacklisted", "meshcore/client/DEADBEEF/packets", clientPayload(rawRelayedAdvert, ""), "", uplink.ReasonBlacklisted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _ := newTestTransformer(t, func(c *Config) {
				c.ClientRx = true
				c.Filter = uplink.NewFilter(uplink.FilterConfig{Blacklist: []string{"deadbeef"}, IATAWhitelist: []string{"SJC"}})
			})
			if recs := tr.Transform(msg("main", tt.topic, tt.payload), nil); len(recs) != 0 {
				t.Fatalf("records = %+v, want none", recs)
			}
			if tt.reason != "" {
				if got := testutil.ToFloat64(tr.m.rejects.WithLabelValues(tt.reason)); got != 1 {
					t.Errorf("rejects{reason=%q} = %v, want 1", tt.reason, got)
				}
			}
			if tt.filtered != "" {
				if got := testutil.ToFloat64(tr.m.filtered.WithLabelValues(tt.filtered)); got != 1 {
					t.Errorf("filtered{reason=%q} = %v, want 1", tt.filtered, got)
				}
			}
		})
	}
}

// head.md §2.1 step 2: the client topic is handled before the IATA
// whitelist and the source's iataFilter; with the feature off it is an
// observer's packet, as before, which those lists then judge.
func TestClientReceptionGate(t *testing.T) {
	whitelist := func(c *Config) {
		c.Filter = uplink.NewFilter(uplink.FilterConfig{IATAWhitelist: []string{"SJC"}})
	}
	on, _ := newTestTransformer(t, func(c *Config) { whitelist(c); c.ClientRx = true })
	if recs := on.Transform(msg("picky", "meshcore/client/"+clientKeyHex+"/packets", clientPayload(rawRelayedAdvert, "")), nil); len(recs) != 1 ||
		recs[0].Kind != etl.KindClientReception {
		t.Errorf("feature on, whitelist and iataFilter set: records = %+v, want a client reception", recs)
	}

	off, _ := newTestTransformer(t, nil)
	recs := off.Transform(msg("main", "meshcore/client/"+clientKeyHex+"/packets", clientPayload(rawRelayedResp, `,"origin":"Alice"`)), nil)
	if len(recs) != 1 || recs[0].Kind != etl.KindPacket || recs[0].Client != nil {
		t.Fatalf("feature off: records = %+v, want an observer packet", recs)
	}
	if o := recs[0].Observer; o.ID != clientKeyHex || o.Name != "Alice" || o.IATA != "ZZZ" {
		t.Errorf("feature off: observer = %+v, want the client key, its name, the source region", o)
	}
	offWL, _ := newTestTransformer(t, whitelist)
	if recs := offWL.Transform(msg("main", "meshcore/client/"+clientKeyHex+"/packets", clientPayload(rawRelayedResp, "")), nil); len(recs) != 0 {
		t.Errorf("feature off: the IATA whitelist no longer applies: %+v", recs)
	}
}
