package uplink

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// route is what Parse does with a topic.
type route uint8

const (
	routeUnknown route = iota
	routeIgnored
	routePacket // …/packets: packet bytes, a keepalive, or no_packet
	routeRaw    // …/raw: packet bytes, or ignored
	routeStatus
	routeChannel
	routeDirect
)

// classify maps a parsed topic to a route, a Subtopic label and, for
// routeIgnored, the reason.
func classify(t Topic, lay layout) (r route, label, reason string) {
	sub := t.Subtopic
	switch lay {
	case layoutObserver:
		if t.Parts < 4 {
			return routeUnknown, SubtopicOther, ""
		}
		switch {
		case sub == "packets":
			return routePacket, SubtopicPackets, ""
		case sub == "raw":
			return routeRaw, SubtopicRaw, ""
		case sub == "status":
			return routeStatus, SubtopicStatus, ""
		case sub == "debug":
			return routeIgnored, SubtopicDebug, IgnoreDebug
		case sub == "internal" || strings.HasPrefix(sub, "internal/"):
			return routeIgnored, SubtopicInternal, IgnoreInternal
		case sub == "serial" || strings.HasPrefix(sub, "serial/"):
			return routeIgnored, SubtopicSerial, IgnoreSerial
		case sub == "neighbors":
			return routeIgnored, SubtopicNeighbors, IgnoreNeighbors
		}
	case layoutClient:
		if sub == "packets" {
			return routePacket, SubtopicPackets, ""
		}
	case layoutShort:
		switch sub {
		case "packets":
			return routePacket, SubtopicPackets, ""
		case "raw":
			return routeRaw, SubtopicRaw, ""
		case "status":
			return routeIgnored, SubtopicStatus, IgnoreCompanionStatus
		}
	case layoutCompanion:
		// sub is "message/<kind>/<id>[/…]"
		parts := strings.SplitN(sub, "/", 4)
		if len(parts) >= 3 && parts[2] != "" {
			switch parts[1] {
			case "channel":
				return routeChannel, SubtopicMessage, ""
			case "direct":
				return routeDirect, SubtopicMessage, ""
			}
		}
		return routeUnknown, SubtopicMessage, ""
	case layoutEvents:
		if sub == "events/connection" {
			return routeIgnored, SubtopicOther, IgnoreConnectionEvent
		}
	}
	return routeUnknown, SubtopicOther, ""
}

// Parse normalises one MQTT message into an Envelope. The topic decides what
// the message is (see the package documentation); the payload must then be a
// JSON object, except on ignored topics, whose payload is not read.
//
// Errors are *RejectError with Reason "unknown_topic", "invalid_json",
// "not_object", "no_packet", or, for text the observer controls (validate),
// "empty_observer", "invalid_observer", "invalid_region" or
// "invalid_origin". Even on error, Topic and Subtopic are set, for logs and
// metric labels.
func Parse(topic string, payload []byte) (Envelope, error) {
	env, err := parse(topic, payload)
	if err == nil {
		err = validate(&env)
	}
	return env, err
}

func parse(topic string, payload []byte) (Envelope, error) {
	var env Envelope
	var lay layout
	env.Topic, lay = parseTopic(topic)
	r, label, reason := classify(env.Topic, lay)
	env.Subtopic = label
	switch r {
	case routeUnknown:
		return env, &RejectError{Reason: ReasonUnknownTopic}
	case routeIgnored:
		env.Kind, env.Reason = KindIgnored, reason
		return env, nil
	}
	env.Client = lay == layoutClient

	// One copy of the payload; every string below is a substring of it.
	s := string(payload)
	if !validJSON(s) {
		return env, invalidJSON(payload)
	}
	it, ok := newObjectIter(s)
	if !ok {
		return env, &RejectError{Reason: ReasonNotObject, Err: fmt.Errorf("payload is a JSON %s", jsonType(s))}
	}
	var f fields
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		f.set(k, v)
	}

	env.Origin, _ = decodeString(f.origin)
	env.OriginID, _ = decodeString(f.originID)
	if region, ok := decodeString(f.region); ok {
		env.Region = strings.TrimSpace(region)
	}
	env.Timestamp, env.TimestampHasZone = parseTimestamp(f.timestamp)
	env.TimestampNaive = !env.TimestampHasZone && !env.Timestamp.IsZero() && naiveLayout(f.timestamp)

	switch r {
	case routeStatus:
		env.Kind = KindStatus
		env.Status, _ = decodeString(f.status)
		env.Meta, env.HasMeta = f.meta()
		return env, nil
	case routeChannel, routeDirect:
		return parseCompanion(env, r, &f), nil
	}

	// routePacket, routeRaw.
	if lay == layoutShort {
		env.Topic.Observer = env.OriginID
	}
	env.Raw, env.RawField = f.packetHex()
	if env.Raw == "" {
		switch {
		case r == routeRaw:
			env.Kind, env.Reason = KindIgnored, IgnoreRawWithoutPacket
			return env, nil
		case f.isKeepalive():
			env.Kind, env.Reason = KindIgnored, IgnoreKeepalive
			return env, nil
		}
		return env, &RejectError{Reason: ReasonNoPacket}
	}
	env.Kind = KindPacket
	f.readReception(&env)
	if env.Client {
		f.readClient(&env)
	}
	return env, nil
}

// parseCompanion fills a companion bridge message (§2.9).
func parseCompanion(env Envelope, r route, f *fields) Envelope {
	text, _ := decodeString(f.text)
	if text == "" {
		env.Kind, env.Reason = KindIgnored, IgnoreNoText
		return env
	}
	env.Kind = KindDirectMessage
	if r == routeChannel {
		env.Kind = KindChannelMessage
		// Subtopic is "message/channel/<n>[/…]".
		idx := strings.TrimPrefix(env.Topic.Subtopic, "message/channel/")
		idx, _, _ = strings.Cut(idx, "/")
		if v, ok := formatIndex(f.channelIdx); ok {
			idx = v
		}
		env.ChannelIdx = idx
	}
	env.Text = text
	if i := strings.Index(text, ": "); i >= 1 && i <= 49 {
		env.Sender = text[:i]
	}
	if f.senderTimestamp != "" {
		env.SenderTimestamp = json.RawMessage(f.senderTimestamp)
	}
	f.readReception(&env)
	return env
}

// formatIndex renders a payload channel_idx as text: a number as Go's %v
// prints a float64 ("3"), a non-empty string as is. Other values (null,
// booleans, "", objects) do not override the topic's index.
func formatIndex(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if v[0] == '"' {
		s, _ := decodeString(v)
		return s, s != ""
	}
	if v[0] == '-' || isDigit(v[0]) {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 64), true
		}
	}
	return "", false
}

func invalidJSON(payload []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(payload, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return &RejectError{Reason: ReasonInvalidJSON, Err: err}
}

// fields holds the raw JSON values of the top-level keys Parse reads; "" is
// absent. A repeated key keeps its last value, as encoding/json does.
type fields struct {
	raw, packet, payload, data string

	snrUpper, snrLower, rssiUpper, rssiLower, scoreLower, scoreUpper string
	directionLower, directionUpper                                   string

	origin, originID, region, timestamp, length, status string

	model, firmware, firmwareVersion, clientVersionSnake, clientVersionCamel, radio, stats, repeat string

	text, channelIdx, senderTimestamp string

	gps string

	top metaFields
}

func (f *fields) set(k, v string) {
	switch k {
	case "raw":
		f.raw = v
	case "packet":
		f.packet = v
	case "payload":
		f.payload = v
	case "data":
		f.data = v
	case "SNR":
		f.snrUpper = v
	case "snr":
		f.snrLower = v
	case "RSSI":
		f.rssiUpper = v
	case "rssi":
		f.rssiLower = v
	case "score":
		f.scoreLower = v
	case "Score":
		f.scoreUpper = v
	case "direction":
		f.directionLower = v
	case "Direction":
		f.directionUpper = v
	case "origin":
		f.origin = v
	case "origin_id":
		f.originID = v
	case "region":
		f.region = v
	case "timestamp":
		f.timestamp = v
	case "len":
		f.length = v
	case "status":
		f.status = v
	case "model":
		f.model = v
	case "firmware":
		f.firmware = v
	case "firmware_version":
		f.firmwareVersion = v
	case "client_version":
		f.clientVersionSnake = v
	case "clientVersion":
		f.clientVersionCamel = v
	case "radio":
		f.radio = v
	case "stats":
		f.stats = v
	case "repeat":
		f.repeat = v
	case "text":
		f.text = v
	case "channel_idx":
		f.channelIdx = v
	case "sender_timestamp":
		f.senderTimestamp = v
	case "gps":
		f.gps = v
	default:
		f.top.set(k, v)
	}
}

// packetHex returns the packet hex and the key it came from: the first of
// raw, packet, payload, data that is a non-empty string once a leading
// "0x"/"0X" is removed.
func (f *fields) packetHex() (hex, key string) {
	for _, c := range [...]struct{ key, v string }{
		{"raw", f.raw}, {"packet", f.packet}, {"payload", f.payload}, {"data", f.data},
	} {
		s, ok := decodeString(c.v)
		if !ok {
			continue
		}
		if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
			s = s[2:]
		}
		if s != "" {
			return s, c.key
		}
	}
	return "", ""
}

// isKeepalive reports whether a message without packet bytes is a keepalive:
// its "len" is "", "0" or the number 0.
func (f *fields) isKeepalive() bool {
	if s, ok := decodeString(f.length); ok {
		s = strings.TrimSpace(s)
		return s == "" || s == "0"
	}
	if f.length != "" && (f.length[0] == '-' || isDigit(f.length[0])) {
		n, err := strconv.ParseFloat(f.length, 64)
		return err == nil && n == 0
	}
	return false
}

// readReception fills the per-reception fields shared by packets and
// companion messages. Each alternative key pair yields the first value that
// parses, so {"SNR":null,"snr":-5} gives -5.
func (f *fields) readReception(env *Envelope) {
	env.SNR = firstNumber(f.snrUpper, f.snrLower)
	env.RSSI = firstNumber(f.rssiUpper, f.rssiLower)
	env.Score = firstNumber(f.scoreLower, f.scoreUpper)
	for _, v := range [...]string{f.directionLower, f.directionUpper} {
		if s, _ := decodeString(v); s != "" {
			env.Direction = s
			break
		}
	}
}

func firstNumber(vs ...string) sql.Null[float64] {
	for _, v := range vs {
		if n, ok := parseNumber(v); ok {
			return sql.Null[float64]{V: n, Valid: true}
		}
	}
	return sql.Null[float64]{}
}

// metaFields holds the raw JSON values of the numeric status keys, read at
// the top level or in "stats".
type metaFields struct {
	batteryMV, uptimeSecs, noiseFloor, txAirSecs, rxAirSecs, recvErrors string
	packetsSent, sent, packetsRecv, packetsReceived, recv               string
}

func (m *metaFields) set(k, v string) {
	switch k {
	case "battery_mv":
		m.batteryMV = v
	case "uptime_secs":
		m.uptimeSecs = v
	case "noise_floor":
		m.noiseFloor = v
	case "tx_air_secs":
		m.txAirSecs = v
	case "rx_air_secs":
		m.rxAirSecs = v
	case "recv_errors":
		m.recvErrors = v
	case "packets_sent":
		m.packetsSent = v
	case "sent":
		m.sent = v
	case "packets_recv":
		m.packetsRecv = v
	case "packets_received":
		m.packetsReceived = v
	case "recv":
		m.recv = v
	}
}

// meta extracts the observer metadata of a status message (§2.7, with the
// packets_received/recv aliases that the reference loses).
func (f *fields) meta() (m ObserverMeta, has bool) {
	str := func(vs ...string) string {
		for _, v := range vs {
			if s, _ := decodeString(v); s != "" {
				return s
			}
		}
		return ""
	}
	m.Model = str(f.model)
	m.Firmware = str(f.firmwareVersion, f.firmware)
	m.ClientVersion = str(f.clientVersionCamel, f.clientVersionSnake)
	m.Radio = str(f.radio)

	// A key present in an object "stats" wins, even when its value is null
	// or unparseable; a "stats" that is not an object is ignored.
	var st metaFields
	it, hasStats := newObjectIter(f.stats)
	for hasStats {
		k, v, ok := it.next()
		if !ok {
			break
		}
		st.set(k, v)
	}
	pick := func(inStats, top string) string {
		if hasStats && inStats != "" {
			return inStats
		}
		return top
	}
	integer := func(vs ...string) sql.Null[int64] {
		for _, v := range vs {
			if n, ok := parseInt(v); ok {
				return sql.Null[int64]{V: n, Valid: true}
			}
		}
		return sql.Null[int64]{}
	}
	top := &f.top
	m.BatteryMV = integer(pick(st.batteryMV, top.batteryMV))
	m.UptimeSecs = integer(pick(st.uptimeSecs, top.uptimeSecs))
	m.TxAirSecs = integer(pick(st.txAirSecs, top.txAirSecs))
	m.RxAirSecs = integer(pick(st.rxAirSecs, top.rxAirSecs))
	m.RecvErrors = integer(pick(st.recvErrors, top.recvErrors))
	m.PacketsSent = integer(pick(st.packetsSent, top.packetsSent), pick(st.sent, top.sent))
	m.PacketsRecv = integer(pick(st.packetsRecv, top.packetsRecv),
		pick(st.packetsReceived, top.packetsReceived), pick(st.recv, top.recv))
	if n, ok := parseNumber(pick(st.noiseFloor, top.noiseFloor)); ok {
		m.NoiseFloor = sql.Null[float64]{V: n, Valid: true}
	}
	m.CanRelay = parseRepeat(f.repeat)
	has = m.Model != "" || m.Firmware != "" || m.ClientVersion != "" || m.Radio != "" ||
		m.BatteryMV.Valid || m.UptimeSecs.Valid || m.TxAirSecs.Valid || m.RxAirSecs.Valid ||
		m.RecvErrors.Valid || m.PacketsSent.Valid || m.PacketsRecv.Valid || m.NoiseFloor.Valid
	return m, has
}

// parseRepeat reads a status "repeat" value (ObserverMeta.CanRelay).
func parseRepeat(v string) sql.Null[bool] {
	switch {
	case v == "true":
		return sql.Null[bool]{V: true, Valid: true}
	case v == "false":
		return sql.Null[bool]{V: false, Valid: true}
	case v == "":
	case v[0] == '"':
		s, _ := decodeString(v)
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "on", "true", "1", "yes":
			return sql.Null[bool]{V: true, Valid: true}
		case "off", "false", "0", "no":
			return sql.Null[bool]{V: false, Valid: true}
		}
	case v[0] == '-' || isDigit(v[0]):
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return sql.Null[bool]{V: n != 0, Valid: true}
		}
	}
	return sql.Null[bool]{}
}
