package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.count != defaultCount || o.observers != defaultObservers || o.qos != 0 || o.broker != defaultBroker {
		t.Fatalf("defaults: %+v", o)
	}
	if o, _ := parseFlags([]string{"-duration", "5s"}, io.Discard); o.count != 0 {
		t.Errorf("-duration alone kept the default count %d", o.count)
	}
	o, err = parseFlags([]string{"-demo", "-rate", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.broker != demoBroker || o.rate != 3 || o.observers != demoObservers || o.duration != demoDuration || o.count != 0 {
		t.Errorf("-demo -rate 3: %+v", o)
	}
	bad := [][]string{
		{"-rate", "-1"}, {"-count", "-2"}, {"-observers", "0"}, {"-qos", "2"}, {"-clients", "0"},
		{"-malformed-rate", "1.5"}, {"-advert-share", "-0.1"}, {"-broker", "localhost"},
		{"-iata", "A/B"}, {"-window", "0"}, {"-status-every", "-1s"}, {"-nope"}, {"extra"},
		{"-rate", "NaN"},
	}
	for _, args := range bad {
		_, err := parseFlags(args, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
		if code := exitCode(err, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// Golden values from decoder spec §10 and the test vectors.
func TestContentHash(t *testing.T) {
	for raw, want := range map[string]string{
		"0900D69FD7A5A7":                     "53994806c0aa1167",
		"0A00D69FD7A5A7":                     "53994806c0aa1167",
		"2502AABBDEADBEEF":                   "b1baaf3bf0d0726c",
		"050000000000000000000000":           "fd1b99579c88a4f5",
		"0505AABBCCDDEE00000000000000000000": "fd1b99579c88a4f5",
	} {
		b, _ := hex.DecodeString(raw)
		if got := contentHash(b); got != want {
			t.Errorf("contentHash(%s) = %s, want %s", raw, got, want)
		}
	}
}

func newTestGenerator(t *testing.T, advertShare float64) *generator {
	t.Helper()
	tpl, err := loadTemplates(packetsTxt)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var seq uint64
	return &generator{tpl: tpl, nodes: newNodePool(5, rng), advertShare: advertShare, rng: rng,
		nonce: 0x1234, seq: func() uint64 { seq++; return seq }}
}

// Rewritten packets keep everything but the opaque region, and every one
// has a new content hash.
func TestGeneratedPacketsAreUniqueAndKeepTheirLayout(t *testing.T) {
	g := newTestGenerator(t, 0)
	types := map[byte]bool{}
	for _, tp := range g.tpl {
		types[tp.ptype] = true
	}
	for _, pt := range []byte{ptReq, ptResponse, ptTxtMsg, ptAck, ptGrpTxt, ptGrpData, ptAnonReq, ptPath, ptTrace} {
		if !types[pt] {
			t.Errorf("no template of payload type %d", pt)
		}
	}
	seen := map[string]bool{}
	for _, tp := range g.tpl {
		seen[contentHash(tp.raw)] = true // the originals are not reused either
	}
	for range 20000 {
		p := g.next(time.Now())
		var tp *template
		for j := range g.tpl {
			if len(g.tpl[j].raw) == len(p.raw) && bytes.Equal(g.tpl[j].raw[:g.tpl[j].mutStart], p.raw[:g.tpl[j].mutStart]) &&
				bytes.Equal(g.tpl[j].raw[g.tpl[j].mutEnd:], p.raw[g.tpl[j].mutEnd:]) {
				tp = &g.tpl[j]
				break
			}
		}
		if tp == nil {
			t.Fatalf("packet %X does not match any template outside its opaque region", p.raw)
		}
		if seen[p.hash] {
			t.Fatalf("duplicate content hash %s (packet %X)", p.hash, p.raw)
		}
		seen[p.hash] = true
		if p.hash != contentHash(p.raw) {
			t.Fatalf("hash mismatch")
		}
	}
}

func TestAdvertsAreSignedAndUnique(t *testing.T) {
	g := newTestGenerator(t, 1)
	now := time.Now()
	seen := map[string]bool{}
	for range 50 { // 5 nodes: each sends several adverts within the same second
		p := g.next(now)
		if !p.advert {
			t.Fatal("not an advert")
		}
		pt, start, ok := layout(p.raw)
		if !ok || pt != ptAdvert || p.raw[0]&0x03 != 1 {
			t.Fatalf("bad advert header %X", p.raw)
		}
		pl := p.raw[start:]
		if len(pl) < 100 || len(pl)-100 > 32 {
			t.Fatalf("payload %d bytes, appdata must be 0–32", len(pl))
		}
		pub, ts, sig, app := pl[:32], pl[32:36], pl[36:100], pl[100:]
		msg := append(append(append([]byte{}, pub...), ts...), app...)
		if !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("invalid signature on %X", p.raw)
		}
		if app[0]&0x90 != 0x90 || app[0]&0x0F == 0 || app[0]&0x0F > 3 {
			t.Fatalf("flags %#x", app[0])
		}
		lat := float64(int32(binary.LittleEndian.Uint32(app[1:5]))) / 1e6
		lon := float64(int32(binary.LittleEndian.Uint32(app[5:9]))) / 1e6
		if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			t.Fatalf("position %v,%v", lat, lon)
		}
		if !strings.HasPrefix(string(app[9:]), "LG-") {
			t.Fatalf("name %q", app[9:])
		}
		if seen[p.hash] {
			t.Fatalf("duplicate advert hash")
		}
		seen[p.hash] = true
	}
}

func TestMalformedPayloads(t *testing.T) {
	lg, err := newLoadgen(options{observers: 1, nodes: 1, iata: "SJC"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGenerator(t, 0.5)
	obs := &lg.observers[0]
	for i := range 200 {
		raw := g.next(time.Now()).raw
		kind := i % len(malformedKinds)
		pl := lg.malformedPayload(kind, obs, raw, g.rng)
		var env struct{ Raw string }
		err := json.Unmarshal(pl, &env)
		switch malformedKinds[kind] {
		case malInvalidJSON:
			if err == nil {
				t.Fatalf("valid JSON: %s", pl)
			}
		case malBadHex:
			if _, herr := hex.DecodeString(env.Raw); err != nil || herr == nil {
				t.Fatalf("not bad hex: %s", pl)
			}
		case malTruncated:
			b, herr := hex.DecodeString(env.Raw)
			if err != nil || herr != nil {
				t.Fatalf("truncated must still be JSON with hex: %s", pl)
			}
			if _, start, ok := layout(b); ok && start < len(b) && len(b) >= 2 {
				// A parseable layout must at least have lost its payload.
				if len(b) >= len(raw) {
					t.Fatalf("not truncated: %X of %X", b, raw)
				}
			}
		}
	}
}

func TestBucketPaces(t *testing.T) {
	b := newBucket(1000)
	ctx := context.Background()
	start := time.Now()
	for range 200 {
		if err := b.wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 200 tokens at 1000/s need ≥ ~180 ms (one token and a 20 ms burst may
	// be available at once). Only the lower bound is checked.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("200 tokens at 1000/s took %s", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := newBucket(0.001).wait(cctx); err == nil {
		t.Fatal("wait ignored a cancelled context")
	}
}

// envelope is the subset of a /packets or /status payload the tests read.
type envelope struct {
	Origin    string `json:"origin"`
	OriginID  string `json:"origin_id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Direction string `json:"direction"`
	SNR       string `json:"SNR"`
	RSSI      string `json:"RSSI"`
	Score     string `json:"score"`
	Raw       string `json:"raw"`
	Status    string `json:"status"`
}

// collect subscribes to the broker and returns a channel of everything
// published on meshcore/#.
func collect(t *testing.T, url string) (<-chan etl.Message, *mqtt.Source) {
	t.Helper()
	ch := make(chan etl.Message, 100000)
	src := mqtt.NewSource(mqtt.Config{Name: "collect", Broker: url, CleanSession: true},
		func(ctx context.Context, m etl.Message) error {
			select {
			case ch <- m:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for !src.State().Subscribed {
		if time.Now().After(deadline) {
			t.Fatal("collector did not subscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ch, src
}

func parseSummary(t *testing.T, out string, key string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m[key] != nil {
			return m[key]
		}
	}
	t.Fatalf("no %q line in output:\n%s", key, out)
	return nil
}

func TestRunPublishesObserverTraffic(t *testing.T) {
	b := mqtttest.StartBroker(t)
	msgs, _ := collect(t, b.URL())
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-broker", b.URL(), "-count", "30", "-observers", "3",
		"-rate", "0", "-qos", "1", "-status-every", "1h", "-iata", "TST", "-seed", "7"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	sum := parseSummary(t, out.String(), "published")
	if sum["packet"] != 30.0 || sum["status"] != 3.0 || sum["unique_packets"] != 10.0 || sum["errors"] != 0.0 || sum["total"] != 33.0 {
		t.Fatalf("summary %v", sum)
	}

	byRaw := map[string]map[string]bool{} // raw → observers
	statuses := 0
	for range 33 {
		var m etl.Message
		select {
		case m = <-msgs:
		case <-time.After(10 * time.Second):
			t.Fatal("missing messages")
		}
		parts := strings.Split(m.Topic, "/")
		if len(parts) != 4 || parts[0] != "meshcore" || parts[1] != "TST" || len(parts[2]) != 64 || parts[2] != strings.ToUpper(parts[2]) {
			t.Fatalf("topic %q", m.Topic)
		}
		var env envelope
		if err := json.Unmarshal(m.Payload, &env); err != nil {
			t.Fatalf("payload %s: %v", m.Payload, err)
		}
		if env.OriginID != parts[2] || env.Origin == "" {
			t.Fatalf("origin %q/%q on %s", env.Origin, env.OriginID, m.Topic)
		}
		ts, err := time.Parse(time.RFC3339Nano, env.Timestamp)
		if err != nil || !strings.HasSuffix(env.Timestamp, "Z") || len(env.Timestamp) != len("2006-01-02T15:04:05.000Z") || time.Since(ts) > time.Minute {
			t.Fatalf("timestamp %q: %v", env.Timestamp, err)
		}
		switch parts[3] {
		case "status":
			statuses++
			if env.Status != "online" {
				t.Fatalf("status payload %s", m.Payload)
			}
		case "packets":
			if env.Type != "PACKET" || env.Direction != "rx" || env.SNR == "" || env.RSSI == "" || env.Score == "" {
				t.Fatalf("packet envelope %s", m.Payload)
			}
			raw, err := hex.DecodeString(env.Raw)
			if err != nil || env.Raw != strings.ToUpper(env.Raw) {
				t.Fatalf("raw %q", env.Raw)
			}
			if _, _, ok := layout(raw); !ok {
				t.Fatalf("raw %q has no payload", env.Raw)
			}
			if byRaw[env.Raw] == nil {
				byRaw[env.Raw] = map[string]bool{}
			}
			byRaw[env.Raw][env.OriginID] = true
		default:
			t.Fatalf("topic %q", m.Topic)
		}
	}
	if statuses != 3 || len(byRaw) != 10 {
		t.Fatalf("%d statuses, %d unique packets", statuses, len(byRaw))
	}
	for raw, obs := range byRaw {
		if len(obs) != 3 {
			t.Fatalf("packet %s heard by %d observers, want 3", raw, len(obs))
		}
	}
}

// TestVerifyDB runs the verifier against a real SQLite file written by a
// stand-in ingestor (the minimal columns the verifier reads).
func TestVerifyDB(t *testing.T) {
	b := mqtttest.StartBroker(t)
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE transmissions (id INTEGER PRIMARY KEY AUTOINCREMENT, raw_hex TEXT NOT NULL, hash TEXT NOT NULL UNIQUE)`,
		`CREATE TABLE observations (id INTEGER PRIMARY KEY AUTOINCREMENT, transmission_id INTEGER NOT NULL, observer TEXT)`,
		`INSERT INTO transmissions (raw_hex, hash) VALUES ('00', 'preexisting')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _ := collect(t, b.URL())
	ingestDone := make(chan struct{})
	stopIngest := make(chan struct{})
	go func() { // the stand-in ingestor
		defer close(ingestDone)
		for {
			select {
			case m := <-msgs:
				var env envelope
				if json.Unmarshal(m.Payload, &env) != nil || env.Type != "PACKET" {
					continue
				}
				raw, err := hex.DecodeString(env.Raw)
				if err != nil {
					continue
				}
				h := contentHash(raw)
				if _, err := db.Exec(`INSERT OR IGNORE INTO transmissions (raw_hex, hash) VALUES (?, ?)`, env.Raw, h); err != nil {
					t.Error(err)
					return
				}
				if _, err := db.Exec(`INSERT INTO observations (transmission_id, observer) SELECT id, ? FROM transmissions WHERE hash = ?`, env.OriginID, h); err != nil {
					t.Error(err)
					return
				}
			case <-stopIngest:
				return
			}
		}
	}()
	defer func() { close(stopIngest); <-ingestDone }()

	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"-broker", b.URL(), "-count", "60", "-observers", "2", "-rate", "0",
		"-qos", "1", "-status-every", "1h", "-verify-db", path, "-verify-settle", "500ms", "-verify-timeout", "20s"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	v := parseSummary(t, out.String(), "verify")
	if v["expected_transmissions"] != 30.0 || v["found_transmissions"] != 30.0 || v["missing"] != 0.0 ||
		v["new_transmissions"] != 30.0 || v["expected_observations"] != 60.0 || v["new_observations"] != 60.0 {
		t.Fatalf("verify %v", v)
	}
	lat := v["latency_ms"].(map[string]any)
	if lat["count"] != 30.0 || lat["p50"].(float64) < 0 || lat["max"].(float64) < lat["p99"].(float64) {
		t.Fatalf("latency %v", lat)
	}
}

func TestVerifyDBMissingFile(t *testing.T) {
	err := run(context.Background(), []string{"-verify-db", filepath.Join(t.TempDir(), "nope.db")}, io.Discard, io.Discard)
	if err == nil || exitCode(err, io.Discard) != 1 {
		t.Fatalf("error %v, want a runtime failure before publishing", err)
	}
}
