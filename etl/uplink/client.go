package uplink

import (
	"database/sql"
	"time"
)

// GPS is the position fix a mobile client sends with a reception: the
// payload's "gps" object {lat, lon[, acc_m]}, whose values are JSON numbers
// or numeric strings (ParseNumber).
type GPS struct {
	Lat, Lon float64           // degrees, as sent: the range is not checked here
	AccM     sql.Null[float64] // "acc_m": the fix's accuracy radius in metres
	// OK is set when "gps" is an object whose lat and lon both parse.
	OK bool
}

// readClient fills the fields of a <p>/client/<key>/packets message.
func (f *fields) readClient(env *Envelope) {
	env.GPS = parseGPS(f.gps)
	env.ClientTime, env.ClientTimeNaive = envelopeTime(f.timestamp)
}

// parseGPS reads a raw "gps" value. A repeated key keeps its last value.
func parseGPS(v string) GPS {
	it, ok := newObjectIter(v)
	if !ok {
		return GPS{}
	}
	var lat, lon, acc string
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch k {
		case "lat":
			lat = v
		case "lon":
			lon = v
		case "acc_m":
			acc = v
		}
	}
	var g GPS
	var okLat, okLon bool
	g.Lat, okLat = parseNumber(lat)
	g.Lon, okLon = parseNumber(lon)
	g.OK = okLat && okLon
	if a, ok := parseNumber(acc); ok {
		g.AccM = sql.Null[float64]{V: a, Valid: true}
	}
	return g
}

// Layouts of CoreScope's envelope time (head.md §2.2 rule 2): Go's RFC 3339
// (a zone is required), else these naive layouts, read as UTC.
var naiveLayouts = [...]string{"2006-01-02T15:04:05.999999", "2006-01-02T15:04:05"}

// envelopeTime reads a raw "timestamp" value as CoreScope reads a client
// reception's (head.md §2.2 rules 1–2): only a JSON string counts; it is
// parsed as Go's time.RFC3339, else as a naive layout taken as UTC
// (naive). Anything else (a number, an epoch in a string, a space
// separator) gives the zero time.
func envelopeTime(v string) (t time.Time, naive bool) {
	if len(v) < 2 || v[0] != '"' {
		return time.Time{}, false
	}
	s, _ := decodeString(v)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), false
	}
	for _, layout := range naiveLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// RxTime returns when a mobile client heard its packet: the envelope's
// ClientTime, checked against now (the receipt time) by head.md §2.2's
// rules 3–6. It is now when ClientTime is zero, more than 14 h ahead of
// now, more than 30 days behind it, or naive and more than 15 minutes off
// (a clock in another zone); a time up to 14 h ahead is clamped to now.
// The result is in UTC.
func (e *Envelope) RxTime(now time.Time) time.Time {
	now = now.UTC()
	t := e.ClientTime
	if t.IsZero() {
		return now
	}
	d := t.Sub(now)
	switch {
	case d > skewMaxAhead || d < -skewMaxBehind:
		return now
	case e.ClientTimeNaive && (d > SkewThreshold || d < -SkewThreshold):
		return now
	case d > 0:
		return now
	}
	return t
}
