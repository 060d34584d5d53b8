package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
)

func TestRunCheckpointerCopiesWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var results []CheckpointResult
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- db.RunCheckpointer(cctx, 10*time.Millisecond, func(r CheckpointResult, err error) {
			if err != nil {
				t.Errorf("checkpoint: %v", err)
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}()
	recs := make([]etl.Record, 200)
	for i := range recs {
		recs[i] = etl.Record{Kind: etl.KindPacket, Time: time.Now(), Observer: etl.Observer{ID: "OBS"}, Packet: &etl.Packet{
			Hash: fmt.Sprintf("%016x", i), RawHex: "00", PathJSON: "[]", DecodedJSON: `{"type":"REQ"}`,
		}}
	}
	if _, err := db.Apply(ctx, recs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		ok := false
		for _, r := range results {
			if r.LogFrames > 0 && r.Checkpointed == r.LogFrames && !r.Busy {
				ok = true
			}
		}
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete passive checkpoint; results %+v", results)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatal(err)
	}
}
