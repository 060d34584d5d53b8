// Package mqtttest runs a real Mosquitto broker for tests: on a free loopback
// port, with persistence in the test's temporary directory, stopped at the
// end of the test.
package mqtttest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the mosquitto executable: $MOSQUITTO if set, else "mosquitto" on
// $PATH, else /usr/sbin/mosquitto (Debian installs it outside a user's PATH).
func Binary() (string, error) {
	if p := os.Getenv("MOSQUITTO"); p != "" {
		return exec.LookPath(p)
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	return exec.LookPath("/usr/sbin/mosquitto")
}

// Default limits written to the generated config. Mosquitto's own defaults
// (20 in flight, 1000 queued) throttle a subscriber that acknowledges after a
// batch commit and drop messages queued for an offline persistent session.
const (
	DefaultMaxInflight = 0 // QoS 1/2 messages in flight per client; 0 = unlimited
	DefaultMaxQueued   = 0 // QoS 1/2 messages queued per client beyond the in-flight ones; 0 = unlimited
)

const (
	startTimeout = 10 * time.Second // until the broker accepts TCP connections
	stopTimeout  = 10 * time.Second // SIGTERM (which saves the persistence file) before SIGKILL
	portAttempts = 5                // fresh ports tried when the chosen one is taken
)

// Option changes the generated broker config.
type Option func(*config)

type config struct {
	maxInflight int
	maxQueued   int
	queueQoS0   bool
	tls         bool
	extra       []string
}

// WithMaxInflight sets max_inflight_messages (0 = unlimited; the default here).
func WithMaxInflight(n int) Option { return func(c *config) { c.maxInflight = n } }

// WithMaxQueued sets max_queued_messages (0 = unlimited; the default here).
func WithMaxQueued(n int) Option { return func(c *config) { c.maxQueued = n } }

// WithQueueQoS0 sets queue_qos0_messages: the broker also queues QoS 0
// messages for a disconnected persistent session.
func WithQueueQoS0(on bool) Option { return func(c *config) { c.queueQoS0 = on } }

// WithConfigLine appends a raw line to the generated mosquitto.conf.
func WithConfigLine(line string) Option {
	return func(c *config) { c.extra = append(c.extra, line) }
}

// Broker is a mosquitto process owned by a test. Its methods are safe for
// concurrent use.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string // config, persistence file and log
	cfg  config
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *LogBuffer    // combined output of every run
}

// StartBroker starts mosquitto on 127.0.0.1 at a free port and stops it when
// the test ends. It skips the test when the mosquitto binary is not installed
// (it fails it instead when $CI is set, so that CI cannot pass by skipping).
// On failure the broker's log is written to the test log.
func StartBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		const msg = "mosquitto not found (install the Debian package mosquitto, or set $MOSQUITTO): %v"
		if os.Getenv("CI") != "" {
			t.Fatalf(msg, err)
		}
		t.Skipf(msg, err)
	}
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), out: &LogBuffer{}}
	for _, o := range opts {
		o(&b.cfg)
	}
	if b.cfg.tls {
		if err := writeCerts(b.dir); err != nil {
			t.Fatalf("mqtttest: certificates: %v", err)
		}
	}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", b.out.String())
		}
	})
	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("mqtttest: pick a port: %v", err)
		}
		b.port = port
		if lastErr = b.start(); lastErr == nil {
			return b
		}
	}
	t.Fatalf("mqtttest: start mosquitto: %v\n%s", lastErr, b.out.String())
	return nil
}

// URL returns the broker's paho URL, tcp://127.0.0.1:PORT (ssl:// with
// WithTLS).
func (b *Broker) URL() string {
	if b.cfg.tls {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// Addr returns the broker's host:port.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Log returns what mosquitto has written so far.
func (b *Broker) Log() string { return b.out.String() }

// Start restarts a stopped broker on the same port with the same persistence
// directory, so persistent sessions and queued messages survive. It fails the
// test if the broker cannot start; it does nothing if it is running.
func (b *Broker) Start() {
	b.t.Helper()
	var err error
	// The old process has exited, but give the kernel a moment in the rare
	// case the port is still held (mosquitto sets SO_REUSEADDR).
	for range portAttempts {
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.t.Fatalf("mqtttest: restart mosquitto on %s: %v", b.Addr(), err)
}

// Stop terminates the broker with SIGTERM (mosquitto then saves its
// persistence file) and waits for it to exit. It does nothing if the broker
// is not running.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(stopTimeout):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
}

func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return nil
	}
	conf := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(b.conf()), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(b.bin, "-c", conf)
	cmd.Stdout = b.out
	cmd.Stderr = b.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("mosquitto exited during startup (%v)", cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			b.cmd, b.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("mosquitto not accepting connections on %s after %s", b.Addr(), startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *Broker) conf() string {
	var s strings.Builder
	fmt.Fprintf(&s, "listener %d 127.0.0.1\n", b.port)
	if b.cfg.tls {
		fmt.Fprintf(&s, "certfile %s\nkeyfile %s\n", filepath.Join(b.dir, "server.pem"), filepath.Join(b.dir, "server.key"))
	}
	s.WriteString("allow_anonymous true\n")
	s.WriteString("persistence true\n")
	fmt.Fprintf(&s, "persistence_location %s/\n", b.dir)
	fmt.Fprintf(&s, "max_inflight_messages %d\n", b.cfg.maxInflight)
	fmt.Fprintf(&s, "max_queued_messages %d\n", b.cfg.maxQueued)
	fmt.Fprintf(&s, "queue_qos0_messages %t\n", b.cfg.queueQoS0)
	s.WriteString("log_dest stderr\n")
	s.WriteString("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	// Run as root, mosquitto drops privileges to user "mosquitto", which
	// cannot write the persistence file in the test's temp dir.
	if u, err := user.Current(); err == nil && u.Username != "" {
		fmt.Fprintf(&s, "user %s\n", u.Username)
	}
	for _, l := range b.cfg.extra {
		s.WriteString(l + "\n")
	}
	return s.String()
}

// freePort asks the kernel for a free loopback port. Another process may take
// it before mosquitto binds; StartBroker retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}

// LogBuffer collects log output (a broker's, a client's, a daemon's); it is
// safe for concurrent writes and reads.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *LogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *LogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
