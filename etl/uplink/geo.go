package uplink

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// kmPerDegree is the flat-earth scale of the geo filter's buffer: km per
// degree of latitude (and of longitude at the equator).
const kmPerDegree = 111.0

// GeoFilter decides whether an advert's position lies in the configured
// region (CoreScope's geo_filter). It is immutable and safe for concurrent
// use; a nil *GeoFilter passes everything (no geo_filter configured).
type GeoFilter struct {
	polygon                        [][2]float64 // [lat, lon] vertices; used when ≥ 3
	bufferKm                       float64
	box                            bool // all four bounds set (used only without a polygon)
	latMin, latMax, lonMin, lonMax float64
}

// NewGeoFilter builds a GeoFilter. polygon holds [lat, lon] vertices, in
// order; with at least 3 of them it decides, and bufferKm (≤ 0: none) widens
// it. Otherwise, when all four bounds are non-nil, the inclusive box
// decides. Otherwise everything passes. polygon is copied.
func NewGeoFilter(polygon [][2]float64, bufferKm float64, latMin, latMax, lonMin, lonMax *float64) *GeoFilter {
	g := &GeoFilter{bufferKm: bufferKm}
	if len(polygon) >= 3 {
		g.polygon = append([][2]float64(nil), polygon...)
		return g
	}
	if latMin != nil && latMax != nil && lonMin != nil && lonMax != nil {
		g.box = true
		g.latMin, g.latMax, g.lonMin, g.lonMax = *latMin, *latMax, *lonMin, *lonMax
	}
	return g
}

// Pass reports whether (lat, lon) passes the filter: (0, 0), which uplinks
// send for "no position", and non-finite values pass (callers handle absent
// coordinates, and validate them, before asking); with a polygon the point
// passes when it is inside (ray casting) or within bufferKm of an edge
// (flat earth, 111 km per degree, longitude scaled by the cosine of the
// edge's mean latitude); with a box when lat and lon are within the bounds,
// inclusive.
func (g *GeoFilter) Pass(lat, lon float64) bool {
	if g == nil || (lat == 0 && lon == 0) || !isFinite(lat) || !isFinite(lon) {
		return true
	}
	if len(g.polygon) >= 3 {
		if pointInPolygon(g.polygon, lat, lon) {
			return true
		}
		return g.bufferKm > 0 && distanceToPolygonKm(g.polygon, lat, lon) <= g.bufferKm
	}
	if g.box {
		return lat >= g.latMin && lat <= g.latMax && lon >= g.lonMin && lon <= g.lonMax
	}
	return true
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// pointInPolygon is the even-odd ray casting test, latitude as y and
// longitude as x.
func pointInPolygon(poly [][2]float64, lat, lon float64) bool {
	inside := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		yi, xi := poly[i][0], poly[i][1]
		yj, xj := poly[j][0], poly[j][1]
		if (yi > lat) != (yj > lat) && lon < (xj-xi)*(lat-yi)/(yj-yi)+xi {
			inside = !inside
		}
	}
	return inside
}

// distanceToPolygonKm returns the flat-earth distance from the point to the
// nearest polygon edge (the closing edge included).
func distanceToPolygonKm(poly [][2]float64, lat, lon float64) float64 {
	best := math.Inf(1)
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		if d := distanceToSegmentKm(poly[j], poly[i], lat, lon); d < best {
			best = d
		}
	}
	return best
}

// distanceToSegmentKm projects onto a plane centred on a, with longitude
// scaled by the cosine of the segment's mean latitude.
func distanceToSegmentKm(a, b [2]float64, lat, lon float64) float64 {
	kx := kmPerDegree * math.Cos((a[0]+b[0])/2*math.Pi/180)
	bx, by := (b[1]-a[1])*kx, (b[0]-a[0])*kmPerDegree
	px, py := (lon-a[1])*kx, (lat-a[0])*kmPerDegree
	t := 0.0
	if l2 := bx*bx + by*by; l2 > 0 {
		t = math.Max(0, math.Min(1, (px*bx+py*by)/l2))
	}
	return math.Hypot(px-t*bx, py-t*by)
}

// GeoConfig is CoreScope's geo_filter: a polygon of [lat, lon] points in
// degrees, widened by BufferKm kilometres, or an inclusive box whose four
// bounds are all set or all nil.
type GeoConfig struct {
	Polygon                        [][]float64
	BufferKm                       float64
	LatMin, LatMax, LonMin, LonMax *float64
}

// Filter returns the filter of c, nil (pass everything) when c sets neither
// a polygon nor a box. c must be valid.
func (c GeoConfig) Filter() *GeoFilter {
	if len(c.Polygon) == 0 && c.LatMin == nil {
		return nil
	}
	poly := make([][2]float64, 0, len(c.Polygon))
	for _, p := range c.Polygon {
		if len(p) == 2 {
			poly = append(poly, [2]float64{p[0], p[1]})
		}
	}
	return NewGeoFilter(poly, c.BufferKm, c.LatMin, c.LatMax, c.LonMin, c.LonMax)
}

// Validate reports every problem of c, joined; each error starts with the
// config key of its field (polygon[2], latMin, …) and a colon.
func (c GeoConfig) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf(field+": "+format, args...))
	}
	lat := func(field string, v float64) {
		if !(v >= -90 && v <= 90) {
			add(field, "latitude %v out of range [-90, 90]", v)
		}
	}
	lon := func(field string, v float64) {
		if !(v >= -180 && v <= 180) {
			add(field, "longitude %v out of range [-180, 180]", v)
		}
	}
	if n := len(c.Polygon); n > 0 && n < 3 {
		add("polygon", "want at least 3 [lat, lon] points, got %d", n)
	}
	for i, pt := range c.Polygon {
		field := fmt.Sprintf("polygon[%d]", i)
		if len(pt) != 2 {
			add(field, "want [lat, lon], got %d numbers", len(pt))
			continue
		}
		lat(field, pt[0])
		lon(field, pt[1])
	}
	if c.BufferKm < 0 || math.IsNaN(c.BufferKm) {
		add("bufferKm", "must be ≥ 0 km, got %v", c.BufferKm)
	}
	bounds := []struct {
		name string
		v    *float64
	}{{"latMin", c.LatMin}, {"latMax", c.LatMax}, {"lonMin", c.LonMin}, {"lonMax", c.LonMax}}
	var missing []string
	for _, b := range bounds {
		if b.v == nil {
			missing = append(missing, b.name)
		}
	}
	switch {
	case len(missing) == len(bounds):
	case len(missing) > 0:
		errs = append(errs, fmt.Errorf("a box needs latMin, latMax, lonMin and lonMax (missing %s)", strings.Join(missing, ", ")))
	default:
		lat("latMin", *c.LatMin)
		lat("latMax", *c.LatMax)
		lon("lonMin", *c.LonMin)
		lon("lonMax", *c.LonMax)
		if *c.LatMin > *c.LatMax {
			add("latMin", "%v is greater than latMax %v", *c.LatMin, *c.LatMax)
		}
		if *c.LonMin > *c.LonMax {
			add("lonMin", "%v is greater than lonMax %v", *c.LonMin, *c.LonMax)
		}
	}
	return errors.Join(errs...)
}
