package uplink

import "testing"

func TestTopicKind(t *testing.T) {
	tests := map[string]string{
		"meshcore/SJC/AABB/packets":         "packets",
		"meshcore/SJC/AABB/status":          "status",
		"meshcore/SJC/AABB/raw":             "raw",
		"meshcore/SJC/AABB/debug":           "debug",
		"meshcore/SJC/AABB/internal":        "internal",
		"meshcore/SJC/AABB/neighbors":       "neighbors",
		"meshcore/SJC/AABB/serial/commands": "other",
		"meshcore/SJC/AABB/packets/extra":   "packets",
		"meshcore/message/channel/0":        "message",
		"meshcore/message":                  "message",
		"meshcore/status":                   "other",
		"meshcore/packets":                  "other",
		"meshcore/client/AABB/packets":      "packets",
		"":                                  "other",
		"a/b/c/d":                           "other",
	}
	for topic, want := range tests {
		if got := TopicKind(topic); got != want {
			t.Errorf("TopicKind(%q) = %q, want %q", topic, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { TopicKind("meshcore/SJC/AABB/packets") }); n != 0 {
		t.Errorf("TopicKind allocates %v times", n)
	}
}
