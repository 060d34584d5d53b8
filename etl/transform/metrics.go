package transform

import (
	"encoding/json"

	"github.com/corescope/etl/etl/meshcore"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rejects      *prometheus.CounterVec
	filtered     *prometheus.CounterVec
	ignored      *prometheus.CounterVec
	decodeErrors *prometheus.CounterVec
	payloadTypes *prometheus.CounterVec
	// byPayloadType holds payloadTypes' children by type number, resolved
	// once: the hot path does no label lookup.
	byPayloadType [16]prometheus.Counter
	packets       prometheus.Counter
	statuses      prometheus.Counter
	companion     prometheus.Counter
	foreign       prometheus.Counter
	clientRx      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_rejects_total",
			Help: "Messages rejected by reason (invalid JSON, unknown topic, decode errors, invalid adverts, …).",
		}, []string{"reason"}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_filtered_total",
			Help: "Messages dropped by a configured filter, by reason.",
		}, []string{"reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_ignored_total",
			Help: "Messages on known topics that store nothing (debug, keepalives, …), by subtopic.",
		}, []string{"subtopic"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_decode_errors_total",
			Help: "Packets that failed to decode, by error kind.",
		}, []string{"kind"}),
		payloadTypes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_packets_decoded_total",
			Help: "Packets decoded, by payload type.",
		}, []string{"payload_type"}),
		packets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_ingest_packet_messages_total",
			Help: "Packet messages that passed the filters.",
		}),
		statuses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_ingest_status_messages_total",
			Help: "Observer status messages that passed the filters.",
		}),
		companion: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_ingest_companion_messages_total",
			Help: "Companion-bridge channel and direct messages.",
		}),
		foreign: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_ingest_foreign_adverts_total",
			Help: "Adverts outside geo_filter that were stored and flagged foreign.",
		}),
		clientRx: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_client_receptions_total",
			Help: "Decoded mobile client receptions, by result: heard (stored) or why the node heard is unknown.",
		}, []string{"result"}),
	}
	for i := range m.byPayloadType {
		m.byPayloadType[i] = m.payloadTypes.WithLabelValues(meshcore.PayloadTypeName(i))
	}
	if reg != nil {
		reg.MustRegister(m.rejects, m.filtered, m.ignored, m.decodeErrors, m.payloadTypes, m.packets, m.statuses, m.companion, m.foreign, m.clientRx)
	}
	return m
}

// appendJSONString appends s as a JSON string, escaped as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
