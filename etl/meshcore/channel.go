package meshcore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ChannelKey is one named 16-byte channel key.
type ChannelKey struct {
	Name string   // channel name as configured, e.g. "#test" or "public"
	Key  [16]byte // AES-128 key
	// Builtin marks a key that is known without configuration (see
	// BuiltinKeys): a Keyring tries it after the configured keys and drops
	// it when a configured key has the same name.
	Builtin bool
}

// PublicChannelKey is the key of MeshCore's default "Public" channel.
var PublicChannelKey = [16]byte{
	0x8b, 0x33, 0x87, 0xe9, 0xc5, 0xcd, 0xea, 0x6a, 0xc9, 0xe5, 0xed, 0xba, 0xa1, 0x15, 0xcd, 0x72,
}

// PublicChannelName is the canonical spelling of the Public channel's name.
const PublicChannelName = "Public"

// BuiltinKeys returns the channel keys CoreScope knows without configuration
// (head §2.14): "Public". They are marked Builtin, so NewKeyring gives them
// the lowest priority whatever their position in its argument.
func BuiltinKeys() []ChannelKey {
	return []ChannelKey{{Name: PublicChannelName, Key: PublicChannelKey, Builtin: true}}
}

// NormalizeChannelName returns the canonical spelling of a channel name:
// any name whose lower case is "public" becomes "Public"; other names are
// returned unchanged (hashtag names are case-sensitive).
func NormalizeChannelName(name string) string {
	if len(name) == len(PublicChannelName) && strings.EqualFold(name, PublicChannelName) {
		return PublicChannelName
	}
	return name
}

// NormalizeChannelKeys normalises the names of keys that have no priority
// among themselves (e.g. one configuration map) with NormalizeChannelName.
// When several keys end up with the same name, the one whose name was
// already spelled canonically wins, otherwise the last one; the winner takes
// the position of the first. dropped lists the original names of the keys
// that lost, for a warning; it never contains key material.
func NormalizeChannelKeys(keys []ChannelKey) (out []ChannelKey, dropped []string) {
	at := make(map[string]int, len(keys))
	orig := make([]string, 0, len(keys)) // original name of out[i]
	for _, k := range keys {
		name := NormalizeChannelName(k.Name)
		i, dup := at[name]
		switch {
		case !dup:
			at[name] = len(out)
			orig = append(orig, k.Name)
			k.Name = name
			out = append(out, k)
		case orig[i] == name && k.Name != name: // canonical spelling kept
			dropped = append(dropped, k.Name)
		default:
			dropped = append(dropped, orig[i])
			orig[i] = k.Name
			k.Name = name
			out[i] = k
		}
	}
	return out, dropped
}

// HashtagKey derives the key of a hashtag channel (§12): a '#' is prefixed
// if missing, and the key is the first 16 bytes of SHA-256 of the name
// including the '#' (case-sensitive). It returns the normalised name too.
func HashtagKey(name string) (normalised string, key [16]byte) {
	if !strings.HasPrefix(name, "#") {
		name = "#" + name
	}
	sum := sha256.Sum256([]byte(name))
	copy(key[:], sum[:16])
	return name, key
}

// Errors of ParseKeyHex. They never contain the key text (issue #14).
var (
	ErrKeyLength = errors.New("must be 32 hex characters")
	ErrKeyHex    = errors.New("must contain only hex characters")
)

// ParseKeyHex parses a channel key written as exactly 32 hex characters.
// Its errors (ErrKeyLength, ErrKeyHex) do not echo any of s.
func ParseKeyHex(s string) ([16]byte, error) {
	var key [16]byte
	if len(s) != 2*len(key) {
		return key, ErrKeyLength
	}
	if _, err := hex.Decode(key[:], []byte(s)); err != nil {
		return [16]byte{}, ErrKeyHex
	}
	return key, nil
}

// ParseChannelKey parses the hex key of the named channel. The error names
// the channel, never the key: `invalid channel key for "name": must be 32
// hex characters`.
func ParseChannelKey(name, hexKey string) (ChannelKey, error) {
	k, err := ParseKeyHex(hexKey)
	if err != nil {
		return ChannelKey{}, fmt.Errorf("invalid channel key for %q: %w", name, err)
	}
	return ChannelKey{Name: name, Key: k}, nil
}

// ChannelHash returns the channel hash byte of a key: the first byte of
// SHA-256 of the key, which senders put in payload byte 0.
func ChannelHash(key [16]byte) byte {
	sum := sha256.Sum256(key[:])
	return sum[0]
}

// Keyring is an immutable, ordered set of channel keys, safe for concurrent
// use.
//
// Names are normalised with NormalizeChannelName, so a key configured as
// "public" decrypts to channel "Public".
//
// Try order: the reference tries every key (in Go map order) and keeps the
// first that passes the MAC and the text checks. A Keyring tries the keys
// whose channel hash byte equals the packet's byte 0 first, then all the
// others; within each of these two groups the configured keys come first in
// name order, then the built-in ones in name order. The result is the
// reference's whenever at most one key passes, deterministic otherwise, and
// the right key is normally the first one tried.
type Keyring struct {
	keys []ringKey // configured keys by name, then built-in keys by name
}

type ringKey struct {
	name    string
	hash    byte
	builtin bool
	block   cipher.Block
	mac     hmacKey
}

// hmacKey holds the marshaled SHA-256 states after absorbing the padded key
// XOR ipad/opad: HMAC-SHA256 without rehashing the key. HMAC pads its key
// with zeros to the block size, so the states of a 16-byte key serve the
// firmware's 32-byte channel secret (key ‖ 16 zeros) as well.
type hmacKey struct{ ipad, opad []byte }

func newHMACKey(key []byte) hmacKey {
	var ipad, opad [sha256.BlockSize]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for j := range ipad {
		ipad[j] ^= 0x36
		opad[j] ^= 0x5c
	}
	return hmacKey{hashState(ipad[:]), hashState(opad[:])}
}

// NewKeyring builds a Keyring. Names are normalised first. When two keys
// share a name the later one in keys wins (pass keys from lowest to highest
// priority), except that a built-in key never replaces a configured one and
// is dropped when a configured key has its name.
func NewKeyring(keys []ChannelKey) *Keyring {
	byName := make(map[string]int, len(keys))
	var uniq []ChannelKey
	for _, k := range keys {
		k.Name = NormalizeChannelName(k.Name)
		if i, ok := byName[k.Name]; ok {
			if !k.Builtin || uniq[i].Builtin {
				uniq[i] = k
			}
			continue
		}
		byName[k.Name] = len(uniq)
		uniq = append(uniq, k)
	}
	slices.SortFunc(uniq, func(a, b ChannelKey) int {
		if a.Builtin != b.Builtin {
			if a.Builtin {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Name, b.Name)
	})

	kr := &Keyring{keys: make([]ringKey, len(uniq))}
	for i, k := range uniq {
		block, err := aes.NewCipher(k.Key[:])
		if err != nil {
			panic(err) // unreachable: the key is 16 bytes
		}
		kr.keys[i] = ringKey{
			name:    k.Name,
			hash:    ChannelHash(k.Key),
			builtin: k.Builtin,
			block:   block,
			mac:     newHMACKey(k.Key[:]),
		}
	}
	return kr
}

func hashState(block []byte) []byte {
	h := sha256.New()
	h.Write(block)
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // unreachable: crypto/sha256 is marshalable
	}
	return state
}

// Len returns the number of keys.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// Names returns the channel names in try order: configured keys by name,
// then built-in keys by name.
func (k *Keyring) Names() []string {
	if k == nil {
		return nil
	}
	names := make([]string, len(k.keys))
	for i := range k.keys {
		names[i] = k.keys[i].name
	}
	return names
}

// hmac computes HMAC-SHA256 under k of prefix ‖ msg into st.sum.
func (st *scratch) hmac(k *hmacKey, prefix, msg []byte) ([]byte, bool) {
	if err := st.innerU.UnmarshalBinary(k.ipad); err != nil {
		return nil, false
	}
	st.inner.Write(prefix)
	st.inner.Write(msg)
	sum := st.inner.Sum(st.sum[:0])
	if err := st.outerU.UnmarshalBinary(k.opad); err != nil {
		return nil, false
	}
	st.outer.Write(sum)
	return st.outer.Sum(st.sum[:0]), true
}

// open checks the 2-byte MAC of ct under rk and AES-128-ECB decrypts it
// into st.pt (§12 steps 1–3).
func (st *scratch) open(rk *ringKey, mac, ct []byte) ([]byte, bool) {
	sum, ok := st.hmac(&rk.mac, nil, ct)
	if !ok || sum[0] != mac[0] || sum[1] != mac[1] {
		return nil, false
	}
	if len(ct)%aes.BlockSize != 0 {
		return nil, false
	}
	pt := st.pt[:len(ct)]
	for i := 0; i < len(ct); i += aes.BlockSize {
		rk.block.Decrypt(pt[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	return pt, true
}

// groupText is a parsed GRP_TXT plaintext.
type groupText struct {
	timestamp uint32
	sender    []byte
	text      []byte // the "text" field: "sender: message", or the message alone
}

// parseGroupText applies §12 steps 4–6 to a plaintext.
func parseGroupText(pt []byte) (groupText, bool) {
	if len(pt) < 5 {
		return groupText{}, false
	}
	g := groupText{timestamp: binary.LittleEndian.Uint32(pt)}
	msg := pt[5:] // byte 4 (txt_type/attempt) is ignored (DEV-9)
	if i := bytes.IndexByte(msg, 0); i >= 0 {
		msg = msg[:i]
	}
	if !utf8.Valid(msg) {
		return groupText{}, false
	}
	bad := 0
	for i := 0; i < len(msg); {
		r, size := rune(msg[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(msg[i:])
		}
		i += size
		if (r < 0x20 && r != '\n' && r != '\t') || r == utf8.RuneError {
			bad++
		}
	}
	if bad > 2 {
		return groupText{}, false
	}
	g.text = msg
	if i := bytes.Index(msg, []byte(": ")); i > 0 && i < 50 && !bytes.ContainsAny(msg[:i], ":[]") {
		g.sender = msg[:i]
		if i+2 == len(msg) {
			g.text = nil // "Bob: " → sender only, no text
		}
	}
	return g, true
}

// group decodes GRP_TXT and GRP_DATA: channel hash, MAC, ciphertext, and
// the decrypted content when a key fits (§7.4, §7.5, §12).
func (dc *decoding) group(p []byte) {
	typ := payloadTypeNames[dc.ptype]
	if len(p) < 3 {
		dc.errorPayload(typ, p, errTooShort)
		return
	}
	st := dc.st
	ch, mac, ct := p[0], p[1:3], p[3:]

	status := StatusNoKey
	if kr := dc.d.keys; kr.Len() > 0 && len(ct) >= 5 {
		status = StatusDecryptionFailed
		for pass := 0; pass < 2; pass++ {
			for i := range kr.keys {
				rk := &kr.keys[i]
				if (rk.hash == ch) != (pass == 0) {
					continue
				}
				pt, ok := st.open(rk, mac, ct)
				if !ok {
					continue
				}
				if dc.ptype == PayloadGrpData {
					dc.groupData(ch, rk.name, pt)
					return
				}
				if g, ok := parseGroupText(pt); ok {
					dc.groupText(ch, rk.name, g)
					return
				}
			}
		}
	}

	if dc.ptype == PayloadGrpTxt {
		// channel_hash column of an undecrypted GRP_TXT: "enc_" + hash byte.
		lo := len(st.ar)
		st.ar = append(st.ar, 'e', 'n', 'c', '_', hexUpper[ch>>4], hexUpper[ch&0x0f])
		st.setLater(&dc.pkt.ChannelHash, span{lo, len(st.ar)})
	}
	dc.pkt.DecryptionStatus = status
	dc.begin(typ)
	dc.hexField("mac", mac)
	if len(ct) > 0 {
		dc.hexField("encryptedData", ct)
	}
	dc.channelHash(ch)
	dc.strField("decryptionStatus", status)
	dc.end()
}

// channelHash appends channelHash (omitted when 0) and channelHashHex.
func (dc *decoding) channelHash(ch byte) {
	js := dc.st.js
	if ch != 0 {
		js = appendKey(js, "channelHash")
		js = appendUint8(js, ch)
	}
	js = append(appendKey(js, "channelHashHex"), '"', hexUpper[ch>>4], hexUpper[ch&0x0f], '"')
	dc.st.js = js
}

func appendUint8(dst []byte, v byte) []byte {
	switch {
	case v >= 100:
		return append(dst, '0'+v/100, '0'+v/10%10, '0'+v%10)
	case v >= 10:
		return append(dst, '0'+v/10, '0'+v%10)
	}
	return append(dst, '0'+v)
}

// decrypted opens a decrypted group payload object.
func (dc *decoding) decrypted(typ string, ch byte, channel string) {
	dc.pkt.DecryptionStatus = StatusDecrypted
	dc.pkt.Channel = channel
	dc.begin(typ)
	dc.channelHash(ch)
	dc.strField("decryptionStatus", StatusDecrypted)
	if channel != "" {
		dc.strField("channel", channel)
	}
}

// groupText writes a decrypted GRP_TXT ("CHAN") object.
func (dc *decoding) groupText(ch byte, channel string, g groupText) {
	dc.decrypted("CHAN", ch, channel)
	dc.pkt.ChannelHash = channel // "" (NULL) for an unnamed key
	st := dc.st
	if len(g.text) > 0 {
		st.js = appendString(appendKey(st.js, "text"), g.text)
	}
	if len(g.sender) > 0 {
		st.js = appendString(appendKey(st.js, "sender"), g.sender)
	}
	if g.timestamp != 0 {
		dc.intField("sender_timestamp", int64(g.timestamp))
	}
	dc.end()
}

// groupData writes a decrypted GRP_DATA object: data_type u16, data_len u8,
// blob (§7.5).
func (dc *decoding) groupData(ch byte, channel string, pt []byte) {
	dc.decrypted("GRP_DATA", ch, channel)
	switch {
	case len(pt) < 3:
		dc.strField("error", "inner too short")
	default:
		dataLen := int(pt[2])
		dc.intField("dataType", int64(binary.LittleEndian.Uint16(pt)))
		dc.intField("dataLen", int64(dataLen))
		if 3+dataLen > len(pt) {
			dc.strField("error", "inner data_len exceeds buffer")
		} else if dataLen > 0 {
			dc.hexField("decryptedBlob", pt[3:3+dataLen])
		}
	}
	dc.end()
}
