package main

// End-to-end tests of the ingest path: real mosquitto brokers, the daemon
// run by run() (or as a subprocess), a real SQLite file, real HTTP.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
)

// fixtureDB is CoreScope's e2e fixture database.
var fixtureDB = filepath.Join("..", "..", "testdata", "corescope-fixture.db")

// receiptWindow is the span of wall-clock seconds in which the daemon
// received a test's messages: every stored time must fall in it (head.md
// §2.2), whatever the publisher's timestamp said.
type receiptWindow struct{ lo, hi time.Time }

func openReceiptWindow() receiptWindow {
	return receiptWindow{lo: time.Now().UTC().Truncate(time.Second)}
}

// close ends the window; call it once the messages are stored.
func (w *receiptWindow) close() { w.hi = time.Now().UTC() }

// has reports whether s, RFC 3339, is a second within the window.
func (w *receiptWindow) has(s string) bool {
	t, err := time.Parse(time.RFC3339, s)
	return err == nil && !t.Before(w.lo) && !t.After(w.hi)
}

func (w *receiptWindow) hasUnix(sec int64) bool { return sec >= w.lo.Unix() && sec <= w.hi.Unix() }

// TestE2EPacketRows publishes real packets (a signed ADVERT, GRP_TXT with
// and without a key, TRACE, TXT_MSG) and checks every stored column against
// the decoder vectors and CoreScope's fixture database. The publisher's
// zoned timestamps are an hour old: every stored time is still the receipt
// time (head.md §2.2, #1370).
func TestE2EPacketRows(t *testing.T) {
	parallelDaemon(t)
	vs := loadVectors(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{
		Sources: []testSource{{Name: "a", Broker: b.URL()}},
		Extra:   map[string]any{"channelKeys": vs["chan"].ChannelKeys},
	}
	startDaemon(t, cfg)
	pub := newPublisher(t, b)

	obs := observerKey("Obs A")
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	names := []string{"advert", "grpTxt", "chan", "trace", "txtMsg"}
	when := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	rx := openReceiptWindow()
	for i, name := range names {
		// The topic's region is lowercase: the observer row stores it uppercased.
		publish(t, pub, packetsTopic("sjc", obs), false, packetJSON(" Obs A ", vs[name].Raw, when(i)))
	}

	db := openDB(t, cfg.DBPath())
	eventually(t, 10*time.Second, "5 observations", func() bool {
		return count(t, db, "SELECT count(*) FROM observations") == int64(len(names))
	})
	rx.close()
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != int64(len(names)) {
		t.Fatalf("transmissions = %d, want %d", n, len(names))
	}

	// The observer.
	var (
		rowid                                     int64
		name, iata, lastPacket, lastSeen, firstSn string
		packets                                   int64
	)
	if err := db.QueryRow(`SELECT rowid, name, iata, packet_count, last_packet_at, last_seen, first_seen
FROM observers WHERE id = ?`, obs).Scan(&rowid, &name, &iata, &packets, &lastPacket, &lastSeen, &firstSn); err != nil {
		t.Fatalf("observer row: %v", err)
	}
	if name != "Obs A" || iata != "SJC" || packets != int64(len(names)) || lastPacket != lastSeen || !rx.has(lastSeen) ||
		!rx.has(firstSn) || firstSn > lastSeen {
		t.Errorf("observer = %q %q packets %d last_packet_at %s last_seen %s first_seen %s; want \"Obs A\" \"SJC\" %d and receipt times in [%v, %v]",
			name, iata, packets, lastPacket, lastSeen, firstSn, len(names), rx.lo, rx.hi)
	}

	fx := openDB(t, fixtureDB)
	for i, vname := range names {
		t.Run(vname, func(t *testing.T) {
			v := vs[vname]
			e := v.Expect
			var (
				txID                            int64
				raw, hash, firstSeen, decoded   string
				route, ptype, pversion          int
				channelHash, fromPubkey         sql.NullString
				obsIdx                          sql.NullInt64
				dir, path, obsRaw               string
				snr, rssi, score                float64
				obsTS, txLastSeen               int64
				wantChannelHash, wantFromPubkey = nullString(e.Columns.ChannelHash), nullString(e.Columns.FromPubkey)
			)
			if err := db.QueryRow(`SELECT id, raw_hex, hash, first_seen, route_type, payload_type, payload_version,
decoded_json, channel_hash, from_pubkey, last_seen FROM transmissions WHERE raw_hex = ?`, v.Raw).Scan(
				&txID, &raw, &hash, &firstSeen, &route, &ptype, &pversion, &decoded, &channelHash, &fromPubkey, &txLastSeen); err != nil {
				t.Fatalf("transmission of vector %d: %v", v.VectorIndex, err)
			}
			if hash != e.ContentHash || route != e.Columns.RouteType || ptype != e.Columns.PayloadType ||
				pversion != e.Columns.PayloadVersion || channelHash != wantChannelHash || fromPubkey != wantFromPubkey {
				t.Errorf("transmission = hash %s route %d type %d version %d channel %v from %v\nwant hash %s route %d type %d version %d channel %v from %v",
					hash, route, ptype, pversion, channelHash, fromPubkey,
					e.ContentHash, e.Columns.RouteType, e.Columns.PayloadType, e.Columns.PayloadVersion, wantChannelHash, wantFromPubkey)
			}
			if decoded != e.DecodedJSONText {
				t.Errorf("decoded_json =\n%s\nwant\n%s", decoded, e.DecodedJSONText)
			}
			if !rx.has(firstSeen) {
				t.Errorf("first_seen = %s, want the receipt time in [%v, %v], not the publisher's %s", firstSeen, rx.lo, rx.hi, when(i).Format(time.RFC3339))
			}

			// CoreScope's fixture row, where its stored values follow the rule.
			var (
				fHash                   string
				fDecoded, fCh, fFrom    sql.NullString
				fRoute, fType, fVersion sql.NullInt64
			)
			if err := fx.QueryRow(`SELECT hash, route_type, payload_type, payload_version, decoded_json, channel_hash, from_pubkey
FROM transmissions WHERE upper(raw_hex) = upper(?)`, v.Raw).Scan(&fHash, &fRoute, &fType, &fVersion, &fDecoded, &fCh, &fFrom); err != nil {
				t.Fatalf("fixture row: %v", err)
			}
			if v.Fixture.StoredHashMatchesRule && hash != fHash {
				t.Errorf("hash %s, fixture %s", hash, fHash)
			}
			if v.Fixture.StoredDecodedJSONEqual && !jsonEqual(t, decoded, fDecoded.String) {
				t.Errorf("decoded_json differs from the fixture's:\n%s\n%s", decoded, fDecoded.String)
			}
			if int64(route) != fRoute.Int64 || int64(ptype) != fType.Int64 || channelHash != fCh || fromPubkey != fFrom ||
				(fVersion.Valid && int64(pversion) != fVersion.Int64) {
				t.Errorf("columns differ from the fixture's: route %d/%v type %d/%v version %d/%v channel %v/%v from %v/%v",
					route, fRoute, ptype, fType, pversion, fVersion, channelHash, fCh, fromPubkey, fFrom)
			}

			// The observation.
			if err := db.QueryRow(`SELECT observer_idx, direction, snr, rssi, score, path_json, timestamp, raw_hex
FROM observations WHERE transmission_id = ?`, txID).Scan(&obsIdx, &dir, &snr, &rssi, &score, &path, &obsTS, &obsRaw); err != nil {
				t.Fatalf("observation: %v", err)
			}
			if !obsIdx.Valid || obsIdx.Int64 != rowid || dir != "rx" || snr != -5.5 || rssi != -90 || score != 1000 ||
				path != e.PathJSON || !rx.hasUnix(obsTS) || obsRaw != v.Raw {
				t.Errorf("observation = idx %v dir %q snr %v rssi %v score %v path %s ts %d raw %s\nwant idx %d dir rx snr -5.5 rssi -90 score 1000 path %s ts in [%d, %d] raw %s",
					obsIdx, dir, snr, rssi, score, path, obsTS, obsRaw, rowid, e.PathJSON, rx.lo.Unix(), rx.hi.Unix(), v.Raw)
			}
			// head.md §2.7: a transmission's last_seen is its newest observation.
			if txLastSeen != obsTS {
				t.Errorf("transmissions.last_seen = %d, want the observation's %d", txLastSeen, obsTS)
			}
		})
	}

	// The advert's node.
	adv := vs["advert"]
	var (
		nName, role, nLast, nFirst string
		lat, lon                   float64
		adverts, foreign           int64
	)
	if err := db.QueryRow(`SELECT name, role, lat, lon, last_seen, first_seen, advert_count, foreign_advert
FROM nodes WHERE public_key = ?`, *adv.Expect.Columns.FromPubkey).Scan(&nName, &role, &lat, &lon, &nLast, &nFirst, &adverts, &foreign); err != nil {
		t.Fatalf("node row: %v", err)
	}
	if nName != adv.Expect.DecodedJSON.Name || role != adv.Expect.Advert.Role || lat != *adv.Expect.DecodedJSON.Lat ||
		lon != *adv.Expect.DecodedJSON.Lon || !rx.has(nLast) || nFirst != nLast || adverts != 1 || foreign != 0 {
		t.Errorf("node = %q %q %v,%v last %s first %s adverts %d foreign %d; want %q %q %v,%v receipt times in [%v, %v] 1 0",
			nName, role, lat, lon, nLast, nFirst, adverts, foreign,
			adv.Expect.DecodedJSON.Name, adv.Expect.Advert.Role, *adv.Expect.DecodedJSON.Lat, *adv.Expect.DecodedJSON.Lon, rx.lo, rx.hi)
	}
	if n := count(t, db, "SELECT count(*) FROM nodes"); n != 1 {
		t.Errorf("nodes = %d, want 1 (only the advert)", n)
	}
}

func nullString(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}

// TestE2EOnePacketThreeObserversTwoSources sends one packet from three
// observers through two brokers: one transmission, three observations,
// three observers; sending it all again adds no row.
func TestE2EOnePacketThreeObserversTwoSources(t *testing.T) {
	parallelDaemon(t)
	b1, b2 := mqtttest.StartBroker(t), mqtttest.StartBroker(t)
	cfg := &testConfig{
		Sources: []testSource{{Name: "one", Broker: b1.URL()}, {Name: "two", Broker: b2.URL()}},
		HTTP:    true,
	}
	d := startDaemon(t, cfg)
	p1, p2 := newPublisher(t, b1), newPublisher(t, b2)
	raw := uniquePacket(1)
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	send := func() {
		publish(t, p1, packetsTopic("SJC", observerKey("A")), false, packetJSON("A", raw, ts))
		publish(t, p1, packetsTopic("SJC", observerKey("B")), false, packetJSON("B", raw, ts.Add(time.Second)))
		publish(t, p2, packetsTopic("SFO", observerKey("C")), false, packetJSON("C", raw, ts.Add(2*time.Second)))
	}
	db := openDB(t, cfg.DBPath())
	rows := func() [3]int64 {
		return [3]int64{
			count(t, db, "SELECT count(*) FROM transmissions"),
			count(t, db, "SELECT count(*) FROM observations"),
			count(t, db, "SELECT count(*) FROM observers"),
		}
	}

	rx := openReceiptWindow()
	send()
	eventually(t, 10*time.Second, "3 observations", func() bool { return rows()[1] == 3 })
	rx.close()
	if got := rows(); got != [3]int64{1, 3, 3} {
		t.Fatalf("transmissions, observations, observers = %v, want [1 3 3]", got)
	}
	if n := count(t, db, `SELECT count(DISTINCT o.observer_idx) FROM observations o JOIN observers r ON r.rowid = o.observer_idx`); n != 3 {
		t.Errorf("observations attributed to %d distinct observers, want 3", n)
	}
	var firstSeen string
	if err := db.QueryRow(`SELECT first_seen FROM transmissions WHERE hash = ?`, meshcore.ContentHash(raw)).Scan(&firstSeen); err != nil {
		t.Fatalf("the transmission's hash: %v", err)
	}
	if !rx.has(firstSeen) || count(t, db, `SELECT count(*) FROM observations WHERE timestamp < unixepoch(?)`, firstSeen) != 0 {
		t.Errorf("first_seen = %s, want the earliest copy's receipt time", firstSeen)
	}

	send()
	eventually(t, 10*time.Second, "3 duplicate observations", func() bool {
		return d.metric(`corescope_ingest_duplicates_total{kind="observation"}`) == 3
	})
	if got := rows(); got != [3]int64{1, 3, 3} {
		t.Errorf("after a resend: transmissions, observations, observers = %v, want [1 3 3]", got)
	}
	if v := d.metric(`corescope_ingest_duplicates_total{kind="transmission"}`); v != 5 {
		t.Errorf("transmission duplicates = %v, want 5", v)
	}
}

// statusJSON is a real meshcoretomqtt status with nested stats (spec §2.7).
func statusJSON(origin string, ts time.Time, model string) []byte {
	return []byte(fmt.Sprintf(`{"status":"online","timestamp":%q,"origin":%q,"origin_id":"AABBCCDD",`+
		`"radio":"910.5250244,62.5,7,5","model":%q,"firmware_version":"1.12.0-test","client_version":"meshcoretomqtt/1.0.8.0",`+
		`"stats":{"battery_mv":4209,"uptime_secs":75821,"noise_floor":-109,"tx_air_secs":80,"rx_air_secs":1903,"recv_errors":934}}`,
		ts.UTC().Format(time.RFC3339), origin, model))
}

// TestE2EStatus checks a status message: observer metadata from the nested
// stats, packet_count untouched, one observer_metrics row at the rounded
// bucket; then retained replays fill metadata without moving last_seen.
func TestE2EStatus(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL()}}}
	d := startDaemon(t, cfg)
	pub := newPublisher(t, b)
	db := openDB(t, cfg.DBPath())

	a := observerKey("Obs A")
	tsPacket := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	tsStatus := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	rx := openReceiptWindow()
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", uniquePacket(1), tsPacket))
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", uniquePacket(2), tsPacket.Add(time.Second)))
	publish(t, pub, statusTopic("sjc", a), false, statusJSON("Obs A", tsStatus, "Heltec V3"))
	eventually(t, 10*time.Second, "the metrics sample", func() bool {
		return count(t, db, "SELECT count(*) FROM observer_metrics") == 1
	})
	rx.close()
	if n := count(t, db, "SELECT count(*) FROM observations"); n != 2 {
		t.Fatalf("observations = %d, want 2", n)
	}

	type observer struct {
		Name, IATA, Model, Firmware, ClientVersion, Radio, LastSeen string
		BatteryMV, UptimeSecs, PacketCount                          int64
		NoiseFloor                                                  float64
	}
	get := func(id string) observer {
		t.Helper()
		var o observer
		if err := db.QueryRow(`SELECT name, iata, model, firmware, client_version, radio, last_seen, battery_mv, uptime_secs,
packet_count, noise_floor FROM observers WHERE id = ?`, id).Scan(&o.Name, &o.IATA, &o.Model, &o.Firmware, &o.ClientVersion,
			&o.Radio, &o.LastSeen, &o.BatteryMV, &o.UptimeSecs, &o.PacketCount, &o.NoiseFloor); err != nil {
			t.Fatalf("observer %s: %v", id[:8], err)
		}
		return o
	}
	want := observer{
		Name: "Obs A", IATA: "SJC", Model: "Heltec V3", Firmware: "1.12.0-test", ClientVersion: "meshcoretomqtt/1.0.8.0",
		Radio:     "910.5250244,62.5,7,5",
		BatteryMV: 4209, UptimeSecs: 75821, PacketCount: 2, NoiseFloor: -109,
	}
	got := get(a)
	if !rx.has(got.LastSeen) {
		t.Errorf("observer last_seen = %s, want the receipt time in [%v, %v], not the status's %s", got.LastSeen, rx.lo, rx.hi, tsStatus.Format(time.RFC3339))
	}
	want.LastSeen = got.LastSeen
	if got != want {
		t.Errorf("observer after status:\n got %+v\nwant %+v", got, want)
	}

	// The sample's bucket: the receipt time rounded to the nearest 300 s.
	round := func(t time.Time) string { return time.Unix((t.Unix()+150)/300*300, 0).UTC().Format(time.RFC3339) }
	var (
		mTS                                  string
		noise                                float64
		txAir, rxAir, recvErr, battery       int64
		sent, recv                           sql.NullInt64
		mObserver                            string
		wantTx, wantRx, wantErr, wantBattery = int64(80), int64(1903), int64(934), int64(4209)
	)
	if err := db.QueryRow(`SELECT observer_id, timestamp, noise_floor, tx_air_secs, rx_air_secs, recv_errors, battery_mv,
packets_sent, packets_recv FROM observer_metrics`).Scan(&mObserver, &mTS, &noise, &txAir, &rxAir, &recvErr, &battery, &sent, &recv); err != nil {
		t.Fatal(err)
	}
	if mObserver != a || (mTS != round(rx.lo) && mTS != round(rx.hi)) || noise != -109 || txAir != wantTx || rxAir != wantRx || recvErr != wantErr ||
		battery != wantBattery || sent.Valid || recv.Valid {
		t.Errorf("observer_metrics = %s %s noise %v tx %d rx %d errors %d battery %d sent %v recv %v; want bucket %s or %s",
			mObserver[:8], mTS, noise, txAir, rxAir, recvErr, battery, sent, recv, round(rx.lo), round(rx.hi))
	}

	// Retained statuses, replayed by the broker when the daemon subscribes
	// again: one for the known observer, one for a new observer. They fill
	// metadata but prove nothing about liveness.
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	newObs := observerKey("Obs N")
	tsRetained := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Second)
	publish(t, pub, statusTopic("SJC", newObs), true, statusJSON("Obs N", tsRetained, "RAK 4631"))
	publish(t, pub, statusTopic("SJC", a), true, statusJSON("Obs A", time.Now(), "Heltec V4"))
	startDaemon(t, cfg)
	eventually(t, 10*time.Second, "the retained statuses", func() bool {
		return count(t, db, "SELECT count(*) FROM observers WHERE id = ? OR (id = ? AND model = 'Heltec V4')", newObs, a) == 2
	})
	want.Model = "Heltec V4"
	if got := get(a); got != want {
		t.Errorf("known observer after a retained status (last_seen must not move):\n got %+v\nwant %+v", got, want)
	}
	n := get(newObs)
	if n.Model != "RAK 4631" || n.PacketCount != 0 || n.LastSeen <= tsRetained.Format(time.RFC3339) {
		t.Errorf("new observer from a retained status = %+v; want model RAK 4631, packet_count 0, last_seen the receipt time, not %s",
			n, tsRetained.Format(time.RFC3339))
	}
	if n := count(t, db, "SELECT count(*) FROM observer_metrics"); n != 1 {
		t.Errorf("observer_metrics = %d rows, want 1: a retained replay is not a sample", n)
	}
}

// TestE2EMalformedInput sends one message of every malformed class, then a
// good packet: each bad message is a dropped_packets row or a counted
// reject, and the daemon goes on storing.
func TestE2EMalformedInput(t *testing.T) {
	parallelDaemon(t)
	vs := loadVectors(t)
	b := mqtttest.StartBroker(t)
	black := observerKey("Blacklisted")
	cfg := &testConfig{
		Sources: []testSource{{Name: "a", Broker: b.URL()}},
		HTTP:    true,
		Extra: map[string]any{
			"observerBlacklist": []string{strings.ToLower(black)},
			"ingest":            map[string]any{"maxMessageBytes": 2048, "shutdownTimeout": "10s", "batchDelay": "20ms"},
			"foreignAdverts":    map[string]any{"mode": "drop"},
			// A box around Lyon: the fixture's Californian adverts are foreign.
			"geo_filter": map[string]any{"latMin": 45.0, "latMax": 46.5, "lonMin": 4.0, "lonMax": 5.5},
		},
	}
	d := startDaemon(t, cfg)
	pub := newPublisher(t, b)
	obs := observerKey("Obs M")
	topic := packetsTopic("SJC", obs)
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	pkt := func(raw string) []byte { return packetJSON("Obs M", raw, ts) }

	type drop struct{ hash, raw, reason, pubkey, name string }
	// An undecodable packet is keyed by a digest of its whole raw string,
	// so distinct ones never collapse into one row (issue #14 item 10).
	digest := func(raw string) string {
		sum := sha256.Sum256([]byte(raw))
		return hex.EncodeToString(sum[:8])
	}
	wantDrops := []drop{
		{digest("ZZZZ"), "ZZZZ", "decode error: invalid_hex", "", ""},
		{digest("FF"), "FF", "decode error: too_short", "", ""},
		{vs["invalidAdvert"].Expect.ContentHash, vs["invalidAdvert"].Raw, "invalid advert: " + vs["invalidAdvert"].Expect.Advert.Reason,
			*vs["invalidAdvert"].Expect.Columns.FromPubkey, vs["invalidAdvert"].Expect.DecodedJSON.Name},
		{vs["badSignature"].Expect.ContentHash, vs["badSignature"].Raw, "invalid signature",
			*vs["badSignature"].Expect.Columns.FromPubkey, vs["badSignature"].Expect.DecodedJSON.Name},
		{vs["advert"].Expect.ContentHash, vs["advert"].Raw, "foreign advert",
			*vs["advert"].Expect.Columns.FromPubkey, vs["advert"].Expect.DecodedJSON.Name},
	}
	for _, dr := range wantDrops {
		publish(t, pub, topic, false, pkt(dr.raw))
	}
	good := uniquePacket(7)
	oversized, _ := json.Marshal(map[string]string{"origin": "Obs M", "raw": good, "pad": strings.Repeat("x", 4096)})
	for _, m := range []struct{ topic, payload string }{
		{topic, `{"origin":"Obs M","raw":"09`},                             // invalid JSON
		{topic, `["raw","0900"]`},                                          // not an object
		{"meshcore/SJC/" + obs + "/bogus", string(pkt(good))},              // unknown topic
		{topic, string(oversized)},                                         // oversized
		{topic, `{"origin":"Obs M","len":"87"}`},                           // no packet, not a keepalive
		{packetsTopic("SJC", black), string(packetJSON("B", good, ts))},    // blacklisted observer
		{statusTopic("SJC", black), string(statusJSON("B", ts, "Heltec"))}, // blacklisted status
	} {
		publish(t, pub, m.topic, false, []byte(m.payload))
	}
	// The good packet comes last; one source delivers in order, so once it
	// is stored every message before it has been handled.
	publish(t, pub, topic, false, pkt(good))
	db := openDB(t, cfg.DBPath())
	eventually(t, 10*time.Second, "the good packet", func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions WHERE hash = ?", meshcore.ContentHash(good)) == 1
	})

	rows, err := db.Query(`SELECT hash, raw_hex, reason, observer_id, observer_name, COALESCE(node_pubkey, ''), COALESCE(node_name, '')
FROM dropped_packets ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var gotDrops []drop
	for rows.Next() {
		var dr drop
		var oid, oname string
		if err := rows.Scan(&dr.hash, &dr.raw, &dr.reason, &oid, &oname, &dr.pubkey, &dr.name); err != nil {
			t.Fatal(err)
		}
		if oid != obs || oname != "Obs M" {
			t.Errorf("drop %q: observer %q %q, want %q \"Obs M\"", dr.reason, oid, oname, obs)
		}
		gotDrops = append(gotDrops, dr)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotDrops, wantDrops) {
		t.Errorf("dropped_packets:\n got %q\nwant %q", gotDrops, wantDrops)
	}

	scrape := d.metrics()
	for series, want := range map[string]float64{
		`corescope_ingest_rejects_total{reason="invalid_json"}`:        1,
		`corescope_ingest_rejects_total{reason="not_object"}`:          1,
		`corescope_ingest_rejects_total{reason="unknown_topic"}`:       1,
		`corescope_ingest_rejects_total{reason="oversized"}`:           1,
		`corescope_ingest_rejects_total{reason="no_packet"}`:           1,
		`corescope_ingest_rejects_total{reason="decode_error"}`:        2,
		`corescope_ingest_rejects_total{reason="invalid_advert"}`:      1,
		`corescope_ingest_rejects_total{reason="invalid_signature"}`:   1,
		`corescope_ingest_rejects_total{reason="foreign_advert"}`:      1,
		`corescope_ingest_filtered_total{reason="blacklisted"}`:        2,
		`corescope_decode_errors_total{kind="invalid_hex"}`:            1,
		`corescope_decode_errors_total{kind="too_short"}`:              1,
		`corescope_ingest_rows_written_total{table="dropped_packets"}`: 5,
		`corescope_ingest_rows_written_total{table="transmissions"}`:   1,
	} {
		if got, _ := metricValue(scrape, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != 1 {
		t.Errorf("transmissions = %d, want only the good packet", n)
	}
	if n := count(t, db, "SELECT count(*) FROM nodes"); n != 0 {
		t.Errorf("nodes = %d, want 0: every advert was dropped", n)
	}
	if n := count(t, db, "SELECT count(*) FROM observers WHERE id = ?", black); n != 0 {
		t.Errorf("the blacklisted observer has a row")
	}
	if err := d.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestE2EDurabilitySIGKILL kills the daemon (SIGKILL) in the middle of a
// stream of QoS 1 messages on a persistent session and restarts it: every
// published packet is stored exactly once, with exactly one observation.
func TestE2EDurabilitySIGKILL(t *testing.T) {
	parallelDaemon(t)
	testDurability(t, syscall.SIGKILL)
}

// TestE2EDurabilitySIGTERM is the same with a graceful stop: what the
// broker had not delivered, or the daemon had not acknowledged, when it
// disconnected comes back on the next start, once.
func TestE2EDurabilitySIGTERM(t *testing.T) {
	parallelDaemon(t)
	testDurability(t, syscall.SIGTERM)
}

// testDurability stops the daemon with sig once a third of 3000 packets is
// stored, publishes the rest while it is down, restarts it, and checks that
// every packet is stored exactly once.
func testDurability(t *testing.T, sig syscall.Signal) {
	const total = 3000
	// Unlimited in-flight and queued messages (mqtttest's defaults):
	// mosquitto's own limit of 1000 queued messages would drop some of what
	// is published while the daemon is down.
	b := mqtttest.StartBroker(t, mqtttest.WithMaxQueued(0), mqtttest.WithMaxInflight(0))
	cfg := &testConfig{
		Sources: []testSource{{Name: "durable", Broker: b.URL(), ClientID: "corescope-e2e-durable", Persistent: true, StallAfter: time.Hour}},
	}
	first := startDaemonProcess(t, cfg)
	first.waitLog(`msg="mqtt subscribed"`, 1)

	pub := newPublisher(t, b)
	obs := observerKey("Obs D")
	topic := packetsTopic("SJC", obs)
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	want := make(map[string]bool, total)
	payloads := make([][]byte, total)
	for i := range total {
		raw := uniquePacket(i)
		want[meshcore.ContentHash(raw)] = true
		payloads[i] = packetJSON("Obs D", raw, ts)
	}
	if len(want) != total {
		t.Fatalf("%d distinct hashes for %d packets", len(want), total)
	}

	// publishRange publishes payloads[from:to], keeping up to 100
	// publications in flight, and waits for every PUBACK.
	publishRange := func(from, to int) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pending := make(chan func() error, 100)
		go func() {
			defer close(pending)
			for _, p := range payloads[from:to] {
				tok := pub.Publish(topic, 1, false, p)
				pending <- func() error { return tok.Wait(ctx) }
			}
		}()
		var first error
		for wait := range pending {
			if err := wait(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}

	// Two thirds while the daemon runs; SIGKILL once a third is stored,
	// with the rest in flight; the last third while it is down.
	split := 2 * total / 3
	pubDone := make(chan error, 1)
	go func() { pubDone <- publishRange(0, split) }()
	db := openDB(t, cfg.DBPath())
	eventually(t, 30*time.Second, "a third of the packets stored", func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions") >= total/3
	})
	atStop := count(t, db, "SELECT count(*) FROM transmissions")
	if sig == syscall.SIGKILL {
		first.kill()
	} else if code := first.signal(sig); code != 0 {
		t.Errorf("first daemon exit status after %v = %d, want 0", sig, code)
	}
	stored := count(t, db, "SELECT count(*) FROM transmissions")
	if err := <-pubDone; err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Logf("%v with %d of %d packets stored; %d when it exited", sig, atStop, split, stored)
	if atStop >= int64(split) {
		t.Fatalf("every packet was stored before the signal; the test proves nothing")
	}
	if err := publishRange(split, total); err != nil {
		t.Fatalf("publish while the daemon is down: %v", err)
	}

	second := startDaemonProcess(t, cfg)
	eventually(t, 30*time.Second, fmt.Sprintf("%d transmissions", total), func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions") >= total
	})
	if code := second.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("second daemon exited with status %d", code)
	}

	got := map[string]bool{}
	rows, err := db.Query("SELECT hash FROM transmissions")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		if got[h] {
			t.Errorf("hash %s stored twice", h)
		}
		got[h] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for h := range want {
		if !got[h] {
			t.Errorf("published packet %s is not stored", h)
		}
	}
	if len(got) != total {
		t.Errorf("transmissions = %d, want %d", len(got), total)
	}
	if n := count(t, db, "SELECT count(*) FROM observations"); n != total {
		t.Errorf("observations = %d, want %d", n, total)
	}
	if n := count(t, db, "SELECT count(*) FROM (SELECT transmission_id FROM observations GROUP BY transmission_id HAVING count(*) <> 1)"); n != 0 {
		t.Errorf("%d transmissions without exactly one observation", n)
	}
	if n := count(t, db, "SELECT packet_count FROM observers WHERE id = ?", obs); n < total {
		t.Errorf("packet_count = %d, want at least %d", n, total)
	}
}

// TestE2EShutdownDrains cancels the daemon right after the broker has
// acknowledged a burst: run returns nil after committing every message,
// and the WAL is checkpointed away.
func TestE2EShutdownDrains(t *testing.T) {
	parallelDaemon(t)
	const burst = 500
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL()}}}
	d := startDaemon(t, cfg)
	pub := newPublisher(t, b)
	topic := packetsTopic("SJC", observerKey("Obs S"))
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last func() error
	for i := range burst {
		tok := pub.Publish(topic, 1, false, packetJSON("Obs S", uniquePacket(i), ts))
		if i == burst-1 {
			last = func() error { return tok.Wait(ctx) }
		}
	}
	// paho sends in order and the broker acknowledges in order.
	if err := last(); err != nil {
		t.Fatal(err)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if fi, err := os.Stat(cfg.DBPath() + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL is %d bytes after shutdown, want empty or gone", fi.Size())
	} else if err != nil && !os.IsNotExist(err) {
		t.Error(err)
	}
	if !strings.Contains(d.logs.String(), `msg=stopped`) {
		t.Errorf("no \"stopped\" line in the log")
	}

	db := openDB(t, cfg.DBPath())
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != burst {
		t.Errorf("transmissions = %d after shutdown, want %d", n, burst)
	}
	if n := count(t, db, "SELECT count(*) FROM observations"); n != burst {
		t.Errorf("observations = %d after shutdown, want %d", n, burst)
	}
}
