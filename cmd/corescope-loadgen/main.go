// Command corescope-loadgen publishes realistic MeshCore observer traffic to
// an MQTT broker, to load-test corescope-ingestor, and optionally checks what
// reached the database.
//
// Packets are real ones (testdata/packets.txt, from the decoder test
// vectors) made unique per publish so that the ingestor does not deduplicate
// them: the opaque bytes of encrypted payloads (REQ, RESPONSE, TXT_MSG,
// PATH, GRP_TXT, GRP_DATA, ANON_REQ), the ACK CRC or the TRACE tag are
// rewritten, keeping header, path and length, so the packets still decode and
// their content hash changes. Adverts are generated and signed with fresh
// Ed25519 node keys, so they pass signature validation. Each packet is
// published once per observer on meshcore/<IATA>/<OBSERVER KEY>/packets in a
// meshcoretomqtt-like JSON envelope; each observer also publishes a status
// message periodically.
//
// At the end a one-line JSON summary of what was published is printed. With
// -verify-db, the database is then polled read-only until its counts settle,
// and a second JSON line reports what was stored and the publish→visible
// latency per unique packet (measured by polling transmissions every 20 ms,
// so the resolution is about 20 ms). The exit status is 0 on success (an
// interrupt prints the summary and exits 0), 2 on bad flags, 1 on a runtime
// failure or when -verify-db finds packets missing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError marks a command-line error: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "corescope-loadgen:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// Flag defaults.
const (
	defaultBroker      = "tcp://127.0.0.1:1883"
	defaultRate        = 100 // packet messages per second
	defaultCount       = 1000
	defaultObservers   = 3
	defaultStatusEvery = 5 * time.Second
	defaultNodes       = 200
	defaultAdvertShare = 0.1
	defaultIATA        = "SJC"
	defaultWindow      = 1000 // unacknowledged publishes per client
	defaultVerifyWait  = 2 * time.Minute
	defaultSettle      = 3 * time.Second

	// -demo: a gentle, realistic stream into the quick-start daemon's
	// embedded broker (etc/quickstart.yaml), for ten minutes.
	demoBroker    = "tcp://127.0.0.1:1884"
	demoRate      = 10
	demoObservers = 4
	demoNodes     = 40
	demoDuration  = 10 * time.Minute
)

// options are the parsed flags.
type options struct {
	broker        string
	username      string
	password      string
	rate          float64
	count         int
	duration      time.Duration
	observers     int
	statusEvery   time.Duration
	malformedRate float64
	advertShare   float64
	nodes         int
	qos           int
	clients       int
	iata          string
	seed          uint64
	window        int
	verifyDB      string
	verifyTimeout time.Duration
	settle        time.Duration
	demo          bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("corescope-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.broker, "broker", defaultBroker, "broker URL (tcp://, ssl://, ws://, wss://)")
	fs.StringVar(&o.username, "username", "", "MQTT username")
	fs.StringVar(&o.password, "password", "", "MQTT password")
	fs.Float64Var(&o.rate, "rate", defaultRate, "packet messages per second over all clients; 0 = as fast as possible")
	fs.IntVar(&o.count, "count", 0, fmt.Sprintf("packet messages to publish (observer copies and malformed ones; status messages are extra); default %d unless -duration is set", defaultCount))
	fs.DurationVar(&o.duration, "duration", 0, "stop publishing after this long (with -count: whichever comes first)")
	fs.IntVar(&o.observers, "observers", defaultObservers, "observers; each unique packet is published once per observer")
	fs.DurationVar(&o.statusEvery, "status-every", defaultStatusEvery, "interval of each observer's status message; 0 = none")
	fs.Float64Var(&o.malformedRate, "malformed-rate", 0, "fraction of packet messages replaced by malformed ones (invalid JSON, bad hex, truncated packet), 0–1")
	fs.Float64Var(&o.advertShare, "advert-share", defaultAdvertShare, "fraction of unique packets that are signed adverts, 0–1")
	fs.IntVar(&o.nodes, "nodes", defaultNodes, "mesh nodes sending the adverts")
	fs.IntVar(&o.qos, "qos", 0, "publish QoS, 0 or 1 (observer uplinks publish at 0)")
	fs.IntVar(&o.clients, "clients", 1, "publisher connections")
	fs.StringVar(&o.iata, "iata", defaultIATA, "region code in the topics")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (observer and node keys, packet choice); 0 = random")
	fs.IntVar(&o.window, "window", defaultWindow, "publishes in flight per client before waiting for completion")
	fs.StringVar(&o.verifyDB, "verify-db", "", "after publishing, poll this SQLite database (read-only) and report what was stored")
	fs.DurationVar(&o.verifyTimeout, "verify-timeout", defaultVerifyWait, "longest wait for the database after publishing")
	fs.DurationVar(&o.settle, "verify-settle", defaultSettle, "the database counts must stay unchanged this long to be final")
	fs.BoolVar(&o.demo, "demo", false, fmt.Sprintf("demo stream for the quick start: -broker %s -rate %d -observers %d -nodes %d -duration %s (explicit flags win)",
		demoBroker, demoRate, demoObservers, demoNodes, demoDuration))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err}
	}
	if o.demo {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, apply := range map[string]func(){
			"broker":    func() { o.broker = demoBroker },
			"rate":      func() { o.rate = demoRate },
			"observers": func() { o.observers = demoObservers },
			"nodes":     func() { o.nodes = demoNodes },
			"duration":  func() { o.duration = demoDuration },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if o.count == 0 && o.duration == 0 {
		o.count = defaultCount
	}
	var errs []error
	check := func(bad bool, format string, a ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(!strings.Contains(o.broker, "://"), "-broker %q: want a URL such as %s", o.broker, defaultBroker)
	check(o.rate < 0 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0), "-rate %v: want ≥ 0", o.rate)
	check(o.count < 0, "-count %d: want ≥ 0", o.count)
	check(o.duration < 0, "-duration %s: want ≥ 0", o.duration)
	check(o.observers < 1 || o.observers > 10000, "-observers %d: want 1–10000", o.observers)
	check(o.statusEvery < 0, "-status-every %s: want ≥ 0", o.statusEvery)
	check(!(o.malformedRate >= 0 && o.malformedRate <= 1), "-malformed-rate %v: want 0–1", o.malformedRate)
	check(!(o.advertShare >= 0 && o.advertShare <= 1), "-advert-share %v: want 0–1", o.advertShare)
	check(o.nodes < 1, "-nodes %d: want ≥ 1", o.nodes)
	check(o.qos != 0 && o.qos != 1, "-qos %d: want 0 or 1", o.qos)
	check(o.clients < 1 || o.clients > 1000, "-clients %d: want 1–1000", o.clients)
	check(o.iata == "" || strings.ContainsAny(o.iata, "/+#"), "-iata %q: want a topic segment", o.iata)
	check(o.window < 1 || o.window > 60000, "-window %d: want 1–60000", o.window)
	check(o.verifyTimeout <= 0, "-verify-timeout %s: want > 0", o.verifyTimeout)
	check(o.settle <= 0, "-verify-settle %s: want > 0", o.settle)
	if err := errors.Join(errs...); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var v *verifier
	if o.verifyDB != "" {
		// Open the database first: fail before publishing if it is unreadable.
		if v, err = openVerifier(ctx, o.verifyDB); err != nil {
			return err
		}
		defer v.close()
	}
	lg, err := newLoadgen(o, v)
	if err != nil {
		return err
	}
	sum, err := lg.run(ctx)
	if err != nil {
		return err
	}
	if err := writeJSONLine(stdout, map[string]any{"published": sum}); err != nil {
		return err
	}
	if v == nil || ctx.Err() != nil { // interrupted: the summary is the result
		return nil
	}
	rep, err := v.finish(ctx, sum, o.verifyTimeout, o.settle)
	if err != nil {
		return err
	}
	if err := writeJSONLine(stdout, map[string]any{"verify": rep}); err != nil {
		return err
	}
	if rep.Missing > 0 {
		return fmt.Errorf("verify: %d of %d unique packets not found in %s", rep.Missing, rep.ExpectedTransmissions, o.verifyDB)
	}
	return nil
}
