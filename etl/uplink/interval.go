package uplink

import "time"

// DefaultMetricsIntervalSec is the observer_metrics bucket width used when
// RoundToInterval is given an interval ≤ 0: seconds, the publishers' stats
// cadence.
const DefaultMetricsIntervalSec = 300

// RoundToInterval rounds t to the nearest multiple of intervalSec seconds
// since the Unix epoch, halves rounding up, and returns it in UTC: the
// observer_metrics bucket of a status received at t. An interval ≤ 0 means
// DefaultMetricsIntervalSec.
func RoundToInterval(t time.Time, intervalSec int) time.Time {
	iv := int64(intervalSec)
	if iv <= 0 {
		iv = DefaultMetricsIntervalSec
	}
	sec := t.Unix()
	r := sec % iv
	if r < 0 {
		r += iv
	}
	base := sec - r
	// Round up when r + nsec/1e9 ≥ iv/2, i.e. 2r + 2·nsec/1e9 ≥ iv, without
	// overflowing: 2·nsec/1e9 is in [0, 2).
	switch {
	case 2*r >= iv:
		base += iv
	case 2*r+1 == iv && t.Nanosecond() >= 500_000_000:
		base += iv
	}
	return time.Unix(base, 0).UTC()
}
