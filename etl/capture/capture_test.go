package capture

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/spool"
)

func msg(i int) etl.Message {
	return etl.Message{
		Source:   "eu",
		Topic:    fmt.Sprintf("meshcore/SJC/OBS%d/packets", i%3),
		Payload:  []byte(fmt.Sprintf(`{"raw":"0900%04X","i":%d}`, i, i)),
		Received: time.Date(2026, 12, 1, 10, 0, 0, i, time.UTC),
	}
}

func run(t *testing.T, w *Writer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func readAll(t *testing.T, dir string) []spool.Record {
	t.Helper()
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []spool.Record
	for _, f := range files {
		bad, err := ReadFile(f, func(r spool.Record, _ int) error { out = append(out, r); return nil })
		if err != nil || len(bad) > 0 {
			t.Fatalf("%s: %v %v", f, err, bad)
		}
	}
	return out
}

func TestCaptureRotatesCompressesAndRoundTrips(t *testing.T) {
	dir := t.TempDir()
	tick := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	w, err := Open(Options{Dir: dir, MaxFileBytes: 2000, Keep: 1000, Now: func() time.Time { tick = tick.Add(time.Millisecond); return tick }})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, w)
	const n = 200
	for i := range n {
		m := msg(i)
		if i%2 == 1 {
			m.QoS, m.Ack = 1, func() {}
		}
		w.Write(m)
	}
	stop()
	files, _ := Files(dir)
	if len(files) < 5 {
		t.Fatalf("%d files, want rotation by size", len(files))
	}
	for _, f := range files {
		if !strings.HasSuffix(f, ".jsonl.gz") {
			t.Errorf("%s not compressed after rotation", f)
		}
	}
	got := readAll(t, dir)
	if len(got) != n {
		t.Fatalf("read %d messages, want %d", len(got), n)
	}
	for i, r := range got {
		m := msg(i)
		if r.Topic != m.Topic || string(r.Payload) != string(m.Payload) || !r.Received.Equal(m.Received) || r.Source != "eu" || r.QoS != byte(i%2) {
			t.Fatalf("message %d = %+v, want %+v", i, r, m)
		}
	}
}

func TestCaptureKeepsNewestFiles(t *testing.T) {
	dir := t.TempDir()
	tick := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	w, err := Open(Options{Dir: dir, MaxFileBytes: 1, Keep: 3, NoCompress: true, Now: func() time.Time { tick = tick.Add(time.Second); return tick }})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, w)
	for i := range 10 {
		w.Write(msg(i))
	}
	stop()
	got := readAll(t, dir)
	if len(got) != 3 || !strings.Contains(string(got[0].Payload), `"i":7`) {
		t.Fatalf("kept %d messages (%v), want the newest 3", len(got), got)
	}
}

func TestCaptureNeverBlocks(t *testing.T) {
	w, err := Open(Options{Dir: t.TempDir(), Buffer: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: the buffer fills and the rest is dropped at once.
	for i := range 100 {
		w.Write(msg(i))
	}
	if got := len(w.ch); got != 10 {
		t.Fatalf("buffered %d", got)
	}
	// And by bytes.
	w, err = Open(Options{Dir: t.TempDir(), BufferBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	big := msg(0)
	big.Payload = make([]byte, 600)
	w.Write(big)
	w.Write(big)
	if got := len(w.ch); got != 1 {
		t.Fatalf("buffered %d messages of 600 bytes with a 1000-byte budget", got)
	}
}

func TestCaptureStopsOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	w, err := Open(Options{Dir: dir, NoCompress: true})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, w)
	big := strings.Repeat("x", 4000)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; w.Err() == nil; i++ {
		if time.Now().After(deadline) {
			t.Fatal("capture did not stop on a full disk")
		}
		m := msg(i)
		m.Payload = []byte(`{"pad":"` + big + `"}`)
		w.Write(m)
		if i%50 == 49 {
			time.Sleep(10 * time.Millisecond) // let the writer hit the limit
		}
	}
	stop()
	if !strings.Contains(w.Err().Error(), "no space") {
		t.Errorf("Err = %v", w.Err())
	}
	w.Write(msg(1)) // still never blocks
}

func TestParseLine(t *testing.T) {
	for _, c := range []struct {
		line, topic, payload string
		bad                  bool
	}{
		{`{"topic":"meshcore/a/b/packets","payload":"{\"raw\":\"00\"}"}`, "meshcore/a/b/packets", `{"raw":"00"}`, false},
		{`{"topic":"meshcore/a/b/packets","payload":{"raw":"00"}}`, "meshcore/a/b/packets", `{"raw":"00"}`, false},
		{`{"source":"x","topic":"t","payload_base64":"AAE=","qos":1,"retain":false,"received":"2026-12-01T10:00:00Z"}`, "t", "\x00\x01", false},
		{`{"payload":"x"}`, "", "", true},
		{`not json`, "", "", true},
	} {
		r, err := ParseLine([]byte(c.line))
		if (err != nil) != c.bad || (!c.bad && (r.Topic != c.topic || string(r.Payload) != c.payload)) {
			t.Errorf("%s: %+v %v", c.line, r, err)
		}
	}
	// A bad line is reported with its number and the rest is read.
	var n int
	bad, err := Read(strings.NewReader("{\"topic\":\"t\",\"payload\":\"p\"}\n\ngarbage\n{\"topic\":\"t\",\"payload\":\"q\"}\n"), func(spool.Record, int) error { n++; return nil })
	if err != nil || n != 2 || len(bad) != 1 || bad[0].Line != 3 {
		t.Fatalf("n=%d bad=%v err=%v", n, bad, err)
	}
}
