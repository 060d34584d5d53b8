// Package transform is the T of the ingest pipeline: it turns one MQTT
// message into the records to store, by normalising the uplink envelope
// (etl/uplink), applying the filters, and decoding the MeshCore packet
// (etl/meshcore).
//
// Every message that does not become a packet is accounted for: rejected
// packets become dropped_packets records with a reason; everything else
// (invalid JSON, unknown topics, filtered or ignored messages, oversized
// payloads) is counted in corescope_ingest_rejects_total or
// corescope_ingest_ignored_total, and rejects are logged at Warn, rate-limited.
package transform

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/etl/uplink"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults.
const (
	DefaultMaxMessageBytes = 64 << 10         // bytes; larger MQTT payloads are rejected as oversized
	logEvery               = 10 * time.Second // rate limit of reject log lines, per reason
)

// Reasons stored in dropped_packets.reason and used as metric labels.
const (
	ReasonOversized        = "oversized"
	ReasonDecodeError      = "decode_error"
	ReasonInvalidAdvert    = "invalid_advert"
	ReasonInvalidSignature = "invalid_signature"
	ReasonForeignAdvert    = "foreign_advert"
)

// Source is what the transformer needs to know about an MQTT source.
type Source struct {
	Region     string   // fallback region when the topic has none
	IATAFilter []string // per-source region allow-list; empty allows all
}

// Config configures a Transformer.
type Config struct {
	Decoder         *meshcore.Decoder
	Filter          *uplink.Filter
	Geo             *uplink.GeoFilter // nil: no geo filter
	ForeignDrop     bool              // foreignAdverts.mode: drop (true) or flag (false)
	SampleInterval  int               // observer_metrics bucket in seconds; ≤0 means 300
	MaxMessageBytes int               // 0 means DefaultMaxMessageBytes
	Sources         map[string]Source // by source name
	// Topology resolves path hops to node keys for resolved_path (head.md
	// §2.8), read without locks; nil leaves resolved_path NULL.
	Topology *topology.Live
	// ClientRx turns on mobile client RX coverage (clientRxCoverage.enabled,
	// head.md §2.16): <p>/client/<key>/packets messages become
	// client_receptions records. Off, they are stored as any observer's
	// packets.
	ClientRx   bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Transformer implements etl.Transformer. It is safe for concurrent use.
type Transformer struct {
	cfg      Config
	log      *slog.Logger
	m        metrics
	sigDrops atomic.Uint64
	// clientDecoder decodes client receptions: no channel keys, no
	// signature check (head.md §2.16); nil unless cfg.ClientRx.
	clientDecoder *meshcore.Decoder

	logMu   sync.Mutex
	lastLog map[string]time.Time
	quiet   map[string]int
}

// New returns a Transformer.
func New(cfg Config) *Transformer {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = uplink.DefaultMetricsIntervalSec
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Decoder == nil {
		cfg.Decoder = meshcore.NewDecoder(meshcore.Options{VerifySignatures: true})
	}
	t := &Transformer{
		cfg:     cfg,
		log:     cfg.Logger,
		m:       newMetrics(cfg.Registerer),
		lastLog: make(map[string]time.Time),
		quiet:   make(map[string]int),
	}
	if cfg.ClientRx {
		t.clientDecoder = meshcore.NewDecoder(meshcore.Options{})
	}
	return t
}

// SigDrops returns how many adverts were rejected for an invalid signature.
func (t *Transformer) SigDrops() uint64 { return t.sigDrops.Load() }

// Transform implements etl.Transformer.
func (t *Transformer) Transform(m *etl.Message, out []etl.Record) []etl.Record {
	if len(m.Payload) > t.cfg.MaxMessageBytes {
		t.reject(ReasonOversized, m, "size", len(m.Payload))
		return out
	}
	env, err := uplink.Parse(m.Topic, m.Payload)
	if err != nil {
		reason := "invalid"
		var re *uplink.RejectError
		if errors.As(err, &re) {
			reason = re.Reason
		}
		t.reject(reason, m, "err", err)
		return out
	}
	src := t.cfg.Sources[m.Source]
	env.SourceRegion = src.Region
	if env.Kind == uplink.KindIgnored {
		t.m.ignored.WithLabelValues(env.Subtopic).Inc()
		return out
	}
	if env.Client && t.cfg.ClientRx {
		return t.clientReception(m, &env, out) // before the IATA lists (head.md §2.1 step 2)
	}
	if reason, ok := t.cfg.Filter.Allow(&env, src.IATAFilter); !ok {
		t.m.filtered.WithLabelValues(reason).Inc()
		return out
	}
	switch env.Kind {
	case uplink.KindPacket:
		return t.packet(m, &env, out)
	case uplink.KindStatus:
		return t.status(m, &env, out)
	case uplink.KindChannelMessage, uplink.KindDirectMessage:
		return t.companion(m, &env, out)
	}
	t.m.ignored.WithLabelValues(env.Subtopic).Inc()
	return out
}

// observer returns the observer a message came from.
func observer(env *uplink.Envelope) etl.Observer {
	return etl.Observer{
		ID:   env.Topic.Observer,
		Name: strings.TrimSpace(env.Origin),
		IATA: strings.ToUpper(strings.TrimSpace(env.EffectiveRegion())),
	}
}

// receiptTime is the time every row of a message is stamped with: when the
// source received it (head.md §2.2, #1370). The publisher's clock never
// moves stored times: an observer whose clock is hours off, zone or not,
// would otherwise drag first_seen back and skew last-activity views.
func receiptTime(m *etl.Message) time.Time {
	if m.Received.IsZero() {
		return time.Now().UTC()
	}
	return m.Received.UTC()
}

// decodeError counts a decoder error by its kind (the meshcore.Error kind,
// or "decode") and returns the kind.
func (t *Transformer) decodeError(err error) string {
	kind := "decode"
	var de *meshcore.Error
	if errors.As(err, &de) {
		kind = de.Kind
	}
	t.m.decodeErrors.WithLabelValues(kind).Inc()
	return kind
}

func (t *Transformer) packet(m *etl.Message, env *uplink.Envelope, out []etl.Record) []etl.Record {
	obs := observer(env)
	when := receiptTime(m)
	t.m.packets.Inc()
	p, err := t.cfg.Decoder.Decode(env.Raw)
	if err != nil {
		kind := t.decodeError(err)
		t.reject(ReasonDecodeError, m, "kind", kind, "err", err)
		return append(out, etl.Record{Kind: etl.KindDropped, Time: when, Observer: obs, Drop: &etl.Drop{
			Hash:   rejectKey(env.Raw),
			RawHex: env.Raw,
			Reason: "decode error: " + kind,
		}})
	}
	t.m.byPayloadType[p.PayloadType&0x0f].Inc()
	// A decoded packet reveals its observer's naive clock, even when the
	// packet is then dropped (head.md §2.1 step 6.3).
	if obs.ID != "" {
		if skew, ok := env.ClockSkew(when); ok {
			obs.ClockSkew = sql.Null[int64]{V: skew, Valid: true}
		}
	}
	pk := transmissionRow(p, env.Raw)
	pk.PathJSON = p.PathJSON
	pk.ObsRawHex = env.Raw
	pk.Direction = env.Direction
	pk.SNR, pk.RSSI, pk.Score = env.SNR, env.RSSI, env.Score
	if t.cfg.Topology != nil {
		pk.ResolvedPath = t.cfg.Topology.ResolvedPath(pk.PayloadType, pk.FromPubkey, pk.PathJSON)
	}
	if a := p.Advert; a != nil {
		drop := func(metric, reason string) []etl.Record {
			t.reject(metric, m, "node", shortKey(a.PubKey), "reason", reason)
			return append(out, etl.Record{Kind: etl.KindDropped, Time: when, Observer: obs, Drop: &etl.Drop{
				Hash: p.Hash, RawHex: env.Raw, Reason: reason, NodePubkey: a.PubKey, NodeName: a.Name,
			}})
		}
		if a.Invalid != "" {
			return drop(ReasonInvalidAdvert, "invalid advert: "+a.Invalid)
		}
		if a.SignatureChecked && !a.SignatureValid {
			t.sigDrops.Add(1)
			return drop(ReasonInvalidSignature, "invalid signature") // CoreScope's reason text
		}
		foreign := t.foreign(a)
		if foreign {
			if t.cfg.ForeignDrop {
				return drop(ReasonForeignAdvert, "foreign advert")
			}
			t.m.foreign.Inc()
		}
		pk.Node = advertNode(p, a, foreign)
	}
	return append(out, etl.Record{Kind: etl.KindPacket, Time: when, Observer: obs, Packet: pk})
}

func (t *Transformer) status(m *etl.Message, env *uplink.Envelope, out []etl.Record) []etl.Record {
	when := receiptTime(m)
	obs := observer(env)
	obs.IATA = strings.ToUpper(strings.TrimSpace(env.Topic.IATA)) // status uses the topic region
	if obs.IATA == "" {
		obs.IATA = strings.ToUpper(strings.TrimSpace(env.EffectiveRegion()))
	}
	meta := &env.Meta
	st := &etl.Status{
		Retained:      m.Retained,
		Model:         meta.Model,
		Firmware:      meta.Firmware,
		ClientVersion: meta.ClientVersion,
		Radio:         meta.Radio,
		BatteryMV:     meta.BatteryMV,
		UptimeSecs:    meta.UptimeSecs,
		NoiseFloor:    meta.NoiseFloor,
		CanRelay:      meta.CanRelay,
	}
	if env.HasMeta && !m.Retained {
		st.Metrics = &etl.Metrics{
			Bucket:      uplink.RoundToInterval(when, t.cfg.SampleInterval),
			NoiseFloor:  meta.NoiseFloor,
			TxAirSecs:   meta.TxAirSecs,
			RxAirSecs:   meta.RxAirSecs,
			RecvErrors:  meta.RecvErrors,
			BatteryMV:   meta.BatteryMV,
			PacketsSent: meta.PacketsSent,
			PacketsRecv: meta.PacketsRecv,
		}
	}
	t.m.statuses.Inc()
	return append(out, etl.Record{Kind: etl.KindStatus, Time: when, Observer: obs, Status: st})
}

// companion stores a companion-bridge message as CoreScope does (ingestor.md
// §2.9), except for the hash: CoreScope hashes the text with the receipt
// second, so a redelivery a second later becomes a second transmission. We
// hash with a timestamp the message carries, stable across redeliveries:
// the sender's, else the publisher's; only a message with neither falls
// back to CoreScope's receipt-second formula. Stored times are the receipt
// time, as for packets.
func (t *Transformer) companion(m *etl.Message, env *uplink.Envelope, out []etl.Record) []etl.Record {
	when := receiptTime(m)
	stamp := when.Format(time.RFC3339)
	switch {
	case len(env.SenderTimestamp) > 0 && string(env.SenderTimestamp) != "null":
		stamp = "sender:" + string(env.SenderTimestamp)
	case !env.Timestamp.IsZero():
		stamp = "published:" + env.Timestamp.Format(time.RFC3339Nano)
	}
	pk := &etl.Packet{
		RouteType: 1,
		PathJSON:  "[]",
		Companion: true,
		Direction: env.Direction,
		SNR:       env.SNR,
		RSSI:      env.RSSI,
		Score:     env.Score,
	}
	var seed string
	var doc []byte
	if env.Kind == uplink.KindChannelMessage {
		ch := "ch" + env.ChannelIdx
		seed = "ch:" + env.ChannelIdx + ":" + env.Text + ":" + stamp
		pk.PayloadType = 5
		pk.ChannelHash = ch
		doc = appendCompanionJSON(doc, ch, env, "CHAN")
	} else {
		seed = "dm:" + env.Text + ":" + stamp
		pk.PayloadType = 2
		doc = appendCompanionJSON(doc, "", env, "DM")
	}
	sum := sha256.Sum256([]byte(seed))
	pk.Hash = hex.EncodeToString(sum[:8])
	pk.DecodedJSON = string(doc)
	t.m.companion.Inc()
	return append(out, etl.Record{Kind: etl.KindPacket, Time: when, Observer: etl.Observer{ID: "companion"}, Packet: pk})
}

// appendCompanionJSON writes CoreScope's companion decoded_json, keys in
// alphabetical order: channel (CHAN only), sender, sender_timestamp (when
// given), text, type.
func appendCompanionJSON(dst []byte, channel string, env *uplink.Envelope, typ string) []byte {
	dst = append(dst, '{')
	if channel != "" {
		dst = append(dst, `"channel":`...)
		dst = appendJSONString(dst, channel)
		dst = append(dst, ',')
	}
	dst = append(dst, `"sender":`...)
	dst = appendJSONString(dst, env.Sender)
	if len(env.SenderTimestamp) > 0 {
		dst = append(dst, `,"sender_timestamp":`...)
		dst = append(dst, env.SenderTimestamp...)
	}
	dst = append(dst, `,"text":`...)
	dst = appendJSONString(dst, env.Text)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, typ)
	return append(dst, '}')
}

// reject counts a message that is not stored and logs it at Warn, at most
// once per reason every logEvery (with the number of suppressed lines).
func (t *Transformer) reject(reason string, m *etl.Message, attrs ...any) {
	t.m.rejects.WithLabelValues(reason).Inc()
	t.logMu.Lock()
	now := time.Now()
	last := t.lastLog[reason]
	if now.Sub(last) < logEvery {
		t.quiet[reason]++
		t.logMu.Unlock()
		return
	}
	suppressed := t.quiet[reason]
	t.quiet[reason] = 0
	t.lastLog[reason] = now
	t.logMu.Unlock()
	args := append([]any{"reason", reason, "source", m.Source, "topic", redactTopic(m.Topic)}, attrs...)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	t.log.Warn("message rejected", args...)
}

// redactTopic shortens the observer segment of a topic for logs.
func redactTopic(topic string) string {
	parts := strings.SplitN(topic, "/", 4)
	if len(parts) >= 3 && len(parts[2]) > 8 {
		parts[2] = parts[2][:8] + "…"
	}
	return strings.Join(parts, "/")
}

// rejectKey is the dropped_packets.hash of a packet that does not decode:
// the first 16 hex digits of the SHA-256 of the whole raw string. The
// content hash would fall back to a prefix of the raw hex for most such
// packets, collapsing distinct rejects into one row.
func rejectKey(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:8])
}

func shortKey(k string) string {
	if len(k) > 16 {
		return k[:16]
	}
	return k
}

// transmissionRow returns the transmission columns of a decoded packet.
func transmissionRow(p *meshcore.Packet, raw string) *etl.Packet {
	pk := &etl.Packet{
		Hash:           p.Hash,
		RawHex:         raw,
		RouteType:      p.RouteType,
		PayloadType:    p.PayloadType,
		PayloadVersion: p.PayloadVersion,
		DecodedJSON:    string(p.DecodedJSON),
		ChannelHash:    p.ChannelHash,
		FromPubkey:     p.FromPubkey,
	}
	if p.TransportScoped {
		pk.Scope = sql.Null[string]{V: p.ScopeName, Valid: true}
	}
	return pk
}

// foreign reports whether a located advert lies outside the geo filter.
func (t *Transformer) foreign(a *meshcore.Advert) bool {
	return t.cfg.Geo != nil && a.HasLocation && !(a.Lat == 0 && a.Lon == 0) && !t.cfg.Geo.Pass(a.Lat, a.Lon)
}

// advertNode returns the node row of a valid advert.
func advertNode(p *meshcore.Packet, a *meshcore.Advert, foreign bool) *etl.Node {
	n := &etl.Node{PublicKey: a.PubKey, Name: a.Name, Role: a.Role, Foreign: foreign}
	if p.TransportScoped {
		n.DefaultScope = p.ScopeName // "" (no region matched) keeps the stored scope
	}
	if a.HasLocation {
		n.Lat = sql.Null[float64]{V: a.Lat, Valid: true}
		n.Lon = sql.Null[float64]{V: a.Lon, Valid: true}
	}
	if a.HasBattery {
		n.BatteryMV = sql.Null[int64]{V: a.BatteryMV, Valid: true}
	}
	if a.HasTemperature {
		n.TemperatureC = sql.Null[float64]{V: a.TemperatureC, Valid: true}
	}
	return n
}

// Redecode decodes a stored raw packet as ingest would store its
// transmission now (current decoder, keys and regions): the transmission
// columns and, for an advert that passes validation, its node. Observation
// columns are left empty and no counter moves. The reprocess job uses it.
func (t *Transformer) Redecode(raw string) (*etl.Packet, error) {
	p, err := t.cfg.Decoder.Decode(raw)
	if err != nil {
		return nil, err
	}
	pk := transmissionRow(p, raw)
	if a := p.Advert; a != nil && a.Invalid == "" && !(a.SignatureChecked && !a.SignatureValid) {
		pk.Node = advertNode(p, a, t.foreign(a))
	}
	return pk, nil
}
