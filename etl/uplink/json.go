package uplink

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// A small JSON scanner for the hot path. validJSON checks a whole document
// with exactly the grammar of encoding/json.Valid (including its nesting
// limit); the other helpers then walk an already-validated document without
// re-checking it. Values are handed out as substrings of the document, so
// reading a payload costs a single string conversion.
//
// Why not encoding/json: measured with
//
//	go test -run '^$' -bench BenchmarkScanObject -benchmem -count 3 ./etl/uplink/
//
// (Go 1.26, 2 vCPU; validate, walk the members and decode their strings,
// against json.Unmarshal into map[string]json.RawMessage plus each string
// member), a meshcoretomqtt packet (499 B) takes 1.4–1.8 µs and 1 alloc
// here against 12.2–13.0 µs and 104 allocs; a status (604 B) 1.6–1.8 µs
// and 1 alloc against 10.3–11.4 µs and 61 allocs. Parse is on every
// message's path (~2.2 µs/op for a packet in BenchmarkParsePacket), and
// TestValidJSONMatchesEncodingJSON holds the grammar to encoding/json's.

// maxNestingDepth is encoding/json's limit on nested arrays and objects.
const maxNestingDepth = 10000

// isSpace reports whether c is JSON insignificant whitespace.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// validJSON reports whether s is exactly one valid JSON value, surrounded by
// optional whitespace, as encoding/json.Valid does.
func validJSON(s string) bool {
	i, ok := validValue(s, skipSpace(s, 0), 0)
	return ok && skipSpace(s, i) == len(s)
}

// validValue checks the value starting at s[i] and returns the index just
// after it. depth is the number of enclosing arrays and objects.
func validValue(s string, i, depth int) (int, bool) {
	if i >= len(s) {
		return i, false
	}
	switch c := s[i]; c {
	case '{':
		if depth++; depth > maxNestingDepth {
			return i, false
		}
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(s) || s[i] != '"' {
				return i, false
			}
			var ok bool
			if i, ok = validString(s, i); !ok {
				return i, false
			}
			i = skipSpace(s, i)
			if i >= len(s) || s[i] != ':' {
				return i, false
			}
			if i, ok = validValue(s, skipSpace(s, i+1), depth); !ok {
				return i, false
			}
			i = skipSpace(s, i)
			if i >= len(s) {
				return i, false
			}
			switch s[i] {
			case '}':
				return i + 1, true
			case ',':
				i = skipSpace(s, i+1)
			default:
				return i, false
			}
		}
	case '[':
		if depth++; depth > maxNestingDepth {
			return i, false
		}
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = validValue(s, i, depth); !ok {
				return i, false
			}
			i = skipSpace(s, i)
			if i >= len(s) {
				return i, false
			}
			switch s[i] {
			case ']':
				return i + 1, true
			case ',':
				i = skipSpace(s, i+1)
			default:
				return i, false
			}
		}
	case '"':
		return validString(s, i)
	case 't':
		return validLiteral(s, i, "true")
	case 'f':
		return validLiteral(s, i, "false")
	case 'n':
		return validLiteral(s, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return validNumber(s, i)
		}
		return i, false
	}
}

func validLiteral(s string, i int, lit string) (int, bool) {
	if strings.HasPrefix(s[i:], lit) {
		return i + len(lit), true
	}
	return i, false
}

// validString checks the string starting at the quote s[i].
func validString(s string, i int) (int, bool) {
	for i++; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(s) {
				return i, false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) {
					return i, false
				}
				for _, h := range []byte(s[i+2 : i+6]) {
					if !isHex(h) {
						return i, false
					}
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber checks the number starting at s[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s string, i int) (int, bool) {
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	return i, true
}

// The helpers below assume a validated document.

// skipString returns the index just after the string starting at the quote
// s[i].
func skipString(s string, i int) int {
	i++
	for {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			return len(s) // not reached for a validated document
		}
		i += j
		// The quote is escaped if an odd number of backslashes precede it.
		n := 0
		for k := i - 1; k >= 0 && s[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index just after the value starting at s[i].
func skipValue(s string, i int) int {
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				i = skipString(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(s) && !isSpace(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']' {
			i++
		}
		return i
	}
}

// objectIter walks the members of a validated JSON object.
type objectIter struct {
	s string
	i int
}

// newObjectIter starts walking the validated value v. It returns false if v
// is not an object.
func newObjectIter(v string) (objectIter, bool) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return objectIter{}, false
	}
	return objectIter{s: v, i: i + 1}, true
}

// next returns the next member: its key, decoded, and its value as raw JSON
// text. ok is false at the end of the object.
func (it *objectIter) next() (key, value string, ok bool) {
	s := it.s
	i := skipSpace(s, it.i)
	if i < len(s) && s[i] == ',' {
		i = skipSpace(s, i+1)
	}
	if i >= len(s) || s[i] != '"' {
		it.i = len(s)
		return "", "", false
	}
	end := skipString(s, i)
	key, _ = decodeString(s[i:end])
	i = skipSpace(s, end)
	i = skipSpace(s, i+1) // the colon
	end = skipValue(s, i)
	value = s[i:end]
	it.i = end
	return key, value, true
}

// decodeString returns the contents of the validated JSON value v if it is a
// string. Strings without escapes that are valid UTF-8 are returned as
// substrings of v (no allocation); the others are decoded by encoding/json,
// which also replaces invalid UTF-8 with U+FFFD.
func decodeString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if strings.IndexByte(inner, '\\') < 0 && isValidUTF8(inner) {
		return inner, true
	}
	var out string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return "", false
	}
	return out, true
}

func isValidUTF8(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

// jsonType names the type of the validated value v, for error messages.
func jsonType(v string) string {
	i := skipSpace(v, 0)
	if i >= len(v) {
		return "nothing"
	}
	switch v[i] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
