package main

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/transform"
	"github.com/corescope/etl/etl/uplink"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Client RX packets from the decoder vectors (shared/testdata/decoder-vectors.json).
const (
	// vector 107: a zero-hop advert (DIRECT route, no path) of this node.
	crxZeroHopAdvert = "120066be7e332c7a453332bd9d0a7f7db055f5c5ef1a06ada66d98b39fb6810c473a8087ec65edb0d339afef640a1361749ff3961a1d66374f8df76a518eb3001cc4e0fce49954e050de9d56c3ed9e351681c2b9d04d92f608813e9ae3701143afc96d77b70e12516640022807b4f8"
	crxAdvertNode    = "66be7e332c7a453332bd9d0a7f7db055f5c5ef1a06ada66d98b39fb6810c473a"
	// vector 105's advert payload, relayed by 7D1D then DA2A (FLOOD, 2-byte hops).
	crxRelayedAdvert = "1142" + "7D1DDA2A" + "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c00f153653d085d97d82cd20e63512565c7dc9cac0b983ab053c1b8544c3f866848ea6deb0ba958c084b35433a8083ab1499d70b4996fc40c3e71f07ed2df253ea2056e0a80546573744e6f646500"
	crxClient        = "c0ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee0123456789"
)

// crxEnv is the ingest path of the daemon without the broker: the real
// transform (as newTransformer configures it) and a real database file.
type crxEnv struct {
	tr  *transform.Transformer
	reg *prometheus.Registry
	db  *sqlite.DB
	rd  *sql.DB
	now time.Time // receipt time of the next message
}

func newCrxEnv(t *testing.T, enabled bool) *crxEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meshcore.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	tr := transform.New(transform.Config{
		Decoder:    meshcore.NewDecoder(meshcore.Options{VerifySignatures: true}),
		Filter:     uplink.NewFilter(uplink.FilterConfig{Blacklist: []string{" BAD0BAD0 "}, IATAWhitelist: []string{"SJC"}}),
		Sources:    map[string]transform.Source{"a": {Region: "AMS"}}, // not in the whitelist
		ClientRx:   enabled,
		Registerer: reg,
	})
	return &crxEnv{tr: tr, reg: reg, db: db, rd: db.Reader(), now: time.Now().UTC().Truncate(time.Second)}
}

// ingest transforms and stores one message received at e.now.
func (e *crxEnv) ingest(t *testing.T, topic, payload string) []etl.Record {
	t.Helper()
	recs := e.tr.Transform(&etl.Message{Source: "a", Topic: topic, Payload: []byte(payload), Received: e.now}, nil)
	if len(recs) > 0 {
		if _, err := e.db.Apply(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

func (e *crxEnv) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.rd.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func crxTopic(key string) string { return "meshcore/client/" + key + "/packets" }

func crxPayload(raw, origin, direction string, ts time.Time) string {
	s := `{"raw":"` + raw + `","gps":{"lat":"52.3702","lon":4.8952,"acc_m":"12.5"},"direction":"` + direction +
		`","SNR":"-6.75","RSSI":-97.8,"timestamp":"` + ts.UTC().Format(time.RFC3339) + `"`
	if origin != "" {
		s += `,"origin":"` + origin + `"`
	}
	return s + `}`
}

type crxRow struct {
	rx, heard, rxAt, ingested, src string
	keylen, rssi                   int64
	snr, lat, lon, acc             float64
}

func (e *crxEnv) rows(t *testing.T) []crxRow {
	t.Helper()
	rs, err := e.rd.Query(`SELECT rx_pubkey, heard_key, heard_keylen, rssi, snr, lat, lon, pos_acc_m, rx_at, ingested_at, src
FROM client_receptions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []crxRow
	for rs.Next() {
		var r crxRow
		if err := rs.Scan(&r.rx, &r.heard, &r.keylen, &r.rssi, &r.snr, &r.lat, &r.lon, &r.acc, &r.rxAt, &r.ingested, &r.src); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClientRxIngest: head.md §2.16 through the real transform into a real
// file: a relayed advert is heard from its last hop, a zero-hop advert from
// the advertiser; a redelivery adds nothing; the client's name is upserted;
// nothing touches observers, observations or transmissions.
func TestClientRxIngest(t *testing.T) {
	e := newCrxEnv(t, true)
	heardAt := e.now.Add(-2 * time.Minute)
	ts := heardAt.Format(time.RFC3339)
	recv := e.now.Format(time.RFC3339)

	e.ingest(t, crxTopic(strings.ToUpper(crxClient)), crxPayload(crxRelayedAdvert, "Phone A", "rx", heardAt))
	e.ingest(t, crxTopic(crxClient), crxPayload(crxZeroHopAdvert, "", "rx", heardAt))
	want := []crxRow{
		{crxClient, "da2a", ts, recv, "rxlog", 2, -97, -6.75, 52.3702, 4.8952, 12.5},
		{crxClient, crxAdvertNode, ts, recv, "advert", 32, -97, -6.75, 52.3702, 4.8952, 12.5},
	}
	if got := e.rows(t); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("client_receptions = %+v\nwant %+v", got, want)
	}

	// A redelivery (later receipt, same rx_at) adds nothing and keeps
	// ingested_at; a later hearing of the same node is a new row.
	e.now = e.now.Add(time.Minute)
	e.ingest(t, crxTopic(crxClient), crxPayload(crxRelayedAdvert, "Phone A", "rx", heardAt))
	if got := e.rows(t); len(got) != 2 || got[0] != want[0] {
		t.Errorf("after a redelivery: %+v", got)
	}
	e.ingest(t, crxTopic(crxClient), crxPayload(crxRelayedAdvert, "", "rx", heardAt.Add(time.Second)))
	if n := e.count(t, `SELECT count(*) FROM client_receptions WHERE heard_key = 'da2a'`); n != 2 {
		t.Errorf("a later hearing: %d rows of da2a, want 2", n)
	}

	// client_observers: name and last_seen overwritten; a message without
	// origin leaves them.
	var name, lastSeen string
	if err := e.rd.QueryRow(`SELECT name, last_seen FROM client_observers WHERE pubkey = ?`, crxClient).Scan(&name, &lastSeen); err != nil ||
		name != "Phone A" || lastSeen != e.now.Format(time.RFC3339) {
		t.Errorf("client_observers = %q %q (%v), want Phone A at %s", name, lastSeen, err, e.now.Format(time.RFC3339))
	}
	e.now = e.now.Add(time.Minute)
	e.ingest(t, crxTopic(crxClient), crxPayload(crxZeroHopAdvert, "Phone A (renamed)", "rx", heardAt.Add(2*time.Second)))
	if err := e.rd.QueryRow(`SELECT name, last_seen FROM client_observers WHERE pubkey = ?`, crxClient).Scan(&name, &lastSeen); err != nil ||
		name != "Phone A (renamed)" || lastSeen != e.now.Format(time.RFC3339) {
		t.Errorf("client_observers after a rename = %q %q (%v)", name, lastSeen, err)
	}
	if n := e.count(t, `SELECT count(*) FROM client_observers`); n != 1 {
		t.Errorf("%d client_observers rows, want 1", n)
	}

	for _, q := range []string{"observers", "observations", "transmissions", "nodes", "dropped_packets"} {
		if n := e.count(t, `SELECT count(*) FROM `+q); n != 0 {
			t.Errorf("%s has %d rows; client receptions must not touch it", q, n)
		}
	}
}

// TestClientRxNotStored: what is rejected or not attributable stores no row
// and is counted.
func TestClientRxNotStored(t *testing.T) {
	e := newCrxEnv(t, true)
	at := e.now.Add(-time.Minute)
	for _, m := range []struct{ name, topic, payload string }{
		{"non-hex key", crxTopic("xyz" + crxClient[3:]), crxPayload(crxRelayedAdvert, "P", "rx", at)},
		{"direction tx", crxTopic(crxClient), crxPayload(crxRelayedAdvert, "P", "tx", at)},
		{"blacklisted", crxTopic("bad0bad0"), crxPayload(crxRelayedAdvert, "P", "rx", at)},
		{"blacklisted, upper case", crxTopic("BAD0BAD0"), crxPayload(crxRelayedAdvert, "P", "rx", at)},
	} {
		if recs := e.ingest(t, m.topic, m.payload); len(recs) != 0 {
			t.Errorf("%s: records %+v", m.name, recs)
		}
	}
	for _, q := range []string{"client_receptions", "client_observers", "observers", "transmissions"} {
		if n := e.count(t, `SELECT count(*) FROM `+q); n != 0 {
			t.Errorf("%s has %d rows, want none", q, n)
		}
	}
	for series, want := range map[string]float64{
		`corescope_ingest_rejects_total{reason="client_invalid_pubkey"}`: 1,
		`corescope_ingest_client_receptions_total{result="not_rx"}`:      1,
		`corescope_ingest_filtered_total{reason="blacklisted"}`:          2,
		`corescope_ingest_client_receptions_total{result="heard"}`:       0,
		`corescope_ingest_rejects_total{reason="iata_not_whitelisted"}`:  0,
		`corescope_ingest_filtered_total{reason="iata_not_whitelisted"}`: 0,
	} {
		if got := e.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// metric returns the value of one series of the transform's registry
// (0 when absent), as the daemon's /metrics would show it.
func (e *crxEnv) metric(t *testing.T, series string) float64 {
	t.Helper()
	w := httptest.NewRecorder()
	promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	v, _ := metricValue(w.Body.String(), series)
	return v
}

// TestClientRxFeatureOff: with clientRxCoverage off the client topic is an
// observer's packet topic, as before (observer id = the key, the IATA
// lists apply), and no client row is written.
func TestClientRxFeatureOff(t *testing.T) {
	e := newCrxEnv(t, false)
	at := e.now.Add(-time.Minute)
	// The region is the source's, AMS: the IATA whitelist (SJC) drops it.
	if recs := e.ingest(t, crxTopic(crxClient), crxPayload(uniquePacket(1), "Phone A", "rx", at)); len(recs) != 0 {
		t.Fatalf("records = %+v, want none: the whitelist applies to observers", recs)
	}
	if got := e.metric(t, `corescope_ingest_filtered_total{reason="iata_not_whitelisted"}`); got != 1 {
		t.Errorf("filtered{iata_not_whitelisted} = %v, want 1", got)
	}
	payload := strings.Replace(crxPayload(uniquePacket(1), "Phone A", "rx", at), `{`, `{"region":"sjc",`, 1)
	recs := e.ingest(t, crxTopic(crxClient), payload)
	if len(recs) != 1 || recs[0].Kind != etl.KindPacket {
		t.Fatalf("records = %+v, want an observer's packet", recs)
	}
	if n := e.count(t, `SELECT count(*) FROM observers WHERE id = ? AND name = 'Phone A' AND iata = 'SJC'`, crxClient); n != 1 {
		t.Errorf("observer %s: %d rows, want 1", crxClient, n)
	}
	if n := e.count(t, `SELECT count(*) FROM observations`); n != 1 {
		t.Errorf("%d observations, want 1", n)
	}
	for _, q := range []string{"client_receptions", "client_observers"} {
		if n := e.count(t, `SELECT count(*) FROM `+q); n != 0 {
			t.Errorf("%s has %d rows with the feature off", q, n)
		}
	}
}

// TestE2EClientRxCoverage: with clientRxCoverage.enabled, a mobile client's
// message through a real broker becomes a client_receptions row, and
// pruneClientReceptions (retention.clientRxDays) then expires it.
func TestE2EClientRxCoverage(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL()}}, HTTP: true, Extra: map[string]any{
		"clientRxCoverage": map[string]any{"enabled": true},
		"retention":        map[string]any{"clientRxDays": 1},
	}}
	d := startDaemon(t, cfg)
	// pruneClientReceptions also runs at start: let that run finish first.
	eventually(t, 10*time.Second, "the startup run of pruneClientReceptions", func() bool {
		code, body := httpGet(t, d.url("/jobs/pruneClientReceptions/runs"))
		return code == http.StatusOK && strings.TrimSpace(body) != "[]"
	})

	pub := newPublisher(t, b)
	old := time.Now().UTC().Add(-3 * 24 * time.Hour).Truncate(time.Second) // heard 3 days ago, uploaded now
	recent := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	publish(t, pub, crxTopic(crxClient), false, []byte(crxPayload(crxRelayedAdvert, "Phone A", "rx", old)))
	publish(t, pub, crxTopic(crxClient), false, []byte(crxPayload(crxZeroHopAdvert, "Phone A", "rx", recent)))
	db := openDB(t, cfg.DBPath())
	eventually(t, 10*time.Second, "two client_receptions rows", func() bool {
		return count(t, db, `SELECT count(*) FROM client_receptions`) == 2
	})
	if n := count(t, db, `SELECT count(*) FROM client_receptions WHERE heard_key = 'da2a' AND src = 'rxlog' AND rx_at = ?`,
		old.Format(time.RFC3339)); n != 1 {
		t.Errorf("the relayed advert's row: %d, want heard da2a at %s", n, old.Format(time.RFC3339))
	}
	if n := count(t, db, `SELECT count(*) FROM observers`); n != 0 {
		t.Errorf("%d observers rows from client receptions", n)
	}

	// Retention of 1 day: the row heard 3 days ago goes, the recent one and
	// the client (last seen now) stay.
	eventually(t, 10*time.Second, "pruneClientReceptions to run", func() bool {
		resp, err := http.Post(d.url("/jobs/pruneClientReceptions/run"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if n := count(t, db, `SELECT count(*) FROM client_receptions`); n != 1 {
		t.Errorf("after the prune: %d client_receptions rows, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM client_receptions WHERE rx_at = ?`, recent.Format(time.RFC3339)); n != 1 {
		t.Errorf("the recent reception was pruned")
	}
	if n := count(t, db, `SELECT count(*) FROM client_observers`); n != 1 {
		t.Errorf("after the prune: %d client_observers rows, want 1", n)
	}
	if got := d.metric(`corescope_ingest_client_receptions_total{result="heard"}`); got != 2 {
		t.Errorf("client receptions heard = %v, want 2", got)
	}
	if err := d.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}
