package sqlite

import (
	"testing"

	"github.com/corescope/etl/etl"
)

// TestApplyResolvedPath (head.md §2.8, CoreScope's
// TestInsertTransmissionWritesResolvedPath and
// TestInsertTransmissionDoesNotClobberResolvedPathOnAllNil): the value is
// written with the observation; a duplicate whose resolution is NULL keeps
// it; a duplicate with a value replaces it (COALESCE(new, old)); the same
// holds for observations without an observer row.
func TestApplyResolvedPath(t *testing.T) {
	db := openTest(t)
	const first, second = `["bbbbbbbbbb"]`, `["cccccccccc"]`
	for _, companion := range []bool{false, true} {
		hash := "2222222222222222"
		if companion {
			hash = "3333333333333333"
		}
		rec := func(resolved string) etl.Record {
			r := packetRec(hash, "OBSA", t0)
			r.Packet.PathJSON = `["BB"]`
			r.Packet.ResolvedPath = resolved
			if companion {
				r.Packet.Companion, r.Observer.ID = true, ""
			}
			return r
		}
		stored := func() string {
			t.Helper()
			return queryString(t, db.Reader(), `SELECT resolved_path FROM observations o JOIN transmissions t ON t.id = o.transmission_id WHERE t.hash = ?`, hash).String
		}
		apply(t, db, rec(first))
		if got := stored(); got != first {
			t.Fatalf("companion=%v: resolved_path = %q, want %q", companion, got, first)
		}
		if res := apply(t, db, rec("")); res.ObsDupes != 1 || stored() != first {
			t.Errorf("companion=%v: a NULL duplicate changed resolved_path to %q (%+v)", companion, stored(), res)
		}
		if apply(t, db, rec(second)); stored() != second {
			t.Errorf("companion=%v: a resolved duplicate left %q, want %q", companion, stored(), second)
		}
	}
	if n := queryString(t, db.Reader(), `SELECT count(*) FROM observations`).String; n != "2" {
		t.Errorf("%s observations, want 2", n)
	}
}
