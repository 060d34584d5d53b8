package mqtt

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus metrics of all sources, labelled by source
// name. One Metrics is shared by every Source of a process.
type Metrics struct {
	connected       *prometheus.GaugeVec
	connects        *prometheus.CounterVec
	disconnects     *prometheus.CounterVec
	forced          *prometheus.CounterVec
	connectFailures *prometheus.CounterVec
	lastMessage     *prometheus.GaugeVec
	received        *prometheus.CounterVec
	blocked         *prometheus.CounterVec
	kind            func(topic string) string
	kinds           []string
}

// otherKind is the subtopic label of every message when NewMetrics has no
// classifier, and of topics it classifies outside its kinds.
const otherKind = "other"

// NewMetrics creates the MQTT source metrics and registers them with reg; a
// nil reg leaves them unregistered. kind classifies a topic for the
// subtopic label of corescope_mqtt_messages_received_total into one of
// kinds (the topic layout is not this package's: the daemon passes
// uplink.TopicKind and uplink.TopicKinds); nil labels every message
// "other".
func NewMetrics(reg prometheus.Registerer, kind func(topic string) string, kinds []string) *Metrics {
	m := &Metrics{
		kind:  kind,
		kinds: kinds,
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corescope_mqtt_source_connected",
			Help: "1 while the source is connected to its broker, else 0.",
		}, []string{"source"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_mqtt_connects_total",
			Help: "Successful connections to the broker, reconnects included.",
		}, []string{"source"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_mqtt_disconnects_total",
			Help: "Connections lost, forced reconnects included.",
		}, []string{"source"}),
		forced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_mqtt_forced_reconnects_total",
			Help: "Reconnects forced by the stall watchdog or a failed subscription.",
		}, []string{"source"}),
		connectFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_mqtt_connect_failures_total",
			Help: "Failed connection attempts, first connection and reconnects.",
		}, []string{"source"}),
		lastMessage: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corescope_mqtt_last_message_timestamp_seconds",
			Help: "Unix time of the last message received by the source.",
		}, []string{"source"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_mqtt_messages_received_total",
			Help: "Messages received, by topic kind (packets, status, … as the daemon classifies topics; other).",
		}, []string{"source", "subtopic"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_mqtt_enqueue_blocked_seconds_total",
			Help: "Time the source's reader spent handing messages to the pipeline (waiting while its queue is full).",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.connected, m.connects, m.disconnects, m.forced, m.connectFailures,
			m.lastMessage, m.received, m.blocked)
	}
	return m
}

// sourceMetrics are one source's children of Metrics, resolved once so the
// message path does no label lookups.
type sourceMetrics struct {
	connected       prometheus.Gauge
	connects        prometheus.Counter
	disconnects     prometheus.Counter
	forced          prometheus.Counter
	connectFailures prometheus.Counter
	lastMessage     prometheus.Gauge
	received        map[string]prometheus.Counter // by kind
	kind            func(topic string) string
	blocked         prometheus.Counter
}

func (m *Metrics) forSource(name string) sourceMetrics {
	sm := sourceMetrics{
		connected:       m.connected.WithLabelValues(name),
		connects:        m.connects.WithLabelValues(name),
		disconnects:     m.disconnects.WithLabelValues(name),
		forced:          m.forced.WithLabelValues(name),
		connectFailures: m.connectFailures.WithLabelValues(name),
		lastMessage:     m.lastMessage.WithLabelValues(name),
		received:        make(map[string]prometheus.Counter, len(m.kinds)+1),
		blocked:         m.blocked.WithLabelValues(name),
	}
	for _, k := range append(slices.Clip(m.kinds), otherKind) {
		sm.received[k] = m.received.WithLabelValues(name, k)
	}
	sm.kind = m.kind
	return sm
}

// receivedFor returns the received counter of topic's kind.
func (sm *sourceMetrics) receivedFor(topic string) prometheus.Counter {
	if sm.kind != nil {
		if c, ok := sm.received[sm.kind(topic)]; ok {
			return c
		}
	}
	return sm.received[otherKind]
}
