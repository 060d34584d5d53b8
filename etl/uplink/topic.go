package uplink

import "strings"

// Topic is an MQTT topic split into the parts of its layout (see the package
// documentation). For the observer layout <prefix>/<IATA>/<observer>/<subtopic…>
// the fields are positional; the other layouts leave IATA and Observer empty
// where the topic carries none.
type Topic struct {
	Prefix   string // first segment, normally "meshcore"
	IATA     string // region segment, verbatim; "" when the layout has none
	Observer string // observer (uploader) public key, verbatim; "" when the layout has none
	Subtopic string // the rest, verbatim, e.g. "packets", "serial/commands", "message/channel/3"
	Parts    int    // number of '/'-separated segments in the topic
}

// layout tells which topic layout ParseTopic recognised.
type layout uint8

const (
	layoutObserver  layout = iota // <p>/<IATA>/<observer>/<subtopic…>, or fewer segments
	layoutClient                  // <p>/client/<key>/<subtopic…>
	layoutShort                   // <p>/<subtopic>
	layoutCompanion               // <p>/message/<…>
	layoutEvents                  // <p>/events/<…>
)

// ParseTopic splits topic into its layout:
//
//	<p>/<IATA>/<observer>/<subtopic…>   IATA, Observer, Subtopic (everything after the third '/')
//	<p>/<IATA>/<observer>               IATA, Observer, no Subtopic
//	<p>/client/<key>/<subtopic…>        Observer = key, Subtopic; no IATA
//	<p>/message/<…>, <p>/events/<…>     Subtopic = "message/…", "events/…"; no IATA or Observer
//	<p>/<subtopic>                      Subtopic only (the old "meshcore/packets" layout)
//	<p>                                 Prefix only
//
// It does not allocate: every field is a substring of topic.
func ParseTopic(topic string) Topic {
	t, _ := parseTopic(topic)
	return t
}

func parseTopic(topic string) (Topic, layout) {
	t := Topic{Parts: strings.Count(topic, "/") + 1}
	p1, rest, ok := strings.Cut(topic, "/")
	t.Prefix = p1
	if !ok {
		return t, layoutObserver
	}
	p2, rest2, ok := strings.Cut(rest, "/")
	if !ok {
		t.Subtopic = rest
		return t, layoutShort
	}
	switch p2 {
	case "message":
		t.Subtopic = rest
		return t, layoutCompanion
	case "events":
		t.Subtopic = rest
		return t, layoutEvents
	}
	p3, rest3, ok := strings.Cut(rest2, "/")
	t.Observer = p3
	if ok {
		t.Subtopic = rest3
	}
	if p2 == "client" && t.Parts >= 4 {
		return t, layoutClient
	}
	t.IATA = p2
	return t, layoutObserver
}

// TopicKinds are the values of TopicKind, a bounded metric label.
var TopicKinds = []string{"packets", "status", "raw", "debug", "internal", "neighbors", "message", "other"}

// TopicKind classifies topic for a metric label, without allocating: the
// first subtopic segment of the observer and client layouts when it is one
// of the first six TopicKinds, "message" for the companion bridge's
// <p>/message/…, else "other".
func TopicKind(topic string) string {
	t, l := parseTopic(topic)
	switch {
	case l == layoutCompanion, l == layoutShort && t.Subtopic == "message":
		return "message"
	case l == layoutObserver || l == layoutClient:
		first, _, _ := strings.Cut(t.Subtopic, "/")
		for _, k := range TopicKinds[:6] {
			if first == k {
				return k
			}
		}
	}
	return "other"
}
