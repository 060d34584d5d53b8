package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
)

// BenchmarkApply measures ingest throughput: batches of 1000 packet records
// from 3 observers, one advert in 20, on a real file. packets/s counts
// records (transmission+observation pairs). "unique" has a new hash in every
// record; "heard-by-3" has each hash heard by the 3 observers in a row (one
// new transmission and two duplicates, the usual shape of a mesh).
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 300x ./etl/sqlite/
func BenchmarkApply(b *testing.B) {
	b.Run("unique", func(b *testing.B) { benchmarkApply(b, 1) })
	b.Run("heard-by-3", func(b *testing.B) { benchmarkApply(b, 3) })
}

func benchmarkApply(b *testing.B, copies int) {
	const batchSize = 1000
	db := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	observers := []etl.Observer{
		{ID: "AAAA000000000000000000000000000000000000000000000000000000000001", Name: "Obs One", IATA: "SJC"},
		{ID: "AAAA000000000000000000000000000000000000000000000000000000000002", Name: "Obs Two", IATA: "SJC"},
		{ID: "AAAA000000000000000000000000000000000000000000000000000000000003", Name: "Obs Three", IATA: "SFO"},
	}
	decoded := `{"type":"TXT_MSG","destHash":"8b","srcHash":"1f","mac":"bab5","encryptedData":"00112233445566778899aabbccddeeff"}`
	raw := "0A02D69FD7A5B1C2D3E4F5061728394A5B6C7D8E9FA0B1C2D3E4F5061728394A5B6C7D8E9F"
	n := 0
	makeBatch := func() []etl.Record {
		recs := make([]etl.Record, batchSize)
		now := time.Now()
		for i := range recs {
			n++
			p := &etl.Packet{
				Hash: fmt.Sprintf("%016x", n/copies), RawHex: raw, RouteType: 1, PayloadType: 2,
				DecodedJSON: decoded, PathJSON: `["7D1D","DA2A"]`, ObsRawHex: raw,
				SNR: f64(-5.5), RSSI: f64(-90),
			}
			if (n/copies)%20 == 0 {
				pk := fmt.Sprintf("%064x", (n/copies)%500)
				p.PayloadType, p.FromPubkey = 4, pk
				p.Node = &etl.Node{PublicKey: pk, Name: "Node", Role: "repeater", Lat: f64(37.5), Lon: f64(-122.1)}
			}
			recs[i] = etl.Record{Kind: etl.KindPacket, Time: now, Observer: observers[n%3], Packet: p}
		}
		return recs
	}
	batches := make([][]etl.Record, b.N)
	for i := range batches {
		batches[i] = makeBatch()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := db.Apply(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(0, "ns/op")
}
