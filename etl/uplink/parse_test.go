package uplink

import (
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// A realistic 87-byte packet (meshcoretomqtt's example says len 87).
const testRaw = "0A00D69FD7A5A7475DB07337749AE61FA53A4788E9761FA53A4788E9760A00D69FD7A5A7475DB07337749AE61FA53A4788E9761FA53A4788E976" +
	"0A00D69FD7A5A7475DB07337749AE61FA53A4788E9761FA53A4788E976"

// meshcoretomqttPacket is the canonical /packets example (uplinks.md b.2).
const meshcoretomqttPacket = `{"origin": "ag loft rpt", "origin_id": "A1B2C3D4", "timestamp": "2025-03-16T00:07:11.191561",
 "type": "PACKET", "direction": "rx", "time": "00:07:09", "date": "16/3/2025", "len": "87",
 "packet_type": "5", "route": "F", "payload_len": "83", "raw": "` + testRaw + `", "SNR": "4",
 "RSSI": "-93", "score": "1000", "hash": "AC9D2DDDD8395712"}`

// statsStatus is the /status example of uplinks.md b.3.
const statsStatus = `{"status": "online", "timestamp": "2025-03-16T00:07:11Z", "origin": "ag loft rpt", "origin_id": "A1B2",
 "radio": "910.5250244,62.5,7,5", "model": "Heltec V3", "firmware_version": "1.12.0", "client_version": "meshcoretomqtt/1.0.8.0",
 "stats": {"battery_mv": 3947, "uptime_secs": 248451, "errors": 0, "queue_len": 0,
           "noise_floor": -115, "last_rssi": -59, "last_snr": 13.25,
           "tx_air_secs": 111, "rx_air_secs": 2294,
           "recv": 0, "sent": 0, "flood_tx": 0, "direct_tx": 0, "flood_rx": 0, "direct_rx": 0,
           "recv_errors": 0, "packets_sent": 0, "packets_received": 0}}`

// issue1044Status is the real status payload of upstream issue #1044.
const issue1044Status = `{"status":"online","origin":"TestObserver","origin_id":"AABBCCDD","radio":"910.5250244,62.5,7,5","model":"Heltec V3","firmware_version":"1.12.0-test","client_version":"meshcoretomqtt/1.0.8.0","stats":{"battery_mv":4209,"uptime_secs":75821,"noise_floor":-109,"tx_air_secs":80,"rx_air_secs":1903,"recv_errors":934}}`

func f64(v float64) sql.Null[float64] { return sql.Null[float64]{V: v, Valid: true} }
func i64(v int64) sql.Null[int64]     { return sql.Null[int64]{V: v, Valid: true} }

func topicOf(prefix, iata, observer, sub string, parts int) Topic {
	return Topic{Prefix: prefix, IATA: iata, Observer: observer, Subtopic: sub, Parts: parts}
}

func TestParse(t *testing.T) {
	obsTopic := topicOf("meshcore", "SJC", "A1B2", "packets", 4)
	tests := []struct {
		name    string
		topic   string
		payload string
		want    Envelope
		wantTS  time.Time
		tsZone  bool
	}{
		{
			name:    "meshcoretomqtt canonical packet",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: meshcoretomqttPacket,
			want: Envelope{
				Kind: KindPacket, Topic: obsTopic, Subtopic: "packets",
				Origin: "ag loft rpt", OriginID: "A1B2C3D4",
				Raw: testRaw, RawField: "raw",
				SNR: f64(4), RSSI: f64(-93), Score: f64(1000), Direction: "rx",
			},
			wantTS: time.Date(2025, 3, 16, 0, 7, 11, 191561000, time.UTC),
		},
		{
			name:  "packet-capture: Unknown SNR, uppercase raw, UTC-aware timestamp",
			topic: "meshcore/SJC/A1B2/packets",
			payload: `{"origin":"pc","origin_id":"A1B2","timestamp":"2025-03-16T00:07:11.191561+00:00","type":"PACKET",` +
				`"direction":"rx","len":"22","raw":"0A00D69FD7A5A7475DB07337749AE61FA53A4788E976","SNR":"Unknown","RSSI":"Unknown",` +
				`"hash":"AC9D2DDDD8395712","path":"a,b,c","decoded":{"type":"TXT_MSG"}}`,
			want: Envelope{
				Kind: KindPacket, Topic: obsTopic, Subtopic: "packets",
				Origin: "pc", OriginID: "A1B2",
				Raw: "0A00D69FD7A5A7475DB07337749AE61FA53A4788E976", RawField: "raw", Direction: "rx",
			},
			wantTS: time.Date(2025, 3, 16, 0, 7, 11, 191561000, time.UTC), tsZone: true,
		},
		{
			name:    "spec appendix A: unit on SNR, lowercase rssi number",
			topic:   "meshcore/SJC/obsA/packets",
			payload: `{"raw":"0A00D69FD7A5","origin":"ObsA","SNR":"-5.5dB","rssi":-90,"timestamp":"2020-01-01T00:00:00Z"}`,
			want: Envelope{
				Kind: KindPacket, Topic: topicOf("meshcore", "SJC", "obsA", "packets", 4), Subtopic: "packets",
				Origin: "ObsA", Raw: "0A00D69FD7A5", RawField: "raw", SNR: f64(-5.5), RSSI: f64(-90),
			},
			wantTS: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), tsZone: true,
		},
		{
			name:    "SNR null falls through to a valid snr; units dB/dBm; score string; Direction",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"0a00","SNR":null,"snr":-5,"RSSI":"-110dBm","score":"Unknown","Score":"12.5","Direction":"tx"}`,
			want: Envelope{
				Kind: KindPacket, Topic: obsTopic, Subtopic: "packets",
				Raw: "0a00", RawField: "raw", SNR: f64(-5), RSSI: f64(-110), Score: f64(12.5), Direction: "tx",
			},
		},
		{
			name:    "units with spaces and case, booleans and objects rejected",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"0A","SNR":" -5.5 DB ","RSSI":true,"rssi":{"v":1},"score":"7 m"}`,
			want: Envelope{
				Kind: KindPacket, Topic: obsTopic, Subtopic: "packets",
				Raw: "0A", RawField: "raw", SNR: f64(-5.5), Score: f64(7),
			},
		},
		{
			name:    "0x prefix removed, inner spaces kept",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"0x0A 00 D6"}`,
			want: Envelope{
				Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A 00 D6", RawField: "raw",
			},
		},
		{
			name:    "packet field, upper-case 0X",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"packet":"0X0a00d6"}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0a00d6", RawField: "packet"},
		},
		{
			name:    "payload field when raw is empty",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"","payload":"0A00D6"}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A00D6", RawField: "payload"},
		},
		{
			name:    "data field when the others are not strings",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":null,"packet":12,"payload":{"type":"ADVERT"},"data":"0A00D6"}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A00D6", RawField: "data"},
		},
		{
			name:    "escaped strings are decoded",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"r\u0061w":"0A\u0030","origin":"caf\u00e9 \"rpt\""}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A0", RawField: "raw", Origin: `café "rpt"`},
		},
		{
			name:    "repeated key: the last wins",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"AA","raw":"BB"}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "BB", RawField: "raw"},
		},
		{
			name:    "payload region overrides, trimmed",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"0A","region":" pdx "}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A", RawField: "raw", Region: "pdx"},
		},
		{
			name:    "epoch seconds timestamp",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"0A","timestamp":1742083631}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A", RawField: "raw"},
			wantTS:  time.Unix(1742083631, 0).UTC(), tsZone: true,
		},
		{
			name:    "epoch milliseconds timestamp as string",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"0A","timestamp":"1742083631250"}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A", RawField: "raw"},
			wantTS:  time.Unix(1742083631, 250e6).UTC(), tsZone: true,
		},
		{
			name:    "unparseable timestamp is zero",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"0A","timestamp":"yesterday"}`,
			want:    Envelope{Kind: KindPacket, Topic: obsTopic, Subtopic: "packets", Raw: "0A", RawField: "raw"},
		},
		{
			name:    "keepalive: empty raw and len empty",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"origin":"x","raw":"","len":""}`,
			want:    Envelope{Kind: KindIgnored, Reason: "keepalive", Topic: obsTopic, Subtopic: "packets", Origin: "x"},
		},
		{
			name:    "keepalive: len 0",
			topic:   "meshcore/SJC/A1B2/packets",
			payload: `{"raw":"","len":"0"}`,
			want:    Envelope{Kind: KindIgnored, Reason: "keepalive", Topic: obsTopic, Subtopic: "packets"},
		},
		{
			name:    "client keepalive",
			topic:   "meshcore/client/C0FFEE/packets",
			payload: `{"raw":"","len":0}`,
			want: Envelope{Kind: KindIgnored, Reason: "keepalive", Client: true,
				Topic: topicOf("meshcore", "", "C0FFEE", "packets", 4), Subtopic: "packets"},
		},
		{
			name:    "client packet: observer is the key, no IATA",
			topic:   "meshcore/client/C0FFEE/packets",
			payload: `{"raw":"0A00","SNR":"3"}`,
			want: Envelope{Kind: KindPacket, Client: true, Topic: topicOf("meshcore", "", "C0FFEE", "packets", 4),
				Subtopic: "packets", Raw: "0A00", RawField: "raw", SNR: f64(3)},
		},
		{
			name:    "old packet-capture topic: observer from origin_id",
			topic:   "meshcore/packets",
			payload: `{"origin":"pc","origin_id":"ABCDEF0123","raw":"0A00"}`,
			want: Envelope{Kind: KindPacket, Topic: topicOf("meshcore", "", "ABCDEF0123", "packets", 2), Subtopic: "packets",
				Origin: "pc", OriginID: "ABCDEF0123", Raw: "0A00", RawField: "raw"},
		},
		{
			name:    "raw topic with data",
			topic:   "meshcore/SJC/A1B2/raw",
			payload: `{"origin":"pc","origin_id":"A1B2","timestamp":"2025-03-16T00:07:11Z","type":"RAW","data":"0A00D6"}`,
			want: Envelope{Kind: KindPacket, Topic: topicOf("meshcore", "SJC", "A1B2", "raw", 4), Subtopic: "raw",
				Origin: "pc", OriginID: "A1B2", Raw: "0A00D6", RawField: "data"},
			wantTS: time.Date(2025, 3, 16, 0, 7, 11, 0, time.UTC), tsZone: true,
		},
		{
			name:    "raw topic without packet bytes",
			topic:   "meshcore/SJC/A1B2/raw",
			payload: `{"type":"RAW","data":""}`,
			want: Envelope{Kind: KindIgnored, Reason: "raw_without_packet",
				Topic: topicOf("meshcore", "SJC", "A1B2", "raw", 4), Subtopic: "raw"},
		},
		{
			name:    "old packet-capture raw topic",
			topic:   "meshcore/raw",
			payload: `{"origin_id":"AB","data":"0A00"}`,
			want: Envelope{Kind: KindPacket, Topic: topicOf("meshcore", "", "AB", "raw", 2), Subtopic: "raw",
				OriginID: "AB", Raw: "0A00", RawField: "data"},
		},
		{
			name:    "status with stats block",
			topic:   "meshcore/SJC/A1B2/status",
			payload: statsStatus,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "SJC", "A1B2", "status", 4), Subtopic: "status",
				Origin: "ag loft rpt", OriginID: "A1B2", Status: "online", HasMeta: true,
				Meta: ObserverMeta{
					Model: "Heltec V3", Firmware: "1.12.0", ClientVersion: "meshcoretomqtt/1.0.8.0", Radio: "910.5250244,62.5,7,5",
					BatteryMV: i64(3947), UptimeSecs: i64(248451), TxAirSecs: i64(111), RxAirSecs: i64(2294),
					RecvErrors: i64(0), PacketsSent: i64(0), PacketsRecv: i64(0), NoiseFloor: f64(-115),
				},
			},
			wantTS: time.Date(2025, 3, 16, 0, 7, 11, 0, time.UTC), tsZone: true,
		},
		{
			name:    "status of issue #1044",
			topic:   "meshcore/sjc/AABBCCDD/status",
			payload: issue1044Status,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "sjc", "AABBCCDD", "status", 4), Subtopic: "status",
				Origin: "TestObserver", OriginID: "AABBCCDD", Status: "online", HasMeta: true,
				Meta: ObserverMeta{
					Model: "Heltec V3", Firmware: "1.12.0-test", ClientVersion: "meshcoretomqtt/1.0.8.0", Radio: "910.5250244,62.5,7,5",
					BatteryMV: i64(4209), UptimeSecs: i64(75821), TxAirSecs: i64(80), RxAirSecs: i64(1903),
					RecvErrors: i64(934), NoiseFloor: f64(-109),
				},
			},
		},
		{
			name:  "status with top-level keys, strings with units, floats rounded, aliases",
			topic: "meshcore/SJC/A1B2/status",
			payload: `{"status":"online","firmware":"1.11","clientVersion":"pc/2","client_version":"old",` +
				`"battery_mv":"4100.6","uptime_secs":12.4,"noise_floor":"-110dBm","tx_air_secs":"5",` +
				`"sent":7,"packets_received":"42","recv":1}`,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "SJC", "A1B2", "status", 4), Subtopic: "status",
				Status: "online", HasMeta: true,
				Meta: ObserverMeta{
					Firmware: "1.11", ClientVersion: "pc/2", BatteryMV: i64(4101), UptimeSecs: i64(12),
					NoiseFloor: f64(-110), TxAirSecs: i64(5), PacketsSent: i64(7), PacketsRecv: i64(42),
				},
			},
		},
		{
			name:    "packets_recv wins over the aliases; recv alone is used",
			topic:   "meshcore/SJC/A1B2/status",
			payload: `{"stats":{"packets_recv":9,"packets_received":8,"recv":7,"sent":3}}`,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "SJC", "A1B2", "status", 4), Subtopic: "status", HasMeta: true,
				Meta: ObserverMeta{PacketsRecv: i64(9), PacketsSent: i64(3)},
			},
		},
		{
			name:    "recv alias",
			topic:   "meshcore/SJC/A1B2/status",
			payload: `{"stats":{"recv":7}}`,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "SJC", "A1B2", "status", 4), Subtopic: "status", HasMeta: true,
				Meta: ObserverMeta{PacketsRecv: i64(7)},
			},
		},
		{
			name:    "stats null value: no top-level fallback for that key",
			topic:   "meshcore/SJC/A1B2/status",
			payload: `{"battery_mv":4000,"uptime_secs":5,"stats":{"battery_mv":null,"noise_floor":-100}}`,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "SJC", "A1B2", "status", 4), Subtopic: "status", HasMeta: true,
				Meta: ObserverMeta{UptimeSecs: i64(5), NoiseFloor: f64(-100)},
			},
		},
		{
			name:    "stats that is not an object is ignored",
			topic:   "meshcore/SJC/A1B2/status",
			payload: `{"battery_mv":4000,"stats":null}`,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "SJC", "A1B2", "status", 4), Subtopic: "status", HasMeta: true,
				Meta: ObserverMeta{BatteryMV: i64(4000)},
			},
		},
		{
			name:    "LWT offline: no meta",
			topic:   "meshcore/SJC/A1B2/status",
			payload: `{"status":"offline","timestamp":"2025-03-16T00:07:11.5+01:00","origin":"pc","origin_id":"A1B2"}`,
			want: Envelope{
				Kind: KindStatus, Topic: topicOf("meshcore", "SJC", "A1B2", "status", 4), Subtopic: "status",
				Origin: "pc", OriginID: "A1B2", Status: "offline",
			},
			wantTS: time.Date(2025, 3, 15, 23, 7, 11, 5e8, time.UTC), tsZone: true,
		},
		{
			name:    "companion channel message",
			topic:   "meshcore/message/channel/3",
			payload: `{"text":"alice: hello there","SNR":"7.25","rssi":"-80","sender_timestamp":1742083631}`,
			want: Envelope{
				Kind: KindChannelMessage, Topic: topicOf("meshcore", "", "", "message/channel/3", 4), Subtopic: "message",
				ChannelIdx: "3", Text: "alice: hello there", Sender: "alice", SenderTimestamp: json.RawMessage("1742083631"),
				SNR: f64(7.25), RSSI: f64(-80),
			},
		},
		{
			name:    "companion channel message: payload channel_idx overrides",
			topic:   "meshcore/message/channel/3",
			payload: `{"text":"no sender here","channel_idx":5}`,
			want: Envelope{
				Kind: KindChannelMessage, Topic: topicOf("meshcore", "", "", "message/channel/3", 4), Subtopic: "message",
				ChannelIdx: "5", Text: "no sender here",
			},
		},
		{
			name:    "companion direct message",
			topic:   "meshcore/message/direct/abcdef",
			payload: `{"text":": leading colon","direction":"rx"}`,
			want: Envelope{
				Kind: KindDirectMessage, Topic: topicOf("meshcore", "", "", "message/direct/abcdef", 4), Subtopic: "message",
				Text: ": leading colon", Direction: "rx",
			},
		},
		{
			name:    "companion message without text",
			topic:   "meshcore/message/direct/abcdef",
			payload: `{"text":""}`,
			want: Envelope{
				Kind: KindIgnored, Reason: "no_text", Topic: topicOf("meshcore", "", "", "message/direct/abcdef", 4), Subtopic: "message",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.topic, []byte(tt.payload))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !got.Timestamp.Equal(tt.wantTS) || got.TimestampHasZone != tt.tsZone {
				t.Errorf("Timestamp = %v (zone %v), want %v (zone %v)", got.Timestamp, got.TimestampHasZone, tt.wantTS, tt.tsZone)
			}
			got.Timestamp, got.TimestampHasZone, got.TimestampNaive = time.Time{}, false, false
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q):\n got %+v\nwant %+v", tt.topic, got, tt.want)
			}
		})
	}
}

func TestParseTopics(t *testing.T) {
	const pkt = `{"raw":"0A00"}`
	tests := []struct {
		topic    string
		payload  string
		kind     Kind
		subtopic string
		reason   string // ignore reason, or reject reason when kind is 0
	}{
		{"meshcore/SJC/A1B2/packets", pkt, KindPacket, "packets", ""},
		{"custom/SJC/A1B2/packets", pkt, KindPacket, "packets", ""},
		{"meshcore/SJC/A1B2/status", `{"status":"online"}`, KindStatus, "status", ""},
		{"meshcore/SJC/A1B2/debug", `{"type":"DEBUG","message":"x"}`, KindIgnored, "debug", "debug"},
		{"meshcore/SJC/A1B2/raw", `{"type":"RAW","data":"0A00"}`, KindPacket, "raw", ""},
		{"meshcore/SJC/A1B2/raw", `{"type":"RAW"}`, KindIgnored, "raw", "raw_without_packet"},
		{"meshcore/SJC/A1B2/internal", pkt, KindIgnored, "internal", "internal"},
		{"meshcore/SJC/A1B2/serial/commands", "eyJhbGciOi.JWT", KindIgnored, "serial", "serial"},
		{"meshcore/SJC/A1B2/serial/responses", pkt, KindIgnored, "serial", "serial"},
		{"meshcore/SJC/A1B2/neighbors", `{"neighbors":[]}`, KindIgnored, "neighbors", "neighbors"},
		{"meshcore/client/C0FFEE/packets", pkt, KindPacket, "packets", ""},
		{"meshcore/message/channel/0", `{"text":"hi"}`, KindChannelMessage, "message", ""},
		{"meshcore/message/direct/ab12", `{"text":"hi"}`, KindDirectMessage, "message", ""},
		{"meshcore/status", `{"status":"online"}`, KindIgnored, "status", "companion_status"},
		{"meshcore/events/connection", `{"connected":true}`, KindIgnored, "other", "connection_event"},
		{"meshcore/packets", `{"origin_id":"AB","raw":"0A00"}`, KindPacket, "packets", ""},
		{"meshcore/raw", `{"origin_id":"AB","data":"0A00"}`, KindPacket, "raw", ""},
		// Rejections.
		{"meshcore/SJC/A1B2/packets", `{"origin":"x"}`, 0, "packets", "no_packet"},
		{"meshcore/SJC/A1B2/packets", `{"raw":"","len":"87"}`, 0, "packets", "no_packet"},
		{"meshcore/SJC/A1B2/packets", `{"raw":`, 0, "packets", "invalid_json"},
		{"meshcore/SJC/A1B2/packets", ``, 0, "packets", "invalid_json"},
		{"meshcore/SJC/A1B2/packets", `[{"raw":"0A00"}]`, 0, "packets", "not_object"},
		{"meshcore/SJC/A1B2/status", `"online"`, 0, "status", "not_object"},
		{"meshcore/SJC/A1B2/other", pkt, 0, "other", "unknown_topic"}, // fix #21
		{"meshcore/SJC/A1B2/packets/x", pkt, 0, "other", "unknown_topic"},
		{"meshcore/SJC/A1B2", pkt, 0, "other", "unknown_topic"},
		{"meshcore/SJC", pkt, 0, "other", "unknown_topic"},
		{"meshcore", pkt, 0, "other", "unknown_topic"},
		{"", pkt, 0, "other", "unknown_topic"},
		{"meshcore/client/C0FFEE/status", `{"status":"online"}`, 0, "other", "unknown_topic"},
		{"meshcore/message/channel/", `{"text":"hi"}`, 0, "message", "unknown_topic"},
		{"meshcore/message/other/1", `{"text":"hi"}`, 0, "message", "unknown_topic"},
		{"meshcore/events/other", `{}`, 0, "other", "unknown_topic"},
	}
	for _, tt := range tests {
		t.Run(tt.topic+" "+tt.payload, func(t *testing.T) {
			env, err := Parse(tt.topic, []byte(tt.payload))
			if env.Subtopic != tt.subtopic {
				t.Errorf("Subtopic = %q, want %q", env.Subtopic, tt.subtopic)
			}
			if tt.kind == 0 {
				var rej *RejectError
				if !errors.As(err, &rej) || rej.Reason != tt.reason {
					t.Fatalf("err = %v, want reject %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if env.Kind != tt.kind || env.Reason != tt.reason {
				t.Errorf("Kind, Reason = %v, %q; want %v, %q", env.Kind, env.Reason, tt.kind, tt.reason)
			}
		})
	}
}

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  Topic
	}{
		{"meshcore/SJC/A1B2/packets", topicOf("meshcore", "SJC", "A1B2", "packets", 4)},
		{"meshcore/SJC/A1B2/serial/commands", topicOf("meshcore", "SJC", "A1B2", "serial/commands", 5)},
		{"meshcore/SJC/A1B2", topicOf("meshcore", "SJC", "A1B2", "", 3)},
		{"meshcore/SJC//packets", topicOf("meshcore", "SJC", "", "packets", 4)},
		{"meshcore/client/KEY/packets", topicOf("meshcore", "", "KEY", "packets", 4)},
		{"meshcore/client/KEY", topicOf("meshcore", "client", "KEY", "", 3)},
		{"meshcore/message/channel/3", topicOf("meshcore", "", "", "message/channel/3", 4)},
		{"meshcore/events/connection", topicOf("meshcore", "", "", "events/connection", 3)},
		{"meshcore/packets", topicOf("meshcore", "", "", "packets", 2)},
		{"meshcore/SJC", topicOf("meshcore", "", "", "SJC", 2)},
		{"meshcore", topicOf("meshcore", "", "", "", 1)},
		{"", topicOf("", "", "", "", 1)},
	}
	for _, tt := range tests {
		if got := ParseTopic(tt.topic); got != tt.want {
			t.Errorf("ParseTopic(%q) = %+v, want %+v", tt.topic, got, tt.want)
		}
	}
}

func TestRejectError(t *testing.T) {
	_, err := Parse("meshcore/SJC/A1B2/packets", []byte(`{"raw":}`))
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Reason != ReasonInvalidJSON {
		t.Fatalf("err = %v", err)
	}
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		t.Errorf("invalid_json does not wrap the *json.SyntaxError: %v", err)
	}
	if got := (&RejectError{Reason: "unknown_topic"}).Error(); got != "uplink: unknown_topic" {
		t.Errorf("Error() = %q", got)
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{`-93`, -93, true},
		{`4.25e1`, 42.5, true},
		{`"4"`, 4, true},
		{`" -93 "`, -93, true},
		{`"-110dBm"`, -110, true},
		{`"-110DBM"`, -110, true},
		{`"-5.5 dB"`, -5.5, true},
		{`"-5.5dB"`, -5.5, true},
		{`"20mW"`, 20, true},
		{`"3km"`, 3, true},
		{`"2 mi"`, 2, true},
		{`"7m"`, 7, true},
		{`"7mm"`, 0, false}, // one unit only
		{`"Unknown"`, 0, false},
		{`""`, 0, false},
		{`"dB"`, 0, false},
		{`null`, 0, false},
		{`true`, 0, false},
		{`{"v":1}`, 0, false},
		{`[1]`, 0, false},
		{`"NaN"`, 0, false},
		{`"Inf"`, 0, false},
		{`1e999`, 0, false},
		{`"12`, 0, false}, // invalid JSON
		{``, 0, false},
		{` 12 `, 12, true},
	}
	for _, tt := range tests {
		got, ok := ParseNumber(json.RawMessage(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseNumber(%s) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		zone bool
	}{
		{`"2025-03-16T00:07:11.191561"`, utc(2025, 3, 16, 0, 7, 11, 191561000), false},
		{`"2025-03-16T00:07:11"`, utc(2025, 3, 16, 0, 7, 11, 0), false},
		{`"2025-03-16 00:07:11"`, utc(2025, 3, 16, 0, 7, 11, 0), false},
		{`"2025-03-16T00:07:11Z"`, utc(2025, 3, 16, 0, 7, 11, 0), true},
		{`"2025-03-16T00:07:11.123456789123Z"`, utc(2025, 3, 16, 0, 7, 11, 123456789), true},
		{`"2025-03-16T00:07:11.191561+00:00"`, utc(2025, 3, 16, 0, 7, 11, 191561000), true},
		{`"2025-03-16T00:07:11-0700"`, utc(2025, 3, 16, 7, 7, 11, 0), true},
		{`"2025-03-16T00:07:11+02"`, utc(2025, 3, 15, 22, 7, 11, 0), true},
		{`"2024-02-29T00:00:00Z"`, utc(2024, 2, 29, 0, 0, 0, 0), true},
		{`1742083631`, time.Unix(1742083631, 0).UTC(), true},
		{`1742083631.5`, time.Unix(1742083631, 5e8).UTC(), true},
		{`1742083631250`, time.Unix(1742083631, 25e7).UTC(), true},
		{`" 1742083631 "`, time.Unix(1742083631, 0).UTC(), true},
		// Rejected.
		{`"2025-02-29T00:00:00Z"`, time.Time{}, false},
		{`"2025-03-16T24:00:00Z"`, time.Time{}, false},
		{`"2025-03-16T00:07:11."`, time.Time{}, false},
		{`"2025-03-16T00:07:11+25:00"`, time.Time{}, false},
		{`"2025-03-16T00:07:11 junk"`, time.Time{}, false},
		{`"2025-03-16"`, time.Time{}, false},
		{`"16/3/2025"`, time.Time{}, false},
		{`0`, time.Time{}, false},
		{`-5`, time.Time{}, false},
		{`null`, time.Time{}, false},
		{`true`, time.Time{}, false},
		{``, time.Time{}, false},
	}
	for _, tt := range tests {
		got, zone := parseTimestamp(tt.in)
		if !got.Equal(tt.want) || zone != tt.zone {
			t.Errorf("parseTimestamp(%s) = %v, %v; want %v, %v", tt.in, got, zone, tt.want, tt.zone)
		}
		if !got.IsZero() && got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%s) location = %v, want UTC", tt.in, got.Location())
		}
	}
}

func TestRoundToInterval(t *testing.T) {
	at := func(h, m, s, ns int) time.Time { return time.Date(2026, 1, 2, h, m, s, ns, time.UTC) }
	tests := []struct {
		t        time.Time
		interval int
		want     time.Time
	}{
		{at(6, 2, 18, 0), 300, at(6, 0, 0, 0)},
		{at(6, 2, 29, 999999999), 300, at(6, 0, 0, 0)},
		{at(6, 2, 30, 0), 300, at(6, 5, 0, 0)}, // halves up
		{at(6, 4, 59, 0), 300, at(6, 5, 0, 0)},
		{at(6, 2, 30, 0), 0, at(6, 5, 0, 0)},  // ≤ 0 means 300
		{at(6, 2, 30, 0), -1, at(6, 5, 0, 0)}, // ≤ 0 means 300
		{at(6, 0, 3, 0), 7, time.Unix(at(6, 0, 3, 0).Unix()/7*7, 0).UTC()},
		{at(0, 0, 0, 0), 60, at(0, 0, 0, 0)},
		{time.Date(2026, 1, 2, 8, 2, 30, 0, time.FixedZone("X", 2*3600)), 300, at(6, 5, 0, 0)},
		{time.Unix(-150, 0), 300, time.Unix(0, 0).UTC()},
		{time.Unix(-151, 0), 300, time.Unix(-300, 0).UTC()},
	}
	for _, tt := range tests {
		got := RoundToInterval(tt.t, tt.interval)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("RoundToInterval(%v, %d) = %v, want %v", tt.t, tt.interval, got, tt.want)
		}
	}
	// Odd interval: the half is at 3.5 s.
	base := time.Unix(700, 0)
	for _, c := range []struct {
		off  time.Duration
		want int64
	}{{3499 * time.Millisecond, 700}, {3500 * time.Millisecond, 707}} {
		if got := RoundToInterval(base.Add(c.off), 7).Unix(); got != c.want {
			t.Errorf("RoundToInterval(700+%v, 7) = %d, want %d", c.off, got, c.want)
		}
	}
}
