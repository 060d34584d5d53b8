package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/statsfile"
)

// sourceStats keeps, per source, what the server's MQTT status and
// liveness panels show beyond mqtt.SourceState: messages received in
// total and over the last five minutes, when the write path last took one
// of the source's messages, and when the source last disconnected.
type sourceStats struct {
	bySource map[string]*sourceCounters // fixed at construction
}

// packetWindow is the span of packetsLast5m, in one-second buckets.
const packetWindow = 300

type sourceCounters struct {
	processed atomic.Int64 // unix nanoseconds the write path last took a message

	mu          sync.Mutex
	total       uint64
	buckets     [packetWindow]uint64
	stamps      [packetWindow]int64 // the unix second each bucket counts
	disconnects uint64              // last seen mqtt.SourceState.Disconnects
	lastDisc    time.Time
}

func newSourceStats(names []string) *sourceStats {
	s := &sourceStats{bySource: make(map[string]*sourceCounters, len(names))}
	for _, n := range names {
		s.bySource[n] = &sourceCounters{}
	}
	return s
}

// enqueue counts each message a source hands to next.
func (s *sourceStats) enqueue(next mqtt.Enqueue) mqtt.Enqueue {
	return func(ctx context.Context, m etl.Message) error {
		if c := s.bySource[m.Source]; c != nil {
			at := m.Received
			if at.IsZero() {
				at = time.Now()
			}
			sec := at.Unix()
			i := sec % packetWindow
			c.mu.Lock()
			c.total++
			if c.stamps[i] != sec {
				c.stamps[i], c.buckets[i] = sec, 0
			}
			c.buckets[i]++
			c.mu.Unlock()
		}
		return next(ctx, m)
	}
}

// transformer stamps the write-path clock of each message's source before
// next transforms it.
func (s *sourceStats) transformer(next etl.Transformer) etl.Transformer {
	return etl.TransformFunc(func(m *etl.Message, out []etl.Record) []etl.Record {
		if c := s.bySource[m.Source]; c != nil {
			c.processed.Store(time.Now().UnixNano())
		}
		return next.Transform(m, out)
	})
}

// panels returns the stats file's source_statuses, source_liveness and
// watchdog tick for sources at now. brokers maps a source name to its
// broker URL. A disconnect is timed when panels first sees it (the stats
// file is written every second).
func (s *sourceStats) panels(now time.Time, sources []*mqtt.Source, brokers map[string]string) (sts []statsfile.SourceStatus, live map[string]statsfile.SourceLiveness, tick time.Time) {
	live = make(map[string]statsfile.SourceLiveness, len(sources))
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	for _, src := range sources {
		st := src.State()
		name := src.Name()
		entry := statsfile.SourceStatus{
			Name:            name,
			Broker:          mqtt.RedactURL(brokers[name]),
			Connected:       st.Connected,
			LastConnectUnix: unix(st.ConnectedSince),
			LastPacketUnix:  unix(st.LastMessage),
			ConnectCount:    st.Connects,
			DisconnectCount: st.Disconnects,
			LastError:       st.LastError,
		}
		var processed time.Time
		if c := s.bySource[name]; c != nil {
			c.mu.Lock()
			if st.Disconnects != c.disconnects {
				c.disconnects, c.lastDisc = st.Disconnects, now
			}
			entry.LastDisconnectUnix = unix(c.lastDisc)
			entry.PacketsTotal = c.total
			for i, sec := range c.stamps {
				if sec > now.Unix()-packetWindow && sec <= now.Unix() {
					entry.PacketsLast5m += c.buckets[i]
				}
			}
			c.mu.Unlock()
			if ns := c.processed.Load(); ns != 0 {
				processed = time.Unix(0, ns)
			}
		}
		sts = append(sts, entry)
		live[name] = statsfile.SourceLiveness{LastReceiptUnix: unix(st.LastMessage), LastMessageUnix: unix(processed)}
		if t := src.WatchdogLastTick(); !t.IsZero() && (tick.IsZero() || t.Before(tick)) {
			tick = t
		}
	}
	return sts, live, tick
}

// writerPerf converts the database's writer measurements for the stats
// file.
func writerPerf(db *sqlite.DB) map[string]statsfile.WriterPerf {
	in := db.WriterPerf()
	out := make(map[string]statsfile.WriterPerf, len(in))
	for k, v := range in {
		out[k] = statsfile.WriterPerf(v)
	}
	return out
}
