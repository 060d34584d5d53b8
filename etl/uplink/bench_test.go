package uplink

import "testing"

func BenchmarkParsePacket(b *testing.B) {
	payload := []byte(meshcoretomqttPacket)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := Parse("meshcore/SJC/A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90/packets", payload)
		if err != nil || env.Kind != KindPacket {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStatus(b *testing.B) {
	payload := []byte(statsStatus)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := Parse("meshcore/SJC/A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90/status", payload)
		if err != nil || env.Kind != KindStatus {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterAllow(b *testing.B) {
	f := NewFilter(FilterConfig{Blacklist: []string{"deadbeef"}, IATAWhitelist: []string{"SJC", "PDX"}})
	env, _ := Parse("meshcore/SJC/A1B2C3D4/packets", []byte(meshcoretomqttPacket))
	src := []string{"sjc"}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := f.Allow(&env, src); !ok {
			b.Fatal("refused")
		}
	}
}
