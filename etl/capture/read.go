package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/corescope/etl/etl/spool"
)

// maxLine is the longest line read (a message far above any uplink's size).
const maxLine = 16 << 20

// BadLine is a line of an input file that could not be read as a message.
type BadLine struct {
	Line int
	Err  error
}

// ReadFile reads a capture file (.jsonl, or .jsonl.gz) or a plain JSON Lines
// file of {"topic": …, "payload": …} objects (payload a string, or any JSON
// value, which is used as its JSON text), calling fn for each message in
// order with its 1-based line number. Lines that are not messages are
// returned in bad, not fatal; an I/O error or fn's error stops the read.
func ReadFile(path string, fn func(r spool.Record, line int) error) (bad []BadLine, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return Read(r, fn)
}

// Read is ReadFile on a stream.
func Read(r io.Reader, fn func(r spool.Record, line int) error) (bad []BadLine, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec, perr := ParseLine(b)
		if perr != nil {
			bad = append(bad, BadLine{Line: n, Err: perr})
			continue
		}
		if err := fn(rec, n); err != nil {
			return bad, err
		}
	}
	if err := sc.Err(); err != nil {
		return bad, err
	}
	return bad, nil
}

// errNotMessage rejects a line without a topic.
var errNotMessage = errors.New("not a message: want an object with topic and payload")

// ParseLine parses one line: the capture/spool format, or {topic, payload}
// with payload any JSON value.
func ParseLine(b []byte) (spool.Record, error) {
	if rec, err := spool.ParseJSON(b); err == nil && rec.Topic != "" {
		return rec, nil
	}
	var plain struct {
		Topic   string          `json:"topic"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &plain); err != nil {
		return spool.Record{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if plain.Topic == "" || len(plain.Payload) == 0 {
		return spool.Record{}, errNotMessage
	}
	return spool.Record{Topic: plain.Topic, Payload: []byte(plain.Payload)}, nil
}
