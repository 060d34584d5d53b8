package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/corescope/etl/etl/mqtt"
)

// MQTTConfig is CoreScope's legacy single-broker section.
type MQTTConfig struct {
	// Broker is the broker URL; empty means unused.
	Broker string `koanf:"broker"`
	// Topic is subscribed instead of meshcore/# when non-empty.
	Topic string `koanf:"topic"`
}

// DefaultLocalBroker is used when no source is configured at all. The other
// per-source defaults (topic, QoS, keepalive, stallAfter, connectTimeoutSec,
// the client id) are etl/mqtt's, next to mqtt.Config.
const DefaultLocalBroker = "mqtt://localhost:1883"

// SourceConfig is one MQTT broker to subscribe to.
type SourceConfig struct {
	// Name tags logs and metrics; unique; default the broker URL.
	Name string `koanf:"name"`
	// Broker is the URL; scheme mqtt, mqtts, tcp, ssl, tls, ws or wss.
	Broker string `koanf:"broker"`
	// Username and Password authenticate when non-empty (default "").
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// RejectUnauthorized, when explicitly false, turns off TLS certificate
	// verification; nil means verify.
	RejectUnauthorized *bool `koanf:"rejectUnauthorized"`
	// Topics are the subscriptions (default mqtt.DefaultTopic, meshcore/#).
	Topics []string `koanf:"topics"`
	// IATAFilter, when non-empty, keeps only packets whose topic region is
	// listed (case-sensitive, as in CoreScope).
	IATAFilter []string `koanf:"iataFilter"`
	// ConnectTimeoutSec is the startup wait for this source in seconds
	// (0 means mqtt.DefaultConnectTimeoutSec, 30).
	ConnectTimeoutSec int `koanf:"connectTimeoutSec"`
	// Region is the fallback region when neither payload nor topic has one.
	Region string `koanf:"region"`
	// QoS is the subscription QoS, 0, 1 or 2 (default mqtt.DefaultQoS, 1).
	// Ours.
	QoS int `koanf:"qos"`
	// ClientID is the MQTT client id (default mqtt.DefaultClientID: "csi-"
	// and a hash of the host name, the absolute database path and the
	// source name, stable across restarts). Ours.
	ClientID string `koanf:"clientId"`
	// CleanSession true discards the broker session at every connect. The
	// default, false, is a persistent session: the broker keeps the
	// subscriptions and queues what arrives while we are reconnecting or
	// restarting. Ours.
	CleanSession bool `koanf:"cleanSession"`
	// StallAfter is the silence after which the watchdog reconnects
	// (0 means mqtt.DefaultStallAfter, 5m). Ours.
	StallAfter time.Duration `koanf:"stallAfter"`
	// CAFile is an optional PEM bundle that replaces the system roots for
	// TLS brokers. Ours.
	CAFile string `koanf:"caFile"`
	// KeepAlive is the MQTT keepalive interval (0 means
	// mqtt.DefaultKeepAlive, 30s). Ours.
	KeepAlive time.Duration `koanf:"keepAlive"`
}

// MQTTConfig translates the source into the mqtt package's config.
func (s *SourceConfig) MQTTConfig() mqtt.Config {
	return mqtt.Config{
		Name:               s.Name,
		Broker:             s.Broker,
		Username:           s.Username,
		Password:           s.Password,
		InsecureSkipVerify: s.RejectUnauthorized != nil && !*s.RejectUnauthorized,
		CAFile:             s.CAFile,
		Topics:             s.Topics,
		QoS:                byte(s.QoS),
		ClientID:           s.ClientID,
		CleanSession:       s.CleanSession,
		KeepAlive:          s.KeepAlive,
		ConnectTimeout:     time.Duration(s.ConnectTimeoutSec) * time.Second,
		StallAfter:         s.StallAfter,
	}
}

// normalizeSources converts the legacy mqtt section, applies the local
// default and the per-source defaults, and validates every source.
func (c *Config) normalizeSources(p *problems, log *slog.Logger) {
	c.defaultSources(log)
	host, err := hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	dbPath, err := filepath.Abs(c.DBPath)
	if err != nil {
		dbPath = c.DBPath
	}
	names := map[string]int{}
	clientIDs := map[string]int{}
	for i := range c.MQTTSources {
		s := &c.MQTTSources[i]
		key := fmt.Sprintf("mqttSources[%d]", i)
		s.normalize(p, key)
		if s.Name != "" {
			if j, dup := names[s.Name]; dup {
				p.addf(key+".name", "duplicate source name %q (also mqttSources[%d]); names must be unique", s.Name, j)
			} else {
				names[s.Name] = i
			}
		}
		s.ClientID = strings.TrimSpace(s.ClientID)
		generated := s.ClientID == ""
		if generated {
			s.ClientID = mqtt.DefaultClientID(host, dbPath, s.Name)
		}
		if j, dup := clientIDs[s.ClientID]; dup && !(generated && names[s.Name] != i) {
			p.addf(key+".clientId", "duplicate client id %q (also mqttSources[%d]); a broker disconnects one of two clients with the same id", s.ClientID, j)
		} else {
			clientIDs[s.ClientID] = i
		}
		// Everything else about a source is mqtt's to check.
		mc := s.MQTTConfig()
		if mc.Name == "" {
			mc.Name = key // unnamed only when the broker is bad, which mqtt reports
		}
		if s.QoS < 0 || s.QoS > 2 {
			p.addf(key+".qos", "must be 0, 1 or 2, got %d", s.QoS)
			mc.QoS = 0 // mqtt's field is a byte
		}
		p.addFields(key, mc.Validate())
	}
}

// defaultSources converts CoreScope's legacy mqtt section into a source
// when mqttSources is empty, and falls back to DefaultLocalBroker when
// there is no source and no embedded broker.
func (c *Config) defaultSources(log *slog.Logger) {
	switch {
	case len(c.MQTTSources) == 0 && strings.TrimSpace(c.MQTT.Broker) != "":
		// CoreScope subscribed to both the topic and meshcore/# (and to ""
		// when the topic was empty); subscribe to exactly one.
		topic := strings.TrimSpace(c.MQTT.Topic)
		if topic == "" {
			topic = mqtt.DefaultTopic
		}
		c.MQTTSources = []SourceConfig{{Name: "default", Broker: strings.TrimSpace(c.MQTT.Broker), Topics: []string{topic}, QoS: mqtt.DefaultQoS}}
		log.Info("converted the legacy mqtt section to a source", "source", "default", "broker", mqtt.RedactURL(c.MQTT.Broker), "topic", topic)
	case len(c.MQTTSources) > 0 && c.MQTT.Broker != "":
		log.Debug("legacy mqtt section ignored because mqttSources is set")
	}
	if len(c.MQTTSources) == 0 && c.Broker.Listen == "" {
		c.MQTTSources = []SourceConfig{{Name: "local", Broker: DefaultLocalBroker, QoS: mqtt.DefaultQoS}}
		log.Info("no MQTT sources configured, defaulting to " + DefaultLocalBroker)
	}
}

// normalize trims the source's settings and applies its defaults: the name
// from the broker URL, the topic, connectTimeoutSec, stallAfter and
// keepAlive. key is its key path.
func (s *SourceConfig) normalize(p *problems, key string) {
	s.Broker = strings.TrimSpace(s.Broker)
	s.Name = strings.TrimSpace(s.Name)
	if u, err := mqtt.ParseBroker(s.Broker); s.Name == "" && err == nil {
		// The broker URL without credentials.
		s.Name = u.Scheme + "://" + u.Host + u.Path
	}
	if len(s.Topics) == 0 {
		s.Topics = []string{mqtt.DefaultTopic}
	}
	switch {
	case s.ConnectTimeoutSec < 0:
		p.addf(key+".connectTimeoutSec", "must be ≥ 0 seconds (0 means the default, %d), got %d", mqtt.DefaultConnectTimeoutSec, s.ConnectTimeoutSec)
	case s.ConnectTimeoutSec == 0:
		s.ConnectTimeoutSec = mqtt.DefaultConnectTimeoutSec
	}
	s.StallAfter = defaultDuration(p, key+".stallAfter", s.StallAfter, mqtt.DefaultStallAfter)
	s.KeepAlive = defaultDuration(p, key+".keepAlive", s.KeepAlive, mqtt.DefaultKeepAlive)
}

// defaultDuration replaces 0 with def and rejects negative durations.
func defaultDuration(p *problems, key string, d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		p.addf(key, "must be ≥ 0 (0 means the default, %v), got %v", def, d)
	case d == 0:
		return def
	}
	return d
}

// hostname is os.Hostname, replaced in tests.
var hostname = os.Hostname
