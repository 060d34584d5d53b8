package uplink

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics and keeps its contract: a
// *RejectError with a known reason, or an envelope of a known kind.
func FuzzParse(f *testing.F) {
	seeds := []struct{ topic, payload string }{
		{"meshcore/SJC/A1B2/packets", meshcoretomqttPacket},
		{"meshcore/SJC/A1B2/status", statsStatus},
		{"meshcore/sjc/AABBCCDD/status", issue1044Status},
		{"meshcore/SJC/A1B2/packets", `{"raw":"0x0A","SNR":null,"snr":"-5.5dB","RSSI":"-110dBm","score":"12"}`},
		{"meshcore/SJC/A1B2/packets", `{"raw":"","len":"0"}`},
		{"meshcore/SJC/A1B2/raw", `{"data":"0A00"}`},
		{"meshcore/packets", `{"origin_id":"AB","packet":"0A00","timestamp":1742083631250}`},
		{"meshcore/client/K/packets", `{"payload":"0A00","timestamp":"2025-03-16T00:07:11.191561"}`},
		{"meshcore/message/channel/3", `{"text":"alice: hi","channel_idx":"4","sender_timestamp":1}`},
		{"meshcore/message/direct/x", `{"text":"hi"}`},
		{"meshcore/SJC/A1B2/status", `{"stats":{"battery_mv":null},"battery_mv":"1e400"}`},
		{"meshcore/SJC/A1B2/packets", `[1]`},
		{"meshcore/SJC/A1B2/packets", `{"raw":`},
		{"meshcore/events/connection", ``},
		// What an observer must not make us store (issue #14 item 9).
		{"meshcore/SJC//packets", `{"raw":"0A00"}`},
		{"meshcore/SJC/" + strings.Repeat("A", 200) + "/packets", `{"raw":"0A00"}`},
		{"meshcore/SJC/A1\x00B2/status", `{"status":"online"}`},
		{"meshcore/" + strings.Repeat("R", 100) + "/A1B2/packets", `{"raw":"0A00"}`},
		{"meshcore/SJC/A1B2/packets", `{"raw":"0A00","region":"` + strings.Repeat("R", 100) + `"}`},
		{"meshcore/SJC/A1B2/packets", `{"raw":"0A00","origin":"evil\u0000name"}`},
		{"meshcore/packets", `{"raw":"0A00"}`},
		{"meshcore/client//packets", `{"raw":"0A00"}`},
	}
	for _, s := range seeds {
		f.Add(s.topic, []byte(s.payload))
	}
	reasons := map[string]bool{ReasonUnknownTopic: true, ReasonInvalidJSON: true, ReasonNotObject: true, ReasonNoPacket: true,
		ReasonEmptyObserver: true, ReasonInvalidObserver: true, ReasonInvalidRegion: true, ReasonInvalidOrigin: true}
	labels := map[string]bool{SubtopicPackets: true, SubtopicStatus: true, SubtopicRaw: true, SubtopicDebug: true,
		SubtopicInternal: true, SubtopicSerial: true, SubtopicNeighbors: true, SubtopicMessage: true, SubtopicOther: true}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		env, err := Parse(topic, payload)
		if !labels[env.Subtopic] {
			t.Fatalf("unbounded Subtopic %q", env.Subtopic)
		}
		if err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) || !reasons[rej.Reason] {
				t.Fatalf("error %v is not a known rejection", err)
			}
			return
		}
		if env.Kind == KindPacket || env.Kind == KindStatus {
			if !validText(env.Topic.Observer, MaxObserverLen) || env.Topic.Observer == "" {
				t.Fatalf("stored observer %q", env.Topic.Observer)
			}
		}
		if env.Kind != KindIgnored && (!validText(env.Origin, MaxOriginLen) || !validText(env.Region, MaxRegionLen) || !validText(env.Topic.IATA, MaxRegionLen)) {
			t.Fatalf("stored origin %q, region %q, IATA %q", env.Origin, env.Region, env.Topic.IATA)
		}
		switch env.Kind {
		case KindPacket:
			if env.Raw == "" || env.RawField == "" {
				t.Fatalf("packet without Raw: %+v", env)
			}
		case KindStatus, KindIgnored:
		case KindChannelMessage, KindDirectMessage:
			if env.Text == "" {
				t.Fatalf("companion message without text: %+v", env)
			}
		default:
			t.Fatalf("unknown kind %v", env.Kind)
		}
		if !env.Timestamp.IsZero() && env.Timestamp.Location().String() != "UTC" {
			t.Fatalf("timestamp not in UTC: %v", env.Timestamp)
		}
	})
}
