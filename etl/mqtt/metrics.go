package mqtt

import (
	"strings"

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
}

// NewMetrics creates the MQTT source metrics and registers them with reg; a
// nil reg leaves them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
			Help: "Messages received, by topic kind (the 4th topic segment when known, message, or other).",
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

// subtopics are the bounded values of the subtopic label.
var subtopics = []string{"packets", "status", "raw", "debug", "internal", "neighbors", "message", "other"}

// subtopic classifies a topic for the subtopic label without allocating: the
// 4th segment if it is a known one (meshcore/IATA/KEY/packets), "message" for
// the companion bridge's meshcore/message/…, else "other".
func subtopic(topic string) string {
	rest := topic
	var seg [4]string
	n := 0
	for n < 4 {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			seg[n] = rest
			n++
			break
		}
		seg[n] = rest[:i]
		rest = rest[i+1:]
		n++
	}
	if n >= 2 && seg[0] == "meshcore" && seg[1] == "message" {
		return "message"
	}
	if n >= 4 {
		for _, s := range subtopics[:6] {
			if seg[3] == s {
				return s
			}
		}
	}
	return "other"
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
	received        map[string]prometheus.Counter
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
		received:        make(map[string]prometheus.Counter, len(subtopics)),
		blocked:         m.blocked.WithLabelValues(name),
	}
	for _, st := range subtopics {
		sm.received[st] = m.received.WithLabelValues(name, st)
	}
	return sm
}
