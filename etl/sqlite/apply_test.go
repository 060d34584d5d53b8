package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
)

func TestApplyPacketNewObserver(t *testing.T) {
	db := openTest(t)
	r := packetRec("1111111111111111", "OBSA", t0)
	r.Observer.Name, r.Observer.IATA = "ObsA", "SJC"
	r.Packet.PathJSON = `["7D1D","DA2A"]`
	r.Packet.SNR, r.Packet.RSSI = f64(-5.5), f64(-90)
	r.Packet.Direction = "rx"
	res := apply(t, db, r)
	want := etl.ApplyResult{TxInserted: 1, ObsInserted: 1, ObserverUpserts: 1}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	rd := db.Reader()
	// spec §9 #4: the observation points at the observer's rowid even for
	// the first packet of a new observer.
	if n := queryInt(t, rd, `SELECT count(*) FROM observations o JOIN observers b ON b.rowid = o.observer_idx WHERE b.id = 'OBSA'`); n != 1 {
		t.Errorf("observation not attributed to the new observer")
	}
	var name, iata, lastSeen, firstSeen, lastPacket string
	var count int
	if err := rd.QueryRow(`SELECT name, iata, last_seen, first_seen, last_packet_at, packet_count FROM observers WHERE id = 'OBSA'`).
		Scan(&name, &iata, &lastSeen, &firstSeen, &lastPacket, &count); err != nil {
		t.Fatal(err)
	}
	ts := "2026-05-17T18:13:27Z"
	if name != "ObsA" || iata != "SJC" || lastSeen != ts || firstSeen != ts || lastPacket != ts || count != 1 {
		t.Errorf("observer = %s %s %s %s %s %d", name, iata, lastSeen, firstSeen, lastPacket, count)
	}
	var (
		raw, hash, fs, created, decoded string
		rt, pt, pv                      int
		ch, from                        sql.NullString
	)
	if err := rd.QueryRow(`SELECT raw_hex, hash, first_seen, route_type, payload_type, payload_version, decoded_json, channel_hash, from_pubkey, created_at FROM transmissions`).
		Scan(&raw, &hash, &fs, &rt, &pt, &pv, &decoded, &ch, &from, &created); err != nil {
		t.Fatal(err)
	}
	if raw != "0A001111111111111111" || hash != "1111111111111111" || fs != ts || rt != 1 || pt != 2 || decoded != `{"type":"TXT_MSG"}` || ch.Valid || from.Valid {
		t.Errorf("transmission = %s %s %s %d %d %d %s %v %v", raw, hash, fs, rt, pt, pv, decoded, ch, from)
	}
	if _, err := time.Parse(time.DateTime, created); err != nil {
		t.Errorf("created_at %q: %v", created, err)
	}
	var (
		dir, path, obsRaw string
		snr, rssi         float64
		score             sql.NullFloat64
		epoch             int64
	)
	if err := rd.QueryRow(`SELECT direction, snr, rssi, score, path_json, timestamp, raw_hex FROM observations`).
		Scan(&dir, &snr, &rssi, &score, &path, &epoch, &obsRaw); err != nil {
		t.Fatal(err)
	}
	if dir != "rx" || snr != -5.5 || rssi != -90 || score.Valid || path != `["7D1D","DA2A"]` || epoch != t0.Unix() || obsRaw != "0A001111111111111111" {
		t.Errorf("observation = %s %v %v %v %s %d %s", dir, snr, rssi, score, path, epoch, obsRaw)
	}
	if typ := queryString(t, rd, `SELECT typeof(timestamp) FROM observations`).String; typ != "integer" {
		t.Errorf("observations.timestamp is %s, want integer", typ)
	}
}

func TestApplyEmptyStringsAreNull(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	apply(t, db, packetRec("1111111111111111", "OBSA", t0)) // no name, no iata
	if s := queryString(t, rd, `SELECT name FROM observers`); s.Valid {
		t.Errorf("observer name = %q, want NULL", s.String)
	}
	if s := queryString(t, rd, `SELECT iata FROM observers`); s.Valid {
		t.Errorf("observer iata = %q, want NULL", s.String)
	}
	r := packetRec("2222222222222222", "OBSA", t0)
	r.Observer.Name, r.Observer.IATA = "ObsA", "SJC"
	apply(t, db, r)
	apply(t, db, packetRec("3333333333333333", "OBSA", t0)) // spec §9 #9: does not blank them
	if s := queryString(t, rd, `SELECT name || '/' || iata FROM observers`).String; s != "ObsA/SJC" {
		t.Errorf("observer = %q, want ObsA/SJC kept", s)
	}
	// Same for nodes, and the observation's optional columns.
	a := advertRec("4444444444444444", "OBSA", strings.Repeat("ab", 32), t0)
	a.Packet.Node.Name, a.Packet.Node.Role = "", ""
	a.Packet.ObsRawHex, a.Packet.Direction = "", ""
	apply(t, db, a)
	if n := queryInt(t, rd, `SELECT count(*) FROM nodes WHERE name IS NULL AND role IS NULL`); n != 1 {
		t.Error("node name/role not NULL")
	}
	if n := queryInt(t, rd, `SELECT count(*) FROM observations o JOIN transmissions t ON t.id = o.transmission_id
		WHERE t.hash = '4444444444444444' AND o.raw_hex IS NULL AND o.direction IS NULL`); n != 1 {
		t.Error("observation raw_hex/direction not NULL")
	}
	b := advertRec("5555555555555555", "OBSA", strings.Repeat("ab", 32), t0)
	apply(t, db, b)
	b = advertRec("6666666666666666", "OBSA", strings.Repeat("ab", 32), t0)
	b.Packet.Node.Name, b.Packet.Node.Role = "", ""
	apply(t, db, b)
	if s := queryString(t, rd, `SELECT name || '/' || role FROM nodes`).String; s != "Node abab/repeater" {
		t.Errorf("node = %q, want the name kept", s)
	}
}

func TestApplyObservationDedupKeepsFirstNonNull(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	r1 := packetRec("1111111111111111", "OBSA", t0)
	r1.Packet.Direction = "rx"
	r1.Packet.ObsRawHex = ""
	r2 := packetRec("1111111111111111", "OBSA", t0.Add(time.Minute))
	r2.Packet.SNR, r2.Packet.Score = f64(-5), f64(0.5)
	r2.Packet.Direction = "tx"
	r3 := packetRec("1111111111111111", "OBSA", t0.Add(2*time.Minute))
	r3.Packet.SNR, r3.Packet.RSSI = f64(-7), f64(-100)
	res := apply(t, db, r1, r2, r3)
	if res.ObsInserted != 1 || res.ObsDupes != 2 || res.TxInserted != 1 || res.TxDupes != 2 {
		t.Errorf("result = %+v", res)
	}
	var snr, rssi, score float64
	var dir, raw string
	var ts int64
	if err := rd.QueryRow(`SELECT snr, rssi, score, direction, timestamp, raw_hex FROM observations`).Scan(&snr, &rssi, &score, &dir, &ts, &raw); err != nil {
		t.Fatal(err)
	}
	if snr != -5 || rssi != -100 || score != 0.5 || dir != "rx" || ts != t0.Unix() || raw != "0A001111111111111111" {
		t.Errorf("observation = snr %v rssi %v score %v dir %s ts %d raw %s", snr, rssi, score, dir, ts, raw)
	}
	// Another path or another observer is another observation.
	r4 := packetRec("1111111111111111", "OBSA", t0)
	r4.Packet.PathJSON = `["AA"]`
	res = apply(t, db, r4, packetRec("1111111111111111", "OBSB", t0))
	if res.ObsInserted != 2 {
		t.Errorf("result = %+v, want 2 new observations", res)
	}
}

func TestApplyCompanionDedup(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	c := packetRec("cccccccccccccccc", "companion", t0)
	c.Packet.Companion = true
	c.Packet.RawHex, c.Packet.ObsRawHex = "", ""
	res := apply(t, db, c)
	if res.ObsInserted != 1 || res.ObserverUpserts != 0 {
		t.Errorf("result = %+v", res)
	}
	c2 := c
	p := *c.Packet
	p.SNR = f64(3)
	c2.Packet = &p
	res = apply(t, db, c, c2)
	if res.ObsInserted != 0 || res.ObsDupes != 2 {
		t.Errorf("redelivery result = %+v", res)
	}
	if n := queryInt(t, rd, `SELECT count(*) FROM observations WHERE observer_idx IS NULL`); n != 1 {
		t.Errorf("%d companion observations, want 1", n)
	}
	if n := queryInt(t, rd, `SELECT snr FROM observations`); n != 3 {
		t.Errorf("snr = %d, want merged 3", n)
	}
	if n := queryInt(t, rd, `SELECT count(*) FROM observers`); n != 0 {
		t.Errorf("%d observers, want none for companion messages", n)
	}
	if s := queryString(t, rd, `SELECT raw_hex FROM transmissions`); !s.Valid || s.String != "" {
		t.Errorf("companion raw_hex = %v, want ''", s)
	}
}

func TestApplyFirstSeenLowered(t *testing.T) {
	db := openTest(t)
	apply(t, db, packetRec("1111111111111111", "OBSA", t0))
	apply(t, db, packetRec("1111111111111111", "OBSB", t0.Add(-time.Hour)))
	apply(t, db, packetRec("1111111111111111", "OBSC", t0.Add(time.Hour)))
	if s := queryString(t, db.Reader(), `SELECT first_seen FROM transmissions`).String; s != "2026-05-17T17:13:27Z" {
		t.Errorf("first_seen = %s, want the earliest", s)
	}
}

func TestApplyAdvertCount(t *testing.T) {
	db := openTest(t)
	pk := strings.Repeat("0f", 32)
	res := apply(t, db,
		advertRec("a1a1a1a1a1a1a1a1", "OBSA", pk, t0),
		advertRec("a1a1a1a1a1a1a1a1", "OBSB", pk, t0), // another observer's copy
	)
	if res.NodeUpserts != 2 {
		t.Errorf("result = %+v", res)
	}
	rd := db.Reader()
	if n := queryInt(t, rd, `SELECT advert_count FROM nodes`); n != 1 {
		t.Errorf("advert_count = %d after one unique advert, want 1", n)
	}
	apply(t, db, advertRec("a1a1a1a1a1a1a1a1", "OBSA", pk, t0)) // redelivery
	apply(t, db, advertRec("a2a2a2a2a2a2a2a2", "OBSA", pk, t0.Add(time.Hour)))
	if n := queryInt(t, rd, `SELECT advert_count FROM nodes`); n != 2 {
		t.Errorf("advert_count = %d after two unique adverts, want 2", n)
	}
	var first, last string
	rd.QueryRow(`SELECT first_seen, last_seen FROM nodes`).Scan(&first, &last)
	if first != "2026-05-17T18:13:27Z" || last != "2026-05-17T19:13:27Z" {
		t.Errorf("node first/last seen = %s %s", first, last)
	}
	// An older advert does not move last_seen back.
	apply(t, db, advertRec("a3a3a3a3a3a3a3a3", "OBSA", pk, t0.Add(-time.Hour)))
	rd.QueryRow(`SELECT first_seen, last_seen FROM nodes`).Scan(&first, &last)
	if first != "2026-05-17T17:13:27Z" || last != "2026-05-17T19:13:27Z" {
		t.Errorf("node first/last seen after an older advert = %s %s", first, last)
	}
}

func TestApplyNodeTelemetryAndLocation(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	pk := strings.Repeat("1e", 32)
	a := advertRec("b1b1b1b1b1b1b1b1", "OBSA", pk, t0)
	a.Packet.Node.Lat, a.Packet.Node.Lon = f64(37.5), f64(-122.25)
	a.Packet.Node.BatteryMV, a.Packet.Node.TemperatureC = i64(3900), f64(21.5)
	a.Packet.Node.Foreign = true
	apply(t, db, a)
	check := func(when, want string) {
		t.Helper()
		got := queryString(t, rd, `SELECT lat || ',' || lon || ',' || battery_mv || ',' || temperature_c || ',' || foreign_advert FROM nodes`).String
		if got != want {
			t.Errorf("%s: node = %s, want %s", when, got, want)
		}
	}
	check("first advert", "37.5,-122.25,3900,21.5,1")
	// No location, no telemetry: everything kept, foreign too.
	apply(t, db, advertRec("b2b2b2b2b2b2b2b2", "OBSA", pk, t0))
	check("advert without location", "37.5,-122.25,3900,21.5,1")
	// spec §9 #11: a located advert inside the region clears the flag.
	b := advertRec("b3b3b3b3b3b3b3b3", "OBSA", pk, t0)
	b.Packet.Node.Lat, b.Packet.Node.Lon = f64(37.75), f64(-122.5)
	b.Packet.Node.BatteryMV = i64(3800)
	apply(t, db, b)
	check("advert inside the region", "37.75,-122.5,3800,21.5,0")
}

func TestApplyNodeLeavesInactiveNodes(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	pk := strings.Repeat("2d", 32)
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO inactive_nodes
			(public_key, name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv, temperature_c, foreign_advert)
			VALUES (?, 'Old', 'repeater', 1.5, 2.5, '2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z', 41, 4000, NULL, 0)`, pk)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a := advertRec("c1c1c1c1c1c1c1c1", "OBSA", pk, t0)
	a.Packet.Node.Name = ""
	apply(t, db, a)
	rd := db.Reader()
	if n := queryInt(t, rd, `SELECT count(*) FROM inactive_nodes`); n != 0 {
		t.Errorf("node still in inactive_nodes")
	}
	got := queryString(t, rd, `SELECT name || ',' || lat || ',' || first_seen || ',' || last_seen || ',' || advert_count || ',' || battery_mv FROM nodes`).String
	if want := "Old,1.5,2026-01-01T00:00:00Z,2026-05-17T18:13:27Z,42,4000"; got != want {
		t.Errorf("node = %s, want %s (restored, then updated)", got, want)
	}
}

func TestApplyObserverPacketCountAndStatus(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	s := etl.Status{Model: "Heltec V3", Firmware: "1.12.0", Radio: "910.5,62.5,7,5", BatteryMV: i64(4209), UptimeSecs: i64(75821), NoiseFloor: f64(-109)}
	st := statusRec("OBSA", t0, s)
	st.Observer.Name, st.Observer.IATA = "ObsA", "SJC"
	res := apply(t, db, st)
	if res.ObserverUpserts != 1 || res.MetricsRows != 0 {
		t.Errorf("result = %+v", res)
	}
	// spec §9 #10: a status-only observer has packet_count 0.
	if n := queryInt(t, rd, `SELECT packet_count FROM observers`); n != 0 {
		t.Errorf("packet_count = %d after a status, want 0", n)
	}
	if s := queryString(t, rd, `SELECT last_packet_at FROM observers`); s.Valid {
		t.Errorf("last_packet_at = %s after a status, want NULL", s.String)
	}
	apply(t, db, packetRec("1111111111111111", "OBSA", t0.Add(time.Minute)), packetRec("2222222222222222", "OBSA", t0.Add(time.Minute)))
	apply(t, db, statusRec("OBSA", t0.Add(2*time.Minute), etl.Status{Firmware: "1.13.0"}))
	var count int
	var model, fw, lastSeen, lastPacket string
	var nf float64
	rd.QueryRow(`SELECT packet_count, model, firmware, noise_floor, last_seen, last_packet_at FROM observers`).Scan(&count, &model, &fw, &nf, &lastSeen, &lastPacket)
	if count != 2 || model != "Heltec V3" || fw != "1.13.0" || nf != -109 || lastSeen != "2026-05-17T18:15:27Z" || lastPacket != "2026-05-17T18:14:27Z" {
		t.Errorf("observer = count %d model %s fw %s nf %v last_seen %s last_packet_at %s", count, model, fw, nf, lastSeen, lastPacket)
	}
}

func TestApplyRetainedStatus(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	// A retained status of an unknown observer creates it.
	apply(t, db, statusRec("OBSR", t0, etl.Status{Retained: true, Model: "M1"}))
	if s := queryString(t, rd, `SELECT last_seen || ' ' || first_seen FROM observers WHERE id = 'OBSR'`).String; s != "2026-05-17T18:13:27Z 2026-05-17T18:13:27Z" {
		t.Errorf("retained insert: %s", s)
	}
	apply(t, db, statusRec("OBSA", t0, etl.Status{Model: "M1"}))
	err := db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE observers SET inactive = 1 WHERE id = 'OBSA'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, db, statusRec("OBSA", t0.Add(time.Hour), etl.Status{Retained: true, Model: "M2", Firmware: "F2"}))
	if s := queryString(t, rd, `SELECT model || ' ' || firmware || ' ' || last_seen || ' ' || inactive FROM observers WHERE id = 'OBSA'`).String; s != "M2 F2 2026-05-17T18:13:27Z 1" {
		t.Errorf("after a retained status: %s, want metadata filled, last_seen and inactive unchanged", s)
	}
	// A live status reactivates.
	apply(t, db, statusRec("OBSA", t0.Add(2*time.Hour), etl.Status{}))
	if s := queryString(t, rd, `SELECT last_seen || ' ' || inactive FROM observers WHERE id = 'OBSA'`).String; s != "2026-05-17T20:13:27Z 0" {
		t.Errorf("after a live status: %s", s)
	}
}

func TestApplyPacketReactivatesObserver(t *testing.T) {
	db := openTest(t)
	apply(t, db, packetRec("1111111111111111", "OBSA", t0))
	db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE observers SET inactive = 1`)
		return err
	})
	apply(t, db, packetRec("2222222222222222", "OBSA", t0))
	if n := queryInt(t, db.Reader(), `SELECT inactive FROM observers`); n != 0 {
		t.Errorf("inactive = %d after a packet, want 0", n)
	}
}

func TestApplyMetricsBucketReplace(t *testing.T) {
	db := openTest(t)
	bucket := time.Date(2026, 5, 17, 6, 0, 0, 0, time.UTC)
	m1 := &etl.Metrics{Bucket: bucket, NoiseFloor: f64(-110), TxAirSecs: i64(80), RxAirSecs: i64(1903), RecvErrors: i64(934), BatteryMV: i64(4200), PacketsSent: i64(5), PacketsRecv: i64(50)}
	m2 := &etl.Metrics{Bucket: bucket, NoiseFloor: f64(-105), TxAirSecs: i64(81)}
	m3 := &etl.Metrics{Bucket: bucket.Add(5 * time.Minute), NoiseFloor: f64(-100)}
	res := apply(t, db,
		statusRec("OBSA", t0, etl.Status{Metrics: m1}),
		statusRec("OBSA", t0, etl.Status{Metrics: m2}),
		statusRec("OBSA", t0, etl.Status{Metrics: m3}),
	)
	if res.MetricsRows != 3 {
		t.Errorf("result = %+v", res)
	}
	rd := db.Reader()
	if n := queryInt(t, rd, `SELECT count(*) FROM observer_metrics`); n != 2 {
		t.Errorf("%d metrics rows, want 2 buckets", n)
	}
	got := queryString(t, rd, `SELECT observer_id || ' ' || timestamp || ' ' || noise_floor || ' ' || tx_air_secs || ' ' || COALESCE(rx_air_secs, 'NULL') || ' ' || COALESCE(packets_sent, 'NULL')
		FROM observer_metrics ORDER BY timestamp LIMIT 1`).String
	if want := "OBSA 2026-05-17T06:00:00Z -105.0 81 NULL NULL"; got != want {
		t.Errorf("bucket row = %q, want %q (the last sample replaces the whole row)", got, want)
	}
}

func TestApplyDroppedDedup(t *testing.T) {
	db := openTest(t)
	drop := func(reason string) etl.Record {
		return etl.Record{Kind: etl.KindDropped, Time: t0, Observer: etl.Observer{ID: "OBSA", Name: "ObsA"},
			Drop: &etl.Drop{Hash: "dddddddddddddddd", RawHex: "1100", Reason: reason, NodePubkey: strings.Repeat("ee", 32), NodeName: "Bad"}}
	}
	res := apply(t, db, drop("invalid signature"), drop("invalid signature"))
	if res.Dropped != 1 {
		t.Errorf("result = %+v, want 1 dropped row", res)
	}
	res = apply(t, db, drop("invalid signature"), drop("foreign advert"))
	if res.Dropped != 1 {
		t.Errorf("result = %+v, want 1 more (another reason)", res)
	}
	noObs := drop("invalid signature")
	noObs.Observer = etl.Observer{}
	apply(t, db, noObs, noObs)
	rd := db.Reader()
	if n := queryInt(t, rd, `SELECT count(*) FROM dropped_packets`); n != 3 {
		t.Errorf("%d dropped rows, want 3", n)
	}
	got := queryString(t, rd, `SELECT hash || ' ' || raw_hex || ' ' || observer_id || ' ' || observer_name || ' ' || node_name || ' ' || dropped_at FROM dropped_packets WHERE id = 1`).String
	if want := "dddddddddddddddd 1100 OBSA ObsA Bad 2026-05-17 18:13:27"; got != want {
		t.Errorf("dropped row = %q, want %q", got, want)
	}
}

// mixedBatch is a batch of every kind of record.
func mixedBatch(n int) []etl.Record {
	var recs []etl.Record
	for i := range n {
		obs := fmt.Sprintf("OBS%d", i%3)
		h := fmt.Sprintf("%016x", i/2) // each hash heard twice
		if i%10 == 0 {
			recs = append(recs, advertRec(h, obs, fmt.Sprintf("%064x", i%7), t0))
		} else {
			recs = append(recs, packetRec(h, obs, t0))
		}
	}
	c := packetRec("cccccccccccccccc", "companion", t0)
	c.Packet.Companion = true
	recs = append(recs, c,
		statusRec("OBS1", t0, etl.Status{Model: "M", Metrics: &etl.Metrics{Bucket: t0.Truncate(5 * time.Minute), NoiseFloor: f64(-100)}}),
		etl.Record{Kind: etl.KindDropped, Time: t0, Observer: etl.Observer{ID: "OBS2"}, Drop: &etl.Drop{Hash: "dddddddddddddddd", Reason: "invalid signature"}},
	)
	return recs
}

func rowCounts(t testing.TB, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, tbl := range []string{"transmissions", "observations", "observers", "nodes", "inactive_nodes", "observer_metrics", "dropped_packets"} {
		fmt.Fprintf(&b, "%s=%d ", tbl, queryInt(t, db, "SELECT count(*) FROM "+tbl))
	}
	return b.String()
}

func TestApplyRedeliveryCreatesNoRows(t *testing.T) {
	db := openTest(t)
	recs := mixedBatch(100)
	first := apply(t, db, recs...)
	before := rowCounts(t, db.Reader())
	again := apply(t, db, recs...)
	if after := rowCounts(t, db.Reader()); after != before {
		t.Errorf("redelivery changed row counts:\n before %s\n after  %s", before, after)
	}
	if again.TxInserted != 0 || again.ObsInserted != 0 || again.Dropped != 0 {
		t.Errorf("redelivery result = %+v", again)
	}
	if first.TxInserted != 51 || first.ObsInserted != 101 || again.TxDupes != 101 || again.ObsDupes != 101 {
		t.Errorf("first = %+v, again = %+v", first, again)
	}
}

func TestApplyRollsBackOnError(t *testing.T) {
	db := openTest(t)
	recs := append(mixedBatch(10), etl.Record{Kind: etl.KindPacket, Time: t0}) // no Packet
	_, err := db.Apply(context.Background(), recs)
	if err == nil || !strings.HasPrefix(err.Error(), "apply batch: ") {
		t.Fatalf("Apply = %v, want an apply batch error", err)
	}
	if got := rowCounts(t, db.Reader()); got != rowCounts(t, openTest(t).Reader()) {
		t.Errorf("rows after a failed batch: %s", got)
	}
	// The rowid cache was invalidated with the rollback: the next batch
	// attributes its observations to real observer rows.
	apply(t, db, mixedBatch(10)...)
	if n := queryInt(t, db.Reader(), `SELECT count(*) FROM observations o LEFT JOIN observers b ON b.rowid = o.observer_idx
		WHERE o.observer_idx IS NOT NULL AND b.id IS NULL`); n != 0 {
		t.Errorf("%d observations point at no observer", n)
	}
}

func TestApplyObserverCacheInvalidatedByMaintenance(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	apply(t, db, packetRec("1111111111111111", "OBSA", t0), packetRec("1111111111111111", "OBSB", t0))
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM observers WHERE id = 'OBSA'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, db, packetRec("2222222222222222", "OBSA", t0))
	if n := queryInt(t, db.Reader(), `SELECT count(*) FROM observations o JOIN observers b ON b.rowid = o.observer_idx
		JOIN transmissions t ON t.id = o.transmission_id WHERE t.hash = '2222222222222222' AND b.id = 'OBSA'`); n != 1 {
		t.Error("observation after maintenance is not attributed to the recreated observer")
	}
}

func TestApplyConcurrentSameHashes(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, obs := range []string{"OBSA", "OBSB"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i += 10 {
				var recs []etl.Record
				for j := i; j < i+10; j++ {
					recs = append(recs, packetRec(fmt.Sprintf("%016x", j), obs, t0))
				}
				if _, err := db.Apply(ctx, recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rd := db.Reader()
	if got := queryInt(t, rd, `SELECT count(*) FROM transmissions`); got != n {
		t.Errorf("%d transmissions, want %d", got, n)
	}
	if got := queryInt(t, rd, `SELECT count(*) FROM observations`); got != 2*n {
		t.Errorf("%d observations, want %d: none may be lost (spec §9 #3)", got, 2*n)
	}
	if got := queryInt(t, rd, `SELECT sum(packet_count) FROM observers`); got != 2*n {
		t.Errorf("packet_count total %d, want %d", got, 2*n)
	}
}

func TestApplyCanceledContext(t *testing.T) {
	db := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Apply(ctx, mixedBatch(3))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a canceled context = %v", err)
	}
}

func TestApplyRefusesUnmigratedFile(t *testing.T) {
	db, err := Open(context.Background(), copyFixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Apply(context.Background(), mixedBatch(2)); !errors.Is(err, ErrNotMigrated) {
		t.Errorf("Apply before Migrate = %v, want ErrNotMigrated", err)
	}
}

// head.md §2.7: last_seen is the epoch of the newest observation, also
// raised by a duplicate observation; never lowered.
func TestApplyTransmissionLastSeen(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	lastSeen := func() int64 {
		t.Helper()
		return queryInt(t, rd, `SELECT last_seen FROM transmissions WHERE hash = '1111111111111111'`)
	}
	apply(t, db, packetRec("1111111111111111", "OBSA", t0))
	if got := lastSeen(); got != t0.Unix() {
		t.Errorf("last_seen on insert = %d, want %d", got, t0.Unix())
	}
	steps := []struct {
		name string
		rec  etl.Record
		want time.Time
	}{
		{"another observer later", packetRec("1111111111111111", "OBSB", t0.Add(time.Hour)), t0.Add(time.Hour)},
		{"an older copy", packetRec("1111111111111111", "OBSC", t0.Add(-time.Hour)), t0.Add(time.Hour)},
		{"a duplicate observation later", packetRec("1111111111111111", "OBSA", t0.Add(2*time.Hour)), t0.Add(2 * time.Hour)},
	}
	for _, s := range steps {
		apply(t, db, s.rec)
		if got := lastSeen(); got != s.want.Unix() {
			t.Errorf("after %s: last_seen = %d, want %d", s.name, got, s.want.Unix())
		}
	}
	if s := queryString(t, rd, `SELECT first_seen FROM transmissions`).String; s != "2026-05-17T17:13:27Z" {
		t.Errorf("first_seen = %s, want lowered by the older copy", s)
	}
	// Within one batch, and for companion messages (no observer).
	c := packetRec("cccccccccccccccc", "companion", t0)
	c.Packet.Companion = true
	c2 := c
	c2.Time = t0.Add(time.Minute)
	apply(t, db, c, c2, packetRec("2222222222222222", "OBSA", t0), packetRec("2222222222222222", "OBSB", t0.Add(time.Second)))
	if got := queryInt(t, rd, `SELECT last_seen FROM transmissions WHERE hash = 'cccccccccccccccc'`); got != t0.Add(time.Minute).Unix() {
		t.Errorf("companion last_seen = %d", got)
	}
	if got := queryInt(t, rd, `SELECT last_seen FROM transmissions WHERE hash = '2222222222222222'`); got != t0.Unix()+1 {
		t.Errorf("same-batch last_seen = %d", got)
	}
	// A duplicate observation keeps its first timestamp while last_seen
	// records the later copy: last_seen is when the packet was last heard.
	if got := queryInt(t, rd, `SELECT timestamp FROM observations o JOIN observers b ON b.rowid = o.observer_idx
		JOIN transmissions t ON t.id = o.transmission_id WHERE t.hash = '1111111111111111' AND b.id = 'OBSA'`); got != t0.Unix() {
		t.Errorf("duplicate observation timestamp = %d, want the first copy's", got)
	}
}

// head.md §2.5: scope_name on insert only; NULL / ” / '#name'.
func TestApplyScopeName(t *testing.T) {
	db := openTest(t)
	scoped := func(hash string, scope sql.Null[string]) etl.Record {
		r := packetRec(hash, "OBSA", t0)
		r.Packet.Scope = scope
		return r
	}
	apply(t, db,
		scoped("1111111111111111", sql.Null[string]{}),
		scoped("2222222222222222", sql.Null[string]{V: "", Valid: true}),
		scoped("3333333333333333", sql.Null[string]{V: "#test", Valid: true}),
	)
	// Duplicates never update it.
	apply(t, db,
		scoped("1111111111111111", sql.Null[string]{V: "#test", Valid: true}),
		scoped("3333333333333333", sql.Null[string]{}),
	)
	got := queryString(t, db.Reader(), `SELECT group_concat(hash || '=' || COALESCE(quote(scope_name), 'NULL'), ' ') FROM (SELECT * FROM transmissions ORDER BY hash)`).String
	if want := "1111111111111111=NULL 2222222222222222='' 3333333333333333='#test'"; got != want {
		t.Errorf("scope_name = %s, want %s", got, want)
	}
}

// head.md §2.6 and §1.3: default_scope is set by a matched advert, never
// cleared, and travels with the node through inactive_nodes and back, as do
// the server's multi-byte columns (M10).
func TestApplyDefaultScopeAndRestore(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	rd := db.Reader()
	pk := strings.Repeat("3c", 32)
	node := func(table string) string {
		t.Helper()
		return queryString(t, rd, `SELECT COALESCE(default_scope, 'NULL') || ' ' || multibyte_sup || ' ' || COALESCE(multibyte_evidence, 'NULL') || ' ' || advert_count
			FROM `+table+` WHERE public_key = ?`, pk).String
	}
	a := advertRec("d1d1d1d1d1d1d1d1", "OBSA", pk, t0)
	apply(t, db, a)
	if got := node("nodes"); got != "NULL 0 NULL 1" {
		t.Errorf("flood advert: %s", got)
	}
	a = advertRec("d2d2d2d2d2d2d2d2", "OBSA", pk, t0)
	a.Packet.Node.DefaultScope = "#test"
	b := advertRec("d2d2d2d2d2d2d2d2", "OBSB", pk, t0) // every copy carries it
	b.Packet.Node.DefaultScope = "#test"
	apply(t, db, a, b)
	if got := node("nodes"); got != "#test 0 NULL 2" {
		t.Errorf("matched advert: %s", got)
	}
	apply(t, db, advertRec("d3d3d3d3d3d3d3d3", "OBSA", pk, t0)) // unmatched or flood: "" keeps it
	if got := node("nodes"); got != "#test 0 NULL 3" {
		t.Errorf("advert without a matched scope: %s, want default_scope kept", got)
	}
	a = advertRec("d4d4d4d4d4d4d4d4", "OBSA", pk, t0)
	a.Packet.Node.DefaultScope = "#belgium"
	apply(t, db, a)
	if got := node("nodes"); got != "#belgium 0 NULL 4" {
		t.Errorf("another matched region: %s", got)
	}
	// The server's capability cache, then a stale move.
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE nodes SET multibyte_sup = 2, multibyte_evidence = 'advert'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := db.MoveStaleNodesChunk(ctx, t0.Add(time.Hour), 100, false); err != nil || n != 1 {
		t.Fatalf("MoveStaleNodesChunk = %d, %v", n, err)
	}
	if got := node("inactive_nodes"); got != "#belgium 2 advert 4" {
		t.Errorf("inactive copy: %s", got)
	}
	apply(t, db, advertRec("d5d5d5d5d5d5d5d5", "OBSA", pk, t0.Add(2*time.Hour)))
	if got := node("nodes"); got != "#belgium 2 advert 5" {
		t.Errorf("restored node: %s, want default_scope and multi-byte columns back", got)
	}
	if n := queryInt(t, rd, `SELECT count(*) FROM inactive_nodes`); n != 0 {
		t.Errorf("%d inactive_nodes rows after the node came back", n)
	}
}

// head.md §6 case 2: can_relay / can_relay_seen from status "repeat".
func TestApplyCanRelay(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	cr := func(obs string) string {
		t.Helper()
		return queryString(t, rd, `SELECT can_relay || ',' || can_relay_seen FROM observers WHERE id = ?`, obs).String
	}
	yes, no := sql.Null[bool]{V: true, Valid: true}, sql.Null[bool]{V: false, Valid: true}
	steps := []struct {
		name string
		rec  etl.Record
		want string
	}{
		{`repeat "off"`, statusRec("OBSA", t0, etl.Status{CanRelay: no}), "0,1"},
		{`repeat true`, statusRec("OBSA", t0.Add(time.Minute), etl.Status{CanRelay: yes}), "1,1"},
		{`a status without repeat`, statusRec("OBSA", t0.Add(2*time.Minute), etl.Status{Model: "M"}), "1,1"},
		{`a packet`, packetRec("1111111111111111", "OBSA", t0.Add(3*time.Minute)), "1,1"},
		{`repeat "off" again`, statusRec("OBSA", t0.Add(4*time.Minute), etl.Status{CanRelay: no}), "0,1"},
		{`repeat "maybe" (unknown)`, statusRec("OBSA", t0.Add(5*time.Minute), etl.Status{}), "0,1"},
		{`a retained repeat true`, statusRec("OBSA", t0.Add(6*time.Minute), etl.Status{Retained: true, CanRelay: yes}), "1,1"},
	}
	for _, s := range steps {
		apply(t, db, s.rec)
		if got := cr("OBSA"); got != s.want {
			t.Errorf("after %s: (can_relay, can_relay_seen) = %s, want %s", s.name, got, s.want)
		}
	}
	apply(t, db, packetRec("2222222222222222", "OBSP", t0))
	apply(t, db, statusRec("OBSS", t0, etl.Status{Model: "M"}))
	if got := cr("OBSP") + " " + cr("OBSS"); got != "1,0 1,0" {
		t.Errorf("observers never sending repeat: %s, want 1,0", got)
	}
}

// head.md §6 case 1, without CoreScope's NULL first_seen.
func TestApplyClockSkew(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	skewed := func(hash string, at time.Time, skew int64) etl.Record {
		r := packetRec(hash, "OBSB", at)
		if skew != 0 {
			r.Observer.ClockSkew = i64(skew)
		}
		return r
	}
	row := func() string {
		t.Helper()
		return queryString(t, rd, `SELECT COALESCE(clock_skew_seconds, 'NULL') || ' ' || clock_skew_count_24h || ' ' || COALESCE(clock_last_naive_at, 'NULL')
			|| ' ' || COALESCE(first_seen, 'NULL') || ' ' || last_seen || ' ' || packet_count FROM observers WHERE id = 'OBSB'`).String
	}
	apply(t, db, skewed("1111111111111111", t0, -25200))
	if got, want := row(), "-25200 1 2026-05-17T18:13:27Z 2026-05-17T18:13:27Z 2026-05-17T18:13:27Z 1"; got != want {
		t.Errorf("first naive packet: %s, want %s", got, want)
	}
	apply(t, db, skewed("2222222222222222", t0.Add(time.Hour), 7199))
	if got, want := row(), "7199 2 2026-05-17T19:13:27Z 2026-05-17T18:13:27Z 2026-05-17T19:13:27Z 2"; got != want {
		t.Errorf("second naive packet within 24 h: %s, want %s", got, want)
	}
	apply(t, db, skewed("3333333333333333", t0.Add(2*time.Hour), 0)) // no skew (zoned, or garbage)
	if got, want := row(), "7199 2 2026-05-17T19:13:27Z 2026-05-17T18:13:27Z 2026-05-17T20:13:27Z 3"; got != want {
		t.Errorf("packet without skew: %s, want %s", got, want)
	}
	apply(t, db, skewed("4444444444444444", t0.Add(26*time.Hour), -3600))
	if got, want := row(), "-3600 1 2026-05-18T20:13:27Z 2026-05-17T18:13:27Z 2026-05-18T20:13:27Z 4"; got != want {
		t.Errorf("naive packet a day later: %s, want the count restarted: %s", got, want)
	}
	// A dropped packet records the skew too; an observer first seen that
	// way gets first_seen/last_seen and no packet.
	drop := etl.Record{Kind: etl.KindDropped, Time: t0, Observer: etl.Observer{ID: "OBSD", Name: "Dropper", ClockSkew: i64(-1800)},
		Drop: &etl.Drop{Hash: "dddddddddddddddd", RawHex: "1100", Reason: "invalid signature"}}
	apply(t, db, drop)
	got := queryString(t, rd, `SELECT clock_skew_seconds || ' ' || clock_skew_count_24h || ' ' || clock_last_naive_at || ' ' || first_seen || ' ' || last_seen
		|| ' ' || packet_count || ' ' || name FROM observers WHERE id = 'OBSD'`).String
	if want := "-1800 1 2026-05-17T18:13:27Z 2026-05-17T18:13:27Z 2026-05-17T18:13:27Z 0 Dropper"; got != want {
		t.Errorf("observer of a dropped packet: %s, want %s", got, want)
	}
	drop.Time = t0.Add(time.Minute)
	apply(t, db, drop)
	if got := queryString(t, rd, `SELECT clock_skew_count_24h || ' ' || last_seen FROM observers WHERE id = 'OBSD'`).String; got != "2 2026-05-17T18:13:27Z" {
		t.Errorf("second drop: %s, want count 2 and last_seen unchanged", got)
	}
}

// head.md §2.2: every stored time is the record's (receipt) time, and a
// stored time in the future is pulled down to now.
func TestApplyFutureTimesClamped(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	rd := db.Reader()
	pk := strings.Repeat("4b", 32)
	apply(t, db, advertRec("e1e1e1e1e1e1e1e1", "OBSA", pk, t0), statusRec("OBSS", t0, etl.Status{}))
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{
			`UPDATE observers SET last_seen = '2099-01-01T00:00:00Z', last_packet_at = '2099-01-01T00:00:00Z'`,
			`UPDATE nodes SET last_seen = '2099-01-01T00:00:00Z'`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	apply(t, db, advertRec("e2e2e2e2e2e2e2e2", "OBSA", pk, t0.Add(time.Minute)), statusRec("OBSS", t0.Add(time.Minute), etl.Status{}))
	after := time.Now().UTC()
	for _, q := range []string{
		`SELECT last_seen FROM observers WHERE id = 'OBSA'`,
		`SELECT last_packet_at FROM observers WHERE id = 'OBSA'`,
		`SELECT last_seen FROM observers WHERE id = 'OBSS'`,
		`SELECT last_seen FROM nodes`,
	} {
		s := queryString(t, rd, q).String
		got, err := time.Parse(time.RFC3339, s)
		if err != nil || got.Before(before) || got.After(after) {
			t.Errorf("%s = %s, want now (between %v and %v)", q, s, before, after)
		}
	}
	// A past stored time still only moves forward.
	apply(t, db, advertRec("e3e3e3e3e3e3e3e3", "OBSA", pk, t0.Add(2*time.Minute)))
	if s := queryString(t, rd, `SELECT last_seen FROM nodes`).String; s < before.Format(time.RFC3339) {
		t.Errorf("node last_seen = %s moved back", s)
	}
}

// A status that only carries "repeat" writes no metrics row (the head.md
// §2.4 quirk is not copied): the transformer gives it no Metrics, and Apply
// writes none without them.
func TestApplyStatusWithoutMetricsWritesNoMetricsRow(t *testing.T) {
	db := openTest(t)
	res := apply(t, db, statusRec("OBSA", t0, etl.Status{CanRelay: sql.Null[bool]{V: true, Valid: true}}))
	if res.MetricsRows != 0 || queryInt(t, db.Reader(), `SELECT count(*) FROM observer_metrics`) != 0 {
		t.Errorf("result %+v: a metrics row was written", res)
	}
}

// Issue #14 item 10: undecodable packets are keyed by a digest of the whole
// raw string (transform.rejectKey), so 20 distinct rejects are 20 rows
// while a redelivery adds none.
func TestApplyDistinctUndecodableDrops(t *testing.T) {
	db := openTest(t)
	drop := func(raw string) etl.Record {
		sum := sha256.Sum256([]byte(raw))
		return etl.Record{Kind: etl.KindDropped, Time: t0, Observer: etl.Observer{ID: "OBSA"},
			Drop: &etl.Drop{Hash: hex.EncodeToString(sum[:8]), RawHex: raw, Reason: "decode error: too_short"}}
	}
	var recs []etl.Record
	for i := range 20 {
		recs = append(recs, drop(fmt.Sprintf("0A00112233445566778899%02X", i))) // one 16-hex prefix for all
	}
	if res := apply(t, db, recs...); res.Dropped != 20 {
		t.Errorf("20 distinct rejects: %d rows, want 20", res.Dropped)
	}
	if res := apply(t, db, recs[3], recs[3]); res.Dropped != 0 {
		t.Errorf("redelivery: %d rows, want 0", res.Dropped)
	}
	if n := queryInt(t, db.Reader(), `SELECT count(*) FROM dropped_packets`); n != 20 {
		t.Errorf("%d rows, want 20", n)
	}
}

// The recent-transmissions cache never outlives a write it did not see: a
// copy arriving after the transmission was pruned (a maintenance chunk) is
// stored again, with its own observation, not attached to the deleted id;
// a rolled-back batch forgets what it inserted.
func TestApplyTxCacheInvalidated(t *testing.T) {
	db := openTest(t)
	rd := db.Reader()
	apply(t, db, packetRec("3333333333333333", "OBSA", t0))
	err := db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM observations`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM transmissions`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, db, packetRec("3333333333333333", "OBSB", t0.Add(time.Second)))
	if n := queryInt(t, rd, `SELECT count(*) FROM transmissions t JOIN observations o ON o.transmission_id = t.id WHERE t.hash = '3333333333333333'`); n != 1 {
		t.Fatalf("copy after a prune: %d joined rows, want 1", n)
	}

	// A batch that fails after inserting a transmission rolls back; the
	// next copy must insert it again.
	bad := packetRec("4444444444444444", "OBSA", t0)
	broken := packetRec("", "OBSA", t0) // no hash: the record fails
	if _, err := db.Apply(context.Background(), []etl.Record{bad, broken}); err == nil {
		t.Fatal("a batch with a broken record committed")
	}
	apply(t, db, packetRec("4444444444444444", "OBSB", t0))
	if n := queryInt(t, rd, `SELECT count(*) FROM transmissions t JOIN observations o ON o.transmission_id = t.id WHERE t.hash = '4444444444444444'`); n != 1 {
		t.Fatalf("copy after a rolled-back batch: %d joined rows, want 1", n)
	}
}
