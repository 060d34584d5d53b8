package main

// Helpers of the end-to-end tests (e2e_test.go, ops_test.go): a daemon run
// in-process by run() or as a subprocess of the test binary, against real
// mosquitto brokers (mqtttest), with a real SQLite file and real HTTP.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/corescope/etl/etl/waittest"
	"go.yaml.in/yaml/v3"
)

// logBuffer collects log output; safe for concurrent use.
type logBuffer = mqtttest.LogBuffer

// eventually polls cond until it is true, failing the test after timeout:
// the shared waittest.Until, under the name the e2e tests use.
var eventually = waittest.Until

// parallelDaemon marks a daemon test parallel, unless the process
// environment holds variables that config.Load reads (run reads
// os.Environ()): then they are cleared, which needs a sequential test.
func parallelDaemon(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, config.EnvPrefix) || name == config.EnvDBPath || name == config.EnvMQTTBroker ||
			name == config.EnvMQTTTopic || name == config.EnvChannelKeysPath {
			cleanEnv(t)
			return
		}
	}
	t.Parallel()
}

// e2eVector is a decoder vector (shared/testdata/decoder-vectors.json)
// copied into testdata/e2e-vectors.json.
type e2eVector struct {
	Raw                string            `json:"raw"`
	ChannelKeys        map[string]string `json:"channelKeys"`
	ValidateSignatures bool              `json:"validateSignatures"`
	VectorIndex        int               `json:"vectorIndex"`
	Expect             struct {
		OK              bool   `json:"ok"`
		Type            string `json:"type"`
		DecodedJSONText string `json:"decodedJsonText"`
		Columns         struct {
			RouteType      int     `json:"route_type"`
			PayloadType    int     `json:"payload_type"`
			PayloadVersion int     `json:"payload_version"`
			ChannelHash    *string `json:"channel_hash"`
			FromPubkey     *string `json:"from_pubkey"`
		} `json:"columns"`
		PathJSON    string `json:"pathJson"`
		ContentHash string `json:"contentHash"`
		ErrorKind   string `json:"errorKind"`
		Advert      *struct {
			Valid  bool   `json:"valid"`
			Reason string `json:"reason"`
			Role   string `json:"role"`
		} `json:"advertValidation"`
		DecodedJSON struct {
			Name string   `json:"name"`
			Lat  *float64 `json:"lat"`
			Lon  *float64 `json:"lon"`
		} `json:"decodedJson"`
	} `json:"expect"`
	Fixture *struct {
		StoredHash             string `json:"storedHash"`
		StoredHashMatchesRule  bool   `json:"storedHashMatchesRule"`
		StoredDecodedJSONEqual bool   `json:"storedDecodedJsonEqual"`
	} `json:"fixture"`
}

// loadVectors reads testdata/e2e-vectors.json: real packets by role.
func loadVectors(t testing.TB) map[string]e2eVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "e2e-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs map[string]e2eVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// testSource is one mqttSources entry of a test config.
type testSource struct {
	Name       string
	Broker     string // tcp://127.0.0.1:PORT
	ClientID   string // required with Persistent
	Persistent bool   // cleanSession: false
	StallAfter time.Duration
	Username   string
	Password   string
}

// testConfig is a daemon config written as YAML into a temp directory.
type testConfig struct {
	Dir       string // default: a new t.TempDir()
	Sources   []testSource
	HTTP      bool           // listen on 127.0.0.1:0
	StatsFile bool           // stats.file in Dir
	Extra     map[string]any // more top-level keys, merged last

	path string
}

// DBPath returns the database path (in Dir).
func (c *testConfig) DBPath() string { return filepath.Join(c.Dir, "meshcore.db") }

// StatsPath returns the stats file path (in Dir).
func (c *testConfig) StatsPath() string { return filepath.Join(c.Dir, "stats.json") }

// Write writes the config file once and returns its path.
func (c *testConfig) Write(t testing.TB) string {
	t.Helper()
	if c.path != "" {
		return c.path
	}
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	srcs := make([]map[string]any, 0, len(c.Sources))
	for _, s := range c.Sources {
		m := map[string]any{
			"name":              s.Name,
			"broker":            s.Broker,
			"qos":               1,
			"connectTimeoutSec": 2,
			"cleanSession":      !s.Persistent,
		}
		if s.ClientID != "" {
			m["clientId"] = s.ClientID
		}
		if s.StallAfter != 0 {
			m["stallAfter"] = s.StallAfter.String()
		}
		if s.Username != "" {
			m["username"] = s.Username
			m["password"] = s.Password
		}
		srcs = append(srcs, m)
	}
	doc := map[string]any{
		"dbPath":      c.DBPath(),
		"mqttSources": srcs,
		"http":        map[string]any{"listen": ""},
		"stats":       map[string]any{"file": ""},
		"ingest":      map[string]any{"shutdownTimeout": "10s", "batchDelay": "20ms"},
	}
	if c.HTTP {
		doc["http"] = map[string]any{"listen": "127.0.0.1:0"}
	}
	if c.StatsFile {
		doc["stats"] = map[string]any{"file": c.StatsPath(), "interval": "100ms"}
	}
	for k, v := range c.Extra {
		doc[k] = v
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	c.path = filepath.Join(c.Dir, "config.yaml")
	if err := os.WriteFile(c.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return c.path
}

// testDaemon is a daemon run in-process by run().
type testDaemon struct {
	t      testing.TB
	cfg    *testConfig
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
	addr   string // HTTP address; "" without HTTP

	stopped bool
	err     error
}

// startDaemon runs the daemon of cfg in-process and waits until its HTTP
// listener is up (when configured) and every source has subscribed.
func startDaemon(t testing.TB, cfg *testConfig) *testDaemon {
	t.Helper()
	d := startDaemonNoWait(t, cfg)
	d.waitSubscribed(len(cfg.Sources))
	return d
}

// startDaemonNoWait runs the daemon of cfg in-process; it waits only for
// the HTTP listener, when configured.
func startDaemonNoWait(t testing.TB, cfg *testConfig) *testDaemon {
	t.Helper()
	path := cfg.Write(t)
	ctx, cancel := context.WithCancel(context.Background())
	d := &testDaemon{t: t, cfg: cfg, cancel: cancel, done: make(chan error, 1), logs: &logBuffer{}}
	go func() { d.done <- run(ctx, []string{"-config", path}, strings.NewReader(""), io.Discard, d.logs) }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logs.String())
		}
	})
	if cfg.HTTP {
		d.addr = waitHTTPAddr(t, d.logs, d.done)
	}
	return d
}

var httpAddrRE = regexp.MustCompile(`msg="http listening".* addr=(\S+)`)

// waitHTTPAddr waits for the daemon's "http listening" log line and
// returns the bound address.
func waitHTTPAddr(t testing.TB, logs *logBuffer, done chan error) string {
	t.Helper()
	var addr string
	eventually(t, 10*time.Second, "the HTTP listener", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("daemon exited during startup: %v\n%s", err, logs.String())
		default:
		}
		if m := httpAddrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

// waitSubscribed waits until n "mqtt subscribed" lines have been logged.
func (d *testDaemon) waitSubscribed(n int) {
	d.t.Helper()
	eventually(d.t, 15*time.Second, fmt.Sprintf("%d subscriptions", n), func() bool {
		return strings.Count(d.logs.String(), `msg="mqtt subscribed"`) >= n
	})
}

// stop cancels the daemon's context (SIGTERM's path) and returns run's
// error. It can be called more than once.
func (d *testDaemon) stop() error {
	d.t.Helper()
	if d.stopped {
		return d.err
	}
	d.stopped = true
	d.cancel()
	select {
	case d.err = <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("daemon did not stop within 30s\n%s", d.logs.String())
	}
	return d.err
}

// url returns the daemon's HTTP URL for path.
func (d *testDaemon) url(path string) string { return "http://" + d.addr + path }

// metrics scrapes /metrics.
func (d *testDaemon) metrics() string {
	d.t.Helper()
	code, body := httpGet(d.t, d.url("/metrics"))
	if code != http.StatusOK {
		d.t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	return body
}

// metric returns the value of one series of /metrics (0 when absent).
func (d *testDaemon) metric(series string) float64 {
	d.t.Helper()
	v, _ := metricValue(d.metrics(), series)
	return v
}

// metricValue finds series, written as in the exposition format
// (name{label="value",…}), in a scrape.
func metricValue(scrape, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(scrape))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		return v, err == nil
	}
	return 0, false
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// helperConfigEnv names the config of TestHelperDaemon. It must not start
// with CORESCOPE_, which config.Load reads as config keys.
const helperConfigEnv = "INGESTOR_E2E_HELPER_CONFIG"

// TestHelperDaemon is not a test: it is the daemon process of the
// subprocess tests, which re-execute the test binary with it.
func TestHelperDaemon(t *testing.T) {
	path := os.Getenv(helperConfigEnv)
	if path == "" {
		t.Skip("helper process of the subprocess tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, []string{"-config", path}, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// daemonProcess is a daemon running in a subprocess (TestHelperDaemon).
type daemonProcess struct {
	t    testing.TB
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, after done
}

// startDaemonProcess starts the daemon of cfg in a subprocess. It does not
// wait for anything; see waitLog.
func startDaemonProcess(t testing.TB, cfg *testConfig) *daemonProcess {
	t.Helper()
	path := cfg.Write(t)
	p := &daemonProcess{t: t, logs: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), helperConfigEnv+"="+path)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("daemon process %d log:\n%s", p.cmd.Process.Pid, p.logs.String())
		}
	})
	return p
}

// waitLog waits until the process has logged n lines containing s.
func (p *daemonProcess) waitLog(s string, n int) {
	p.t.Helper()
	eventually(p.t, 20*time.Second, fmt.Sprintf("%d× %q in the daemon log", n, s), func() bool {
		select {
		case <-p.done:
			p.t.Fatalf("daemon process exited: %v\n%s", p.err, p.logs.String())
		default:
		}
		return strings.Count(p.logs.String(), s) >= n
	})
}

// kill sends SIGKILL and waits for the process to exit.
func (p *daemonProcess) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// wait waits for the process to exit and returns its exit status.
func (p *daemonProcess) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("daemon process still running after %s\n%s", timeout, p.logs.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("daemon process: %v", p.err)
	}
	return 0
}

// signal sends sig and returns the exit status.
func (p *daemonProcess) signal(sig syscall.Signal) int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	return p.wait(30 * time.Second)
}

// newPublisher connects a publishing client to b, closed at the end of
// the test.
func newPublisher(t testing.TB, b *mqtttest.Broker) *mqtt.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := mqtt.NewPublisher(ctx, mqtt.PublisherConfig{Broker: b.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// publish publishes at QoS 1 and waits for the broker's PUBACK.
func publish(t testing.TB, p *mqtt.Publisher, topic string, retained bool, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Publish(topic, 1, retained, payload).Wait(ctx); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// observerKey returns a stable observer id (64 uppercase hex chars) for name.
func observerKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func packetsTopic(iata, observer string) string {
	return "meshcore/" + iata + "/" + observer + "/packets"
}
func statusTopic(iata, observer string) string {
	return "meshcore/" + iata + "/" + observer + "/status"
}

// packetJSON is an uplink /packets payload as meshcoretomqtt writes it:
// strings everywhere, a zoned timestamp.
func packetJSON(origin, raw string, ts time.Time) []byte {
	b, _ := json.Marshal(map[string]string{
		"origin":    origin,
		"raw":       raw,
		"SNR":       "-5.5",
		"RSSI":      "-90",
		"score":     "1000",
		"direction": "rx",
		"timestamp": ts.UTC().Format(time.RFC3339),
	})
	return b
}

// uniquePacket returns a TXT_MSG (FLOOD, no path) whose ciphertext carries
// i, so that every i has its own content hash and the packet decodes.
func uniquePacket(i int) string {
	var ct [16]byte
	copy(ct[:], "corescope-e2e-tx")
	binary.BigEndian.PutUint32(ct[12:], uint32(i))
	// header 0x09: FLOOD, TXT_MSG; path byte 0; dest, src, 2-byte MAC.
	return "0900" + "A1" + "B2" + "C3D4" + strings.ToUpper(hex.EncodeToString(ct[:]))
}

// openDB opens the daemon's database read-only.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// count runs a query returning one integer; a missing table (the daemon
// has not migrated yet) counts as -1.
func count(t testing.TB, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return -1
		}
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
