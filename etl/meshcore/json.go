package meshcore

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// This file holds the append-based JSON writer. Its output is byte-identical
// to what encoding/json produces for the same values (HTML escaping on,
// compact), which the tests check against encoding/json itself.

const (
	hexLower = "0123456789abcdef"
	hexUpper = "0123456789ABCDEF"
)

// appendHex appends two hex digits per byte of b using the given alphabet.
func appendHex(dst, b []byte, alphabet string) []byte {
	for _, c := range b {
		dst = append(dst, alphabet[c>>4], alphabet[c&0x0f])
	}
	return dst
}

// appendHexString appends b as a quoted JSON string of lowercase hex.
func appendHexString(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = appendHex(dst, b, hexLower)
	return append(dst, '"')
}

// appendHexU32 appends v as 8 lowercase hex digits (fmt "%08x").
func appendHexU32(dst []byte, v uint32) []byte {
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexLower[(v>>uint(shift))&0x0f])
	}
	return dst
}

// appendKey appends `,"key":` (the caller guarantees the object is open and
// already has a first member).
func appendKey(dst []byte, key string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendBool appends true or false.
func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// appendFloat appends f exactly as encoding/json formats a float64.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		// encoding/json refuses these; the decoder cannot produce them.
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// htmlSafe reports the ASCII bytes encoding/json writes unescaped when HTML
// escaping is on: printable ASCII except '"', '\\', '<', '>' and '&', plus DEL.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		switch c {
		case '"', '\\', '<', '>', '&':
		default:
			t[c] = true
		}
	}
	return t
}()

// appendString appends s as a quoted JSON string the way encoding/json does
// with HTML escaping: <, >, & and control characters escaped, invalid UTF-8
// bytes replaced by \ufffd one per byte, U+2028/U+2029 escaped.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexLower[b>>4], hexLower[b&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		c, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexLower[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
