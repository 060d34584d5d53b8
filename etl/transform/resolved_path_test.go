package transform

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/topology"
	"github.com/prometheus/client_golang/prometheus"
)

// nodes is a topology.Source with fixed node keys and no edges.
type nodes []string

func (n nodes) NodeKeys(context.Context) ([]string, error)             { return n, nil }
func (n nodes) NeighborPairs(context.Context, func(a, b string)) error { return nil }

// TestTransformResolvedPath: with a topology, a packet's hops are resolved
// on the transform goroutine and carried on the record (head.md §2.8);
// without one, or before the first refresh, resolved_path stays NULL.
func TestTransformResolvedPath(t *testing.T) {
	const (
		keyAA = "aa00000000000000000000000000000000000000000000000000000000000001"
		keyEE = "ee00000000000000000000000000000000000000000000000000000000000002"
	)
	// Decoder vector 1: a RESPONSE relayed along AA, BB, CC, DD, EE.
	const raw = "0505AABBCCDDEE00000000000000000000"
	payload := `{"raw":"` + raw + `"}`
	topic := "meshcore/sjc/" + observerKey + "/packets"

	plain, _ := newTestTransformer(t, nil)
	if recs := plain.Transform(msg("main", topic, payload), nil); len(recs) != 1 || recs[0].Packet.ResolvedPath != "" {
		t.Fatalf("without a topology: %+v", recs)
	}

	live := topology.NewLive(nodes{keyAA, keyEE})
	tr, _ := newTestTransformer(t, func(c *Config) { c.Topology = live })
	if recs := tr.Transform(msg("main", topic, payload), nil); recs[0].Packet.ResolvedPath != "" {
		t.Errorf("before the first refresh: %q", recs[0].Packet.ResolvedPath)
	}
	if _, err := live.RefreshIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := tr.Transform(msg("main", topic, payload), nil)
	want := `["` + keyAA + `",null,null,null,"` + keyEE + `"]`
	if len(recs) != 1 || recs[0].Packet.ResolvedPath != want {
		t.Errorf("resolved_path = %q, want %q", recs[0].Packet.ResolvedPath, want)
	}
}

// BenchmarkTransformResolvedPath measures what resolved_path adds to the
// transform of a relayed packet (5 one-byte hops; 10,000 nodes indexed):
// compare the two sub-benchmarks.
func BenchmarkTransformResolvedPath(b *testing.B) {
	keys := make(nodes, 0, 10002)
	for i := range 10000 {
		keys = append(keys, fmt.Sprintf("%08x%056x", i*429497, i))
	}
	keys = append(keys, "aa"+strings.Repeat("0", 62), "ee"+strings.Repeat("1", 62))
	live := topology.NewLive(keys)
	if _, err := live.RefreshIndex(context.Background()); err != nil {
		b.Fatal(err)
	}
	m := msg("main", "meshcore/SJC/"+observerKey+"/packets", `{"raw":"0505AABBCCDDEE00000000000000000000","SNR":"4","RSSI":"-93"}`)
	for _, c := range []struct {
		name string
		topo *topology.Live
	}{{"off", nil}, {"on", live}} {
		b.Run(c.name, func(b *testing.B) {
			tr := New(Config{Decoder: meshcore.NewDecoder(meshcore.Options{}), Registerer: prometheus.NewRegistry(), Topology: c.topo})
			out := make([]etl.Record, 0, 1)
			b.ReportAllocs()
			for b.Loop() {
				out = tr.Transform(m, out[:0])
			}
		})
	}
}
