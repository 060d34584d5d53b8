package uplink

import (
	"database/sql"
	"encoding/json"
	"time"
)

// Kind says what an Envelope holds.
type Kind uint8

// Envelope kinds. The zero Kind is not used.
const (
	// KindPacket is one RF reception of a MeshCore packet (Raw is set).
	KindPacket Kind = iota + 1
	// KindStatus is an observer status: online, offline (Last Will) and
	// observer metadata.
	KindStatus
	// KindChannelMessage is a companion bridge channel message
	// (<p>/message/channel/<n>).
	KindChannelMessage
	// KindDirectMessage is a companion bridge direct message
	// (<p>/message/direct/<id>).
	KindDirectMessage
	// KindIgnored is a message on a known topic that is not stored; Reason
	// says why.
	KindIgnored
)

// String returns the kind's name, a bounded metric label.
func (k Kind) String() string {
	switch k {
	case KindPacket:
		return "packet"
	case KindStatus:
		return "status"
	case KindChannelMessage:
		return "channel_message"
	case KindDirectMessage:
		return "direct_message"
	case KindIgnored:
		return "ignored"
	}
	return "unknown"
}

// Subtopic labels: Envelope.Subtopic is always one of these.
const (
	SubtopicPackets   = "packets"
	SubtopicStatus    = "status"
	SubtopicRaw       = "raw"
	SubtopicDebug     = "debug"
	SubtopicInternal  = "internal"
	SubtopicSerial    = "serial"
	SubtopicNeighbors = "neighbors"
	SubtopicMessage   = "message"
	SubtopicOther     = "other"
)

// Reasons a message is KindIgnored (Envelope.Reason).
const (
	IgnoreKeepalive        = "keepalive"          // /packets with no packet bytes and len "" or "0"
	IgnoreDebug            = "debug"              // …/debug
	IgnoreRawWithoutPacket = "raw_without_packet" // …/raw whose payload carries no packet bytes
	IgnoreInternal         = "internal"           // …/internal
	IgnoreSerial           = "serial"             // …/serial/commands, …/serial/responses
	IgnoreNeighbors        = "neighbors"          // …/neighbors
	IgnoreCompanionStatus  = "companion_status"   // <p>/status
	IgnoreConnectionEvent  = "connection_event"   // <p>/events/connection
	IgnoreNoText           = "no_text"            // companion message without a non-empty text
)

// Reasons a message is rejected (RejectError.Reason).
const (
	ReasonUnknownTopic = "unknown_topic" // a topic no uplink publishes on
	ReasonInvalidJSON  = "invalid_json"  // the payload is not JSON
	ReasonNotObject    = "not_object"    // the payload is JSON but not an object
	ReasonNoPacket     = "no_packet"     // a /packets message without packet bytes that is not a keepalive
)

// RejectError is the error Parse returns for a message it cannot use.
type RejectError struct {
	Reason string // one of the Reason* constants; a bounded metric label
	Err    error  // detail, may be nil
}

// Error implements error.
func (e *RejectError) Error() string {
	if e.Err == nil {
		return "uplink: " + e.Reason
	}
	return "uplink: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the detail error.
func (e *RejectError) Unwrap() error { return e.Err }

// Envelope is one uplink message, normalised. Which fields are set depends on
// Kind; strings are "" and numbers invalid when absent.
type Envelope struct {
	Kind Kind
	// Topic is the parsed topic. For the old <p>/packets and <p>/raw layouts
	// Topic.Observer is filled from the payload's origin_id.
	Topic Topic
	// Subtopic is a bounded label for metrics: one of the Subtopic* constants.
	Subtopic string
	// Reason says why a KindIgnored message is not stored (Ignore* constants).
	Reason string
	// Client marks a <p>/client/<key>/packets message: a mobile companion's
	// reception, not a fixed observer's.
	Client bool

	Origin   string // payload "origin": the observer's display name
	OriginID string // payload "origin_id": the observer's public key as the payload says
	Region   string // payload "region", trimmed, if non-empty: overrides the topic's IATA

	// SourceRegion is not set by Parse: the caller sets it to the MQTT
	// source's configured region, the fallback when neither the topic nor the
	// payload names one. See EffectiveRegion.
	SourceRegion string

	// Packets (KindPacket).

	// Raw is the packet hex from the first of "raw", "packet", "payload",
	// "data" that is a non-empty string, with a leading "0x"/"0X" removed and
	// otherwise verbatim: case and inner whitespace are kept, since the
	// decoder strips whitespace itself and the content hash is computed on
	// the verbatim string.
	Raw      string
	RawField string // the key Raw came from
	// SNR, RSSI and Score come from the first of their alternative keys
	// (SNR|snr, RSSI|rssi, score|Score) whose value parses (ParseNumber).
	SNR, RSSI, Score sql.Null[float64]
	Direction        string // first non-empty string of "direction", "Direction"

	// Timestamp is the publisher's "timestamp", zero if absent or
	// unparseable. TimestampHasZone tells an instant (RFC 3339 with Z or an
	// offset, or an epoch number) from a naive local wall-clock time, which
	// is returned with location UTC.
	Timestamp        time.Time
	TimestampHasZone bool
	// TimestampNaive is set when "timestamp" is a JSON string in the naive
	// layout YYYY-MM-DDTHH:MM:SS[.fraction] (no zone, a 'T', no spaces):
	// the publisher's local wall clock, read as UTC. Only such a timestamp
	// can reveal an observer's clock skew (ClockSkew). Row times never come
	// from Timestamp: they are the receipt time.
	TimestampNaive bool

	// Status (KindStatus).

	Status  string // payload "status": "online", "offline", …
	Meta    ObserverMeta
	HasMeta bool // at least one Meta field was recognised: write a metrics sample

	// Companion messages (KindChannelMessage, KindDirectMessage).

	ChannelIdx string // the topic's <n>, overridden by payload "channel_idx"
	Text       string // payload "text", non-empty
	Sender     string // text before the first ": " when that is at byte index 1–49, else ""
	// SenderTimestamp is payload "sender_timestamp" as given (a copy), nil
	// when absent.
	SenderTimestamp json.RawMessage

	// Mobile client receptions (KindPacket with Client set).

	// GPS is the payload's "gps" object: where the client heard the packet.
	GPS GPS
	// ClientTime is "timestamp" read as CoreScope reads a client's: a JSON
	// string in Go's RFC 3339 layout, else in a naive layout
	// YYYY-MM-DDTHH:MM:SS[.fraction] read as UTC (ClientTimeNaive); zero
	// otherwise. RxTime turns it into the reception's time.
	ClientTime      time.Time
	ClientTimeNaive bool
}

// EffectiveRegion returns the region the message belongs to: the payload's
// Region if set, else the topic's IATA, else SourceRegion. It is neither
// trimmed nor case-folded.
func (e *Envelope) EffectiveRegion() string {
	switch {
	case e.Region != "":
		return e.Region
	case e.Topic.IATA != "":
		return e.Topic.IATA
	}
	return e.SourceRegion
}

// ObserverMeta is the observer metadata a status message carries. Numeric
// fields are read from the "stats" object first, else from the top level
// (a key present in "stats", even with null, wins); strings from the top
// level only.
type ObserverMeta struct {
	Model         string // "model"
	Firmware      string // "firmware_version", else "firmware"
	ClientVersion string // "clientVersion", else "client_version"
	Radio         string // "radio"

	BatteryMV   sql.Null[int64]   // battery_mv
	UptimeSecs  sql.Null[int64]   // uptime_secs
	TxAirSecs   sql.Null[int64]   // tx_air_secs
	RxAirSecs   sql.Null[int64]   // rx_air_secs
	RecvErrors  sql.Null[int64]   // recv_errors
	PacketsSent sql.Null[int64]   // packets_sent, else sent
	PacketsRecv sql.Null[int64]   // packets_recv, else packets_received, else recv
	NoiseFloor  sql.Null[float64] // noise_floor

	// CanRelay is the top-level "repeat" flag of firmware 1.16 (head.md
	// §2.4): a JSON boolean, a number (non-zero is true), or a string that
	// is, trimmed and lower-cased, on/true/1/yes or off/false/0/no. Any
	// other value is unknown (not Valid). It does not count towards
	// HasMeta: a status carrying only "repeat" writes no metrics sample.
	CanRelay sql.Null[bool]
}
