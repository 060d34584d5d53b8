package meshcore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

// Route types (header bits 0–1).
const (
	RouteTransportFlood  = 0
	RouteFlood           = 1
	RouteDirect          = 2
	RouteTransportDirect = 3
)

// Payload types (header bits 2–5).
const (
	PayloadReq       = 0x00
	PayloadResponse  = 0x01
	PayloadTxtMsg    = 0x02
	PayloadAck       = 0x03
	PayloadAdvert    = 0x04
	PayloadGrpTxt    = 0x05
	PayloadGrpData   = 0x06
	PayloadAnonReq   = 0x07
	PayloadPath      = 0x08
	PayloadTrace     = 0x09
	PayloadMultipart = 0x0A
	PayloadControl   = 0x0B
	PayloadRawCustom = 0x0F
)

// Firmware size limits.
const (
	MaxPathSize    = 64                                       // bytes of path (MAX_PATH_SIZE)
	MaxPayloadSize = 184                                      // bytes of payload (MAX_PACKET_PAYLOAD)
	MaxPacketSize  = 1 + 4 + 1 + MaxPathSize + MaxPayloadSize // bytes: the largest decodable packet (254)
)

// Error kinds: the Kind of a fatal *Error (spec §16 errorKind).
const (
	KindInvalidHex          = "invalid_hex"
	KindTooShort            = "too_short"
	KindTransportTooShort   = "transport_too_short"
	KindNoPathByte          = "no_path_byte"
	KindInvalidPathEncoding = "invalid_path_encoding"
	KindPathExceedsBuffer   = "path_exceeds_buffer"
	KindPayloadTooLarge     = "payload_too_large"
)

// Decryption statuses of GRP_TXT and GRP_DATA payloads.
const (
	StatusDecrypted        = "decrypted"
	StatusNoKey            = "no_key"
	StatusDecryptionFailed = "decryption_failed"
)

var routeTypeNames = [4]string{"TRANSPORT_FLOOD", "FLOOD", "DIRECT", "TRANSPORT_DIRECT"}

var payloadTypeNames = [16]string{
	"REQ", "RESPONSE", "TXT_MSG", "ACK", "ADVERT", "GRP_TXT", "GRP_DATA", "ANON_REQ",
	"PATH", "TRACE", "MULTIPART", "CONTROL", "UNKNOWN", "UNKNOWN", "UNKNOWN", "RAW_CUSTOM",
}

// RouteTypeName returns the reference name of a route type (0–3).
func RouteTypeName(t int) string { return routeTypeNames[t&3] }

// PayloadTypeName returns the reference name of a payload type (0–15):
// "UNKNOWN" for the reserved types 0x0C–0x0E.
func PayloadTypeName(t int) string { return payloadTypeNames[t&0x0f] }

// Error is a fatal decode error: the packet is not stored.
type Error struct {
	Kind string // one of the Kind* constants
	Msg  string // the reference decoder's message
}

// Error returns the reference message.
func (e *Error) Error() string { return e.Msg }

// Options configure a Decoder.
type Options struct {
	// Keys are the channel keys tried on GRP_TXT and GRP_DATA payloads;
	// nil or empty means no channel is decrypted (status "no_key").
	Keys *Keyring
	// VerifySignatures checks advert Ed25519 signatures and adds
	// signatureValid to their decoded_json (the ingestor's default is on).
	VerifySignatures bool
	// Regions are the transport-code region keys matched against
	// transport-scoped packets (Packet.ScopeName); nil means none.
	Regions *Regions
}

// Decoder decodes packets with fixed options. It is safe for concurrent use.
type Decoder struct {
	keys    *Keyring
	regions *Regions
	verify  bool
	pool    sync.Pool // *scratch, reused buffers only
}

// NewDecoder returns a Decoder with the given options.
func NewDecoder(opts Options) *Decoder {
	return &Decoder{keys: opts.Keys, regions: opts.Regions, verify: opts.VerifySignatures}
}

// Decode parses one packet given as the hex string of the MQTT "raw" field.
// Spaces, CR and LF are ignored (any other non-hex character is an error).
// A fatal error is returned as *Error and yields no packet; a payload that
// is too short for its type is not fatal (the payload object carries an
// "error" field instead).
func Decode(raw string, opts Options) (*Packet, error) {
	return NewDecoder(opts).Decode(raw)
}

// Decode parses one packet; see the package-level Decode.
func (d *Decoder) Decode(raw string) (*Packet, error) {
	st, _ := d.pool.Get().(*scratch)
	if st == nil {
		st = newScratch()
	}
	p, err := d.decode(st, raw)
	st.reset()
	d.pool.Put(st)
	return p, err
}

// span is a byte range of the scratch string arena.
type span struct{ lo, hi int }

// pendingString is a string field to point into the arena once it is final.
type pendingString struct {
	dst *string
	sp  span
}

// scratch holds the per-call buffers. It is pooled: nothing in a returned
// Packet may reference it.
type scratch struct {
	buf    [MaxPacketSize]byte      // decoded packet bytes
	toHash [3 + MaxPayloadSize]byte // content hash input
	pt     [MaxPayloadSize]byte     // channel plaintext
	signed [36 + MaxPayloadSize]byte
	name   [3 * MaxPayloadSize]byte // sanitised advert name
	sum    [sha256.Size]byte
	// typeByte is the payload type prefix of a region code's HMAC input.
	typeByte [1]byte
	js       []byte // decoded_json under construction
	ar       []byte // string arena: every string of the Packet
	pend     []pendingString

	// inner and outer compute HMAC-SHA256 from precomputed key states.
	inner, outer   hash.Hash
	innerU, outerU unmarshaler
}

type unmarshaler interface{ UnmarshalBinary([]byte) error }

func newScratch() *scratch {
	st := &scratch{
		js:   make([]byte, 0, 1024),
		ar:   make([]byte, 0, 1024),
		pend: make([]pendingString, 0, 80),
	}
	st.inner, st.outer = sha256.New(), sha256.New()
	st.innerU = st.inner.(unmarshaler)
	st.outerU = st.outer.(unmarshaler)
	return st
}

func (st *scratch) reset() {
	clear(st.pend) // drop the pointers into the returned packet
	st.pend = st.pend[:0]
	st.js = st.js[:0]
	st.ar = st.ar[:0]
}

// arHex appends hex of b to the arena.
func (st *scratch) arHex(b []byte, alphabet string) span {
	lo := len(st.ar)
	st.ar = appendHex(st.ar, b, alphabet)
	return span{lo, len(st.ar)}
}

// arBytes appends b to the arena.
func (st *scratch) arBytes(b []byte) span {
	lo := len(st.ar)
	st.ar = append(st.ar, b...)
	return span{lo, len(st.ar)}
}

// setLater records that *dst becomes the arena string sp.
func (st *scratch) setLater(dst *string, sp span) {
	st.pend = append(st.pend, pendingString{dst, sp})
}

// packetBlock puts a Packet and its pointed-to parts in one allocation.
type packetBlock struct {
	pkt           Packet
	adv           Advert
	tc            [2]string
	hopsCompleted int
}

// decoding is the state of one Decode call.
type decoding struct {
	d   *Decoder
	st  *scratch
	blk *packetBlock
	pkt *Packet

	route, ptype int
	hashCount    int
	hopSize      int    // bytes per hop of the final path object
	hopBytes     []byte // bytes of the final path object's hops
	headerPath   []byte // header path bytes
	pubKey       span
	advName      []byte // sanitised advert name (in scratch)
}

var emptyHops = []string{}

const errPathFmt = "invalid path encoding: pathByte 0x%02X (hash_size=%d hash_count=%d) violates firmware validity (Packet.cpp:13-18, MAX_PATH_SIZE=64)"

func (d *Decoder) decode(st *scratch, raw string) (*Packet, error) {
	f, err := parseFrame(st, raw)
	if err != nil {
		return nil, err
	}
	dc := decoding{d: d, st: st}
	dc.header(raw, &f)
	dc.payload(f.buf[f.start:])
	dc.path(f.stripped)
	return dc.finish(), nil
}

// frame is the outer layout of a raw packet, checked against the firmware's
// limits: header, transport codes (for the transport routes), path byte,
// path, payload.
type frame struct {
	buf      []byte // the whole packet (in scratch)
	off      int    // index of the path byte: 1, or 5 after the transport codes
	start    int    // index of the payload
	stripped bool   // raw contained whitespace, which the hex decoding skipped
}

// parseFrame hex-decodes raw into st and checks its layout.
func parseFrame(st *scratch, raw string) (frame, error) {
	n, stripped, err := decodeHex(raw, st.buf[:])
	if err != nil {
		return frame{}, &Error{KindInvalidHex, "invalid hex: " + err.Error()}
	}
	if n < 2 {
		return frame{}, &Error{KindTooShort, "packet too short (need at least header + pathLength)"}
	}
	buf := st.buf[:min(n, MaxPacketSize)]
	route := int(buf[0] & 0x03)
	off := 1
	if route == RouteTransportFlood || route == RouteTransportDirect {
		if n < 5 {
			return frame{}, &Error{KindTransportTooShort, "packet too short for transport codes"}
		}
		off = 5
	}
	if off >= n {
		return frame{}, &Error{KindNoPathByte, "packet too short (no path byte)"}
	}
	pb := buf[off]
	hashSize := int(pb>>6) + 1
	hashCount := int(pb & 0x3f)
	pathLen := hashSize * hashCount
	if hashSize == 4 || pathLen > MaxPathSize {
		return frame{}, &Error{KindInvalidPathEncoding, fmt.Sprintf(errPathFmt, pb, hashSize, hashCount)}
	}
	start := off + 1 + pathLen
	if start > n {
		return frame{}, &Error{KindPathExceedsBuffer, fmt.Sprintf(
			"packet path length (%d bytes claimed by pathByte 0x%02X) exceeds buffer (%d bytes)", pathLen, pb, n)}
	}
	if n-start > MaxPayloadSize {
		return frame{}, &Error{KindPayloadTooLarge, fmt.Sprintf(
			"packet payload (%d bytes) exceeds firmware MAX_PACKET_PAYLOAD=184 (MeshCore.h:19)", n-start)}
	}
	// From here on n <= MaxPacketSize: buf holds the whole packet.
	return frame{buf: buf[:n], off: off, start: start, stripped: stripped}, nil
}

// header allocates the packet and sets what the header, the path byte and
// the transport codes say, and the content hash.
func (dc *decoding) header(raw string, f *frame) {
	st, buf := dc.st, f.buf
	header := buf[0]
	pb := buf[f.off]
	payload := buf[f.start:]
	dc.blk = new(packetBlock)
	pkt := &dc.blk.pkt
	dc.pkt = pkt
	dc.route = int(header & 0x03)
	dc.ptype = int(header>>2) & 0x0f
	pkt.RouteType = dc.route
	pkt.PayloadType = dc.ptype
	pkt.PayloadVersion = int(header >> 6)
	pkt.RouteTypeName = routeTypeNames[dc.route]
	pkt.PayloadTypeName = payloadTypeNames[dc.ptype]

	// Content hash over the verbatim raw: any stripped whitespace makes the
	// verbatim string invalid hex, hence the fallback.
	if f.stripped {
		pkt.Hash = fallbackHash(raw)
	} else {
		st.setLater(&pkt.Hash, st.contentHash(dc.ptype, pb, payload))
	}

	if f.off == 5 {
		pkt.TransportCodes = &dc.blk.tc
		st.setLater(&dc.blk.tc[0], st.arHex(buf[1:3], hexUpper))
		st.setLater(&dc.blk.tc[1], st.arHex(buf[3:5], hexUpper))
		// Region scope (head §2.5): code1 0000 means unscoped.
		if code1 := [2]byte{buf[1], buf[2]}; code1 != [2]byte{} {
			pkt.TransportScoped = true
			pkt.ScopeName = st.matchScope(dc.d.regions, byte(dc.ptype), payload, code1)
		}
	}

	dc.hashCount = int(pb & 0x3f)
	dc.hopSize = int(pb>>6) + 1
	dc.headerPath = buf[f.off+1 : f.start]
	dc.hopBytes = dc.headerPath
	pkt.HashSize = dc.hopSize
	if dc.hashCount == 0 && dc.ptype != PayloadTrace && (dc.route == RouteDirect || dc.route == RouteTransportDirect) {
		pkt.HashSize = 0 // zero-hop direct: hash size unknown
	}
}

// path sets the path object (the header hops, or those the payload
// replaced them with) and observations.path_json.
func (dc *decoding) path(stripped bool) {
	st, pkt := dc.st, dc.pkt
	hopCount := 0
	if dc.hopSize > 0 {
		hopCount = len(dc.hopBytes) / dc.hopSize
	}
	pkt.HashCount = hopCount
	if hopCount == 0 {
		pkt.Hops = emptyHops
	} else {
		pkt.Hops = make([]string, hopCount)
		for i := range pkt.Hops {
			st.setLater(&pkt.Hops[i], st.arHex(dc.hopBytes[i*dc.hopSize:(i+1)*dc.hopSize], hexUpper))
		}
	}
	switch {
	case hopCount == 0 || (stripped && dc.ptype != PayloadTrace):
		// path_json re-parses the verbatim raw, which does not hex-decode
		// when it contains whitespace.
		pkt.PathJSON = "[]"
	default:
		lo := len(st.ar)
		st.ar = append(st.ar, '[')
		for i := 0; i < hopCount; i++ {
			if i > 0 {
				st.ar = append(st.ar, ',')
			}
			st.ar = append(st.ar, '"')
			st.ar = appendHex(st.ar, dc.hopBytes[i*dc.hopSize:(i+1)*dc.hopSize], hexUpper)
			st.ar = append(st.ar, '"')
		}
		st.ar = append(st.ar, ']')
		st.setLater(&pkt.PathJSON, span{lo, len(st.ar)})
	}
}

// finish copies the decoded JSON out of scratch and resolves every string
// recorded with setLater against one copy of the arena.
func (dc *decoding) finish() *Packet {
	st, pkt := dc.st, dc.pkt
	if pkt.Advert != nil {
		st.setLater(&pkt.FromPubkey, dc.pubKey)
		st.setLater(&pkt.Advert.PubKey, dc.pubKey)
	}
	pkt.DecodedJSON = make([]byte, len(st.js))
	copy(pkt.DecodedJSON, st.js)
	arena := string(st.ar)
	for _, p := range st.pend {
		*p.dst = arena[p.sp.lo:p.sp.hi]
	}
	return pkt
}

// hexVal maps a character to its hex value; hexSkip marks the characters the
// decoder strips (space, CR, LF) and hexBad every other non-hex character.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = hexBad
	}
	for i := 0; i < 10; i++ {
		t['0'+i] = byte(i)
	}
	for i := 0; i < 6; i++ {
		t['a'+i] = byte(10 + i)
		t['A'+i] = byte(10 + i)
	}
	t[' '], t['\r'], t['\n'] = hexSkip, hexSkip, hexSkip
	return t
}()

const (
	hexSkip = 0xfe
	hexBad  = 0xff
)

// decodeHex decodes raw minus spaces, CR and LF into dst, keeping the first
// len(dst) bytes and counting the rest. Errors are those of
// encoding/hex.DecodeString on the stripped string. stripped reports whether
// any character was skipped.
func decodeHex(raw string, dst []byte) (n int, stripped bool, err error) {
	// Fast path: even length, no whitespace, short enough for dst.
	if len(raw)%2 == 0 && len(raw) <= 2*len(dst) {
		for ; n < len(raw)/2; n++ {
			a, b := hexVal[raw[2*n]], hexVal[raw[2*n+1]]
			if a|b > 0x0f {
				break
			}
			dst[n] = a<<4 | b
		}
		if n == len(raw)/2 {
			return n, false, nil
		}
		n = 0 // rare: fall back to the general loop
	}
	var hi byte
	odd := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		v := hexVal[c]
		if v > 0x0f {
			if v == hexSkip {
				stripped = true
				continue
			}
			return 0, stripped, hex.InvalidByteError(c)
		}
		if !odd {
			hi, odd = v, true
			continue
		}
		odd = false
		if n < len(dst) {
			dst[n] = hi<<4 | v
		}
		n++
	}
	if odd {
		return 0, stripped, hex.ErrLength
	}
	return n, stripped, nil
}
