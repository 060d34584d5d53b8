package uplink

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// numberUnits are the trailing units ParseNumber strips, checked
// case-insensitively in this order (so "dBm" is tried before "dB" and "m").
var numberUnits = [...]string{"dBm", "dB", "mW", "km", "mi", "m"}

// ParseNumber reads a numeric uplink field, which publishers send as a JSON
// number or, more often, as a string. A string is trimmed of surrounding
// whitespace and of one trailing unit (dBm, dB, mW, km, mi or m, checked
// case-insensitively in that order), then parsed as a float: "-110dBm" is
// -110 and "-5.5 dB" is -5.5. It returns false for null, booleans, arrays,
// objects, invalid JSON, strings that are not numbers ("Unknown", "") and
// values that are not finite ("NaN", 1e999).
func ParseNumber(raw json.RawMessage) (float64, bool) {
	s := strings.TrimSpace(string(raw))
	if !validJSON(s) {
		return 0, false
	}
	return parseNumber(s)
}

// parseNumber is ParseNumber on a validated JSON value.
func parseNumber(v string) (float64, bool) {
	if v == "" {
		return 0, false
	}
	switch c := v[0]; {
	case c == '"':
		s, _ := decodeString(v)
		return parseNumberText(s)
	case c == '-' || isDigit(c):
		return finite(strconv.ParseFloat(v, 64))
	}
	return 0, false
}

// parseNumberText parses the contents of a numeric string field.
func parseNumberText(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	for _, u := range numberUnits {
		if len(s) >= len(u) && strings.EqualFold(s[len(s)-len(u):], u) {
			s = strings.TrimSpace(s[:len(s)-len(u)])
			break
		}
	}
	if s == "" {
		return 0, false
	}
	return finite(strconv.ParseFloat(s, 64))
}

func finite(f float64, err error) (float64, bool) {
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// parseInt reads a numeric field as an integer, rounding half away from
// zero. Values outside the int64 range are rejected.
func parseInt(v string) (int64, bool) {
	f, ok := parseNumber(v)
	if !ok {
		return 0, false
	}
	f = math.Round(f)
	if f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}
