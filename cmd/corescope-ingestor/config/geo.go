package config

import (
	"fmt"
	"math"
	"strings"
)

// DefaultForeignAdvertsMode keeps adverts from outside geo_filter and
// flags their node (the other mode is "drop").
const DefaultForeignAdvertsMode = "flag"

// GeoFilterConfig is CoreScope's geo_filter: a polygon plus a buffer, or a
// latitude/longitude box, or both. Nil box fields mean absent.
type GeoFilterConfig struct {
	// Polygon is a list of [lat, lon] points (at least 3), degrees.
	Polygon [][]float64 `koanf:"polygon"`
	// BufferKm widens the polygon, in kilometres (default 0).
	BufferKm float64 `koanf:"bufferKm"`
	// LatMin, LatMax, LonMin and LonMax bound the box, in degrees; all four
	// or none (nil) are set.
	LatMin *float64 `koanf:"latMin"`
	LatMax *float64 `koanf:"latMax"`
	LonMin *float64 `koanf:"lonMin"`
	LonMax *float64 `koanf:"lonMax"`
}

// Enabled reports whether a polygon or a box is configured.
func (g *GeoFilterConfig) Enabled() bool {
	return len(g.Polygon) > 0 || g.LatMin != nil
}

// ForeignAdvertsConfig is CoreScope's foreignAdverts section.
type ForeignAdvertsConfig struct {
	// Mode is "flag" (store and mark the node foreign, default) or "drop".
	Mode string `koanf:"mode"`
}

func (f *ForeignAdvertsConfig) validate(p *problems) {
	f.Mode = oneOf(p, "foreignAdverts.mode", f.Mode, DefaultForeignAdvertsMode, "flag", "drop")
}

// validate checks the polygon and the box of a geo filter.
func (g *GeoFilterConfig) validate(p *problems) {
	const key = "geo_filter"
	if n := len(g.Polygon); n > 0 && n < 3 {
		p.addf(key+".polygon", "want at least 3 [lat, lon] points, got %d", n)
	}
	for i, pt := range g.Polygon {
		k := fmt.Sprintf("%s.polygon[%d]", key, i)
		if len(pt) != 2 {
			p.addf(k, "want [lat, lon], got %d numbers", len(pt))
			continue
		}
		checkLat(p, k, pt[0])
		checkLon(p, k, pt[1])
	}
	if g.BufferKm < 0 || math.IsNaN(g.BufferKm) {
		p.addf(key+".bufferKm", "must be ≥ 0 km, got %v", g.BufferKm)
	}
	box := []struct {
		name string
		v    *float64
	}{{"latMin", g.LatMin}, {"latMax", g.LatMax}, {"lonMin", g.LonMin}, {"lonMax", g.LonMax}}
	var have, missing []string
	for _, b := range box {
		if b.v == nil {
			missing = append(missing, b.name)
		} else {
			have = append(have, b.name)
		}
	}
	if len(have) == 0 {
		return
	}
	if len(missing) > 0 {
		p.addf(key, "a box needs latMin, latMax, lonMin and lonMax (missing %s)", strings.Join(missing, ", "))
		return
	}
	checkLat(p, key+".latMin", *g.LatMin)
	checkLat(p, key+".latMax", *g.LatMax)
	checkLon(p, key+".lonMin", *g.LonMin)
	checkLon(p, key+".lonMax", *g.LonMax)
	if *g.LatMin > *g.LatMax {
		p.addf(key+".latMin", "%v is greater than latMax %v", *g.LatMin, *g.LatMax)
	}
	if *g.LonMin > *g.LonMax {
		p.addf(key+".lonMin", "%v is greater than lonMax %v", *g.LonMin, *g.LonMax)
	}
}

func checkLat(p *problems, key string, v float64) {
	if !(v >= -90 && v <= 90) {
		p.addf(key, "latitude %v out of range [-90, 90]", v)
	}
}

func checkLon(p *problems, key string, v float64) {
	if !(v >= -180 && v <= 180) {
		p.addf(key, "longitude %v out of range [-180, 180]", v)
	}
}
