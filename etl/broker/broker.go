// Package broker runs an embedded MQTT 3.1.1/5 broker (mochi-mqtt) for the
// one-box deployment: observers publish straight to the ingestor, and every
// PUBLISH goes into the ingest pipeline in process, without a network hop
// or a second service to install.
//
// Guarantees match an external broker's: a PUBLISH is handed to the
// pipeline from the client's own read loop, so a full pipeline slows that
// client down (TCP back-pressure) instead of dropping; a QoS 1 or 2 PUBLISH
// is acknowledged only after the batch holding it is committed, so a crash
// loses nothing a publisher was told is stored. Messages also reach any
// network subscriber, as on any broker.
package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/corescope/etl/etl"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// Enqueue hands a message to the ingest pipeline; it blocks while the
// pipeline is full and fails once ctx is done.
type Enqueue func(ctx context.Context, m etl.Message) error

// Broker is a running embedded broker. Create it with Open, run it with Run.
type Broker struct {
	cfg     Config
	srv     *mqtt.Server
	enqueue Enqueue
	log     *slog.Logger
	users   map[string]hashSpec

	// ctx is Run's: once it is done, publish hooks waiting for a commit
	// give up and leave the message unacknowledged.
	ctx context.Context

	received, authFailures, denied, tooLarge atomic.Uint64
	serving                                  atomic.Bool
}

// Open validates cfg, binds the listener and returns the broker; a port in
// use is an error naming the address. Messages go to enqueue.
func Open(cfg Config, enqueue Enqueue, log *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	raw, err := cfg.users()
	if err != nil {
		return nil, err
	}
	users := make(map[string]hashSpec, len(raw))
	for name, h := range raw {
		users[name], _ = parseHash(h) // checked by users()
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = int64(cfg.MaxConnections)
	caps.MaximumPacketSize = uint32(cfg.MaxMessageBytes + packetOverhead)
	caps.ReceiveMaximum = uint16(cfg.MaxInflight)
	caps.MaximumInflight = uint16(cfg.MaxInflight)
	caps.MaximumClientWritesPending = int32(cfg.MaxQueued)
	caps.MaximumSessionExpiryInterval = sessionExpirySecs
	b := &Broker{
		cfg:     cfg,
		enqueue: enqueue,
		log:     log,
		users:   users,
		ctx:     context.Background(),
	}
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities: caps,
		// mochi logs every connection at Info; ours stays quiet below Warn.
		Logger: slog.New(levelFloor{h: log.Handler(), min: slog.LevelWarn}),
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	var tlsCfg *tls.Config
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("broker tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Listen, TLSConfig: tlsCfg})
	if err := b.srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("broker listen %s: %w", cfg.Listen, err)
	}
	return b, nil
}

// Addr returns the listen address as configured.
func (b *Broker) Addr() string { return b.cfg.Listen }

// Name returns the source name its messages carry.
func (b *Broker) Name() string { return b.cfg.Name }

// Run serves clients until ctx is done, then disconnects them. Messages
// not yet committed are not acknowledged: publishers resend them.
func (b *Broker) Run(ctx context.Context) error {
	b.ctx = ctx
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.serving.Store(true)
	b.log.Info("embedded broker listening", "addr", b.cfg.Listen, "auth", len(b.users) > 0, "tls", b.cfg.CertFile != "")
	<-ctx.Done()
	b.serving.Store(false)
	b.srv.Close()
	return nil
}

// Serving reports whether Run is accepting clients.
func (b *Broker) Serving() bool { return b.serving.Load() }

// Clients returns the number of connected clients.
func (b *Broker) Clients() int64 { return b.srv.Info.Clone().ClientsConnected }

// hook connects mochi's events to the pipeline, the credentials and the
// topic ACL.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "corescope-ingest" }

func (h *hook) Provides(e byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect,
	}, []byte{e})
}

// OnConnectAuthenticate checks credentials when users are configured;
// otherwise (loopback only, enforced by Validate) everyone may connect.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if len(h.b.users) == 0 {
		return true
	}
	spec, ok := h.b.users[string(pk.Connect.Username)]
	if ok && spec.verify(string(pk.Connect.Password)) {
		return true
	}
	h.b.authFailures.Add(1)
	h.b.log.Warn("broker: authentication failed", "remote", cl.Net.Remote, "user_known", ok)
	return false
}

// OnACLCheck allows PUBLISH only under the configured prefixes; reading
// (subscribing) is open to every authenticated client.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if !write {
		return true
	}
	for _, p := range h.b.cfg.TopicPrefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	h.b.denied.Add(1)
	return false
}

// OnDisconnect counts connections closed for an oversized packet.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		h.b.tooLarge.Add(1)
	}
}

// OnPublish hands the message to the pipeline before mochi acknowledges it.
// For QoS > 0 it waits for the commit; if the broker stops first, the
// message is rejected (not acknowledged), and the client resends it.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	b := h.b
	b.received.Add(1)
	m := etl.Message{
		Source:   b.cfg.Name,
		Topic:    pk.TopicName,
		Payload:  bytes.Clone(pk.Payload),
		Retained: pk.FixedHeader.Retain,
		Received: time.Now(),
	}
	var committed chan struct{}
	if pk.FixedHeader.Qos > 0 {
		committed = make(chan struct{})
		m.Ack = func() { close(committed) }
	}
	ctx := b.ctx
	if err := b.enqueue(ctx, m); err != nil {
		return pk, packets.ErrRejectPacket
	}
	if committed == nil {
		return pk, nil
	}
	select {
	case <-committed:
		return pk, nil
	case <-ctx.Done():
		return pk, packets.ErrRejectPacket
	}
}

// levelFloor drops records below min.
type levelFloor struct {
	h   slog.Handler
	min slog.Level
}

func (l levelFloor) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.h.Enabled(ctx, lv)
}
func (l levelFloor) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }
func (l levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h: l.h.WithAttrs(a), min: l.min}
}
func (l levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h: l.h.WithGroup(n), min: l.min}
}

// Collector returns the broker's metrics (corescope_broker_*), read from
// mochi's counters and ours at scrape time.
func (b *Broker) Collector() prometheus.Collector { return collector{b: b} }

var (
	descClients   = prometheus.NewDesc("corescope_broker_clients_connected", "Clients connected to the embedded broker.", nil, nil)
	descReceived  = prometheus.NewDesc("corescope_broker_messages_received_total", "PUBLISH packets received by the embedded broker.", nil, nil)
	descSent      = prometheus.NewDesc("corescope_broker_messages_sent_total", "PUBLISH packets the embedded broker sent to subscribers.", nil, nil)
	descDropped   = prometheus.NewDesc("corescope_broker_messages_dropped_total", "Messages the embedded broker dropped or refused, by reason.", []string{"reason"}, nil)
	descRecvBytes = prometheus.NewDesc("corescope_broker_received_bytes_total", "Bytes received by the embedded broker.", nil, nil)
	descAuthFail  = prometheus.NewDesc("corescope_broker_auth_failures_total", "Connections refused for bad credentials.", nil, nil)
)

type collector struct{ b *Broker }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClients, descReceived, descSent, descDropped, descRecvBytes, descAuthFail} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	info := c.b.srv.Info.Clone()
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(info.ClientsConnected))
	ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(c.b.received.Load()))
	ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(info.MessagesSent))
	ch <- prometheus.MustNewConstMetric(descRecvBytes, prometheus.CounterValue, float64(info.BytesReceived))
	ch <- prometheus.MustNewConstMetric(descAuthFail, prometheus.CounterValue, float64(c.b.authFailures.Load()))
	for reason, v := range map[string]uint64{
		"slow_subscriber": uint64(info.MessagesDropped),
		"acl_denied":      c.b.denied.Load(),
		"too_large":       c.b.tooLarge.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(v), reason)
	}
}
