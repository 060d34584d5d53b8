package meshcore

import (
	"crypto/sha256"
)

// ContentHash computes the content hash (§10) of a raw packet string as
// received, without stripping whitespace: SHA-256 over the payload type,
// (for TRACE) the path length as a little-endian u16, and the payload; the
// first 8 bytes in lowercase hex. A string that does not parse that far
// falls back to its first 16 characters (or all of it if shorter).
func ContentHash(raw string) string {
	n := len(raw) / 2
	if len(raw)%2 != 0 || n < 2 {
		return fallbackHash(raw)
	}
	for i := 0; i < len(raw); i++ {
		if hexVal[raw[i]] > 0x0f {
			return fallbackHash(raw)
		}
	}
	b0 := hexByte(raw, 0)
	o := 1
	if r := b0 & 0x03; r == RouteTransportFlood || r == RouteTransportDirect {
		o = 5
	}
	if o >= n {
		return fallbackHash(raw)
	}
	pb := hexByte(raw, o)
	start := o + 1 + (int(pb>>6)+1)*int(pb&0x3f)
	if start > n {
		return fallbackHash(raw)
	}
	t := (b0 >> 2) & 0x0f

	h := sha256.New()
	var chunk [256]byte
	chunk[0] = t
	k := 1
	if t == PayloadTrace {
		chunk[1], chunk[2] = pb, 0
		k = 3
	}
	for i := start; i < n; i++ {
		if k == len(chunk) {
			h.Write(chunk[:])
			k = 0
		}
		chunk[k] = hexByte(raw, i)
		k++
	}
	h.Write(chunk[:k])
	var sum [sha256.Size]byte
	out := make([]byte, 16)
	appendHex(out[:0], h.Sum(sum[:0])[:8], hexLower)
	return string(out)
}

// hexByte decodes byte i of an already validated hex string.
func hexByte(s string, i int) byte {
	return hexVal[s[2*i]]<<4 | hexVal[s[2*i+1]]
}

// fallbackHash is the content hash of a raw string that cannot be parsed:
// its first 16 characters, verbatim.
func fallbackHash(raw string) string {
	if len(raw) >= 16 {
		return raw[:16]
	}
	return raw
}

// contentHash writes the hash of a decoded packet to the arena.
func (st *scratch) contentHash(ptype int, pathByte byte, payload []byte) span {
	b := append(st.toHash[:0], byte(ptype))
	if ptype == PayloadTrace {
		b = append(b, pathByte, 0)
	}
	b = append(b, payload...)
	sum := sha256.Sum256(b)
	return st.arHex(sum[:8], hexLower)
}
