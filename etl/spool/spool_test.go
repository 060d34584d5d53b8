package spool_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corescope/etl/etl/spool"
)

func rec(i int) spool.Record {
	return spool.Record{
		Source:   "a",
		Topic:    fmt.Sprintf("meshcore/SJC/OBS%d/packets", i),
		Payload:  fmt.Appendf(nil, `{"raw":"09%06d","n":%d}`, i, i),
		QoS:      byte(i % 2),
		Retain:   i%7 == 0,
		Received: time.Unix(1700000000, int64(i)).UTC(),
	}
}

func open(t testing.TB, dir string, opts spool.Options) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// next waits (on Ready) for the next record.
func next(t testing.TB, s *spool.Spool) (spool.Record, spool.Pos) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if r, pos, ok := s.Next(); ok {
			return r, pos
		}
		select {
		case <-s.Ready():
		case <-time.After(10 * time.Millisecond): // Ready is an edge; poll too
		case <-deadline:
			t.Fatal("no record within 10s")
		}
	}
}

func equal(a, b spool.Record) bool {
	return a.Source == b.Source && a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) &&
		a.QoS == b.QoS && a.Retain == b.Retain && a.Received.Equal(b.Received)
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []spool.Record{
		rec(1),
		{Source: "b", Topic: "t/\u00e9", Payload: []byte("\x00\xff\xfe binary"), Received: time.Unix(1, 2)},
		{Source: "c", Topic: "bad\xfftopic", Payload: nil, QoS: 1, Received: time.Unix(3, 0)},
		{Source: "d", Topic: "q", Payload: []byte("line\nbreak \"quoted\" \u2028"), Received: time.Unix(4, 0)},
	} {
		b, err := spool.AppendJSON(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(b, []byte{'\n'}) != 1 || b[len(b)-1] != '\n' {
			t.Fatalf("line %q: want exactly one trailing newline", b)
		}
		got, err := spool.ParseJSON(b[:len(b)-1])
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got, r) {
			t.Errorf("round trip of %+v gave %+v (line %s)", r, got, b)
		}
	}
	if _, err := spool.ParseJSON([]byte(`{"source":"a"}`)); err == nil {
		t.Error("a line without a topic parsed")
	}
}

// Records come back in order across segments; done is called after the
// fsync; committed segments are deleted; the bound is enforced.
func TestSpoolAppendReplayCommit(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, spool.Options{SegmentBytes: 4 << 10})
	const n = 1000
	var acked atomic.Int64
	for i := range n {
		r := rec(i)
		if err := s.Append(&r, func() { acked.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	var last spool.Pos
	for i := range n {
		got, pos := next(t, s)
		if want := rec(i); !equal(got, want) {
			t.Fatalf("record %d = %+v, want %+v", i, got, want)
		}
		last = pos
	}
	if _, _, ok := s.Next(); ok {
		t.Fatal("a record after the last one")
	}
	if acked.Load() != n {
		t.Errorf("done called %d times, want %d", acked.Load(), n)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) < 2 {
		t.Fatalf("%d segment files, want several of about 4 KiB", len(files))
	}
	if st := s.Stats(); st.Unread != 0 || st.Bytes == 0 {
		t.Errorf("stats before commit = %+v", st)
	}
	s.Commit(last, n)
	files, _ = filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) != 0 || s.Stats().Bytes != 0 {
		t.Errorf("after committing everything: files %v, bytes %d", files, s.Stats().Bytes)
	}
	// Appends after the spool emptied are read too.
	r := rec(n)
	if err := s.Append(&r, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := next(t, s); !equal(got, r) {
		t.Errorf("record after emptying = %+v", got)
	}
}

func TestSpoolFull(t *testing.T) {
	s := open(t, t.TempDir(), spool.Options{MaxBytes: 1000})
	var err error
	appended := 0
	for i := 0; i < 100 && err == nil; i++ {
		r := rec(i)
		if err = s.Append(&r, nil); err == nil {
			appended++
		}
	}
	if !errors.Is(err, spool.ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if appended == 0 || s.Stats().Bytes > 1000 {
		t.Errorf("appended %d, bytes %d (bound 1000)", appended, s.Stats().Bytes)
	}
	// Committing makes room again.
	var last spool.Pos
	for range appended {
		_, last = next(t, s)
	}
	s.Commit(last, appended)
	r := rec(0)
	if err := s.Append(&r, nil); err != nil {
		t.Errorf("append after commit: %v", err)
	}
}

// What is not committed survives a restart, a torn last line is cut, and
// Prepend puts records in front.
func TestSpoolReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{SegmentBytes: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		r := rec(i)
		if err := s.Append(&r, nil); err != nil {
			t.Fatal(err)
		}
	}
	var pos spool.Pos
	for range 40 {
		_, pos = next(t, s)
	}
	s.Commit(pos, 40)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of a write.
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	f, err := os.OpenFile(files[len(files)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"source":"a","topic":"torn`)
	f.Close()

	s = open(t, dir, spool.Options{})
	if err := s.Prepend([]spool.Record{rec(-2), rec(-1)}); err != nil {
		t.Fatal(err)
	}
	// Records of a partly committed segment come back (at least once).
	got := []spool.Record{}
	for {
		r, _, ok := s.Next()
		if !ok {
			break
		}
		got = append(got, r)
	}
	if len(got) < 62 || !equal(got[0], rec(-2)) || !equal(got[1], rec(-1)) || !equal(got[len(got)-1], rec(99)) {
		t.Fatalf("after reopen: %d records, first %+v, last %+v", len(got), got[0], got[len(got)-1])
	}
	first := got[2].Received.Nanosecond()
	if first > 40 {
		t.Errorf("records %d..39 were lost", first)
	}
	for i, r := range got[2:] {
		if want := rec(first + i); !equal(r, want) {
			t.Fatalf("record %d = %+v, want %+v", i, r, want)
		}
	}
}

// BenchmarkSpoolAppend measures Append with the group-committed fsync: the
// time per message until its done callback has run.
func BenchmarkSpoolAppend(b *testing.B) {
	s := open(b, b.TempDir(), spool.Options{})
	r := rec(1)
	r.Payload = bytes.Repeat([]byte("x"), 300)
	done := make(chan struct{}, 1)
	b.SetBytes(int64(len(r.Payload)))
	b.ResetTimer()
	for i := range b.N {
		var cb func()
		if i == b.N-1 {
			cb = func() { done <- struct{}{} }
		}
		if err := s.Append(&r, cb); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// BenchmarkSpoolReplay measures Next over spooled messages.
func BenchmarkSpoolReplay(b *testing.B) {
	s := open(b, b.TempDir(), spool.Options{})
	r := rec(1)
	r.Payload = bytes.Repeat([]byte("x"), 300)
	for range b.N {
		if err := s.Append(&r, nil); err != nil {
			b.Fatal(err)
		}
	}
	for s.Stats().Unread > 0 {
		if _, _, ok := s.Next(); !ok {
			<-s.Ready()
		} else {
			break
		}
	}
	b.SetBytes(int64(len(r.Payload)))
	b.ResetTimer()
	n := 1
	for n < b.N {
		if _, _, ok := s.Next(); ok {
			n++
		} else {
			<-s.Ready()
		}
	}
}
