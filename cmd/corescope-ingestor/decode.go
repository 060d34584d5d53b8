package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/corescope/etl/etl/meshcore"
)

const decodeUsage = `usage: corescope-ingestor decode [-config PATH] [-key name=hex]... [-hashtag '#name']... [-verify=BOOL] [HEX...]

Decodes MeshCore packets given as hex arguments, or one per line on stdin
when there are none (blank lines are skipped; the rest of a line, minus its
line ending, is the raw string as an observer would publish it). Prints one
JSON object per packet. Exits non-zero if any packet fails to decode.

It decodes as the daemon with the same config would store: the config's
channel keys (rainbow file, hashChannels, channelKeys), the built-in Public
key, its hashRegions (transport-scoped packets show "scopeName") and its
validateSignatures. -key and -hashtag add keys, winning over the config's;
-verify overrides validateSignatures.

`

// cmdDecode decodes packets from the command line or stdin and prints one
// JSON object per packet: the packet summary, or {"raw","error","errorKind",
// "hash"} for a packet that does not decode.
func cmdDecode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	dec, hexArgs, err := decodeFlags(args, stderr)
	if dec == nil {
		return err
	}
	out := bufio.NewWriter(stdout)
	var total, failed int
	emit := func(raw string) {
		total++
		line, ok := decodeLine(dec, raw)
		if !ok {
			failed++
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	if len(hexArgs) > 0 {
		for _, raw := range hexArgs {
			if err := ctx.Err(); err != nil {
				return err
			}
			emit(raw)
		}
	} else if err := eachLine(ctx, stdin, emit); err != nil {
		out.Flush()
		return err
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("decode: write: %w", err)
	}
	if failed > 0 {
		return fmt.Errorf("decode: %d of %d packets failed to decode", failed, total)
	}
	return nil
}

// decodeFlags parses the decode subcommand's flags and returns the decoder
// they and the config describe, and the hex arguments. A nil decoder with
// a nil error means -help.
func decodeFlags(args []string, stderr io.Writer) (*meshcore.Decoder, []string, error) {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, decodeUsage)
		fs.PrintDefaults()
	}
	cf := newConfigFlag(fs)
	var hashtags, keys []meshcore.ChannelKey
	var rawKeys []string // parsed after fs.Parse, whose errors would quote them
	fs.Func("key", "channel key `name=hex` (32 hex characters); repeatable", func(s string) error {
		rawKeys = append(rawKeys, s)
		return nil
	})
	fs.Func("hashtag", "hashtag channel `#name` (key derived from the name); repeatable", func(s string) error {
		if s == "" || s == "#" {
			return errors.New("empty channel name")
		}
		name, k := meshcore.HashtagKey(s)
		hashtags = append(hashtags, meshcore.ChannelKey{Name: name, Key: k})
		return nil
	})
	verify := fs.Bool("verify", true, "verify advert signatures (default: the config's validateSignatures)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, nil
		}
		return nil, nil, usageError{fmt.Errorf("decode: %w", err)}
	}
	for _, s := range rawKeys {
		name, h, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, nil, usageError{errors.New("decode: -key: want name=hex")}
		}
		k, err := meshcore.ParseChannelKey(name, h) // never echoes the key
		if err != nil {
			return nil, nil, usageError{fmt.Errorf("decode: -key: %w", err)}
		}
		keys = append(keys, k)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := cf.load(log)
	if err != nil {
		return nil, nil, err
	}
	// -hashtag, then -key: both win over the config's keys.
	opts, err := cfg.DecoderOptions(log, append(hashtags, keys...)...)
	if err != nil {
		return nil, nil, usageError{err}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "verify" {
			opts.VerifySignatures = *verify
		}
	})
	return meshcore.NewDecoder(opts), fs.Args(), nil
}

// eachLine calls emit with each non-blank line of r, its line ending
// removed.
func eachLine(ctx context.Context, r io.Reader, emit func(string)) error {
	br := bufio.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := br.ReadString('\n')
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if strings.TrimSpace(line) != "" {
			emit(line)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("decode: read stdin: %w", err)
		}
	}
}

// decodeLine renders the output object of one packet; ok is false if the
// packet did not decode.
func decodeLine(dec *meshcore.Decoder, raw string) (line []byte, ok bool) {
	rawJSON, _ := json.Marshal(raw)
	p, err := dec.Decode(raw)
	if err != nil {
		kind := ""
		var de *meshcore.Error
		if errors.As(err, &de) {
			kind = de.Kind
		}
		line, _ = json.Marshal(struct {
			Raw       string `json:"raw"`
			Error     string `json:"error"`
			ErrorKind string `json:"errorKind"`
			Hash      string `json:"hash"`
		}{raw, err.Error(), kind, meshcore.ContentHash(raw)})
		return line, false
	}
	// {"raw":…, then the members of the packet summary.
	summary := p.AppendJSON(nil)
	line = append([]byte(`{"raw":`), rawJSON...)
	line = append(line, ',')
	return append(line, summary[1:]...), true
}
