package meshcore

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHashtagKey(t *testing.T) {
	for _, tc := range []struct {
		in, name, key string
		hash          byte
	}{
		{"#test", "#test", "9cd8fcf22a47333b591d96a2b848b73f", 0xD9},
		{"test", "#test", "9cd8fcf22a47333b591d96a2b848b73f", 0xD9},
		{"#General", "#General", "649af2cab73ed5a890890a5485a0c004", 0xBD},
		{"#MeshCore", "#MeshCore", "dcf73f393fa217f6b28fcec6ffc411ad", 0xFF},
		{"#wardriving", "#wardriving", "e3c26491e9cd321e3a6be50d57d54acf", 0x81},
		{"#bot", "#bot", "eb50a1bcb3e4e5d7bf69a57c9dada211", 0xCA},
		{"chat", "#chat", "d0bdd6d71538138ed979eec00d98ad97", 0xB8},
	} {
		name, key := HashtagKey(tc.in)
		if name != tc.name || hex.EncodeToString(key[:]) != tc.key || ChannelHash(key) != tc.hash {
			t.Errorf("HashtagKey(%q) = %q %x (hash %02X), want %q %s (%02X)",
				tc.in, name, key, ChannelHash(key), tc.name, tc.key, tc.hash)
		}
	}
	public, err := ParseKeyHex("8b3387e9c5cdea6ac9e5edbaa115cd72")
	if err != nil || ChannelHash(public) != 0x11 {
		t.Errorf("Public key: %v, hash %02X, want 11", err, ChannelHash(public))
	}
}

func TestParseKeyHex(t *testing.T) {
	if k, err := ParseKeyHex("9CD8FCF22A47333B591D96A2B848B73F"); err != nil || k[0] != 0x9c || k[15] != 0x3f {
		t.Errorf("uppercase key: %x %v", k, err)
	}
	for _, bad := range []string{"", "9cd8", "9cd8fcf22a47333b591d96a2b848b73f00", "9cd8fcf22a47333b591d96a2b848b7zz", " 9cd8fcf22a47333b591d96a2b848b73"} {
		if _, err := ParseKeyHex(bad); err == nil {
			t.Errorf("ParseKeyHex(%q) accepted", bad)
		}
	}
}

// Two different keys whose MACs collide on one GRP_DATA ciphertext: both
// "decrypt" it (GRP_DATA has no text heuristic), so the try order decides.
// Found by search: "#alpha" (channel hash 0x10) and "#collide-171739"
// (channel hash 0x3C).
const collideCipher = "5076b7edcb5417138ea042d3c4a444711fb3" // MAC ‖ ciphertext

func TestKeyringOrder(t *testing.T) {
	alphaName, alpha := HashtagKey("#alpha")
	collName, coll := HashtagKey("#collide-171739")
	keys := []ChannelKey{{Name: collName, Key: coll}, {Name: alphaName, Key: alpha}}
	rev := []ChannelKey{{Name: alphaName, Key: alpha}, {Name: collName, Key: coll}}
	for _, tc := range []struct {
		chanByte byte
		want     string
	}{
		{0x3C, "#collide-171739"}, // hash byte match first, despite name order
		{0x10, "#alpha"},
		{0x00, "#alpha"}, // no match: name order
	} {
		raw := fmt.Sprintf("1900%02X%s", tc.chanByte, collideCipher)
		for _, ks := range [][]ChannelKey{keys, rev} {
			dec := NewDecoder(Options{Keys: NewKeyring(ks)})
			for range 20 {
				p, err := dec.Decode(raw)
				if err != nil {
					t.Fatal(err)
				}
				if p.Channel != tc.want || p.DecryptionStatus != StatusDecrypted {
					t.Fatalf("chan byte %02X: channel %q (%s), want %q", tc.chanByte, p.Channel, p.DecryptionStatus, tc.want)
				}
			}
		}
	}

	// The same key under two names: both pass every check; the smaller
	// name wins, whatever the input order.
	_, k := HashtagKey("#same")
	raw := grpTxtRaw(k, ChannelHash(k), 1700000000, "Ann: hi")
	for _, ks := range [][]ChannelKey{{{Name: "b-copy", Key: k}, {Name: "a-copy", Key: k}}, {{Name: "a-copy", Key: k}, {Name: "b-copy", Key: k}}} {
		p, err := NewDecoder(Options{Keys: NewKeyring(ks)}).Decode(raw)
		if err != nil || p.Channel != "a-copy" || p.ChannelHash != "a-copy" {
			t.Fatalf("duplicate key: %v %q", err, p.Channel)
		}
	}

	// Later duplicates of a name replace earlier ones.
	_, other := HashtagKey("#other")
	kr := NewKeyring([]ChannelKey{{Name: "x", Key: other}, {Name: "x", Key: k}})
	if kr.Len() != 1 {
		t.Fatalf("Len = %d, want 1", kr.Len())
	}
	if p, _ := NewDecoder(Options{Keys: kr}).Decode(raw); p.Channel != "x" {
		t.Fatalf("later duplicate did not win: %q", p.Channel)
	}
}

func TestGroupTextParsing(t *testing.T) {
	name, k := HashtagKey("#t")
	dec := NewDecoder(Options{Keys: NewKeyring([]ChannelKey{{Name: name, Key: k}})})
	for _, tc := range []struct {
		text, want string // want: decoded_json tail after channel, or "" for failure
	}{
		{"Bob: hi", `"text":"Bob: hi","sender":"Bob"`},
		{"Bob: ", `"sender":"Bob"`},
		{"no sender here", `"text":"no sender here"`},
		{": leading", `"text":": leading"`},
		{"a:b: c", `"text":"a:b: c"`},
		{"[x]: y", `"text":"[x]: y"`},
		{strings.Repeat("s", 49) + ": m", `"text":"` + strings.Repeat("s", 49) + `: m","sender":"` + strings.Repeat("s", 49) + `"`},
		{strings.Repeat("s", 50) + ": m", `"text":"` + strings.Repeat("s", 50) + `: m"`},
		{"tab\tand\nnewline", `"text":"tab\tand\nnewline"`},
		{"x\x01\x02", `"text":"x\u0001\u0002"`},
		{"x\x01\x02\x03", ""}, // > 2 non-printables
		{"x\r\r\r", ""},
		{"x\uFFFD\uFFFD\uFFFD", ""}, // U+FFFD counts as non-printable
		{"bad \xff utf8", ""},
		{"<&> \u2028", `"text":"\u003c\u0026\u003e \u2028"`},
	} {
		raw := grpTxtRaw(k, 0x42, 7, tc.text)
		p, err := dec.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		js := string(p.DecodedJSON)
		if tc.want == "" {
			if p.DecryptionStatus != StatusDecryptionFailed || p.ChannelHash != "enc_42" {
				t.Errorf("%q: %s, want decryption_failed", tc.text, js)
			}
			continue
		}
		want := `{"type":"CHAN","channelHash":66,"channelHashHex":"42","decryptionStatus":"decrypted","channel":"#t",` + tc.want + `,"sender_timestamp":7}`
		if js != want {
			t.Errorf("%q:\n got %s\nwant %s", tc.text, js, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		raw, kind, msg string
	}{
		{"", KindTooShort, "packet too short (need at least header + pathLength)"},
		{"   ", KindTooShort, ""},
		{"11", KindTooShort, ""},
		{"123", KindInvalidHex, "invalid hex: encoding/hex: odd length hex string"},
		{"12 3", KindInvalidHex, "invalid hex: encoding/hex: odd length hex string"},
		{"12\t34", KindInvalidHex, "invalid hex: encoding/hex: invalid byte: U+0009"},
		{"1G00", KindInvalidHex, "invalid hex: encoding/hex: invalid byte: U+0047 'G'"},
		{"110", KindInvalidHex, ""},
		{"11z", KindInvalidHex, "invalid hex: encoding/hex: invalid byte: U+007A 'z'"}, // bad char before odd length
		{"1100é0", KindInvalidHex, "invalid hex: encoding/hex: invalid byte: U+00C3 'Ã'"},
		{"0x1100", KindInvalidHex, ""},
		// truncated transport codes (route 0 and 3)
		{"00", KindTooShort, ""}, // one byte: too short before anything else
		{"0011", KindTransportTooShort, "packet too short for transport codes"},
		{"001122", KindTransportTooShort, ""},
		{"0311223344"[:8], KindTransportTooShort, ""},
		{"0011223344", KindNoPathByte, "packet too short (no path byte)"},
		{"0311223344", KindNoPathByte, ""},
		// reserved hash size 4, any count
		{"11C0", KindInvalidPathEncoding, "invalid path encoding: pathByte 0xC0 (hash_size=4 hash_count=0) violates firmware validity (Packet.cpp:13-18, MAX_PATH_SIZE=64)"},
		{"11FF", KindInvalidPathEncoding, ""},
		{"11C1AABBCCDD", KindInvalidPathEncoding, ""},
		// more than 64 path bytes
		{"117F", KindInvalidPathEncoding, ""}, // 2 × 63
		{"1161", KindInvalidPathEncoding, ""}, // 2 × 33 = 66
		{"1196", KindInvalidPathEncoding, ""}, // 3 × 22 = 66
		{"11BF", KindInvalidPathEncoding, ""}, // 3 × 63
		// path past the end
		{"1101", KindPathExceedsBuffer, "packet path length (1 bytes claimed by pathByte 0x01) exceeds buffer (2 bytes)"},
		{"113F" + strings.Repeat("AA", 62), KindPathExceedsBuffer, ""},
		{"1195" + strings.Repeat("AA", 62), KindPathExceedsBuffer, ""}, // 3 × 21 = 63
		// payload
		{"1100" + strings.Repeat("AA", 185), KindPayloadTooLarge, "packet payload (185 bytes) exceeds firmware MAX_PACKET_PAYLOAD=184 (MeshCore.h:19)"},
		{"0011223344" + "60" + strings.Repeat("AB", 64+185), KindPayloadTooLarge, ""},
	} {
		p, err := NewDecoder(Options{}).Decode(tc.raw)
		var de *Error
		if !errors.As(err, &de) || p != nil {
			t.Errorf("Decode(%.20q) = %v, %v; want %s", tc.raw, p, err, tc.kind)
			continue
		}
		if de.Kind != tc.kind || (tc.msg != "" && de.Msg != tc.msg) || de.Error() != de.Msg {
			t.Errorf("Decode(%.20q) = %s %q, want %s %q", tc.raw, de.Kind, de.Msg, tc.kind, tc.msg)
		}
	}
}

func TestDecodeBoundaries(t *testing.T) {
	dec := NewDecoder(Options{})
	for _, raw := range []string{
		"113F" + strings.Repeat("AA", 63),                  // 63 × 1 hops, empty payload
		"1160" + strings.Repeat("AB", 64),                  // 32 × 2 = 64 bytes
		"1195" + strings.Repeat("AB", 63),                  // 21 × 3 = 63 bytes
		"1100" + strings.Repeat("AA", 184),                 // payload exactly 184
		"0011223344" + "60" + strings.Repeat("AB", 64+184), // the largest packet: 254 bytes
		"0311223344" + "00",                                // transport direct, empty payload
		" 11 00 \r\n",                                      // whitespace everywhere
	} {
		p, err := dec.Decode(raw)
		if err != nil {
			t.Errorf("Decode(%.24q): %v", raw, err)
			continue
		}
		if !json.Valid(p.DecodedJSON) || len(p.Hops) != p.HashCount {
			t.Errorf("Decode(%.24q): %s, %d hops, count %d", raw, p.DecodedJSON, len(p.Hops), p.HashCount)
		}
	}
}

// TestEmptyPayloads decodes a 0-byte payload of every type and route.
func TestEmptyPayloads(t *testing.T) {
	want := map[int]string{
		PayloadReq:       `{"type":"REQ","error":"too short"}`,
		PayloadResponse:  `{"type":"RESPONSE","error":"too short"}`,
		PayloadTxtMsg:    `{"type":"TXT_MSG","error":"too short"}`,
		PayloadAck:       `{"type":"ACK","error":"too short"}`,
		PayloadAdvert:    `{"type":"ADVERT","error":"too short for advert"}`,
		PayloadGrpTxt:    `{"type":"GRP_TXT","error":"too short"}`,
		PayloadGrpData:   `{"type":"GRP_DATA","error":"too short"}`,
		PayloadAnonReq:   `{"type":"ANON_REQ","error":"too short"}`,
		PayloadPath:      `{"type":"PATH","error":"too short"}`,
		PayloadTrace:     `{"type":"TRACE","error":"too short"}`,
		PayloadMultipart: `{"type":"MULTIPART","error":"too short"}`,
		PayloadControl:   `{"type":"CONTROL","error":"too short"}`,
		0x0C:             `{"type":"UNKNOWN"}`,
		0x0D:             `{"type":"UNKNOWN"}`,
		0x0E:             `{"type":"UNKNOWN"}`,
		PayloadRawCustom: `{"type":"RAW_CUSTOM","rawLength":0}`,
	}
	_, k := HashtagKey("#test")
	dec := NewDecoder(Options{Keys: NewKeyring([]ChannelKey{{Name: "#test", Key: k}}), VerifySignatures: true})
	for ptype := 0; ptype < 16; ptype++ {
		for route := 0; route < 4; route++ {
			raw := fmt.Sprintf("%02X", ptype<<2|route)
			if route == 0 || route == 3 {
				raw += "01020304"
			}
			raw += "00"
			p, err := dec.Decode(raw)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if string(p.DecodedJSON) != want[ptype] {
				t.Errorf("%s: %s, want %s", raw, p.DecodedJSON, want[ptype])
			}
			if p.Advert != nil || p.ChannelHash != "" || p.FromPubkey != "" || p.PathJSON != "[]" {
				t.Errorf("%s: unexpected fields %+v", raw, p)
			}
			if (ptype == PayloadTrace) != (p.Anomaly != "") {
				t.Errorf("%s: anomaly %q", raw, p.Anomaly)
			}
		}
	}
}

func TestHugeInput(t *testing.T) {
	dec := NewDecoder(Options{})
	mb := strings.Repeat("ab", 1<<19)
	for _, tc := range []struct{ raw, kind string }{
		{"1100" + mb, KindPayloadTooLarge},
		{mb, KindInvalidPathEncoding}, // header 0xAB: transport, pathByte 0xAB = 3 × 43
		{"1101" + mb, KindPayloadTooLarge},
		{"1100" + mb + "zz", KindInvalidHex},
		{"1100" + mb + "a", KindInvalidHex},
		{strings.Repeat(" ", 1<<20), KindTooShort},
	} {
		_, err := dec.Decode(tc.raw)
		var de *Error
		if !errors.As(err, &de) || de.Kind != tc.kind {
			t.Errorf("1 MB input %.8q: %v, want %s", tc.raw, err, tc.kind)
		}
	}
	if h := ContentHash("1100" + mb); len(h) != 16 || h == "1100"+mb[:12] {
		t.Errorf("ContentHash of 1 MB = %q", h)
	}
}

func TestContentHash(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"2502AABBDEADBEEF", "b1baaf3bf0d0726c"}, // upstream golden value
		{"0900D69FD7A5A7", "53994806c0aa1167"},
		{"0A00D69FD7A5A7", "53994806c0aa1167"},
		{"053FAABB", "053FAABB"},
		{"", ""},
		{"0A 00D69FD7A5A7", "0A 00D69FD7A5A7"},
		{"0A 00 D6 9F D7 A5 A7 47", "0A 00 D6 9F D7 A"},
		{"0011", "0011"}, // transport, no path byte
		{"0011223344", "0011223344"},
	} {
		if got := ContentHash(tc.raw); got != tc.want {
			t.Errorf("ContentHash(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
	// Hash size 4 and > 64 path bytes are hashed anyway (no validity check).
	if h := ContentHash("11C1AABBCCDDEE"); len(h) != 16 || h == "11C1AABBCCDDEE" {
		t.Errorf("size-4 path not hashed: %q", h)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	samples := []string{
		"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "\x00\x01\x07\b\f\n\r\t\x1f\x7f",
		"\u2028\u2029", "é 🤠 \uFFFD", "\xff\xfe", "\xef\xbf", "a\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			switch rng.IntN(4) {
			case 0:
				b[i] = byte(rng.IntN(0x80))
			default:
				b[i] = byte(rng.IntN(256))
			}
		}
		samples = append(samples, string(b))
	}
	for _, s := range samples {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
		if got := appendString(nil, []byte(s)); string(got) != string(want) {
			t.Fatalf("appendString([]byte %q) = %s, want %s", s, got, want)
		}
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	check := func(f float64) {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Fatalf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for i := math.MinInt16; i <= math.MaxInt16; i++ {
		check(float64(i) / 100.0) // temperature_c
	}
	for i := -128; i < 128; i++ {
		check(float64(int8(i)) / 4.0) // snrValues
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		check(float64(int32(rng.Uint32())) / 1e6) // lat, lon
	}
	for _, f := range []float64{0, 1e-6, -1e-6, 1e-7, 1e21, 1e20, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		check(f)
	}
}

func TestAppendISOTime(t *testing.T) {
	check := func(ts uint32) {
		want := time.Unix(int64(ts), 0).UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(appendISOTime(nil, ts)); got != want {
			t.Fatalf("appendISOTime(%d) = %s, want %s", ts, got, want)
		}
	}
	for _, ts := range []uint32{0, 1, 59, 86399, 86400, 951782400, 951868800, 1700000000, 4107542399, math.MaxUint32} {
		check(ts)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		check(rng.Uint32())
	}
}

func TestSanitizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Node", "Node"},
		{"a\x01b\x7fc\td\ne\rf", "abc\td\nef"},
		{"\xef\xbf", "\uFFFD\uFFFD"},
		{strings.Repeat("x", 40), strings.Repeat("x", 32)},
		{strings.Repeat("é", 20), strings.Repeat("é", 16)},
		{"x" + strings.Repeat("é", 20), "x" + strings.Repeat("é", 15) + "\xc3"}, // cut inside a character
	} {
		if got := string(sanitizeName(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("sanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAdvertValidation(t *testing.T) {
	// A zero public key, a bad longitude (advert with location 10.0, 200.0)
	// and an advert without appdata (role companion).
	zero := "1100" + strings.Repeat("00", 32) + "01000000" + strings.Repeat("00", 64)
	p, err := NewDecoder(Options{VerifySignatures: true}).Decode(zero)
	if err != nil || p.Advert == nil {
		t.Fatal(err)
	}
	a := p.Advert
	if a.Invalid != "pubkey is all zeros" || a.Role != "companion" || !a.SignatureChecked || a.SignatureValid {
		t.Errorf("zero key advert: %+v", a)
	}
	loc := "1100" + strings.Repeat("11", 32) + "00000000" + strings.Repeat("22", 64) + "12" + "80969800" + "00c2eb0b"
	p, err = NewDecoder(Options{}).Decode(loc)
	if err != nil {
		t.Fatal(err)
	}
	a = p.Advert
	if a.Invalid != "invalid lon: 200.000000" || a.Lat != 10 || a.Lon != 200 || !a.HasLocation || a.Role != "repeater" || a.SignatureChecked {
		t.Errorf("bad lon advert: %+v", a)
	}
	if !strings.Contains(string(p.DecodedJSON), `"lat":10,"lon":200}`) {
		t.Errorf("decoded_json %s", p.DecodedJSON)
	}
}

func TestConcurrentDecode(t *testing.T) {
	vs := loadVectors(t)
	keys := keyringFor(t, vs[152]) // the five fixture channel keys
	dec := NewDecoder(Options{Keys: keys, VerifySignatures: true})
	want := make([]string, len(vs))
	for i, v := range vs {
		if p, err := dec.Decode(v.Raw); err == nil {
			want[i] = string(p.DecodedJSON) + p.Hash + p.PathJSON + strings.Join(p.Hops, ",")
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 20; r++ {
				for i, v := range vs {
					p, err := dec.Decode(v.Raw)
					got := ""
					if err == nil {
						got = string(p.DecodedJSON) + p.Hash + p.PathJSON + strings.Join(p.Hops, ",")
					}
					if got != want[i] {
						t.Errorf("vector %d: concurrent result differs", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestPacketMarshalJSON(t *testing.T) {
	for i, v := range loadVectors(t) {
		p, err := NewDecoder(Options{Keys: keyringFor(t, v), VerifySignatures: v.ValidateSignatures}).Decode(v.Raw)
		if err != nil {
			continue
		}
		b, err := json.Marshal(p)
		if err != nil || !json.Valid(b) {
			t.Fatalf("#%d: %v %s", i, err, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m["hash"] != p.Hash || m["type"] != p.Type || m["header"] == nil || m["path"] == nil || m["decoded_json"] == nil {
			t.Fatalf("#%d: summary %s", i, b)
		}
		if (m["advert"] != nil) != (p.Advert != nil) {
			t.Fatalf("#%d: advert summary %s", i, b)
		}
	}
}

func TestDecodeHexMatchesEncodingHex(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0123456789abcdefABCDEF \r\n\tgZ\x00\xff"
	var buf [MaxPacketSize]byte
	for range 50000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = alphabet[rng.IntN(22)]
			}
		}
		raw := string(b)
		stripped := strings.NewReplacer(" ", "", "\r", "", "\n", "").Replace(raw)
		want, wantErr := hex.DecodeString(stripped)
		n, _, err := decodeHex(raw, buf[:])
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("decodeHex(%q) err %v, want %v", raw, err, wantErr)
		}
		if err == nil && string(buf[:n]) != string(want) {
			t.Fatalf("decodeHex(%q) = %x, want %x", raw, buf[:n], want)
		}
	}
}
