package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corescope/etl/etl/mqtt"
)

// observer is one simulated uplink.
type observer struct {
	id    string // 64 uppercase hex chars, the topic segment
	name  string
	topic string // …/packets
	stat  string // …/status
	snr   float64
	rssi  int
	start time.Time
}

// summary is what was published.
type summary struct {
	Total           uint64            `json:"total"`
	Packet          uint64            `json:"packet"`    // valid packet messages (observer copies)
	Status          uint64            `json:"status"`    // status messages
	Malformed       uint64            `json:"malformed"` // malformed messages
	MalformedByKind map[string]uint64 `json:"malformed_by_kind"`
	UniquePackets   uint64            `json:"unique_packets"`
	Adverts         uint64            `json:"adverts"` // unique adverts among the unique packets
	Errors          uint64            `json:"errors"`  // publishes that failed
	Observers       int               `json:"observers"`
	Clients         int               `json:"clients"`
	QoS             int               `json:"qos"`
	ElapsedSeconds  float64           `json:"elapsed_seconds"`
	RatePerSecond   float64           `json:"rate_per_second"` // all messages / elapsed
}

// Malformed message kinds.
const (
	malInvalidJSON = "invalid_json"
	malBadHex      = "bad_hex"
	malTruncated   = "truncated"
)

var malformedKinds = []string{malInvalidJSON, malBadHex, malTruncated}

type loadgen struct {
	o         options
	v         *verifier // nil without -verify-db
	tpl       []template
	nodes     *nodePool
	observers []observer
	nonce     uint64
	seq       atomic.Uint64
	remaining atomic.Int64 // packet messages left when -count is set

	packet, status, unique, adverts, errs atomic.Uint64
	malformed                             [3]atomic.Uint64
}

func newLoadgen(o options, v *verifier) (*loadgen, error) {
	tpl, err := loadTemplates(packetsTxt)
	if err != nil {
		return nil, err
	}
	seed := o.seed
	if seed == 0 {
		seed = randomUint64()
	}
	rng := mrand.New(mrand.NewPCG(seed, 0x636f726573636f70)) // "corescop"
	lg := &loadgen{o: o, v: v, tpl: tpl, nodes: newNodePool(o.nodes, rng), nonce: randomUint64()}
	now := time.Now()
	for i := range o.observers {
		var key [32]byte
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		id := strings.ToUpper(hex.EncodeToString(key[:]))
		prefix := "meshcore/" + o.iata + "/" + id + "/"
		lg.observers = append(lg.observers, observer{
			id: id, name: fmt.Sprintf("loadgen-obs-%d", i+1),
			topic: prefix + "packets", stat: prefix + "status",
			snr: float64(rng.IntN(60)-20) / 4, rssi: -60 - rng.IntN(60), start: now,
		})
	}
	if o.count > 0 {
		lg.remaining.Store(int64(o.count))
	}
	return lg, nil
}

// randomUint64 returns a random value from the system's secure source.
func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// reserve takes up to n packet messages from the -count budget; 0 when it
// is spent. Without -count it always grants n.
func (lg *loadgen) reserve(n int) int {
	if lg.o.count == 0 {
		return n
	}
	for {
		r := lg.remaining.Load()
		if r <= 0 {
			return 0
		}
		take := min(int64(n), r)
		if lg.remaining.CompareAndSwap(r, r-take) {
			return int(take)
		}
	}
}

// run publishes until -count or -duration is reached or ctx is done, and
// returns what it published.
func (lg *loadgen) run(ctx context.Context) (summary, error) {
	pubs := make([]*mqtt.Publisher, lg.o.clients)
	for i := range pubs {
		p, err := mqtt.NewPublisher(ctx, mqtt.PublisherConfig{
			Broker: lg.o.broker, Username: lg.o.username, Password: lg.o.password,
			ClientID: fmt.Sprintf("corescope-loadgen-%d-%d", lg.nonce&0xffffff, i),
		})
		if err != nil {
			for _, q := range pubs[:i] {
				q.Close()
			}
			return summary{}, err
		}
		pubs[i] = p
	}
	defer func() {
		for _, p := range pubs {
			p.Close()
		}
	}()

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if lg.o.duration > 0 {
		pctx, cancel = context.WithTimeout(pctx, lg.o.duration)
		defer cancel()
	}
	start := time.Now()

	var statusWG sync.WaitGroup
	statusDone := make(chan struct{})
	if lg.o.statusEvery > 0 {
		statusWG.Add(1)
		go func() {
			defer statusWG.Done()
			lg.statusLoop(pctx, statusDone, pubs[0])
		}()
	}

	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lg.client(pctx, i, p)
		}()
	}
	wg.Wait()
	close(statusDone)
	statusWG.Wait()
	elapsed := time.Since(start)

	s := summary{
		Packet: lg.packet.Load(), Status: lg.status.Load(),
		MalformedByKind: map[string]uint64{},
		UniquePackets:   lg.unique.Load(), Adverts: lg.adverts.Load(), Errors: lg.errs.Load(),
		Observers: lg.o.observers, Clients: lg.o.clients, QoS: lg.o.qos,
		ElapsedSeconds: round3(elapsed.Seconds()),
	}
	for i, k := range malformedKinds {
		n := lg.malformed[i].Load()
		s.MalformedByKind[k] = n
		s.Malformed += n
	}
	s.Total = s.Packet + s.Status + s.Malformed
	if elapsed > 0 {
		s.RatePerSecond = round3(float64(s.Total) / elapsed.Seconds())
	}
	return s, nil
}

// client publishes packets on one connection at its share of -rate.
func (lg *loadgen) client(ctx context.Context, i int, p *mqtt.Publisher) {
	rng := mrand.New(mrand.NewPCG(lg.o.seed+uint64(i)+1, lg.nonce))
	gen := &generator{tpl: lg.tpl, nodes: lg.nodes, advertShare: lg.o.advertShare, rng: rng,
		nonce: lg.nonce, seq: func() uint64 { return lg.seq.Add(1) }}
	tb := newBucket(lg.o.rate / float64(lg.o.clients))
	inflight := newWindow(lg.o.window, &lg.errs)
	defer inflight.drain()
	qos := byte(lg.o.qos)
	k := len(lg.observers)
	var buf []byte

	for ctx.Err() == nil {
		if lg.o.malformedRate > 0 && rng.Float64() < lg.o.malformedRate {
			if lg.reserve(1) == 0 || tb.wait(ctx) != nil {
				return
			}
			obs := &lg.observers[rng.IntN(k)]
			kind := rng.IntN(len(malformedKinds))
			payload := lg.malformedPayload(kind, obs, gen.next(time.Now()).raw, rng)
			inflight.add(p.Publish(obs.topic, qos, false, payload))
			lg.malformed[kind].Add(1)
			continue
		}
		n := lg.reserve(k)
		if n == 0 {
			return
		}
		now := time.Now()
		pkt := gen.next(now)
		rawHex := strings.ToUpper(hex.EncodeToString(pkt.raw))
		first := rng.IntN(k) // the observers that hear it: n consecutive ones from a random start
		for j := range n {
			if tb.wait(ctx) != nil {
				return
			}
			obs := &lg.observers[(first+j)%k]
			now = time.Now()
			if j == 0 {
				lg.unique.Add(1)
				if pkt.advert {
					lg.adverts.Add(1)
				}
				if lg.v != nil {
					lg.v.markPublished(pkt.hash, now)
				}
			}
			buf = lg.packetEnvelope(buf[:0], obs, rawHex, now, rng)
			inflight.add(p.Publish(obs.topic, qos, false, buf))
			buf = nil // paho keeps the slice until written
			lg.packet.Add(1)
		}
	}
}

// statusLoop publishes one status message per observer now and every
// -status-every until done.
func (lg *loadgen) statusLoop(ctx context.Context, done <-chan struct{}, p *mqtt.Publisher) {
	t := time.NewTicker(lg.o.statusEvery)
	defer t.Stop()
	inflight := newWindow(lg.o.window, &lg.errs)
	defer inflight.drain()
	for {
		now := time.Now()
		for i := range lg.observers {
			obs := &lg.observers[i]
			inflight.add(p.Publish(obs.stat, byte(lg.o.qos), false, lg.statusEnvelope(obs, now)))
			lg.status.Add(1)
		}
		select {
		case <-t.C:
		case <-done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// timestampLayout is UTC RFC 3339 with milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// packetEnvelope appends a meshcoretomqtt-style /packets payload.
func (lg *loadgen) packetEnvelope(buf []byte, obs *observer, rawHex string, now time.Time, rng *mrand.Rand) []byte {
	snr := obs.snr + float64(rng.IntN(9)-4)/4
	rssi := obs.rssi + rng.IntN(7) - 3
	buf = append(buf, `{"origin":`...)
	buf = strconv.AppendQuote(buf, obs.name)
	buf = append(buf, `,"origin_id":"`...)
	buf = append(buf, obs.id...)
	buf = append(buf, `","timestamp":"`...)
	buf = now.UTC().AppendFormat(buf, timestampLayout)
	buf = append(buf, `","type":"PACKET","direction":"rx","SNR":"`...)
	buf = strconv.AppendFloat(buf, snr, 'f', -1, 64)
	buf = append(buf, `","RSSI":"`...)
	buf = strconv.AppendInt(buf, int64(rssi), 10)
	buf = append(buf, `","score":"1000","raw":"`...)
	buf = append(buf, rawHex...)
	buf = append(buf, `"}`...)
	return buf
}

// statusEnvelope returns a /status payload (uplinks.md b.3).
func (lg *loadgen) statusEnvelope(obs *observer, now time.Time) []byte {
	up := int64(now.Sub(obs.start).Seconds())
	b, _ := json.Marshal(map[string]any{
		"status": "online", "timestamp": now.UTC().Format(timestampLayout),
		"origin": obs.name, "origin_id": obs.id,
		"radio": "910.525,62.5,7,5", "model": "Heltec V3", "firmware_version": "v1.9.0",
		"client_version": "corescope-loadgen",
		"stats": map[string]any{
			"battery_mv": 3900, "uptime_secs": up, "errors": 0, "queue_len": 0,
			"noise_floor": -115, "last_rssi": obs.rssi, "last_snr": obs.snr,
			"tx_air_secs": up / 100, "rx_air_secs": up / 10, "recv_errors": 0,
		},
	})
	return b
}

// malformedPayload returns a message the ingestor must reject or drop.
func (lg *loadgen) malformedPayload(kind int, obs *observer, raw []byte, rng *mrand.Rand) []byte {
	now := time.Now()
	switch malformedKinds[kind] {
	case malInvalidJSON:
		full := lg.packetEnvelope(nil, obs, strings.ToUpper(hex.EncodeToString(raw)), now, rng)
		return full[:len(full)/2] // cut mid-document
	case malBadHex:
		return lg.packetEnvelope(nil, obs, "ZZ"+strings.ToUpper(hex.EncodeToString(raw))[2:], now, rng)
	default: // truncated: keep the header and half of the path length byte's promise
		_, start, _ := layout(raw)
		cut := max(1, min(start-1, len(raw)/4))
		if start <= 2 { // no path: a 1-byte packet is "too short"
			cut = 1
		}
		return lg.packetEnvelope(nil, obs, strings.ToUpper(hex.EncodeToString(raw[:cut])), now, rng)
	}
}

// bucket is a token bucket: rate tokens per second, bursts of up to about
// 20 ms worth, so that high rates sleep in chunks rather than per message.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64) *bucket {
	return &bucket{rate: rate, burst: max(1, rate/50), tokens: 1, last: time.Now()}
}

// wait takes one token, sleeping until one is available; a zero rate never
// waits. It returns ctx's error when ctx is done.
func (b *bucket) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil || b.rate <= 0 {
		return err
	}
	for {
		now := time.Now()
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			return nil
		}
		t := time.NewTimer(time.Duration((1 - b.tokens) / b.rate * float64(time.Second)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// window bounds the publishes in flight on one connection.
type window struct {
	pend []mqtt.Pending
	max  int
	errs *atomic.Uint64
}

func newWindow(n int, errs *atomic.Uint64) *window { return &window{max: n, errs: errs} }

// add records a publish; when the window is full it waits for the older
// half.
func (w *window) add(p mqtt.Pending) {
	w.pend = append(w.pend, p)
	if len(w.pend) >= w.max {
		n := (len(w.pend) + 1) / 2
		w.wait(w.pend[:n])
		w.pend = append(w.pend[:0], w.pend[n:]...)
	}
}

// drain waits for every pending publish.
func (w *window) drain() {
	w.wait(w.pend)
	w.pend = w.pend[:0]
}

// pendingTimeout bounds the wait for one batch of publishes (a broker that
// stopped acknowledging).
const pendingTimeout = 30 * time.Second

// wait waits for ps, counting failures. It ignores the run's context: what
// was handed to the client is accounted for either way.
func (w *window) wait(ps []mqtt.Pending) {
	ctx, cancel := context.WithTimeout(context.Background(), pendingTimeout)
	defer cancel()
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			w.errs.Add(1)
		}
	}
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
