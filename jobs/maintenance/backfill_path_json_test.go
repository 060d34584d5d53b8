package maintenance_test

import (
	"context"
	"strings"
	"testing"

	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/jobs/maintenance"
)

// decoderPath is the daemon's path function: the decoder's path_json.
func decoderPath(raw string) (string, bool) {
	p, err := meshcore.Decode(raw, meshcore.Options{})
	if err != nil {
		return "", false
	}
	return p.PathJSON, true
}

func TestBackfillPathJSON(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	// Legacy rows: path_json NULL or '' with the raw hex on the observation
	// or only on the transmission; one undecodable; one whose derived path
	// duplicates a sibling observation of the same observer.
	exec(t, db,
		`INSERT INTO observers(id) VALUES ('OBS')`,
		`INSERT INTO transmissions(id, raw_hex, hash, first_seen, payload_type) VALUES
		 (1, '0505AABBCCDDEE00000000000000000000', 'h1', '2026-05-01T00:00:00Z', 1),
		 (2, '0545AA11BB22CC33DD44EE5500000000000000000000', 'h2', '2026-05-01T00:00:00Z', 1),
		 (3, 'zz', 'h3', '2026-05-01T00:00:00Z', 1),
		 (4, '050000000000000000000000', 'h4', '2026-05-01T00:00:00Z', 1)`,
		`INSERT INTO observations(id, transmission_id, observer_idx, path_json, timestamp, raw_hex) VALUES
		 (1, 1, 1, NULL, 1, NULL),
		 (2, 2, 1, '', 1, '0545AA11BB22CC33DD44EE5500000000000000000000'),
		 (3, 3, 1, NULL, 1, NULL),
		 (4, 4, 1, '[]', 1, NULL),
		 (5, 4, 1, NULL, 1, NULL),
		 (6, 1, 1, '["AA"]', 1, NULL)`,
	)
	job := &maintenance.BackfillPathJSON{DB: db, Path: decoderPath, Chunking: maintenance.Chunking{Rows: 2}}
	dry, err := job.Run(ctx, true)
	if err != nil || dry.Rows != 4 {
		t.Fatalf("dry run = %+v, %v; want 4 rows to backfill", dry, err)
	}
	res, err := job.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 {
		t.Errorf("updated %d rows, want 3 (row 5 would duplicate row 4)", res.Rows)
	}
	got := map[int]string{}
	rows, err := db.Reader().QueryContext(ctx, `SELECT id, COALESCE(path_json, 'NULL') FROM observations ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var p string
		rows.Scan(&id, &p)
		got[id] = p
	}
	rows.Close()
	want := map[int]string{
		1: `["AA","BB","CC","DD","EE"]`,
		2: `["AA11","BB22","CC33","DD44","EE55"]`,
		3: `[]`, // undecodable: marked done with []
		4: `[]`,
		5: `NULL`, // left alone: [] would duplicate row 4
		6: `["AA"]`,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("observation %d path_json = %s, want %s", id, got[id], w)
		}
	}
	done, err := db.PathJSONBackfilled(ctx)
	if err != nil || !done {
		t.Fatalf("backfill not recorded as done: %v %v", done, err)
	}
	again, err := job.Run(ctx, false)
	if err != nil || again.Rows != 0 || !strings.Contains(again.Detail, "already done") {
		t.Fatalf("second run = %+v, %v; want a no-op", again, err)
	}
}
