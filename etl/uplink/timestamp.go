package uplink

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// parseTimestamp reads the publisher's "timestamp" field (a validated JSON
// value). It accepts
//
//   - ISO 8601 / RFC 3339 date-times "YYYY-MM-DDTHH:MM:SS" (or a space instead
//     of the T), with an optional fraction of a second (any number of digits,
//     nanoseconds kept) and an optional zone: "Z", "±HH:MM", "±HHMM" or "±HH".
//     With a zone the instant is returned in UTC and hasZone is true. Without
//     one (meshcoretomqtt's naive local time) the wall-clock fields are
//     returned as if they were UTC and hasZone is false: the caller decides
//     what the publisher's local time means.
//   - Unix epoch numbers, as JSON numbers or numeric strings, in seconds,
//     milliseconds, microseconds or nanoseconds, told apart by magnitude
//     (below 1e11 is seconds, i.e. before year 5138). hasZone is true.
//
// Anything else, including epoch values ≤ 0, gives the zero time.
func parseTimestamp(v string) (t time.Time, hasZone bool) {
	if v == "" {
		return time.Time{}, false
	}
	switch c := v[0]; {
	case c == '"':
		s, _ := decodeString(v)
		s = strings.TrimSpace(s)
		if t, hasZone, ok := parseISO8601(s); ok {
			return t, hasZone
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return epochTime(f)
		}
	case c == '-' || isDigit(c):
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return epochTime(f)
		}
	}
	return time.Time{}, false
}

// epochTime converts a Unix epoch in s, ms, µs or ns to a UTC time.
func epochTime(f float64) (time.Time, bool) {
	if !(f > 0) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	switch {
	case f < 1e11:
	case f < 1e14:
		f /= 1e3
	case f < 1e17:
		f /= 1e6
	case f < 1e20:
		f /= 1e9
	default:
		return time.Time{}, false
	}
	sec := math.Floor(f)
	nsec := math.Round((f - sec) * 1e9)
	return time.Unix(int64(sec), int64(nsec)).UTC(), true
}

// parseISO8601 parses the date-time forms parseTimestamp documents.
func parseISO8601(s string) (t time.Time, hasZone, ok bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false, false
	}
	i := 19
	nsec := 0
	if i < len(s) && s[i] == '.' {
		i++
		n := 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			if n < 9 {
				nsec = nsec*10 + int(s[i]-'0')
			}
			n++
		}
		if n == 0 {
			return time.Time{}, false, false
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	offset := 0
	switch {
	case i == len(s):
	case s[i] == 'Z' || s[i] == 'z':
		hasZone = true
		i++
	case s[i] == '+' || s[i] == '-':
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		rest := s[i+1:]
		var hh, mm int
		var okh, okm bool
		switch {
		case len(rest) == 2:
			hh, okh = digits(rest)
			okm = true
		case len(rest) == 4:
			hh, okh = digits(rest[:2])
			mm, okm = digits(rest[2:])
		case len(rest) == 5 && rest[2] == ':':
			hh, okh = digits(rest[:2])
			mm, okm = digits(rest[3:])
		}
		if !okh || !okm || hh > 23 || mm > 59 {
			return time.Time{}, false, false
		}
		offset = sign * (hh*3600 + mm*60)
		hasZone = true
		i = len(s)
	}
	if i != len(s) {
		return time.Time{}, false, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, hasZone, true
}

// digits parses a short run of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// daysIn returns the number of days in month of year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Clock-skew bounds (head.md §2.2 rules 3–5).
const (
	// SkewThreshold is the smallest distance between a naive publisher
	// timestamp and the receipt time that counts as clock skew.
	SkewThreshold = 15 * time.Minute
	// skewMaxAhead and skewMaxBehind bound plausible clocks: a naive time
	// further off is garbage (a wrong date), not a time zone, and records no
	// skew.
	skewMaxAhead  = 14 * time.Hour
	skewMaxBehind = 30 * 24 * time.Hour
)

// naiveLayout reports whether the raw "timestamp" value v is a JSON string
// in CoreScope's naive layout, YYYY-MM-DDTHH:MM:SS with an optional
// fraction and no zone, without surrounding spaces. Call it only for a
// value parseTimestamp read as a zone-less date-time.
func naiveLayout(v string) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	s, _ := decodeString(v)
	return len(s) >= 19 && s[10] == 'T' && s == strings.TrimSpace(s)
}

// ClockSkew returns how far the publisher's naive clock is from now, the
// receipt time, in whole seconds truncated toward zero (positive: the
// observer's clock is ahead). ok is false unless Timestamp is naive
// (TimestampNaive), at most 14 h ahead and 30 days behind now, and more
// than SkewThreshold away from it (head.md §2.2 rules 1–5). A zoned
// timestamp never reports skew: its offset says what the clock means.
func (e *Envelope) ClockSkew(now time.Time) (secs int64, ok bool) {
	if !e.TimestampNaive {
		return 0, false
	}
	d := e.Timestamp.Sub(now)
	if d > skewMaxAhead || d < -skewMaxBehind || (d <= SkewThreshold && d >= -SkewThreshold) {
		return 0, false
	}
	return int64(d / time.Second), true
}
