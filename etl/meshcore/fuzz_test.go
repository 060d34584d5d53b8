package meshcore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var errorKinds = map[string]bool{
	KindInvalidHex: true, KindTooShort: true, KindTransportTooShort: true, KindNoPathByte: true,
	KindInvalidPathEncoding: true, KindPathExceedsBuffer: true, KindPayloadTooLarge: true,
}

// fuzzRegions are the regions of the fuzzed decoder with regions.
var fuzzRegions = []string{"#test", "#belgium", "#c-67902", "#a", "#b"}

// FuzzDecode checks that no input panics and that every decoded packet keeps
// the invariants. Each input is decoded as the raw string and, hex-encoded,
// as packet bytes. Seeds: the seed-era and HEAD vectors plus CONTROL, ACK,
// RAW_CUSTOM and transport-scoped packets.
func FuzzDecode(f *testing.F) {
	vs := loadVectors(f)
	seeds := append(append([]vector(nil), vs...), loadHeadVectors(f)...)
	for _, v := range seeds {
		f.Add(v.Raw)
		if b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\r", "", "\n", "").Replace(v.Raw)); err == nil {
			f.Add(string(b))
		}
	}
	for _, raw := range []string{
		"0D00AABBCCDD0203", "2A0003AABBCCDD04C3EE", // extended ACK, MULTIPART inner ACK
		"2E0080020102030405060708", "2E00920010443322110001020304050607", "2E00B0", // CONTROL
		"3E00", "3E00FFFE", "7D00A5DEADBEEF", // RAW_CUSTOM
		"142AB500000068656C6C6F", "174A750000000268656C6C6F", "140100000000703436393035", // transport
	} {
		f.Add(raw)
	}
	keys := append(BuiltinKeys(), vectorKeys(f, vs[152])...)
	decs := []*Decoder{
		NewDecoder(Options{Keys: NewKeyring(keys), VerifySignatures: true, Regions: NewRegions(fuzzRegions)}),
		NewDecoder(Options{}),
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, raw := range []string{in, hex.EncodeToString([]byte(in)), strings.ToUpper(hex.EncodeToString([]byte(in)))} {
			for _, dec := range decs {
				checkDecode(t, dec, raw)
			}
		}
	})
}

func checkDecode(t *testing.T, dec *Decoder, raw string) {
	p, err := dec.Decode(raw)
	hash := ContentHash(raw)
	if want := referenceContentHash(raw); hash != want {
		t.Fatalf("ContentHash(%q) = %q, reference %q", raw, hash, want)
	}
	stripped := strings.NewReplacer(" ", "", "\r", "", "\n", "").Replace(raw)
	_, hexErr := hex.DecodeString(stripped)
	if err != nil {
		var de *Error
		if !errors.As(err, &de) || !errorKinds[de.Kind] || p != nil {
			t.Fatalf("Decode(%q): %v (%T), packet %v", raw, err, err, p)
		}
		if (de.Kind == KindInvalidHex) != (hexErr != nil) {
			t.Fatalf("Decode(%q): kind %s, hex error %v", raw, de.Kind, hexErr)
		}
		return
	}
	if hexErr != nil || len(stripped) > 2*MaxPacketSize {
		t.Fatalf("Decode(%q) accepted", raw)
	}
	if !json.Valid(p.DecodedJSON) {
		t.Fatalf("Decode(%q): invalid decoded_json %s", raw, p.DecodedJSON)
	}
	var obj struct{ Type string }
	if json.Unmarshal(p.DecodedJSON, &obj); obj.Type != p.Type || p.Type == "" {
		t.Fatalf("Decode(%q): type %q, decoded_json type %q", raw, p.Type, obj.Type)
	}
	if p.Hash != hash {
		t.Fatalf("Decode(%q): Hash %q, ContentHash %q", raw, p.Hash, hash)
	}
	if !(len(p.Hash) == 16 && strings.Trim(p.Hash, hexLower) == "") && p.Hash != fallbackHash(raw) {
		t.Fatalf("Decode(%q): bad hash %q", raw, p.Hash)
	}
	if p.Hops == nil || len(p.Hops) != p.HashCount {
		t.Fatalf("Decode(%q): hops %v, count %d", raw, p.Hops, p.HashCount)
	}
	for _, h := range p.Hops {
		if len(h) != 2*p.HashSize || strings.Trim(h, hexUpper) != "" {
			t.Fatalf("Decode(%q): hop %q with hash size %d", raw, h, p.HashSize)
		}
	}
	var pj []string
	if err := json.Unmarshal([]byte(p.PathJSON), &pj); err != nil || pj == nil {
		t.Fatalf("Decode(%q): path_json %q", raw, p.PathJSON)
	}
	if (p.Advert != nil) != (p.PayloadType == PayloadAdvert && p.FromPubkey != "") {
		t.Fatalf("Decode(%q): advert %v, from_pubkey %q", raw, p.Advert, p.FromPubkey)
	}
	if p.ChannelHash != "" && p.PayloadType != PayloadGrpTxt {
		t.Fatalf("Decode(%q): channel_hash %q on type %d", raw, p.ChannelHash, p.PayloadType)
	}
	checkScope(t, dec, raw, p)
	if b, err := json.Marshal(p); err != nil || !json.Valid(b) {
		t.Fatalf("Decode(%q): summary %v %s", raw, err, b)
	}
	// Hex case does not matter.
	if q, err := dec.Decode(strings.ToLower(raw)); err != nil || string(q.DecodedJSON) != string(p.DecodedJSON) {
		t.Fatalf("Decode(%q): lowercase input decodes differently", raw)
	}
}

// referenceContentHash is §10 written plainly, for differential checks.
func referenceContentHash(raw string) string {
	fallback := raw
	if len(raw) >= 16 {
		fallback = raw[:16]
	}
	buf, err := hex.DecodeString(raw)
	if err != nil || len(buf) < 2 {
		return fallback
	}
	o := 1
	if r := buf[0] & 3; r == 0 || r == 3 {
		o = 5
	}
	if o >= len(buf) {
		return fallback
	}
	pb := buf[o]
	start := o + 1 + (int(pb>>6)+1)*int(pb&0x3f)
	if start > len(buf) {
		return fallback
	}
	t := (buf[0] >> 2) & 0x0f
	in := []byte{t}
	if t == 9 {
		in = append(in, pb, 0)
	}
	sum := sha256.Sum256(append(in, buf[start:]...))
	return hex.EncodeToString(sum[:8])
}

// checkScope checks the transport-scope fields against refRegionCode.
func checkScope(t *testing.T, dec *Decoder, raw string, p *Packet) {
	transport := p.RouteType == RouteTransportFlood || p.RouteType == RouteTransportDirect
	if p.TransportScoped != (transport && p.TransportCodes[0] != "0000") {
		t.Fatalf("Decode(%q): TransportScoped %v, codes %v", raw, p.TransportScoped, p.TransportCodes)
	}
	want := ""
	if p.TransportScoped {
		b, _ := hex.DecodeString(strings.NewReplacer(" ", "", "\r", "", "\n", "").Replace(raw))
		pb := b[5]
		payload := b[6+(int(pb>>6)+1)*int(pb&0x3f):]
		for _, name := range dec.regions.Names() {
			if len(payload) > 0 && refRegionCode(name, byte(p.PayloadType), payload) == [2]byte{b[1], b[2]} {
				want = name
				break
			}
		}
	}
	if p.ScopeName != want {
		t.Fatalf("Decode(%q): ScopeName %q, want %q", raw, p.ScopeName, want)
	}
}
