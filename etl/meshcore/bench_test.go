package meshcore

import (
	"crypto/aes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// benchCase is one decodable vector with the decoder it was produced with,
// signature verification off.
type benchCase struct {
	raw string
	dec *Decoder
	typ string
}

func decodableVectors(b *testing.B, vs []vector) []benchCase {
	var cases []benchCase
	for _, v := range vs {
		if !v.Expect.OK {
			continue
		}
		cases = append(cases, benchCase{
			raw: v.Raw,
			dec: NewDecoder(Options{Keys: keyringFor(b, v)}),
			typ: v.Expect.Header.PayloadTypeName,
		})
	}
	return cases
}

// reportPerPacket adds per-packet time, bytes and allocations to a benchmark
// whose op decodes n packets.
func reportPerPacket(b *testing.B, n int, before *runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	pk := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pk, "ns/pkt")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/pk, "B/pkt")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/pk, "allocs/pkt")
}

// BenchmarkDecode decodes the 169 decodable HEAD vectors per op (decode,
// content hash, decoded_json; the vectors' channel keys; no signature
// checks): "mix" all of them, then one sub-benchmark per payload type;
// "seed-mix" is the 138 decodable seed-era vectors.
func BenchmarkDecode(b *testing.B) {
	cases := decodableVectors(b, loadHeadVectors(b))
	if len(cases) != decodableHeadVectors {
		b.Fatalf("%d decodable vectors, want %d", len(cases), decodableHeadVectors)
	}
	seed := decodableVectors(b, loadVectors(b))
	if len(seed) != decodableSeedVectors {
		b.Fatalf("%d decodable seed vectors, want %d", len(seed), decodableSeedVectors)
	}
	b.Run("mix", func(b *testing.B) {
		benchCases(b, cases)
	})
	b.Run("seed-mix", func(b *testing.B) {
		benchCases(b, seed)
	})
	byType := map[string][]benchCase{}
	var order []string
	for _, c := range cases {
		if byType[c.typ] == nil {
			order = append(order, c.typ)
		}
		byType[c.typ] = append(byType[c.typ], c)
	}
	for _, typ := range order {
		b.Run(typ, func(b *testing.B) { benchCases(b, byType[typ]) })
	}
}

// BenchmarkScopeMatch5Regions decodes a transport-scoped GRP_TXT of typical
// size against 5 regions: "last" matches the fifth region, "none" matches
// no region (both compute 5 HMACs), "unscoped" is the same packet with
// code1 0000 (no HMAC).
func BenchmarkScopeMatch5Regions(b *testing.B) {
	names := []string{"#belgium", "#netherlands", "#germany", "#france", "#luxembourg"}
	dec := NewDecoder(Options{Regions: NewRegions(names)})
	_, k := HashtagKey("#chat")
	grp := grpTxtRaw(k, ChannelHash(k), 1750000000, "tester: a typical channel message of some length")
	payload, _ := hex.DecodeString(grp[4:]) // after header and path byte
	code := refRegionCode("#luxembourg", PayloadGrpTxt, payload)
	for _, tc := range []struct {
		name, code1, scope string
		scoped             bool
	}{
		{"last", hex.EncodeToString(code[:]), "#luxembourg", true},
		{"none", "1234", "", true},
		{"unscoped", "0000", "", false},
	} {
		raw := "14" + tc.code1 + "0000" + grp[2:]
		p, err := dec.Decode(raw)
		if err != nil || p.ScopeName != tc.scope || p.TransportScoped != tc.scoped {
			b.Fatalf("%s: %v %+v", tc.name, err, p)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := dec.Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchCases(b *testing.B, cases []benchCase) {
	b.ReportAllocs()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range cases {
			if _, err := c.dec.Decode(c.raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	reportPerPacket(b, len(cases), &before)
}

// encryptGroup builds a GRP_TXT/GRP_DATA payload tail (MAC ‖ ciphertext)
// like the firmware: zero-padded AES-128-ECB, then HMAC-SHA256 with the
// 32-byte secret (key ‖ 16 zeros), first 2 bytes.
func encryptGroup(key [16]byte, plaintext []byte) (mac [2]byte, ct []byte) {
	block, _ := aes.NewCipher(key[:])
	n := (len(plaintext) + 15) / 16 * 16
	pt := make([]byte, n)
	copy(pt, plaintext)
	ct = make([]byte, n)
	for i := 0; i < n; i += 16 {
		block.Encrypt(ct[i:i+16], pt[i:i+16])
	}
	secret := make([]byte, 32)
	copy(secret, key[:])
	h := hmac.New(sha256.New, secret)
	h.Write(ct)
	copy(mac[:], h.Sum(nil))
	return mac, ct
}

// grpTxtRaw returns a FLOOD GRP_TXT packet with the given channel byte.
func grpTxtRaw(key [16]byte, chanByte byte, ts uint32, text string) string {
	pt := binary.LittleEndian.AppendUint32(nil, ts)
	pt = append(pt, 0)
	pt = append(pt, text...)
	mac, ct := encryptGroup(key, pt)
	pkt := []byte{PayloadGrpTxt<<2 | RouteFlood, 0x00, chanByte, mac[0], mac[1]}
	return strings.ToUpper(hex.EncodeToString(append(pkt, ct...)))
}

// BenchmarkGrpTxt10Keys decodes a GRP_TXT against 10 configured keys where
// the right key is the last one tried: its name sorts last and the packet's
// channel byte matches no key.
func BenchmarkGrpTxt10Keys(b *testing.B) {
	var keys []ChannelKey
	used := map[byte]bool{}
	for i := 0; i < 9; i++ {
		name, k := HashtagKey("#k" + strconv.Itoa(i))
		keys = append(keys, ChannelKey{Name: name, Key: k})
		used[ChannelHash(k)] = true
	}
	name, right := HashtagKey("#zz-right")
	keys = append(keys, ChannelKey{Name: name, Key: right})
	used[ChannelHash(right)] = true
	var ch byte
	for used[ch] {
		ch++
	}
	raw := grpTxtRaw(right, ch, 1750000000, "tester: a typical channel message of some length")
	dec := NewDecoder(Options{Keys: NewKeyring(keys)})
	p, err := dec.Decode(raw)
	if err != nil || p.Channel != "#zz-right" {
		b.Fatalf("decode: %v %+v", err, p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := dec.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// signedAdvert is vector #104: a FLOOD advert with a valid signature.
const signedAdvert = "1100ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c00f153653d085d97d82cd20e63512565c7dc9cac0b983ab053c1b8544c3f866848ea6deb0ba958c084b35433a8083ab1499d70b4996fc40c3e71f07ed2df253ea2056e0a81546573744e6f646500"

// BenchmarkAdvertVerify decodes a signed advert with verification on.
func BenchmarkAdvertVerify(b *testing.B) {
	dec := NewDecoder(Options{VerifySignatures: true})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, err := dec.Decode(signedAdvert)
		if err != nil || !p.Advert.SignatureValid {
			b.Fatal("bad advert", err)
		}
	}
}

// BenchmarkEd25519Verify is the bare signature check of the same advert.
func BenchmarkEd25519Verify(b *testing.B) {
	raw, _ := hex.DecodeString(signedAdvert)
	p := raw[2:]
	pub, sig := ed25519.PublicKey(p[:32]), p[36:100]
	msg := append(append([]byte(nil), p[:36]...), p[100:]...)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkDecodeHuge decodes 1 MB of hex (rejected as payload_too_large).
func BenchmarkDecodeHuge(b *testing.B) {
	raw := "1100" + strings.Repeat("ab", 1<<19)
	dec := NewDecoder(Options{})
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if _, err := dec.Decode(raw); err == nil {
			b.Fatal("accepted")
		}
	}
}
