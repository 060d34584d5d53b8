package etl

import (
	"database/sql"
	"time"
)

// Message is one MQTT message as a source hands it to the pipeline.
type Message struct {
	Source   string    // configured source name; a bounded metric label
	Topic    string    // MQTT topic, verbatim
	Payload  []byte    // MQTT payload, verbatim
	Retained bool      // the broker replayed a retained message
	QoS      byte      // the QoS the message was delivered with
	Received time.Time // wall clock when the source received it
	// Ack acknowledges the message to the broker. It is called once, after the
	// batch holding the message is committed. Nil for QoS 0 deliveries.
	Ack func()
}

// Kind says which rows a Record writes.
type Kind uint8

// Record kinds.
const (
	// KindPacket is a decoded packet: transmission (insert-or-get), observer
	// upsert, observation, and the node when the packet is a valid advert.
	KindPacket Kind = iota + 1
	// KindStatus is an observer status message: observer upsert and an
	// optional observer_metrics sample.
	KindStatus
	// KindDropped is a rejected packet kept in dropped_packets with a reason.
	KindDropped
	// KindClientReception is a mobile client's reception (head.md §2.16):
	// a client_receptions row and, when the client sent its name, a
	// client_observers upsert. It writes no observer, observation or
	// transmission.
	KindClientReception
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindPacket:
		return "packet"
	case KindStatus:
		return "status"
	case KindDropped:
		return "dropped"
	case KindClientReception:
		return "client_reception"
	}
	return "unknown"
}

// Record is one normalised, decoded unit of work for the sink. Exactly one of
// Packet, Status, Drop and Client is set, as Kind says.
type Record struct {
	Kind Kind
	// Time is the record's timestamp: the receipt time (Message.Received),
	// never the publisher's clock (head.md §2.2). Rows store it as RFC 3339
	// UTC seconds (epoch seconds for observations and
	// transmissions.last_seen).
	Time     time.Time
	Observer Observer
	Packet   *Packet
	Status   *Status
	Drop     *Drop
	Client   *ClientReception
}

// Observer identifies the observer (uploader) a record came from.
type Observer struct {
	ID   string // topic segment, verbatim (case kept); "" = unknown, no observer row
	Name string // payload origin; "" keeps the stored name (written as NULL)
	IATA string // region, trimmed and uppercased; "" keeps the stored value
	// ClockSkew is how many seconds the observer's naive (zone-less) clock
	// is ahead of the receipt time (negative: behind), truncated toward
	// zero. Set on the raw-packet path only, when the skew is over 15
	// minutes (head.md §2.3); it updates the observers.clock_* columns.
	ClockSkew sql.Null[int64]
}

// Packet holds the column values of one received packet.
type Packet struct {
	// Transmission (deduplicated by Hash).
	Hash           string // content hash, 16 lowercase hex chars
	RawHex         string // the raw string verbatim; transmissions.raw_hex of the first copy
	RouteType      int
	PayloadType    int
	PayloadVersion int
	DecodedJSON    string
	ChannelHash    string // "" = NULL
	FromPubkey     string // "" = NULL
	// Scope is transmissions.scope_name, written on insert only: NULL (not
	// Valid) when the packet is not transport-scoped, "" when it is but no
	// configured region matched, else the region name with its '#'.
	Scope sql.Null[string]

	// Observation (deduplicated by transmission, observer, path).
	PathJSON  string // JSON array of uppercase hex hops; "[]" when none
	ObsRawHex string // this observer's raw hex; "" = NULL
	Direction string // "" = NULL
	SNR       sql.Null[float64]
	RSSI      sql.Null[float64]
	Score     sql.Null[float64]
	// ResolvedPath is observations.resolved_path: a JSON array with, per
	// path hop, the full node key or null (head.md §2.8). "" is NULL,
	// which never replaces a stored value.
	ResolvedPath string

	// Companion marks a companion-bridge message: the observation has no
	// observer row (observer_idx NULL) and no observer is upserted.
	Companion bool

	// Node is set for a valid advert; the node row is upserted.
	Node *Node
}

// Node is the node row an advert upserts.
type Node struct {
	PublicKey    string // 64 lowercase hex chars
	Name         string // "" = NULL (keeps the stored name)
	Role         string // "" = NULL
	Lat, Lon     sql.Null[float64]
	BatteryMV    sql.Null[int64]
	TemperatureC sql.Null[float64]
	Foreign      bool // the advert's position is outside geo_filter
	// DefaultScope is the region ('#name') of a transport-scoped advert
	// whose code matched a configured region; "" keeps the stored
	// nodes.default_scope, which is never cleared.
	DefaultScope string
}

// Status holds what an observer status message carries.
type Status struct {
	// Retained status messages are replays by the broker: they may fill in
	// metadata but do not prove the observer is alive (last_seen unchanged).
	Retained bool

	Model         string // "" = NULL
	Firmware      string
	ClientVersion string
	Radio         string
	BatteryMV     sql.Null[int64]
	UptimeSecs    sql.Null[int64]
	NoiseFloor    sql.Null[float64]
	// CanRelay is the firmware's "repeat" flag; NULL (not Valid) when the
	// status does not say, which keeps the stored observers.can_relay.
	CanRelay sql.Null[bool]

	// Metrics is the observer_metrics sample; nil when nothing was recognised.
	Metrics *Metrics
}

// Metrics is one observer_metrics row. Bucket is the sample time rounded to
// the configured interval; a later sample in the same bucket replaces it.
type Metrics struct {
	Bucket      time.Time
	NoiseFloor  sql.Null[float64]
	TxAirSecs   sql.Null[int64]
	RxAirSecs   sql.Null[int64]
	RecvErrors  sql.Null[int64]
	BatteryMV   sql.Null[int64]
	PacketsSent sql.Null[int64]
	PacketsRecv sql.Null[int64]
}

// Drop is a dropped_packets row: a packet that was rejected, with the reason.
type Drop struct {
	// Hash is the content hash of a decoded packet; for a packet that does
	// not decode, a digest of the whole raw string, so that distinct
	// rejects stay distinct rows and a redelivery adds none.
	Hash       string
	RawHex     string
	Reason     string // a short stable phrase, e.g. "invalid signature"
	NodePubkey string // "" = NULL
	NodeName   string // "" = NULL
}

// ClientReception is one client_receptions row: a mobile client (a
// companion with GPS) heard a node directly, at a position. The record's
// Time is the receipt time: ingested_at, and client_observers.last_seen.
type ClientReception struct {
	RxPubkey string // the client's public key (topic segment), lowercase hex
	Name     string // payload origin; "" = no client_observers upsert
	// HeardKey is the node heard, lowercase hex: the last hop of a flood
	// path (at least 2 bytes), or a zero-hop advert's full public key.
	HeardKey string
	Src      string            // "rxlog" (a path's last hop) or "advert" (a zero-hop advert)
	RxAt     time.Time         // when the client heard it (head.md §2.2's envelope rules)
	Lat, Lon float64           // degrees
	AccM     sql.Null[float64] // position accuracy in metres
	SNR      sql.Null[float64]
	RSSI     sql.Null[int64] // truncated toward zero
}
