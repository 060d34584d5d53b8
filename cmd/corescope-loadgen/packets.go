package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// packetsTxt holds real packets, one raw hex per line: the `raw` of every
// vector of shared/testdata/decoder-vectors.json whose expect.ok is true,
// whitespace removed, upper-cased, duplicates dropped.
//
//go:embed testdata/packets.txt
var packetsTxt string

// Payload types (decoder spec §3).
const (
	ptReq      = 0x00
	ptResponse = 0x01
	ptTxtMsg   = 0x02
	ptAck      = 0x03
	ptAdvert   = 0x04
	ptGrpTxt   = 0x05
	ptGrpData  = 0x06
	ptAnonReq  = 0x07
	ptPath     = 0x08
	ptTrace    = 0x09
)

// minMutable is the smallest opaque region (bytes) a template needs: the
// region receives a unique value of up to 8 bytes, so a shorter region would
// make collisions (and deduplicated packets) likely.
const minMutable = 4

// template is a real packet whose opaque bytes can be rewritten.
type template struct {
	raw      []byte
	ptype    byte
	mutStart int // absolute offset of the rewritable region; it runs to mutEnd
	mutEnd   int
}

// layout returns the payload type and the offset of the payload (decoder
// spec §2–§5); ok is false for a packet too short to have one.
func layout(b []byte) (ptype byte, payload int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	o := 1
	if rt := b[0] & 0x03; rt == 0 || rt == 3 {
		o += 4
	}
	if o >= len(b) {
		return 0, 0, false
	}
	pb := b[o]
	start := o + 1 + (int(pb>>6)+1)*int(pb&0x3F)
	if start > len(b) {
		return 0, 0, false
	}
	return (b[0] >> 2) & 0x0F, start, true
}

// contentHash is transmissions.hash for a well-formed packet (decoder spec
// §10): SHA-256 over the payload type byte, the TRACE path length as u16 LE,
// and the payload; the first 8 bytes in lowercase hex.
func contentHash(b []byte) string {
	pt, start, ok := layout(b)
	if !ok {
		s := strings.ToUpper(hex.EncodeToString(b))
		return s[:min(16, len(s))]
	}
	h := sha256.New()
	h.Write([]byte{pt})
	if pt == ptTrace {
		o := 1
		if rt := b[0] & 0x03; rt == 0 || rt == 3 {
			o += 4
		}
		h.Write([]byte{b[o], 0})
	}
	h.Write(b[start:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// mutableRegion returns the payload-relative region holding opaque bytes
// (ciphertext, a CRC or a trace tag) that can be rewritten without changing
// how the packet decodes; ok is false for other payload types.
func mutableRegion(pt byte, payloadLen int) (start, end int, ok bool) {
	switch pt {
	case ptReq, ptResponse, ptTxtMsg, ptPath: // dest, src, MAC(2), ciphertext
		return 4, payloadLen, payloadLen > 4
	case ptGrpTxt, ptGrpData: // channel hash, MAC(2), ciphertext
		return 3, payloadLen, payloadLen > 3
	case ptAnonReq: // dest, sender key(32), MAC(2), ciphertext
		return 35, payloadLen, payloadLen > 35
	case ptAck: // 4-byte CRC
		return 0, 4, payloadLen >= 4
	case ptTrace: // tag u32, auth u32, flags, route: rewrite the tag
		return 0, 4, payloadLen >= 9
	}
	return 0, 0, false
}

// loadTemplates parses the embedded packets and keeps those with a
// rewritable region of at least minMutable bytes (adverts are generated).
func loadTemplates(txt string) ([]template, error) {
	var out []template
	sc := bufio.NewScanner(strings.NewReader(txt))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("packets.txt: %q: %w", line, err)
		}
		pt, start, ok := layout(b)
		if !ok || pt == ptAdvert {
			continue
		}
		ms, me, ok := mutableRegion(pt, len(b)-start)
		if !ok || me-ms < minMutable {
			continue
		}
		out = append(out, template{raw: b, ptype: pt, mutStart: start + ms, mutEnd: start + me})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("packets.txt: no usable packet")
	}
	return out, sc.Err()
}

// packet is one generated packet.
type packet struct {
	raw    []byte
	hash   string
	advert bool
}

// generator makes unique, decodable packets. It is used by one goroutine;
// the node pool is shared.
type generator struct {
	tpl         []template
	nodes       *nodePool
	advertShare float64
	rng         *rand.Rand
	nonce       uint64 // per run, so that runs against one database do not collide
	seq         func() uint64
}

// next returns a new unique packet.
func (g *generator) next(now time.Time) packet {
	if g.rng.Float64() < g.advertShare {
		raw := g.nodes.advert(g.rng, now)
		return packet{raw: raw, hash: contentHash(raw), advert: true}
	}
	t := &g.tpl[g.rng.IntN(len(g.tpl))]
	raw := bytes.Clone(t.raw)
	region := raw[t.mutStart:t.mutEnd]
	for i := range region {
		region[i] = byte(g.rng.Uint32())
	}
	// A unique value at the start of the region: the sequence number mixed
	// with the run's nonce. 8 bytes where they fit, else 4 (ACK, TRACE tag).
	u := g.nonce ^ g.seq()
	if len(region) >= 8 {
		binary.LittleEndian.PutUint64(region, u)
	} else {
		v := uint32(u) ^ uint32(u>>32)
		if v == 0 {
			v = 1 // a zero TRACE tag is omitted from decoded_json; keep it visible
		}
		binary.LittleEndian.PutUint32(region, v)
	}
	return packet{raw: raw, hash: contentHash(raw)}
}

// nodePool is a fixed set of mesh nodes that send signed adverts.
type nodePool struct {
	mu    sync.Mutex
	keys  []ed25519.PrivateKey
	lastT []uint32 // last advert timestamp per node: strictly increasing, so every advert is unique
	lat   []int32
	lon   []int32
	role  []byte
}

// Centre and spread of generated node positions (degrees; around San Jose).
const (
	nodeLat    = 37.33
	nodeLon    = -121.89
	nodeSpread = 0.5
)

func newNodePool(n int, rng *rand.Rand) *nodePool {
	p := &nodePool{}
	for range n {
		var seed [ed25519.SeedSize]byte
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		p.keys = append(p.keys, ed25519.NewKeyFromSeed(seed[:]))
		p.lastT = append(p.lastT, 0)
		p.lat = append(p.lat, int32((nodeLat+(rng.Float64()*2-1)*nodeSpread)*1e6))
		p.lon = append(p.lon, int32((nodeLon+(rng.Float64()*2-1)*nodeSpread)*1e6))
		p.role = append(p.role, byte(1+rng.IntN(3))) // chat, repeater or room
	}
	return p
}

// advert builds a validly signed ADVERT (decoder spec §7.3, §11) from a
// random node of the pool: FLOOD route, 0–2 one-byte hops, appdata with
// location and name.
func (p *nodePool) advert(rng *rand.Rand, now time.Time) []byte {
	i := rng.IntN(len(p.keys))
	p.mu.Lock()
	ts := uint32(now.Unix())
	if ts <= p.lastT[i] {
		ts = p.lastT[i] + 1
	}
	p.lastT[i] = ts
	p.mu.Unlock()

	key := p.keys[i]
	pub := key.Public().(ed25519.PublicKey)
	appdata := make([]byte, 0, 32)
	appdata = append(appdata, p.role[i]|0x10|0x80) // type, has location, has name
	appdata = binary.LittleEndian.AppendUint32(appdata, uint32(p.lat[i]))
	appdata = binary.LittleEndian.AppendUint32(appdata, uint32(p.lon[i]))
	appdata = append(appdata, "LG-"+strings.ToUpper(hex.EncodeToString(pub[:3]))...)

	signed := make([]byte, 0, 32+4+len(appdata))
	signed = append(signed, pub...)
	signed = binary.LittleEndian.AppendUint32(signed, ts)
	signed = append(signed, appdata...)
	sig := ed25519.Sign(key, signed)

	hops := rng.IntN(3)
	raw := make([]byte, 0, 2+hops+100+len(appdata))
	raw = append(raw, 0x01|ptAdvert<<2, byte(hops)) // FLOOD, ADVERT, version 0; path length
	for range hops {
		raw = append(raw, byte(rng.Uint32()))
	}
	raw = append(raw, pub...)
	raw = binary.LittleEndian.AppendUint32(raw, ts)
	raw = append(raw, sig...)
	raw = append(raw, appdata...)
	return raw
}
