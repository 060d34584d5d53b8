package meshcore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// refRegionCode is head §2.5 written plainly with crypto/hmac: the wire
// bytes of the transport code of (ptype, payload) under region name.
func refRegionCode(name string, ptype byte, payload []byte) [2]byte {
	key := sha256.Sum256([]byte(name))
	h := hmac.New(sha256.New, key[:16])
	h.Write([]byte{ptype})
	h.Write(payload)
	m := h.Sum(nil)
	code := uint16(m[0]) | uint16(m[1])<<8
	switch code {
	case 0x0000:
		code = 0x0001
	case 0xFFFF:
		code = 0xFFFE
	}
	return [2]byte{byte(code), byte(code >> 8)}
}

func TestNewRegions(t *testing.T) {
	r := NewRegions([]string{"  belgium ", "", "#test", "   ", "test", "#Test", "\t#belgium\n"})
	if want := []string{"#belgium", "#test", "#Test"}; !reflect.DeepEqual(r.Names(), want) || r.Len() != 3 {
		t.Fatalf("Names = %q, want %q", r.Names(), want)
	}
	if k := RegionKey("#belgium"); hex.EncodeToString(k[:]) != "7085b78ed010599094f8c8e7d1aa0e27" {
		t.Errorf("RegionKey(#belgium) = %x", k)
	}
	var nilRegions *Regions
	if nilRegions.Len() != 0 || nilRegions.Names() != nil || NewRegions(nil).Len() != 0 {
		t.Error("empty regions")
	}
}

func TestRegionCode(t *testing.T) {
	st := newScratch()
	for _, tc := range []struct {
		name    string
		payload string
		want    string
	}{
		{"#test", "hello", "2AB5"},
		{"#belgium", "hello", "4A75"},
		{"#test", "p46905", "0100"}, // HMAC code 0x0000 → 0x0001
		{"#test", "p35634", "FEFF"}, // HMAC code 0xFFFF → 0xFFFE
	} {
		r := NewRegions([]string{tc.name})
		code, ok := st.regionCode(&r.regions[0].mac, PayloadGrpTxt, []byte(tc.payload))
		if got := strings.ToUpper(hex.EncodeToString(code[:])); !ok || got != tc.want {
			t.Errorf("code(%s, 5, %q) = %s, want %s", tc.name, tc.payload, got, tc.want)
		}
		if ref := refRegionCode(tc.name, PayloadGrpTxt, []byte(tc.payload)); ref != code {
			t.Errorf("code(%s, 5, %q) = %X, reference %X", tc.name, tc.payload, code, ref)
		}
	}
}

func TestScopeMatching(t *testing.T) {
	hello := hex.EncodeToString([]byte("hello"))
	for _, tc := range []struct {
		raw     string
		regions []string
		scoped  bool
		scope   string
	}{
		{"142AB5000000" + hello, []string{"#test"}, true, "#test"},
		{"142AB5000000" + hello, []string{"test"}, true, "#test"},
		{"142AB5000000" + hello, []string{"#belgium", "#test"}, true, "#test"},
		{"142AB5000000" + hello, []string{"#Test"}, true, ""}, // case kept
		{"142AB5000000" + hello, []string{"#belgium"}, true, ""},
		{"142AB5000000" + hello, nil, true, ""},
		{"174A75000000" + hello, []string{"#test", "#belgium"}, true, "#belgium"}, // TRANSPORT_DIRECT
		{"14BEEF000000" + hello, []string{"#test"}, true, ""},
		{"140000000000" + hello, []string{"#test"}, false, ""},         // code1 0000: unscoped
		{"1400002AB500" + hello, []string{"#test"}, false, ""},         // code2 is not the scope
		{"1500" + hello, []string{"#test"}, false, ""},                 // FLOOD: no transport codes
		{"1600" + hello, []string{"#test"}, false, ""},                 // DIRECT
		{"142AB500000000", []string{"#test"}, true, ""},                // empty payload never matches
		{"142AB5000002AABB" + hello, []string{"#test"}, true, "#test"}, // the path is not hashed
		// First match in configured order: "#c-67902" has the same code.
		{"142AB5000000" + hello, []string{"#c-67902", "#test"}, true, "#c-67902"},
		{"142AB5000000" + hello, []string{"#test", "#c-67902"}, true, "#test"},
		// Reserved codes moved.
		{"140100000000" + hex.EncodeToString([]byte("p46905")), []string{"#test"}, true, "#test"},
		{"14FEFF000000" + hex.EncodeToString([]byte("p35634")), []string{"#test"}, true, "#test"},
		{"14FFFF000000" + hex.EncodeToString([]byte("p35634")), []string{"#test"}, true, ""},
	} {
		p, err := NewDecoder(Options{Regions: NewRegions(tc.regions)}).Decode(tc.raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if p.TransportScoped != tc.scoped || p.ScopeName != tc.scope {
			t.Errorf("%s %q: scoped %v scope %q, want %v %q", tc.raw, tc.regions, p.TransportScoped, p.ScopeName, tc.scoped, tc.scope)
		}
		// The summary carries scopeName for transport-scoped packets only.
		summary := string(p.AppendJSON(nil))
		if want := `,"scopeName":"` + tc.scope + `",`; strings.Contains(summary, want) != tc.scoped ||
			(!tc.scoped && strings.Contains(summary, "scopeName")) {
			t.Errorf("%s %q: summary %s", tc.raw, tc.regions, summary)
		}
	}
}

// TestScopeMatchingTrace: a TRACE's HMAC input is everything after the
// path, as for every other type (the content hash differs, not the scope).
func TestScopeMatchingTrace(t *testing.T) {
	payload, _ := hex.DecodeString("0102030405060708000AABBCC")
	code := refRegionCode("#trace", PayloadTrace, payload)
	raw := "27" + hex.EncodeToString(code[:]) + "0000" + "021F2E" + hex.EncodeToString(payload)
	p, err := NewDecoder(Options{Regions: NewRegions([]string{"#x", "#trace"})}).Decode(raw)
	if err != nil || !p.TransportScoped || p.ScopeName != "#trace" || p.Type != "TRACE" {
		t.Fatalf("%s: %v %v %q %s", raw, err, p.TransportScoped, p.ScopeName, p.DecodedJSON)
	}
}

// TestScopeMatchingRandom compares the decoder with refRegionCode on
// random transport packets.
func TestScopeMatchingRandom(t *testing.T) {
	names := []string{"#a", "#b", "#c", "#d", "#e"}
	dec := NewDecoder(Options{Regions: NewRegions(names)})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ptype := byte(rng.IntN(16))
		payload := make([]byte, 1+rng.IntN(MaxPayloadSize))
		for i := range payload {
			payload[i] = byte(rng.Uint32())
		}
		want := names[rng.IntN(len(names))]
		code := refRegionCode(want, ptype, payload)
		if rng.IntN(4) == 0 {
			want, code = "", [2]byte{0x12, 0x34}
		}
		raw := append([]byte{ptype<<2 | RouteTransportFlood, code[0], code[1], 0, 0, 0}, payload...)
		p, err := dec.Decode(hex.EncodeToString(raw))
		if err != nil {
			t.Fatal(err)
		}
		// The first region in order with this code, which is want unless
		// an earlier one collides.
		first := ""
		for _, n := range names {
			if refRegionCode(n, ptype, payload) == code {
				first = n
				break
			}
		}
		if !p.TransportScoped || p.ScopeName != first || (want != "" && first == "") {
			t.Fatalf("%X: scope %q, want %q", raw, p.ScopeName, first)
		}
	}
}
