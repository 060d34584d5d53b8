package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Record is one spooled MQTT message.
type Record struct {
	Source   string    // configured source name
	Topic    string    // MQTT topic, verbatim
	Payload  []byte    // MQTT payload, verbatim
	QoS      byte      // the QoS it was delivered with
	Retain   bool      // the broker replayed a retained message
	Received time.Time // when the source received it
}

// line is a Record as one JSON line.
type line struct {
	Source        string    `json:"source"`
	Topic         *string   `json:"topic,omitempty"`
	TopicBase64   []byte    `json:"topic_base64,omitempty"`
	Payload       *string   `json:"payload,omitempty"`
	PayloadBase64 []byte    `json:"payload_base64,omitempty"`
	QoS           byte      `json:"qos"`
	Retain        bool      `json:"retain"`
	Received      time.Time `json:"received"`
}

// AppendJSON appends r to dst as one JSON line, newline included.
func AppendJSON(dst []byte, r *Record) ([]byte, error) {
	l := line{Source: r.Source, QoS: r.QoS, Retain: r.Retain, Received: r.Received.UTC()}
	if utf8.ValidString(r.Topic) {
		l.Topic = &r.Topic
	} else {
		l.TopicBase64 = []byte(r.Topic)
	}
	if utf8.Valid(r.Payload) {
		p := string(r.Payload)
		l.Payload = &p
	} else {
		l.PayloadBase64 = r.Payload
	}
	b, err := json.Marshal(&l)
	if err != nil {
		return dst, fmt.Errorf("encode record: %w", err)
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

// errNoTopic rejects a line without a topic.
var errNoTopic = errors.New("no topic")

// ParseJSON parses one line written by AppendJSON (without its newline).
func ParseJSON(b []byte) (Record, error) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	r := Record{Source: l.Source, QoS: l.QoS, Retain: l.Retain, Received: l.Received}
	switch {
	case l.Topic != nil:
		r.Topic = *l.Topic
	case l.TopicBase64 != nil:
		r.Topic = string(l.TopicBase64)
	default:
		return Record{}, fmt.Errorf("decode record: %w", errNoTopic)
	}
	if l.Payload != nil {
		r.Payload = []byte(*l.Payload)
	} else {
		r.Payload = l.PayloadBase64
	}
	return r, nil
}
