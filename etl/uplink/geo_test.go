package uplink

import "testing"

func TestGeoFilter(t *testing.T) {
	ptr := func(f float64) *float64 { return &f }
	// A 1°×1° square around (37.5, -122.5).
	square := [][2]float64{{37, -123}, {37, -122}, {38, -122}, {38, -123}}
	poly := NewGeoFilter(square, 10, nil, nil, nil, nil)
	polyNoBuffer := NewGeoFilter(square, 0, nil, nil, nil, nil)
	box := NewGeoFilter(nil, 0, ptr(37), ptr(38), ptr(-123), ptr(-122))
	// Two points only: not a polygon, the box decides.
	polyTooShort := NewGeoFilter(square[:2], 10, ptr(37), ptr(38), ptr(-123), ptr(-122))
	partialBox := NewGeoFilter(nil, 0, ptr(37), ptr(38), ptr(-123), nil)

	// One degree of longitude at 37.5° is about 88 km; 0.05° is about 4.4 km.
	tests := []struct {
		name     string
		g        *GeoFilter
		lat, lon float64
		want     bool
	}{
		{"absent filter", nil, 10, 10, true},
		{"inside", poly, 37.5, -122.5, true},
		{"outside", poly, 40, -122.5, false},
		{"outside, east", poly, 37.5, -121, false},
		{"within the buffer, east edge", poly, 37.5, -121.95, true},
		{"beyond the buffer, east edge", poly, 37.5, -121.8, false},
		{"within the buffer, north edge", poly, 38.08, -122.5, true},
		{"beyond the buffer, north edge", poly, 38.1, -122.5, false},
		{"within the buffer of a corner", poly, 38.05, -121.95, true},
		{"no buffer", polyNoBuffer, 37.5, -121.95, false},
		{"(0,0) passes", poly, 0, 0, true},
		{"box inside", box, 37.5, -122.5, true},
		{"box edge inclusive", box, 38, -122, true},
		{"box outside", box, 38.01, -122.5, false},
		{"box (0,0) passes", box, 0, 0, true},
		{"two points: box", polyTooShort, 37.05, -122.5, true},
		{"two points: box outside", polyTooShort, 36.99, -122.5, false},
		{"partial box passes", partialBox, 50, 50, true},
	}
	for _, tt := range tests {
		if got := tt.g.Pass(tt.lat, tt.lon); got != tt.want {
			t.Errorf("%s: Pass(%v, %v) = %v, want %v", tt.name, tt.lat, tt.lon, got, tt.want)
		}
	}
}

func TestGeoFilterConcave(t *testing.T) {
	// A U shape: the notch between the arms is outside.
	u := [][2]float64{{0, 0}, {0, 3}, {3, 3}, {3, 2}, {1, 2}, {1, 1}, {3, 1}, {3, 0}}
	g := NewGeoFilter(u, 0, nil, nil, nil, nil)
	for _, c := range []struct {
		lat, lon float64
		want     bool
	}{{0.5, 1.5, true}, {2, 0.5, true}, {2, 2.5, true}, {2, 1.5, false}, {4, 1.5, false}} {
		if got := g.Pass(c.lat, c.lon); got != c.want {
			t.Errorf("Pass(%v, %v) = %v, want %v", c.lat, c.lon, got, c.want)
		}
	}
}

func TestGeoFilterCopiesPolygon(t *testing.T) {
	square := [][2]float64{{37, -123}, {37, -122}, {38, -122}, {38, -123}}
	g := NewGeoFilter(square, 0, nil, nil, nil, nil)
	square[0], square[1] = [2]float64{50, 50}, [2]float64{51, 51}
	if !g.Pass(37.5, -122.5) {
		t.Error("the filter aliases the caller's polygon")
	}
}
