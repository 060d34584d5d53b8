package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/corescope/etl/etl"
)

// Enqueue hands a message to the pipeline. It blocks while the pipeline's
// queue is full (back-pressure) and returns an error only when ctx is done.
type Enqueue func(ctx context.Context, m etl.Message) error

const (
	// initialBackoff is the first wait after a failed connection attempt
	// (capped by MaxReconnectInterval); it doubles after each failure and
	// starts again from here after every connection that succeeded. It is
	// also the shortest a connection must have lasted for the first
	// reconnection attempt after its loss to be immediate (a broker that
	// closes every connection at once is retried at most once a second).
	initialBackoff = time.Second
	// shutdownTimeout bounds the disconnect when Run's context is done.
	shutdownTimeout = 500 * time.Millisecond
	// ackGrace is how long a persistent session waits, when Run's context
	// is done, for the pipeline to acknowledge what it was handed (it keeps
	// committing meanwhile), so that those PUBACKs reach the broker instead
	// of the messages being redelivered at the next start.
	ackGrace = 500 * time.Millisecond
	// maxWatchdogTick is the longest interval between two stall checks.
	maxWatchdogTick = 30 * time.Second
)

// SourceState is a snapshot of a source's connection state.
type SourceState struct {
	Connected        bool
	Subscribed       bool      // the broker acknowledged the subscriptions of the current connection
	ConnectedSince   time.Time // start of the current (or last) connection; zero before the first
	LastMessage      time.Time // zero before the first message
	Connects         uint64    // successful connections, reconnects included
	Disconnects      uint64    // connections lost, forced reconnects included
	ForcedReconnects uint64    // reconnects forced by the watchdog or a failed subscription
	ConnectFailures  uint64    // failed connection attempts (first connection and reconnects)
	LastError        string    // the last connection error; "" if none yet
	LastDisconnect   time.Time // when the last connection was lost; zero if none yet
	Messages         uint64    // messages received since NewSource
	MessagesLast5m   uint64    // messages received in the five minutes before State
}

// messageWindow is the span of SourceState.MessagesLast5m, in one-second
// buckets.
const messageWindow = 300

// messageCounter counts received messages, in total and per second over
// the last messageWindow seconds.
type messageCounter struct {
	mu      sync.Mutex
	total   uint64
	buckets [messageWindow]uint64
	stamps  [messageWindow]int64 // the unix second each bucket counts
}

func (c *messageCounter) add(at time.Time) {
	sec := at.Unix()
	i := sec % messageWindow
	c.mu.Lock()
	c.total++
	if c.stamps[i] != sec {
		c.stamps[i], c.buckets[i] = sec, 0
	}
	c.buckets[i]++
	c.mu.Unlock()
}

// counts returns the total and the count of the window ending at now.
func (c *messageCounter) counts(now time.Time) (total, window uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, sec := range c.stamps {
		if sec > now.Unix()-messageWindow && sec <= now.Unix() {
			window += c.buckets[i]
		}
	}
	return c.total, window
}

// Source is one MQTT broker connection feeding the pipeline. Create it with
// NewSource and call Run.
type Source struct {
	cfg     Config
	broker  *url.URL // nil if the config is invalid (Run reports it)
	enqueue Enqueue
	log     *slog.Logger
	m       sourceMetrics

	running atomic.Bool
	// ctx is Run's context, read by the message callback so that a blocked
	// Enqueue gives up when Run is stopped.
	ctx    atomic.Pointer[context.Context]
	dialer atomic.Pointer[dialer]

	lastMessage atomic.Int64 // unix nanoseconds; 0 = none yet
	messages    messageCounter

	watchdogAt   atomic.Int64  // unix nanoseconds of the watchdog's last tick; 0 = not started
	watchdogTick atomic.Int64  // the watchdog's interval, nanoseconds
	lost         chan struct{} // signalled by onConnectionLost; Run reconnects
	inEnqueue    atomic.Bool   // the callback is inside Enqueue (back-pressure, not a stall)
	unacked      atomic.Int64  // QoS ≥ 1 messages handed to the pipeline and not yet acknowledged

	mu sync.Mutex
	st SourceState
}

// NewSource returns a source that reads cfg's broker and hands every message
// to enqueue. Zero fields of cfg take the package defaults. log gets one line
// per state change, with a "source" attribute; m may be shared by sources.
// A nil log discards, a nil m keeps the metrics unregistered.
func NewSource(cfg Config, enqueue Enqueue, log *slog.Logger, m *Metrics) *Source {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil, nil, nil)
	}
	s := &Source{
		cfg:     cfg,
		enqueue: enqueue,
		log:     log.With("source", cfg.Name),
		m:       m.forSource(cfg.Name),
		lost:    make(chan struct{}, 1),
	}
	s.broker, _ = ParseBroker(cfg.Broker)
	return s
}

// Name returns the source's configured name.
func (s *Source) Name() string { return s.cfg.Name }

// Broker returns the source's broker URL with its password redacted.
func (s *Source) Broker() string { return RedactURL(s.cfg.Broker) }

// State returns a snapshot of the connection state.
func (s *Source) State() SourceState {
	s.mu.Lock()
	st := s.st
	s.mu.Unlock()
	if ns := s.lastMessage.Load(); ns != 0 {
		st.LastMessage = time.Unix(0, ns)
	}
	st.Messages, st.MessagesLast5m = s.messages.counts(time.Now())
	return st
}

// Run connects to the broker, retrying forever with a backoff capped at
// MaxReconnectInterval, subscribes on every connect, and hands messages to
// the pipeline until ctx is done. A lost connection is retried at once, then
// with the backoff, which starts again from one second after every
// connection that succeeded, so a flapping broker is rejoined promptly.
// When ctx is done Run disconnects (within about a second) and returns nil.
// A source that cannot connect never blocks other sources or the caller
// beyond its own Run. Run returns an error only for an
// invalid config or when it is already running.
//
// At shutdown a persistent session first waits up to half a second for the
// pipeline (which keeps committing) to acknowledge what it was handed, then
// disconnects within half a second more. The subscriptions are not removed:
// the broker keeps queueing for this client while it is down, which is the
// point of CleanSession false. Messages still unacknowledged when the
// connection closes are redelivered on the next connect; the pipeline's
// writes are idempotent. A clean session instead unsubscribes first and
// waits up to half a second for the UNSUBACK, so that what the broker had
// already routed to it reaches the pipeline instead of being discarded
// with the session.
func (s *Source) Run(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("mqtt source %q: %w", s.cfg.Name, err)
	}
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("mqtt source %q: already running", s.cfg.Name)
	}
	defer s.running.Store(false)

	tc, err := tlsConfig(s.cfg, s.broker)
	if err != nil {
		return fmt.Errorf("mqtt source %q: %w", s.cfg.Name, err)
	}
	d := &dialer{timeout: s.cfg.ConnectTimeout}
	s.dialer.Store(d)
	s.ctx.Store(&ctx)
	client := paho.NewClient(s.clientOptions(tc, d))

	if !s.connect(ctx, client, 0) {
		return nil // ctx done before the first connection
	}

	wdDone := make(chan struct{})
	go func() {
		defer close(wdDone)
		s.watchdog(ctx)
	}()
	s.reconnectLoop(ctx, client)
	<-wdDone
	if s.cfg.CleanSession {
		s.unsubscribe(client)
	} else {
		s.awaitAcks(ackGrace)
	}

	// Disconnect sends DISCONNECT and stops paho's workers; the message
	// callback returns promptly because Enqueue gives up on ctx. paho's
	// Disconnect returns after the quiesce time even if its workers are
	// still stopping (for example an attempt to reconnect in progress).
	client.Disconnect(uint(shutdownTimeout / time.Millisecond))
	s.setDisconnected()
	s.log.Info("mqtt disconnected", "reason", "shutdown")
	return nil
}

// awaitAcks waits until every message handed to the pipeline is
// acknowledged, at most grace, while the connection is up.
func (s *Source) awaitAcks(grace time.Duration) {
	deadline := time.Now().Add(grace)
	for s.unacked.Load() > 0 && time.Now().Before(deadline) && s.State().Connected {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.unacked.Load(); n > 0 {
		s.log.Info("mqtt disconnecting with unacknowledged messages; the broker will redeliver them", "unacked", n)
	}
}

// unsubscribe ends the subscriptions of a clean session before it
// disconnects, and waits (at most shutdownTimeout) for the UNSUBACK. The
// broker sends it after the messages it had already routed to this client
// (MQTT 3.1.1 §3.10.4), so those are all read, and handed to the pipeline,
// before the connection closes. Without it, the messages still queued in
// the broker at DISCONNECT are discarded with the session, although the
// broker acknowledged them to their publishers.
func (s *Source) unsubscribe(client paho.Client) {
	if !s.State().Subscribed {
		return
	}
	tok := client.Unsubscribe(s.cfg.Topics...)
	if !tok.WaitTimeout(shutdownTimeout) {
		s.log.Warn("mqtt unsubscribe at shutdown timed out; messages the broker still holds for this clean session are lost")
		return
	}
	if err := tok.Error(); err != nil {
		s.log.Warn("mqtt unsubscribe at shutdown failed; messages the broker still holds for this clean session are lost", "err", err)
	}
}

// clientOptions translates the config into paho options.
func (s *Source) clientOptions(tc *tls.Config, d *dialer) *paho.ClientOptions {
	o := paho.NewClientOptions()
	o.AddBroker(s.cfg.Broker)
	o.SetClientID(s.cfg.ClientID)
	if s.cfg.Username != "" {
		o.SetUsername(s.cfg.Username)
		o.SetPassword(s.cfg.Password)
	}
	o.SetTLSConfig(tc)
	o.SetCustomOpenConnectionFn(d.open)
	o.SetCleanSession(s.cfg.CleanSession)
	o.SetKeepAlive(s.cfg.KeepAlive)
	o.SetConnectTimeout(s.cfg.ConnectTimeout)
	o.SetWriteTimeout(s.cfg.ConnectTimeout)
	// Every connection, the first and the reconnects, is made by connect
	// (with a backoff and a context). paho's own reconnect never resets its
	// backoff after a connection that succeeded, unless the failures are
	// more than 2 × ConnectTimeout apart: against a broker that restarts
	// every few seconds it reconnects only every MaxReconnectInterval.
	// paho's ConnectRetry waits a fixed ConnectRetryInterval in an
	// uninterruptible sleep and hides the error.
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	// Subscriptions are made in onConnect on every connect, with a timeout.
	o.SetResumeSubs(false)
	// The callback runs on paho's router goroutine, in arrival order, and
	// only enqueues. The pipeline acknowledges after commit.
	o.SetOrderMatters(true)
	o.SetAutoAckDisabled(true)
	// A persistent session may deliver queued messages before onConnect has
	// subscribed: the default handler receives every message.
	o.SetDefaultPublishHandler(s.onMessage)
	o.SetOnConnectHandler(s.onConnect)
	o.SetConnectionLostHandler(s.onConnectionLost)
	return o
}

// reconnectLoop reconnects after every lost connection until ctx is done.
// The first attempt is immediate unless the lost connection lasted less
// than initialBackoff.
func (s *Source) reconnectLoop(ctx context.Context, client paho.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.lost:
		}
		var wait time.Duration
		if up := time.Since(s.State().ConnectedSince); up < initialBackoff {
			wait = min(initialBackoff, s.cfg.MaxReconnectInterval)
		}
		if !s.connect(ctx, client, wait) {
			return
		}
	}
}

// connect connects, after waiting first (0 for no wait), and retries with
// the backoff until it succeeds (true) or ctx is done (false). Each call
// starts the backoff afresh: it is reset by every connection that
// succeeded.
func (s *Source) connect(ctx context.Context, client paho.Client, first time.Duration) bool {
	backoff := min(initialBackoff, s.cfg.MaxReconnectInterval)
	verb := "connect"
	if s.State().Connects > 0 {
		verb = "reconnect"
	}
	s.log.Info("mqtt "+verb+"ing", "broker", RedactURL(s.cfg.Broker), "in", first)
	if !sleepCtx(ctx, first) {
		return false
	}
	for attempt := 1; ; attempt++ {
		tok := client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			client.Disconnect(0) // abandons the attempt in the background
			return false
		}
		err := tok.Error()
		if err == nil {
			return true
		}
		s.connectFailed(err)
		s.log.Warn("mqtt "+verb+" failed", "attempt", attempt, "retry_in", backoff, "err", err)
		if !sleepCtx(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, s.cfg.MaxReconnectInterval)
	}
}

// sleepCtx waits d, or until ctx is done (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// onMessage is paho's handler for every message. It runs on paho's router
// goroutine and must only enqueue: blocking it stops paho from reading the
// connection (PINGRESP included), so the keepalive would close it and the
// broker would discard what it held. The daemon's pipeline never blocks
// here (what does not fit in its queue goes to its on-disk spool); a
// pipeline without a spool blocks while its queue is full.
func (s *Source) onMessage(_ paho.Client, msg paho.Message) {
	now := time.Now()
	s.lastMessage.Store(now.UnixNano())
	s.messages.add(now)
	s.m.lastMessage.Set(float64(now.UnixNano()) / 1e9)
	topic := msg.Topic()
	s.m.receivedFor(topic).Inc()

	m := etl.Message{
		Source:   s.cfg.Name,
		Topic:    topic,
		Payload:  msg.Payload(), // paho allocates each packet; safe to keep
		Retained: msg.Retained(),
		QoS:      msg.Qos(),
		Received: now,
	}
	if msg.Qos() > 0 {
		a := &acker{msg: msg, unacked: &s.unacked}
		m.Ack = a.ack
		s.unacked.Add(1)
	}
	ctx := *s.ctx.Load()
	s.inEnqueue.Store(true)
	err := s.enqueue(ctx, m)
	s.inEnqueue.Store(false)
	s.m.blocked.Add(time.Since(now).Seconds())
	if err != nil {
		if m.Ack != nil {
			s.unacked.Add(-1)
		}
		// Shutting down: the message is not acknowledged, so a persistent
		// session gets it again on the next connect.
		s.log.Debug("mqtt message not enqueued", "topic", topic, "err", err)
	}
}

// acker acknowledges one QoS ≥ 1 message and keeps the source's count of
// unacknowledged messages.
type acker struct {
	msg     paho.Message
	unacked *atomic.Int64
	done    atomic.Bool
}

// ack sends the PUBACK once. paho's Ack is safe from any goroutine and
// dropped if this connection is gone (the broker then redelivers).
func (a *acker) ack() {
	if a.done.CompareAndSwap(false, true) {
		a.msg.Ack()
		a.unacked.Add(-1)
	}
}

// onConnect runs (in its own goroutine) after every successful connection:
// it records the state and subscribes.
func (s *Source) onConnect(client paho.Client) {
	now := time.Now()
	s.mu.Lock()
	s.st.Connected = true
	s.st.Subscribed = false
	s.st.ConnectedSince = now
	s.st.Connects++
	n := s.st.Connects
	s.mu.Unlock()
	s.m.connected.Set(1)
	s.m.connects.Inc()
	s.log.Info("mqtt connected", "broker", RedactURL(s.cfg.Broker), "connects", n,
		"clean_session", s.cfg.CleanSession)
	var conn *bufferedConn
	if d := s.dialer.Load(); d != nil {
		conn = d.currentConn()
	}
	s.subscribe(client, conn)
}

// subscribe subscribes to every topic and waits for the SUBACK at most
// ConnectTimeout. A timeout or an error breaks the connection so that paho
// reconnects and onConnect tries again; a topic the broker refuses (return
// code 0x80) is logged and left out, since reconnecting would not help.
func (s *Source) subscribe(client paho.Client, conn *bufferedConn) {
	filters := make(map[string]byte, len(s.cfg.Topics))
	for _, t := range s.cfg.Topics {
		filters[t] = s.cfg.QoS
	}
	tok := client.SubscribeMultiple(filters, nil) // nil: the default handler gets the messages
	if !tok.WaitTimeout(s.cfg.ConnectTimeout) {
		s.failSubscribe(conn, fmt.Errorf("no SUBACK within %s", s.cfg.ConnectTimeout))
		return
	}
	if err := tok.Error(); err != nil {
		s.failSubscribe(conn, err)
		return
	}
	s.mu.Lock()
	s.st.Subscribed = true
	s.mu.Unlock()
	st, _ := tok.(*paho.SubscribeToken)
	for _, t := range s.cfg.Topics {
		granted, ok := byte(0), false
		if st != nil {
			granted, ok = st.Result()[t]
		}
		switch {
		case !ok:
			s.log.Info("mqtt subscribed", "topic", t, "qos", s.cfg.QoS)
		case granted == 0x80:
			s.log.Error("mqtt subscription refused by the broker", "topic", t)
		default:
			s.log.Info("mqtt subscribed", "topic", t, "qos", granted)
		}
	}
}

// failSubscribe breaks conn, the connection the subscription was made on,
// unless it is already gone (paho fails pending tokens when a connection is
// lost, and must not make us break its replacement).
func (s *Source) failSubscribe(conn *bufferedConn, err error) {
	if ctx := s.ctx.Load(); ctx != nil && (*ctx).Err() != nil {
		return // shutting down
	}
	d := s.dialer.Load()
	if conn == nil || d == nil || d.currentConn() != conn || !s.State().Connected {
		return
	}
	s.mu.Lock()
	s.st.LastError = "subscribe: " + err.Error()
	s.mu.Unlock()
	s.log.Warn("mqtt subscribe failed, reconnecting", "err", err)
	s.forceReconnect()
}

// onConnectionLost runs when paho loses the connection; Run then
// reconnects.
func (s *Source) onConnectionLost(_ paho.Client, err error) {
	s.mu.Lock()
	s.st.Connected = false
	s.st.Subscribed = false
	s.st.Disconnects++
	s.st.LastDisconnect = time.Now()
	s.st.LastError = err.Error()
	s.mu.Unlock()
	s.m.connected.Set(0)
	s.m.disconnects.Inc()
	select {
	case s.lost <- struct{}{}:
	default:
	}
	if errors.Is(err, errForcedReconnect) {
		s.log.Info("mqtt connection closed for a forced reconnect")
		return
	}
	s.log.Warn("mqtt connection lost", "err", err)
}

func (s *Source) connectFailed(err error) {
	s.mu.Lock()
	s.st.ConnectFailures++
	s.st.LastError = err.Error()
	s.mu.Unlock()
	s.m.connectFailures.Inc()
}

// forceReconnect breaks the current connection; paho reports it lost and
// Run reconnects (immediately the first time, then with the backoff).
func (s *Source) forceReconnect() {
	s.mu.Lock()
	s.st.ForcedReconnects++
	s.mu.Unlock()
	s.m.forced.Inc()
	if d := s.dialer.Load(); d != nil {
		d.force()
	}
}

func (s *Source) setDisconnected() {
	s.mu.Lock()
	s.st.Connected = false
	s.st.Subscribed = false
	s.mu.Unlock()
	s.m.connected.Set(0)
}
