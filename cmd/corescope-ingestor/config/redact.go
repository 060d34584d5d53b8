package config

import (
	"github.com/corescope/etl/etl/mqtt"
)

// RedactedValue replaces a secret in printed configs.
const RedactedValue = "<redacted>"

// Redacted returns a copy of c with passwords, bearer tokens and channel
// keys replaced by "<redacted>" (empty secrets stay empty, so the output
// shows whether one is set).
func (c *Config) Redacted() *Config {
	r := *c
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return RedactedValue
	}
	r.MQTTSources = make([]SourceConfig, len(c.MQTTSources))
	for i, s := range c.MQTTSources {
		s.Password = hide(s.Password)
		s.Broker = mqtt.RedactURL(s.Broker)
		r.MQTTSources[i] = s
	}
	r.MQTT.Broker = mqtt.RedactURL(c.MQTT.Broker)
	r.HTTP.Password = hide(c.HTTP.Password)
	r.HTTP.BearerToken = hide(c.HTTP.BearerToken)
	if c.ChannelKeysHex != nil {
		r.ChannelKeysHex = make(map[string]string, len(c.ChannelKeysHex))
		for k, v := range c.ChannelKeysHex {
			r.ChannelKeysHex[k] = hide(v)
		}
	}
	return &r
}
