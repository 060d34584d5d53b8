package config

import "github.com/corescope/etl/etl/uplink"

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

// ForeignAdvertsConfig is CoreScope's foreignAdverts section.
type ForeignAdvertsConfig struct {
	// Mode is "flag" (store and mark the node foreign, default) or "drop".
	Mode string `koanf:"mode"`
}

func (f *ForeignAdvertsConfig) validate(p *problems) {
	f.Mode = oneOf(p, "foreignAdverts.mode", f.Mode, DefaultForeignAdvertsMode, "flag", "drop")
}

// Geo translates the section into the uplink package's geo filter config,
// which validates it and builds the filter.
func (g *GeoFilterConfig) Geo() uplink.GeoConfig {
	return uplink.GeoConfig{Polygon: g.Polygon, BufferKm: g.BufferKm, LatMin: g.LatMin, LatMax: g.LatMax, LonMin: g.LonMin, LonMax: g.LonMax}
}
