package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corescope/etl/etl/mqtt/mqtttest"
)

// TestOpsSecondDaemonThroughLinkRefused starts a daemon, then a second one
// whose dbPath is a symlink, then one whose dbPath is a hard link, to the
// first one's database (from another directory): both exit with status 1
// naming the first one's pid, and the first keeps running.
func TestOpsSecondDaemonThroughLinkRefused(t *testing.T) {
	parallelDaemon(t)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: b.URL()}}}
	first := startDaemonProcess(t, cfg)
	first.waitLog(`msg="mqtt subscribed"`, 1)
	pid := strconv.Itoa(first.cmd.Process.Pid)

	other := t.TempDir()
	links := map[string]func(string, string) error{"symlink": os.Symlink, "hard link": os.Link}
	for kind, link := range links {
		p := filepath.Join(other, strings.ReplaceAll(kind, " ", "")+".db")
		if err := link(cfg.DBPath(), p); err != nil {
			t.Fatal(err)
		}
		second := startDaemonProcess(t, &testConfig{Sources: cfg.Sources, Extra: map[string]any{"dbPath": p}})
		if code := second.wait(20 * time.Second); code != 1 {
			t.Errorf("%s: second daemon exit status = %d, want 1\n%s", kind, code, second.logs.String())
		}
		if l := second.logs.String(); !strings.Contains(l, "held by pid "+pid) {
			t.Errorf("%s: second daemon's message does not name pid %s:\n%s", kind, pid, l)
		}
	}
	select {
	case <-first.done:
		t.Fatalf("the first daemon exited: %v", first.err)
	default:
	}
	if code := first.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("first daemon exit status after SIGTERM = %d, want 0", code)
	}
}

// TestOpsPlantedLockSymlink: a symlink planted at <db>-ingestor.lock stops
// the daemon with an error naming it; its target is left as it was.
func TestOpsPlantedLockSymlink(t *testing.T) {
	parallelDaemon(t)
	cfg := &testConfig{Sources: []testSource{{Name: "a", Broker: "tcp://127.0.0.1:1"}}}
	cfg.Write(t)
	target := filepath.Join(cfg.Dir, "precious")
	const content = "keep me\n"
	if err := os.WriteFile(target, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	lock := cfg.DBPath() + "-ingestor.lock"
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	d := startDaemonProcess(t, cfg)
	if code := d.wait(20 * time.Second); code != 1 {
		t.Errorf("daemon exit status = %d, want 1\n%s", code, d.logs.String())
	}
	if l := d.logs.String(); !strings.Contains(l, lock) || !strings.Contains(l, "symbolic link") {
		t.Errorf("the daemon's message does not name the symlinked lock file %s:\n%s", lock, l)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != content {
		t.Errorf("symlink target changed: %q, %v", b, err)
	}
}
