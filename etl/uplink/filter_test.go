package uplink

import "testing"

func TestFilterAllow(t *testing.T) {
	f := NewFilter(FilterConfig{
		Blacklist:     []string{" BadObserver ", ""},
		IATAWhitelist: []string{"sjc", " PDX ", " "},
	})
	packet := func(topic, region string) *Envelope {
		return &Envelope{Kind: KindPacket, Topic: ParseTopic(topic), Region: region}
	}
	tests := []struct {
		name   string
		env    *Envelope
		source []string // per-source iataFilter
		srcReg string   // source region
		want   string   // "" = allowed
	}{
		{"allowed", packet("meshcore/SJC/obs/packets", ""), nil, "", ""},
		{"whitelist is case-insensitive", packet("meshcore/pdx/obs/packets", ""), nil, "", ""},
		{"blacklist is case-insensitive and trimmed", packet("meshcore/SJC/badobserver/packets", ""), nil, "", "blacklisted"},
		{"blacklist before whitelist", packet("meshcore/LAX/BADOBSERVER/packets", ""), []string{"SFO"}, "", "blacklisted"},
		{"not whitelisted", packet("meshcore/LAX/obs/packets", ""), nil, "", "iata_not_whitelisted"},
		{"whitelist before iataFilter", packet("meshcore/LAX/obs/packets", ""), []string{"SJC"}, "", "iata_not_whitelisted"},
		{"payload region overrides the topic", packet("meshcore/LAX/obs/packets", "sjc"), nil, "", ""},
		{"payload region can be refused", packet("meshcore/SJC/obs/packets", "LAX"), nil, "", "iata_not_whitelisted"},
		{"source region when the topic has none", packet("meshcore/client/key/packets", ""), nil, "pdx", ""},
		{"no region at all", packet("meshcore/client/key/packets", ""), nil, "", "iata_not_whitelisted"},
		{"iataFilter is case-insensitive (fix #20)", packet("meshcore/sjc/obs/packets", ""), []string{" SJC "}, "", ""},
		{"iataFilter refuses", packet("meshcore/SJC/obs/packets", ""), []string{"PDX"}, "", "iata_filtered"},
		{"iataFilter applies to the effective region", packet("meshcore/SJC/obs/packets", "pdx"), []string{"PDX"}, "", ""},
		{"iataFilter not applied to status", &Envelope{Kind: KindStatus, Topic: ParseTopic("meshcore/SJC/obs/status")}, []string{"PDX"}, "", ""},
		{"whitelist applied to status", &Envelope{Kind: KindStatus, Topic: ParseTopic("meshcore/LAX/obs/status")}, nil, "", "iata_not_whitelisted"},
		{"blacklist applied to status", &Envelope{Kind: KindStatus, Topic: ParseTopic("meshcore/SJC/badobserver/status")}, nil, "", "blacklisted"},
		{"companion channel passes every filter", &Envelope{Kind: KindChannelMessage, Topic: ParseTopic("meshcore/message/channel/1")}, []string{"PDX"}, "", ""},
		{"companion direct passes every filter", &Envelope{Kind: KindDirectMessage, Topic: ParseTopic("meshcore/message/direct/x")}, []string{"PDX"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env.SourceRegion = tt.srcReg
			reason, ok := f.Allow(tt.env, tt.source)
			if reason != tt.want || ok != (tt.want == "") {
				t.Errorf("Allow = %q, %v; want %q", reason, ok, tt.want)
			}
		})
	}
}

func TestFilterEmpty(t *testing.T) {
	env := &Envelope{Kind: KindPacket, Topic: ParseTopic("meshcore/ANY/obs/packets")}
	for _, f := range []*Filter{nil, NewFilter(FilterConfig{}), NewFilter(FilterConfig{IATAWhitelist: []string{" "}})} {
		if reason, ok := f.Allow(env, nil); !ok {
			t.Errorf("%+v: Allow = %q, want allowed", f, reason)
		}
		if reason, ok := f.Allow(env, []string{"SJC"}); ok || reason != ReasonIATAFiltered {
			t.Errorf("%+v: Allow with iataFilter = %q, %v; want iata_filtered", f, reason, ok)
		}
	}
}

func TestEffectiveRegion(t *testing.T) {
	env := Envelope{Topic: ParseTopic("meshcore/client/k/packets"), SourceRegion: "src"}
	if got := env.EffectiveRegion(); got != "src" {
		t.Errorf("source fallback = %q", got)
	}
	env.Topic = ParseTopic("meshcore/SJC/k/packets")
	if got := env.EffectiveRegion(); got != "SJC" {
		t.Errorf("topic = %q", got)
	}
	env.Region = "PDX"
	if got := env.EffectiveRegion(); got != "PDX" {
		t.Errorf("payload = %q", got)
	}
}

func TestFilterUnicodeAndLongIDs(t *testing.T) {
	long := "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789EXTRA"
	f := NewFilter(FilterConfig{Blacklist: []string{"ÉCOLE", long}, IATAWhitelist: []string{"zürich"}})
	for _, c := range []struct {
		topic, want string
	}{
		{"meshcore/ZÜRICH/école/packets", "blacklisted"},
		{"meshcore/ZÜRICH/" + long + "/packets", "blacklisted"},
		{"meshcore/Zürich/other/packets", ""},
		{"meshcore/ZURICH/other/packets", "iata_not_whitelisted"},
	} {
		reason, _ := f.Allow(&Envelope{Kind: KindPacket, Topic: ParseTopic(c.topic)}, nil)
		if reason != c.want {
			t.Errorf("%s: Allow = %q, want %q", c.topic, reason, c.want)
		}
	}
}
