package main

// End-to-end tests of the spool, the byte-bounded queue and readiness
// (issue #14 items 1, 2, 3, 5): a real mosquitto, a real SQLite file held
// locked by a second connection, the daemon in-process or as a process.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corescope/etl/etl/mqtt/mqtttest"
)

// lockDB holds a write transaction on the database at path (a writer
// stall, as another process would cause) until the returned func is called.
func lockDB(t *testing.T, path string) (unlock func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := false
	unlock = func() {
		if done {
			return
		}
		done = true
		if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Error(err)
		}
		c.Close()
		db.Close()
	}
	t.Cleanup(unlock)
	return unlock
}

// sumMetric sums every series of name in a scrape.
func sumMetric(scrape, name string) float64 {
	var sum float64
	for _, line := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			var v float64
			f := strings.Fields(line)
			fmt.Sscan(f[len(f)-1], &v)
			sum += v
		}
	}
	return sum
}

// publishQoS0 publishes n unique packets at QoS 0 from index from.
func publishQoS0(t *testing.T, b *mqtttest.Broker, topic string, from, n int) {
	t.Helper()
	pub := newPublisher(t, b)
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := from; i < from+n; i++ {
		if err := pub.Publish(topic, 0, false, packetJSON("Obs Spool", uniquePacket(i), ts)).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func spoolTestConfig(b *mqtttest.Broker, ingest map[string]any) *testConfig {
	in := map[string]any{"shutdownTimeout": "10s", "batchDelay": "20ms"}
	for k, v := range ingest {
		in[k] = v
	}
	// These tests lock the database from outside: the periodic jobs that
	// write (and would then wait on the lock, holding up the shutdown the
	// tests measure) are off.
	off := map[string]any{"enabled": false}
	return &testConfig{
		Sources: []testSource{{Name: "a", Broker: b.URL(), StallAfter: time.Hour}},
		HTTP:    true,
		Extra: map[string]any{"ingest": in, "jobs": map[string]any{
			"neighborEdges": off, "pruneNeighborEdges": off, "multibyteSnapshot": off, "pruneRequests": off,
			"staleNodes": off, "staleObservers": off, "pruneMetrics": off, "walCheckpoint": off,
		}},
	}
}

// A writer stall with more QoS 0 traffic than the queue holds: the source
// keeps reading (nothing blocks paho, the connection stays up), the
// overflow goes to the spool, and everything is stored once the stall ends.
func TestSpoolWriterStall(t *testing.T) {
	parallelDaemon(t)
	const n = 3000
	b := mqtttest.StartBroker(t)
	cfg := spoolTestConfig(b, map[string]any{"queueSize": 100, "batchSize": 50})
	d := startDaemon(t, cfg)
	db := openDB(t, cfg.DBPath())
	d.waitStartupJobs()
	unlock := lockDB(t, cfg.DBPath())

	publishQoS0(t, b, packetsTopic("SJC", observerKey("Obs Spool")), 0, n)
	// Every message is read from the broker while the writer is stalled.
	eventually(t, 20*time.Second, "every message received during the stall", func() bool {
		return sumMetric(d.metrics(), "corescope_mqtt_messages_received_total") == n
	})
	m := d.metrics()
	if v := sumMetric(m, "corescope_spool_appends_total"); v < n-500 {
		t.Errorf("spool appends = %v during the stall, want most of %d", v, n)
	}
	unlock()
	eventually(t, 30*time.Second, fmt.Sprintf("%d transmissions", n), func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions") == n
	})
	m = d.metrics()
	if c, dc := sumMetric(m, "corescope_mqtt_connects_total"), sumMetric(m, "corescope_mqtt_disconnects_total"); c != 1 || dc != 0 {
		t.Errorf("connects = %v, disconnects = %v; want the connection kept through the stall", c, dc)
	}
	if v := sumMetric(m, "corescope_spool_replays_total"); v == 0 {
		t.Error("nothing replayed from the spool")
	}
	if v := sumMetric(m, "corescope_ingest_dropped_total"); v != 0 {
		t.Errorf("dropped = %v, want 0", v)
	}
	eventually(t, 10*time.Second, "the spool emptied", func() bool {
		return sumMetric(d.metrics(), "corescope_spool_bytes") == 0
	})
}

// With the spool's bound reached, messages are dropped, counted with a
// reason, and /readyz is red.
func TestSpoolFullDropsAndReadyzRed(t *testing.T) {
	parallelDaemon(t)
	const n = 500
	b := mqtttest.StartBroker(t)
	cfg := spoolTestConfig(b, map[string]any{"queueSize": 10, "batchSize": 5, "spoolMaxBytes": 20000})
	d := startDaemon(t, cfg)
	db := openDB(t, cfg.DBPath())
	d.waitStartupJobs()
	unlock := lockDB(t, cfg.DBPath())
	publishQoS0(t, b, packetsTopic("SJC", observerKey("Obs Spool")), 0, n)
	eventually(t, 20*time.Second, "every message received", func() bool {
		return sumMetric(d.metrics(), "corescope_mqtt_messages_received_total") == n
	})
	dropped := d.metric(`corescope_ingest_dropped_total{reason="spool_full"}`)
	if dropped == 0 {
		t.Fatal("nothing dropped with a 20 kB spool")
	}
	code, body := httpGet(t, d.url("/readyz"))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "dropped") {
		t.Errorf("/readyz = %d %s, want 503 saying messages are dropped", code, body)
	}
	unlock()
	eventually(t, 30*time.Second, "the kept messages stored", func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions")+int64(dropped) == n
	})
}

var stoppedRE = regexp.MustCompile(`msg=stopped committed=(\d+) spooled=(\d+) lost=(\d+)`)

// SIGTERM with the database locked: what could not be committed by the
// drain deadline is spooled, the last log line counts it, and the next
// start stores it.
func TestSpoolSIGTERMWithLockedDB(t *testing.T) {
	parallelDaemon(t)
	const n = 3000
	b := mqtttest.StartBroker(t)
	cfg := spoolTestConfig(b, map[string]any{"shutdownTimeout": "1s"})
	first := startDaemonProcess(t, cfg)
	first.waitLog(`msg="mqtt subscribed"`, 1)
	addr := waitHTTPAddr(t, first.logs, make(chan error))
	first.waitLog(startupJobsDone, 1)
	unlock := lockDB(t, cfg.DBPath())
	publishQoS0(t, b, packetsTopic("SJC", observerKey("Obs Spool")), 0, n)
	eventually(t, 20*time.Second, "every message received", func() bool {
		_, m := httpGet(t, "http://"+addr+"/metrics")
		return sumMetric(m, "corescope_mqtt_messages_received_total") == n
	})
	_ = first.cmd.Process.Signal(syscall.SIGTERM)
	// The drain deadline passes with the writer still stalled; then the
	// stall ends, so that the final checkpoint can run.
	first.waitLog("messages not committed were spooled", 1)
	unlock()
	if code := first.wait(30 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM", code)
	}
	logs := strings.TrimSpace(first.logs.String())
	lines := strings.Split(logs, "\n")
	last := lines[len(lines)-1]
	mm := stoppedRE.FindStringSubmatch(last)
	if mm == nil {
		t.Fatalf("last log line %q does not state committed, spooled and lost", last)
	}
	if mm[1] != "0" || mm[2] != fmt.Sprint(n) || mm[3] != "0" {
		t.Errorf("last log line %q: want committed=0 spooled=%d lost=0", last, n)
	}

	second := startDaemonProcess(t, cfg)
	db := openDB(t, cfg.DBPath())
	eventually(t, 30*time.Second, fmt.Sprintf("%d transmissions after the restart", n), func() bool {
		return count(t, db, "SELECT count(*) FROM transmissions") == n
	})
	if code := second.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("second daemon exit status %d", code)
	}
	if m := stoppedRE.FindStringSubmatch(second.logs.String()); m == nil || m[1] != fmt.Sprint(n) || m[2] != "0" || m[3] != "0" {
		t.Errorf("second daemon's stopped line: %v, want committed=%d spooled=0 lost=0", m, n)
	}
}

// Messages larger than maxMessageBytes are rejected on arrival, counted,
// and never queued, even with the writer stalled.
func TestOversizedRejectedOnArrival(t *testing.T) {
	parallelDaemon(t)
	const big = 20
	b := mqtttest.StartBroker(t)
	cfg := spoolTestConfig(b, map[string]any{"batchSize": 5})
	d := startDaemon(t, cfg)
	d.waitStartupJobs()
	unlock := lockDB(t, cfg.DBPath())
	topic := packetsTopic("SJC", observerKey("Obs Big"))
	publishQoS0(t, b, topic, 0, 20) // the committer and the next batch are busy
	pub := newPublisher(t, b)
	payload := []byte(`{"raw":"` + strings.Repeat("00", 5<<20) + `"}`) // 10 MB
	for range big {
		publish(t, pub, topic, false, payload)
	}
	eventually(t, 20*time.Second, "the big messages rejected on arrival", func() bool {
		return d.metric(`corescope_ingest_rejects_total{reason="oversized"}`) == big
	})
	if v := d.metric("corescope_ingest_queue_bytes"); v > 1<<20 {
		t.Errorf("queue holds %v bytes after rejecting the big messages", v)
	}
	unlock()
}

type readyVerdict struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons"`
}

func readyz(t *testing.T, url string) (int, readyVerdict) {
	t.Helper()
	code, body := httpGet(t, url)
	var v readyVerdict
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return code, v
}

// /readyz is 503 from the start while the broker is down (no grace), and
// turns 200 once connected; the watchdog reason never shows at startup.
func TestReadyzBrokerDownAtStart(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	b.Stop()
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL(), StallAfter: time.Hour}}, HTTP: true}
	d := startDaemonNoWait(t, cfg)
	code, v := readyz(t, d.url("/readyz"))
	if code != http.StatusServiceUnavailable || !strings.Contains(strings.Join(v.Reasons, ";"), "not connected") {
		t.Fatalf("/readyz with the broker down at start = %d %+v, want 503 not connected", code, v)
	}
	b.Start()
	eventually(t, 20*time.Second, "/readyz 200 once connected", func() bool {
		code, v := readyz(t, d.url("/readyz"))
		for _, r := range v.Reasons {
			if strings.Contains(r, "watchdog") {
				t.Fatalf("startup reason %q", r)
			}
		}
		return code == http.StatusOK
	})
}

// /readyz turns 503 when the database cannot be written, with no traffic:
// the idle probe writes a heartbeat row. The disk is made unwritable with
// RLIMIT_FSIZE 0 (every write to a regular file fails with EFBIG).
func TestReadyzUnwritableDBNoTraffic(t *testing.T) {
	cleanEnv(t) // sequential: it changes dbProbeInterval and the process's file size limit
	saved := dbProbeInterval
	dbProbeInterval = 100 * time.Millisecond
	t.Cleanup(func() { dbProbeInterval = saved })

	b := mqtttest.StartBroker(t)
	// While file writes fail, nothing but the probe may touch a file: the
	// test binary's own log (go test's -test.testlogfile) records file
	// opens and would fail to write. So the jobs that read the server's
	// files are off, and the startup jobs are done first.
	off := map[string]any{"enabled": false}
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL(), StallAfter: time.Hour}}, HTTP: true,
		Extra: map[string]any{"jobs": map[string]any{"pruneRequests": off, "multibyteSnapshot": off}}}
	d := startDaemon(t, cfg)
	d.waitStartupJobs()
	eventually(t, 10*time.Second, "/readyz 200", func() bool { code, _ := readyz(t, d.url("/readyz")); return code == http.StatusOK })

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 0, Max: old.Max}); err != nil {
		t.Skipf("cannot limit the file size: %v", err)
	}
	restore := func() { syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }
	defer restore()
	eventually(t, 10*time.Second, "/readyz 503 with the disk unwritable", func() bool {
		code, v := readyz(t, d.url("/readyz"))
		return code == http.StatusServiceUnavailable && strings.Contains(strings.Join(v.Reasons, ";"), "database not writable")
	})
	restore()
	eventually(t, 10*time.Second, "/readyz 200 again", func() bool { code, _ := readyz(t, d.url("/readyz")); return code == http.StatusOK })
}

// startupJobsDone is the scheduler's log line once the jobs that run at
// start are done: tests that lock the database wait for it, so that no
// startup job is caught on the lock.
const startupJobsDone = `msg="startup jobs done"`

func (d *testDaemon) waitStartupJobs() {
	d.t.Helper()
	eventually(d.t, 30*time.Second, "the startup jobs", func() bool {
		return strings.Contains(d.logs.String(), startupJobsDone)
	})
}
