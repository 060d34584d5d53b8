package transform

import (
	"context"
	"testing"

	"github.com/corescope/etl/etl/topology"
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
