package meshcore

import (
	"crypto/sha256"
	"strings"
)

// Regions is an immutable, ordered set of transport-code region keys (the
// hashRegions configuration, head §2.5), safe for concurrent use. A nil
// *Regions has no regions.
type Regions struct {
	regions []region // configured order
}

type region struct {
	name string // with '#'
	mac  hmacKey
}

// NewRegions builds the region keys of names: each is trimmed, empty ones
// are skipped, '#' is prepended when missing and later duplicates (after
// that normalisation; case kept, "#Test" ≠ "#test") are ignored. A region's
// key is the first 16 bytes of SHA-256 of its name including the '#'.
func NewRegions(names []string) *Regions {
	r := &Regions{}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !strings.HasPrefix(n, "#") {
			n = "#" + n
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		key := RegionKey(n)
		r.regions = append(r.regions, region{name: n, mac: newHMACKey(key[:])})
	}
	return r
}

// RegionKey returns the key of a region name as given (no normalisation):
// the first 16 bytes of SHA-256 of its UTF-8 bytes.
func RegionKey(name string) [16]byte {
	sum := sha256.Sum256([]byte(name))
	var key [16]byte
	copy(key[:], sum[:16])
	return key
}

// Len returns the number of regions.
func (r *Regions) Len() int {
	if r == nil {
		return 0
	}
	return len(r.regions)
}

// Names returns the normalised region names in configured order.
func (r *Regions) Names() []string {
	if r == nil {
		return nil
	}
	names := make([]string, len(r.regions))
	for i := range r.regions {
		names[i] = r.regions[i].name
	}
	return names
}

// regionCode is the transport code of a payload under a region key: the
// first two bytes of HMAC-SHA256(key, payload type ‖ payload) as a
// little-endian u16, with 0x0000 and 0xFFFF (reserved) moved to 0x0001 and
// 0xFFFE, returned as its two wire bytes.
func (st *scratch) regionCode(k *hmacKey, ptype byte, payload []byte) ([2]byte, bool) {
	st.typeByte[0] = ptype
	sum, ok := st.hmac(k, st.typeByte[:], payload)
	if !ok {
		return [2]byte{}, false
	}
	code := [2]byte{sum[0], sum[1]}
	switch code {
	case [2]byte{0x00, 0x00}:
		code = [2]byte{0x01, 0x00}
	case [2]byte{0xff, 0xff}:
		code = [2]byte{0xfe, 0xff}
	}
	return code, true
}

// matchScope returns the first region, in configured order, whose code for
// the payload equals code1 (the wire bytes after the header), or "" when
// none does, the payload is empty or there are no regions.
func (st *scratch) matchScope(r *Regions, ptype byte, payload []byte, code1 [2]byte) string {
	if r.Len() == 0 || len(payload) == 0 {
		return ""
	}
	for i := range r.regions {
		rg := &r.regions[i]
		if code, ok := st.regionCode(&rg.mac, ptype, payload); ok && code == code1 {
			return rg.name
		}
	}
	return ""
}
