package main

// Operational end-to-end tests: reconnection, health endpoints, metrics,
// the stats file, secrets in logs, the single-writer lock.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestOpsBrokerRestart stops and restarts the broker under a running
// daemon: the source reconnects and packets published after the restart
// are stored, with a clean session (once it has subscribed again) and with
// a persistent one (at once: the broker keeps the session across its
// restart and queues for it).
func TestOpsBrokerRestart(t *testing.T) {
	parallelDaemon(t)
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%t", persistent), func(t *testing.T) {
			t.Parallel()
			b := mqtttest.StartBroker(t)
			cfg := &testConfig{
				Sources: []testSource{{Name: "a", Broker: b.URL(), ClientID: "corescope-e2e-restart",
					Persistent: persistent, StallAfter: time.Hour}},
				HTTP: true,
			}
			d := startDaemon(t, cfg)
			db := openDB(t, cfg.DBPath())
			topic := packetsTopic("SJC", observerKey("Obs R"))
			ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
			pub := newPublisher(t, b)
			for i := range 10 {
				publish(t, pub, topic, false, packetJSON("Obs R", uniquePacket(i), ts))
			}
			eventually(t, 10*time.Second, "10 packets", func() bool {
				return count(t, db, "SELECT count(*) FROM transmissions") == 10
			})

			b.Stop()
			eventually(t, 10*time.Second, "the source to notice", func() bool {
				return d.metric(`corescope_mqtt_source_connected{source="a"}`) == 0
			})
			b.Start()
			if !persistent {
				d.waitSubscribed(2)
			}
			pub = newPublisher(t, b)
			for i := 10; i < 20; i++ {
				publish(t, pub, topic, false, packetJSON("Obs R", uniquePacket(i), ts))
			}
			eventually(t, 20*time.Second, "the packets published after the restart", func() bool {
				return count(t, db, "SELECT count(*) FROM transmissions") == 20
			})
			if n := d.metric(`corescope_mqtt_connects_total{source="a"}`); n < 2 {
				t.Errorf("connects = %v, want ≥ 2", n)
			}
			if err := d.stop(); err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
}

// TestOpsReadyz checks /readyz against the broker's state, and /healthz
// throughout.
func TestOpsReadyz(t *testing.T) {
	parallelDaemon(t)

	b := mqtttest.StartBroker(t)
	cfg := &testConfig{
		Sources: []testSource{{Name: "alpha", Broker: b.URL(), StallAfter: time.Hour}},
		HTTP:    true,
	}
	d := startDaemon(t, cfg)
	type verdict struct {
		Ready   bool     `json:"ready"`
		Reasons []string `json:"reasons"`
		Grace   bool     `json:"grace"`
	}
	readyz := func() (int, verdict) {
		code, body := httpGet(t, d.url("/readyz"))
		var v verdict
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return code, v
	}
	healthz := func() {
		t.Helper()
		if code, body := httpGet(t, d.url("/healthz")); code != http.StatusOK {
			t.Errorf("/healthz = %d %s, want 200", code, body)
		}
	}

	eventually(t, 10*time.Second, "/readyz 200", func() bool { code, _ := readyz(); return code == http.StatusOK })
	if _, v := readyz(); !v.Ready || v.Grace || len(v.Reasons) > 0 {
		t.Errorf("ready verdict = %+v", v)
	}
	healthz()

	b.Stop()
	eventually(t, 10*time.Second, "/readyz 503", func() bool { code, _ := readyz(); return code == http.StatusServiceUnavailable })
	if _, v := readyz(); v.Ready || len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], "source alpha: not connected") {
		t.Errorf("not-ready verdict = %+v, want one reason naming source alpha", v)
	}
	healthz()

	b.Start()
	eventually(t, 20*time.Second, "/readyz 200 again", func() bool { code, _ := readyz(); return code == http.StatusOK })
	healthz()
	if err := d.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestOpsMetrics runs a known workload, lints /metrics and compares the key
// series.
func TestOpsMetrics(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{
		Sources: []testSource{{Name: "m", Broker: b.URL()}},
		HTTP:    true,
		Extra:   map[string]any{"ingest": map[string]any{"queueSize": 5000, "shutdownTimeout": "10s", "batchDelay": "20ms"}},
	}
	d := startDaemon(t, cfg)
	pub := newPublisher(t, b)
	a, bObs := observerKey("Obs A"), observerKey("Obs B")
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	for i := range 3 {
		publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", uniquePacket(i), ts))
	}
	publish(t, pub, packetsTopic("SJC", bObs), false, packetJSON("Obs B", uniquePacket(0), ts)) // new observation
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", uniquePacket(0), ts))    // duplicate observation
	publish(t, pub, packetsTopic("SJC", a), false, []byte(`{"raw":`))
	publish(t, pub, packetsTopic("SJC", a), false, []byte(`not json`))
	publish(t, pub, "meshcore/SJC/"+a+"/bogus", false, packetJSON("Obs A", uniquePacket(9), ts))
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", "ZZZZ", ts))
	publish(t, pub, statusTopic("SJC", a), false, statusJSON("Obs A", ts, "Heltec V3")) // last: the sentinel
	eventually(t, 10*time.Second, "the status sample", func() bool {
		return d.metric(`corescope_ingest_rows_written_total{table="observer_metrics"}`) == 1
	})

	// Lint every metric the daemon exports.
	code, body := httpGet(t, d.url("/metrics"))
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	const expected = `
# HELP corescope_ingest_rows_written_total Rows inserted or upserted, by table.
# TYPE corescope_ingest_rows_written_total counter
corescope_ingest_rows_written_total{table="dropped_packets"} 1
corescope_ingest_rows_written_total{table="nodes"} 0
corescope_ingest_rows_written_total{table="observations"} 4
corescope_ingest_rows_written_total{table="observer_metrics"} 1
corescope_ingest_rows_written_total{table="observers"} 6
corescope_ingest_rows_written_total{table="transmissions"} 3
# HELP corescope_ingest_duplicates_total Records that matched an existing row, by kind.
# TYPE corescope_ingest_duplicates_total counter
corescope_ingest_duplicates_total{kind="observation"} 1
corescope_ingest_duplicates_total{kind="transmission"} 2
# HELP corescope_ingest_rejects_total Messages rejected by reason (invalid JSON, unknown topic, decode errors, invalid adverts, …).
# TYPE corescope_ingest_rejects_total counter
corescope_ingest_rejects_total{reason="decode_error"} 1
corescope_ingest_rejects_total{reason="invalid_json"} 2
corescope_ingest_rejects_total{reason="unknown_topic"} 1
# HELP corescope_ingest_queue_capacity Capacity of the ingest queue in messages.
# TYPE corescope_ingest_queue_capacity gauge
corescope_ingest_queue_capacity 5000
# HELP corescope_ingest_write_errors_total Records that could not be stored after retries.
# TYPE corescope_ingest_write_errors_total counter
corescope_ingest_write_errors_total 0
# HELP corescope_mqtt_connects_total Successful connections to the broker, reconnects included.
# TYPE corescope_mqtt_connects_total counter
corescope_mqtt_connects_total{source="m"} 1
`
	if err := testutil.ScrapeAndCompare(d.url("/metrics"), strings.NewReader(expected),
		"corescope_ingest_rows_written_total", "corescope_ingest_duplicates_total", "corescope_ingest_rejects_total",
		"corescope_ingest_queue_capacity", "corescope_ingest_write_errors_total", "corescope_mqtt_connects_total"); err != nil {
		t.Error(err)
	}
	for series, want := range map[string]float64{
		`corescope_mqtt_messages_received_total{source="m",subtopic="packets"}`:   8,
		`corescope_mqtt_messages_received_total{source="m",subtopic="status"}`:    1,
		`corescope_mqtt_messages_received_total{source="m",subtopic="other"}`:     1,
		`corescope_ingest_queue_depth`:                                            0,
		`corescope_mqtt_source_connected{source="m"}`:                             1,
		`corescope_build_info{goversion="` + goVersion(body) + `",version="dev"}`: 1,
	} {
		if got, ok := metricValue(body, series); !ok || got != want {
			t.Errorf("%s = %v (present %t), want %v", series, got, ok, want)
		}
	}
	if v, _ := metricValue(body, "corescope_ingest_last_commit_timestamp_seconds"); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last commit timestamp %v is not recent", v)
	}
	if v, _ := metricValue(body, "corescope_db_file_size_bytes"); v <= 0 {
		t.Errorf("corescope_db_file_size_bytes = %v", v)
	}
}

// goVersion returns the goversion label of corescope_build_info in a scrape.
func goVersion(scrape string) string {
	_, rest, _ := strings.Cut(scrape, `corescope_build_info{goversion="`)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// statsKeys are the stats file's keys in CoreScope's order (spec §6).
var statsKeys = []string{"sampledAt", "tx_inserted", "obs_inserted", "tx_dupes", "node_upserts", "observer_upserts",
	"write_errors", "sig_drops", "walCommits", "groupCommitFlushes", "backfillUpdates", "procIO"}

// TestOpsStatsFile checks the per-second stats file: mode 0600, fresh,
// CoreScope's keys in order, counts matching a known workload.
func TestOpsStatsFile(t *testing.T) {
	parallelDaemon(t)
	vs := loadVectors(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Sources: []testSource{{Name: "s", Broker: b.URL()}}, StatsFile: true}
	startDaemon(t, cfg)
	pub := newPublisher(t, b)
	a, bObs := observerKey("Obs A"), observerKey("Obs B")
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	for i := range 3 {
		publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", uniquePacket(i), ts))
	}
	publish(t, pub, packetsTopic("SJC", bObs), false, packetJSON("Obs B", uniquePacket(0), ts))
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", vs["advert"].Raw, ts))
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", vs["badSignature"].Raw, ts))

	type stats struct {
		SampledAt       string           `json:"sampledAt"`
		TxInserted      int64            `json:"tx_inserted"`
		ObsInserted     int64            `json:"obs_inserted"`
		TxDupes         int64            `json:"tx_dupes"`
		NodeUpserts     int64            `json:"node_upserts"`
		ObserverUpserts int64            `json:"observer_upserts"`
		WriteErrors     int64            `json:"write_errors"`
		SigDrops        int64            `json:"sig_drops"`
		WALCommits      int64            `json:"walCommits"`
		GroupCommits    int64            `json:"groupCommitFlushes"`
		Backfill        map[string]int64 `json:"backfillUpdates"`
		ProcIO          map[string]any   `json:"procIO"`
	}
	var (
		s   stats
		raw []byte
	)
	read := func() bool {
		b, err := os.ReadFile(cfg.StatsPath())
		if err != nil {
			return false
		}
		raw, s = b, stats{}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("stats file is not JSON: %v\n%s", err, b)
		}
		return s.TxInserted == 4 && s.SigDrops == 1
	}
	eventually(t, 10*time.Second, "the workload in the stats file", read)

	want := stats{TxInserted: 4, ObsInserted: 5, TxDupes: 1, NodeUpserts: 1, ObserverUpserts: 5, SigDrops: 1}
	got := stats{TxInserted: s.TxInserted, ObsInserted: s.ObsInserted, TxDupes: s.TxDupes, NodeUpserts: s.NodeUpserts,
		ObserverUpserts: s.ObserverUpserts, WriteErrors: s.WriteErrors, SigDrops: s.SigDrops}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counters = %+v, want %+v", got, want)
	}
	if s.WALCommits < 1 || s.GroupCommits < 1 || s.Backfill == nil || len(s.Backfill) != 0 {
		t.Errorf("walCommits %d groupCommitFlushes %d backfillUpdates %v", s.WALCommits, s.GroupCommits, s.Backfill)
	}
	at, err := time.Parse(time.RFC3339, s.SampledAt)
	if err != nil || !strings.HasSuffix(s.SampledAt, "Z") || time.Since(at) > 5*time.Second || time.Until(at) > time.Second {
		t.Errorf("sampledAt = %q (%v), want RFC 3339 UTC within 5 s", s.SampledAt, err)
	}
	if s.ProcIO != nil && s.ProcIO["sampledAt"] != s.SampledAt {
		t.Errorf("procIO.sampledAt = %v, want %s", s.ProcIO["sampledAt"], s.SampledAt)
	}
	if bytes.HasSuffix(raw, []byte("\n")) {
		t.Errorf("the stats file ends with a newline")
	}
	if keys := baseStatsKeys(jsonKeys(t, raw)); !reflect.DeepEqual(keys, statsKeys) && !reflect.DeepEqual(keys, statsKeys[:len(statsKeys)-1]) {
		t.Errorf("keys = %q, want %q (procIO optional)", keys, statsKeys)
	}
	fi, err := os.Lstat(cfg.StatsPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("mode = %v, want -rw-------", fi.Mode())
	}
}

// jsonKeys returns the top-level keys of a JSON object, in order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestOpsSecretsNotLogged runs the daemon with an MQTT password (in the
// config and in a broker URL), HTTP credentials and a channel key against
// a broker that refuses them, at debug level: no secret appears in its log
// nor in the output of check.
func TestOpsSecretsNotLogged(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t, mqtttest.WithConfigLine("allow_anonymous false"))
	const channelKey = "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5"
	secrets := []string{"s3cret-mqtt-pass", "s3cret-url-pass", "s3cret-http-pass", "s3cret-bearer-token", channelKey}
	cfg := &testConfig{
		Sources: []testSource{
			{Name: "withpass", Broker: b.URL(), Username: "ingest", Password: "s3cret-mqtt-pass"},
			{Name: "inurl", Broker: "mqtt://ingest:s3cret-url-pass@" + b.Addr()},
		},
		HTTP: true,
		Extra: map[string]any{
			"logLevel":    "debug",
			"http":        map[string]any{"listen": "127.0.0.1:0", "username": "admin", "password": "s3cret-http-pass", "bearerToken": "s3cret-bearer-token"},
			"channelKeys": map[string]string{"Private": channelKey},
		},
	}
	d := startDaemonNoWait(t, cfg)
	eventually(t, 15*time.Second, "connect failures of both sources", func() bool {
		l := d.logs.String()
		return strings.Contains(l, `msg="mqtt connect failed" component=mqtt source=withpass`) &&
			strings.Contains(l, `msg="mqtt connect failed" component=mqtt source=inurl`)
	})
	if n := strings.Count(d.logs.String(), "not Authorized"); n < 2 {
		t.Errorf("the broker did not refuse both sources' credentials:\n%s", d.logs.String())
	}
	// The credentials work on the HTTP side, and a wrong one is refused.
	req, _ := http.NewRequest("GET", d.url("/metrics"), nil)
	req.Header.Set("Authorization", "Bearer s3cret-bearer-token")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics with the token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, _ := httpGet(t, d.url("/metrics")); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without credentials: %d, want 401", code)
	}
	if err := d.stop(); err != nil {
		t.Errorf("run: %v", err)
	}

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", cfg.Write(t)}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("check: %v\n%s", err, errOut.String())
	}
	for name, text := range map[string]string{"daemon log": d.logs.String(), "check output": out.String() + errOut.String()} {
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
				t.Errorf("%s contains secret %q:\n%s", name, s, text)
			}
		}
	}
	if !strings.Contains(d.logs.String(), "level=DEBUG") {
		t.Errorf("the daemon did not log at debug level; the test is weaker than it looks")
	}
}

// TestOpsSecondDaemonRefused starts a second daemon on the database of a
// running one: it exits with status 1 and names the first one's pid.
func TestOpsSecondDaemonRefused(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL()}}}
	first := startDaemonProcess(t, cfg)
	first.waitLog(`msg="mqtt subscribed"`, 1)

	second := startDaemonProcess(t, cfg)
	if code := second.wait(20 * time.Second); code != 1 {
		t.Errorf("second daemon exit status = %d, want 1\n%s", code, second.logs.String())
	}
	pid := strconv.Itoa(first.cmd.Process.Pid)
	if l := second.logs.String(); !strings.Contains(l, "held by pid "+pid) {
		t.Errorf("second daemon's message does not name pid %s:\n%s", pid, l)
	}
	if code := first.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("first daemon exit status after SIGTERM = %d, want 0", code)
	}
	// The lock is gone with its holder: a new daemon starts.
	third := startDaemonProcess(t, cfg)
	third.waitLog(`msg="mqtt subscribed"`, 1)
	if code := third.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("third daemon exit status = %d, want 0", code)
	}
}
