package uplink

import (
	"encoding/json"
	"testing"
)

// BenchmarkScanObject measures what the scanner of json.go does for Parse —
// validate the document, walk the top-level members and decode their
// strings — against encoding/json doing the same (Unmarshal into
// map[string]json.RawMessage, which validates and splits the members, then
// Unmarshal of each string member). The numbers are quoted in json.go.
func BenchmarkScanObject(b *testing.B) {
	payloads := []struct{ name, doc string }{
		{"packet", meshcoretomqttPacket},
		{"status", statsStatus},
	}
	for _, p := range payloads {
		payload := []byte(p.doc)
		b.Run("scanner/"+p.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				s := string(payload)
				if !validJSON(s) {
					b.Fatal("invalid")
				}
				it, ok := newObjectIter(s)
				if !ok {
					b.Fatal("not an object")
				}
				n := 0
				for {
					_, v, ok := it.next()
					if !ok {
						break
					}
					if v[0] == '"' {
						if d, ok := decodeString(v); ok {
							n += len(d)
						}
					}
				}
				if n == 0 {
					b.Fatal("no strings")
				}
			}
		})
		b.Run("encoding_json/"+p.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(payload, &m); err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, v := range m {
					if v[0] == '"' {
						var d string
						if json.Unmarshal(v, &d) == nil {
							n += len(d)
						}
					}
				}
				if n == 0 {
					b.Fatal("no strings")
				}
			}
		})
	}
}
