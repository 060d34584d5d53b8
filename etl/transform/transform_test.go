package transform

import (
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/uplink"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Real packets from the decoder vectors (../shared/testdata/decoder-vectors.json).
const (
	rawFloodResponse = "050000000000000000000000"                                                                                                                                                                                                                   // vector 0
	rawAdvertGood    = "120066be7e332c7a453332bd9d0a7f7db055f5c5ef1a06ada66d98b39fb6810c473a8087ec65edb0d339afef640a1361749ff3961a1d66374f8df76a518eb3001cc4e0fce49954e050de9d56c3ed9e351681c2b9d04d92f608813e9ae3701143afc96d77b70e12516640022807b4f8"             // vector 107, San Francisco
	rawAdvertBadSig  = "1100ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c00f153653d085d97d82cd20e63512565c7dc9cac0b983ab053c1b8544c3f866848ea6deb0ba958c084b35433a8083ab1499d70b4996fc40c3e71f07ed2df253ea2056e0a80546573744e6f646500"           // vector 105
	rawAdvertBadLat  = "110091a28a0b74381593a4d9469579208926afc8ad82c8839b7644359b9eba9a4b3a8287ec653304b04e192ee84eea0bba4b2b1ddca070ae0775f66db693dc81addbe83a8a3f5fe5ee8cf1c6a6180743f3f18beaa6fe9370ee2acbbc77937443ff750435020f90c08c6c05000000004261644c6174" // vector 109
	observerKey      = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90"
)

func newTestTransformer(t *testing.T, mod func(*Config)) (*Transformer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Decoder:    meshcore.NewDecoder(meshcore.Options{VerifySignatures: true}),
		Filter:     uplink.NewFilter(uplink.FilterConfig{Blacklist: []string{"deadbeef"}}),
		Sources:    map[string]Source{"main": {Region: "ZZZ"}, "picky": {IATAFilter: []string{"sjc"}}},
		Registerer: reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg), reg
}

func msg(source, topic, payload string) *etl.Message {
	return &etl.Message{Source: source, Topic: topic, Payload: []byte(payload), Received: time.Date(2026, 11, 26, 6, 2, 18, 0, time.UTC)}
}

func TestTransformPacket(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	recs := tr.Transform(msg("main", "meshcore/sjc/"+observerKey+"/packets",
		`{"origin":"ag loft rpt","raw":"`+rawFloodResponse+`","SNR":"-5.5dB","rssi":-90,"score":"1000","direction":"rx","timestamp":"2026-11-26T06:02:17.5Z"}`), nil)
	if len(recs) != 1 || recs[0].Kind != etl.KindPacket {
		t.Fatalf("records = %+v", recs)
	}
	r := recs[0]
	if r.Observer != (etl.Observer{ID: observerKey, Name: "ag loft rpt", IATA: "SJC"}) {
		t.Errorf("observer = %+v", r.Observer)
	}
	p := r.Packet
	if p.Hash != "fd1b99579c88a4f5" || p.RawHex != rawFloodResponse || p.PathJSON != "[]" || p.PayloadType != 1 || p.RouteType != 1 {
		t.Errorf("packet = %+v", p)
	}
	if !p.SNR.Valid || p.SNR.V != -5.5 || p.RSSI.V != -90 || p.Score.V != 1000 || p.Direction != "rx" {
		t.Errorf("envelope fields = %+v", p)
	}
	if want := time.Date(2026, 11, 26, 6, 2, 18, 0, time.UTC); !r.Time.Equal(want) {
		t.Errorf("time = %v, want the receipt time %v, never the publisher's", r.Time, want)
	}
	if r.Observer.ClockSkew.Valid {
		t.Errorf("a zoned timestamp recorded clock skew %d", r.Observer.ClockSkew.V)
	}
}

// head.md §2.2 (#1370): a stale or future envelope, zoned or naive, does
// not move row times (observer last_seen included: it is the record time).
func TestTransformStaleZonedTimestampUsesReceiptTime(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	for _, ts := range []string{
		"2026-11-26T03:02:18Z", "2026-11-26T06:12:18+00:00", "2026-11-20T06:02:18Z", // past
		"2026-11-26T06:03:18Z", "2026-11-26T09:02:18+01:00", "2026-11-27T06:02:18Z", // future
	} {
		m := msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+rawFloodResponse+`","timestamp":"`+ts+`"}`)
		recs := tr.Transform(m, nil)
		if len(recs) != 1 || !recs[0].Time.Equal(m.Received) || recs[0].Observer.ClockSkew.Valid {
			t.Errorf("timestamp %s: time = %v skew %+v, want receipt time %v and no skew", ts, recs[0].Time, recs[0].Observer.ClockSkew, m.Received)
		}
	}
}

// head.md §2.3: a naive clock more than 15 minutes off is the observer's
// skew, on packets (also dropped ones), never on status or companion
// messages.
func TestTransformClockSkew(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	naive := `"timestamp":"2026-11-25T23:02:18.25"` // receipt 06:02:18: 7 h behind
	recs := tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+rawFloodResponse+`",`+naive+`}`), nil)
	if s := recs[0].Observer.ClockSkew; !s.Valid || s.V != -25199 {
		t.Errorf("packet skew = %+v, want -25199", s)
	}
	recs = tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+rawAdvertBadSig+`",`+naive+`}`), nil)
	if recs[0].Kind != etl.KindDropped || !recs[0].Observer.ClockSkew.Valid {
		t.Errorf("dropped advert: %+v, want a drop with the observer's skew", recs[0])
	}
	recs = tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"05zz",`+naive+`}`), nil)
	if recs[0].Kind != etl.KindDropped || recs[0].Observer.ClockSkew.Valid {
		t.Errorf("undecodable packet: %+v, want a drop without skew (no decode, as CoreScope)", recs[0])
	}
	recs = tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+rawFloodResponse+`","timestamp":"2026-11-26T08:02:18"}`), nil)
	if s := recs[0].Observer.ClockSkew; !s.Valid || s.V != 7200 || !recs[0].Time.Equal(time.Date(2026, 11, 26, 6, 2, 18, 0, time.UTC)) {
		t.Errorf("naive clock 2 h ahead: skew %+v time %v, want 7200 and the receipt time", s, recs[0].Time)
	}
	recs = tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/status", `{"status":"online","model":"M",`+naive+`}`), nil)
	if recs[0].Observer.ClockSkew.Valid {
		t.Error("status recorded clock skew")
	}
	recs = tr.Transform(msg("main", "meshcore/message/channel/2", `{"text":"Bob: hi",`+naive+`}`), nil)
	if recs[0].Observer.ClockSkew.Valid {
		t.Error("companion message recorded clock skew")
	}
}

// Issue #14 item 10: every distinct undecodable packet is its own drop key;
// the same packet twice has the same key.
func TestTransformDecodeErrorKeysAreDistinct(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	keys := map[string]bool{}
	for i := range 20 {
		raw := rawAdvertGood[:40] + fmt.Sprintf("%02x", i) + "0" // odd length: does not decode; one 16-char prefix
		recs := tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+raw+`"}`), nil)
		if len(recs) != 1 || recs[0].Kind != etl.KindDropped {
			t.Fatalf("raw %s: records = %+v", raw, recs)
		}
		keys[recs[0].Drop.Hash] = true
		again := tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+raw+`"}`), nil)
		if again[0].Drop.Hash != recs[0].Drop.Hash {
			t.Errorf("raw %s: key changed on redelivery", raw)
		}
	}
	if len(keys) != 20 {
		t.Errorf("%d distinct keys for 20 distinct bad packets", len(keys))
	}
}

func TestTransformNaiveTimestampUsesReceiptTime(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	m := msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+rawFloodResponse+`","timestamp":"2026-11-25T22:02:17.191561"}`)
	recs := tr.Transform(m, nil)
	if len(recs) != 1 || !recs[0].Time.Equal(m.Received) {
		t.Fatalf("time = %v, want receipt time %v", recs[0].Time, m.Received)
	}
}

func TestTransformRegionFallbacks(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	recs := tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+rawFloodResponse+`","region":" pdx "}`), nil)
	if got := recs[0].Observer.IATA; got != "PDX" {
		t.Errorf("payload region: IATA = %q, want PDX", got)
	}
}

func TestTransformRejects(t *testing.T) {
	cases := []struct {
		name, source, topic, payload string
		reason                       string // rejects_total label; "" = a dropped record
		filtered                     string // filtered_total label
		drop                         string // dropped_packets reason
	}{
		{name: "invalid json", topic: "meshcore/SJC/" + observerKey + "/packets", payload: `{"raw":`, reason: "invalid_json"},
		{name: "array", topic: "meshcore/SJC/" + observerKey + "/packets", payload: `[1,2]`, reason: "not_object"},
		{name: "oversized", topic: "meshcore/SJC/" + observerKey + "/packets", payload: `{"raw":"` + strings.Repeat("00", 40000) + `"}`, reason: ReasonOversized},
		{name: "bad hex", topic: "meshcore/SJC/" + observerKey + "/packets", payload: `{"raw":"05zz"}`, reason: ReasonDecodeError, drop: "decode error: invalid_hex"},
		{name: "too short", topic: "meshcore/SJC/" + observerKey + "/packets", payload: `{"raw":"05"}`, reason: ReasonDecodeError, drop: "decode error: too_short"},
		{name: "bad signature", topic: "meshcore/SJC/" + observerKey + "/packets", payload: `{"raw":"` + rawAdvertBadSig + `"}`, reason: ReasonInvalidSignature, drop: "invalid signature"},
		{name: "invalid advert", topic: "meshcore/SJC/" + observerKey + "/packets", payload: `{"raw":"` + rawAdvertBadLat + `"}`, reason: ReasonInvalidAdvert, drop: "invalid advert: invalid lat: 91.000000"},
		{name: "blacklisted", topic: "meshcore/SJC/DEADBEEF/packets", payload: `{"raw":"` + rawFloodResponse + `"}`, filtered: uplink.ReasonBlacklisted},
		{name: "source iata filter", source: "picky", topic: "meshcore/PDX/" + observerKey + "/packets", payload: `{"raw":"` + rawFloodResponse + `"}`, filtered: uplink.ReasonIATAFiltered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTestTransformer(t, nil)
			src := tc.source
			if src == "" {
				src = "main"
			}
			recs := tr.Transform(msg(src, tc.topic, tc.payload), nil)
			if tc.reason != "" {
				if got := testutil.ToFloat64(tr.m.rejects.WithLabelValues(tc.reason)); got != 1 {
					t.Errorf("rejects{reason=%q} = %v, want 1", tc.reason, got)
				}
			}
			if tc.filtered != "" {
				if got := testutil.ToFloat64(tr.m.filtered.WithLabelValues(tc.filtered)); got != 1 {
					t.Errorf("filtered{reason=%q} = %v, want 1", tc.filtered, got)
				}
			}
			if tc.drop == "" {
				if len(recs) != 0 {
					t.Fatalf("records = %+v, want none", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0].Kind != etl.KindDropped {
				t.Fatalf("records = %+v, want one dropped record", recs)
			}
			if d := recs[0].Drop; d.Reason != tc.drop || d.Hash == "" || d.RawHex == "" {
				t.Errorf("drop = %+v, want reason %q", d, tc.drop)
			}
		})
	}
}

func TestTransformAdvertNodeAndGeo(t *testing.T) {
	topic := "meshcore/SJC/" + observerKey + "/packets"
	payload := `{"raw":"` + rawAdvertGood + `"}`
	lat0, lat1, lon0, lon1 := 30.0, 35.0, -125.0, -120.0 // a box that excludes San Francisco (37.77)
	for _, mode := range []string{"none", "flag", "drop"} {
		t.Run(mode, func(t *testing.T) {
			tr, _ := newTestTransformer(t, func(c *Config) {
				if mode != "none" {
					c.Geo = uplink.NewGeoFilter(nil, 0, &lat0, &lat1, &lon0, &lon1)
					c.ForeignDrop = mode == "drop"
				}
			})
			recs := tr.Transform(msg("main", topic, payload), nil)
			if len(recs) != 1 {
				t.Fatalf("records = %+v", recs)
			}
			switch mode {
			case "drop":
				if recs[0].Kind != etl.KindDropped || recs[0].Drop.Reason != "foreign advert" {
					t.Fatalf("record = %+v", recs[0])
				}
			default:
				n := recs[0].Packet.Node
				if n == nil || len(n.PublicKey) != 64 || n.Role != "repeater" || !n.Lat.Valid || n.Foreign != (mode == "flag") {
					t.Fatalf("node = %+v", n)
				}
				if recs[0].Packet.FromPubkey != n.PublicKey {
					t.Errorf("from_pubkey %q != node key %q", recs[0].Packet.FromPubkey, n.PublicKey)
				}
			}
		})
	}
}

func TestTransformStatus(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	payload := `{"status":"online","origin":"TestObserver","radio":"910.5250244,62.5,7,5","model":"Heltec V3","firmware_version":"1.12.0-test","client_version":"meshcoretomqtt/1.0.8.0","stats":{"battery_mv":4209,"uptime_secs":75821,"noise_floor":-109,"tx_air_secs":80,"rx_air_secs":1903,"recv_errors":934}}`
	m := msg("main", "meshcore/sjc/"+observerKey+"/status", payload)
	recs := tr.Transform(m, nil)
	if len(recs) != 1 || recs[0].Kind != etl.KindStatus {
		t.Fatalf("records = %+v", recs)
	}
	st := recs[0].Status
	if recs[0].Observer.IATA != "SJC" || st.Model != "Heltec V3" || st.Firmware != "1.12.0-test" || st.BatteryMV.V != 4209 || st.Retained {
		t.Errorf("status = %+v %+v", recs[0].Observer, st)
	}
	if st.Metrics == nil || !st.Metrics.Bucket.Equal(time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)) || st.Metrics.RecvErrors.V != 934 {
		t.Errorf("metrics = %+v", st.Metrics)
	}

	m.Retained = true
	recs = tr.Transform(m, nil)
	if st := recs[0].Status; !st.Retained || st.Metrics != nil {
		t.Errorf("retained status = %+v, want Retained and no metrics sample", st)
	}
	if !recs[0].Time.Equal(m.Received) {
		t.Errorf("retained status time = %v, want the receipt time", recs[0].Time)
	}
}

func TestTransformStatusRepeatOnly(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	recs := tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/status", `{"status":"online","repeat":"off"}`), nil)
	st := recs[0].Status
	if !st.CanRelay.Valid || st.CanRelay.V {
		t.Errorf("can_relay = %+v, want false", st.CanRelay)
	}
	if st.Metrics != nil {
		t.Errorf("metrics = %+v, want none for a repeat-only status (head.md §2.4 quirk not copied)", st.Metrics)
	}
}

func TestTransformCompanionHashStableAcrossRedelivery(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	payload := `{"text":"Bob: hello","sender_timestamp":1764136938,"channel_idx":2}`
	a := msg("main", "meshcore/message/channel/2", payload)
	b := msg("main", "meshcore/message/channel/2", payload)
	b.Received = a.Received.Add(5 * time.Second) // redelivered later
	ra, rb := tr.Transform(a, nil), tr.Transform(b, nil)
	if len(ra) != 1 || len(rb) != 1 {
		t.Fatalf("records = %+v / %+v", ra, rb)
	}
	pa := ra[0].Packet
	if pa.Hash != rb[0].Packet.Hash {
		t.Errorf("redelivery changed the hash: %s vs %s", pa.Hash, rb[0].Packet.Hash)
	}
	if !pa.Companion || pa.PayloadType != 5 || pa.ChannelHash != "ch2" || pa.RawHex != "" || pa.PathJSON != "[]" {
		t.Errorf("packet = %+v", pa)
	}
	if want := `{"channel":"ch2","sender":"Bob","sender_timestamp":1764136938,"text":"Bob: hello","type":"CHAN"}`; pa.DecodedJSON != want {
		t.Errorf("decoded_json = %s, want %s", pa.DecodedJSON, want)
	}
}

func BenchmarkTransformPacket(b *testing.B) {
	tr := New(Config{Decoder: meshcore.NewDecoder(meshcore.Options{}), Registerer: prometheus.NewRegistry()})
	m := msg("main", "meshcore/SJC/"+observerKey+"/packets",
		`{"origin":"ag loft rpt","origin_id":"`+observerKey+`","timestamp":"2025-03-16T00:07:11.191561","type":"PACKET","direction":"rx","time":"00:07:09","date":"16/3/2025","len":"87","packet_type":"5","route":"F","payload_len":"83","raw":"`+rawAdvertGood+`","SNR":"4","RSSI":"-93","score":"1000","hash":"AC9D2DDDD8395712"}`)
	out := make([]etl.Record, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		out = tr.Transform(m, out[:0])
	}
}

func TestTransformCompanionHashUsesPublisherTimestamp(t *testing.T) {
	tr, _ := newTestTransformer(t, nil)
	payload := `{"text":"hi there","timestamp":"2026-11-26T00:07:11.191561"}` // naive, no sender_timestamp
	a := msg("main", "meshcore/message/direct/abc", payload)
	b := msg("main", "meshcore/message/direct/abc", payload)
	b.Received = a.Received.Add(3 * time.Second)
	ha, hb := tr.Transform(a, nil)[0].Packet.Hash, tr.Transform(b, nil)[0].Packet.Hash
	if ha != hb {
		t.Errorf("redelivery changed the hash: %s vs %s", ha, hb)
	}
	c := msg("main", "meshcore/message/direct/abc", `{"text":"hi there"}`)
	d := msg("main", "meshcore/message/direct/abc", `{"text":"hi there"}`)
	d.Received = c.Received.Add(3 * time.Second)
	if tr.Transform(c, nil)[0].Packet.Hash == tr.Transform(d, nil)[0].Packet.Hash {
		t.Error("without any timestamp, messages seconds apart must stay distinct (CoreScope's rule)")
	}
}

// transportAdvert is rawAdvertGood re-sent as TRANSPORT_FLOOD with code1
// (4 hex digits; "" = the code of region #test). The signature does not
// cover the header, so the advert stays valid.
func transportAdvert(t *testing.T, code1 string) string {
	t.Helper()
	payload, err := hex.DecodeString(rawAdvertGood[4:]) // after header and path length 0
	if err != nil {
		t.Fatal(err)
	}
	if code1 == "" {
		key := meshcore.RegionKey("#test")
		mac := hmac.New(sha256.New, key[:])
		mac.Write([]byte{4}) // ADVERT
		mac.Write(payload)
		sum := mac.Sum(nil)
		code := uint16(sum[0]) | uint16(sum[1])<<8
		switch code {
		case 0:
			code = 1
		case 0xffff:
			code = 0xfffe
		}
		code1 = strings.ToUpper(hex.EncodeToString([]byte{byte(code), byte(code >> 8)}))
	}
	return "10" + code1 + "0000" + rawAdvertGood[2:]
}

// head.md §2.5, §2.6: scope_name NULL / ” / '#test', default_scope only for
// a matched region.
func TestTransformTransportScope(t *testing.T) {
	tr, _ := newTestTransformer(t, func(c *Config) {
		c.Decoder = meshcore.NewDecoder(meshcore.Options{VerifySignatures: true, Regions: meshcore.NewRegions([]string{"test"})})
	})
	cases := []struct {
		name, raw    string
		scope        sql.Null[string]
		defaultScope string
	}{
		{"flood", rawAdvertGood, sql.Null[string]{}, ""},
		{"transport code 0000", transportAdvert(t, "0000"), sql.Null[string]{}, ""},
		{"unmatched", transportAdvert(t, "BEEF"), sql.Null[string]{V: "", Valid: true}, ""},
		{"matched", transportAdvert(t, ""), sql.Null[string]{V: "#test", Valid: true}, "#test"},
	}
	for _, tc := range cases {
		recs := tr.Transform(msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"`+tc.raw+`"}`), nil)
		if len(recs) != 1 || recs[0].Kind != etl.KindPacket {
			t.Fatalf("%s: records = %+v", tc.name, recs)
		}
		p := recs[0].Packet
		if p.Scope != tc.scope || p.Node == nil || p.Node.DefaultScope != tc.defaultScope {
			t.Errorf("%s: scope %+v default_scope %q, want %+v %q", tc.name, p.Scope, p.Node.DefaultScope, tc.scope, tc.defaultScope)
		}
	}
}
