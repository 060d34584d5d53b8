package config

import "github.com/corescope/etl/etl/broker"

// BrokerConfig configures the embedded MQTT broker. Ours; see etl/broker.
type BrokerConfig struct {
	// Listen is host:port; "" (default) disables the broker. A
	// non-loopback address requires users, passwordFile or TLS.
	Listen string `koanf:"listen"`
	// Name is the source name of its messages (default "embedded").
	Name string `koanf:"name"`
	// Users are the accepted credentials, with $7$ (PBKDF2-SHA512) or $6$
	// hashes from `corescope-ingestor passwd` or mosquitto_passwd.
	Users []broker.User `koanf:"users"`
	// PasswordFile holds "name:hash" lines (mosquitto_passwd's format).
	PasswordFile string `koanf:"passwordFile"`
	// CertFile and KeyFile enable TLS (PEM).
	CertFile string `koanf:"certFile"`
	KeyFile  string `koanf:"keyFile"`
	// TopicPrefixes are where clients may publish (default ["meshcore/"]).
	TopicPrefixes []string `koanf:"topicPrefixes"`
	// MaxMessageBytes is the largest payload (default 65536).
	MaxMessageBytes int `koanf:"maxMessageBytes"`
	// MaxConnections is the concurrent clients (default 256).
	MaxConnections int `koanf:"maxConnections"`
	// MaxInflight is each client's QoS 1/2 window (default 64).
	MaxInflight int `koanf:"maxInflight"`
	// MaxQueued is each subscriber's outbound queue (default 1024).
	MaxQueued int `koanf:"maxQueued"`
	// Region is the region of its messages when the topic has none.
	Region string `koanf:"region"`
}

// SourceName is the source name of the broker's messages.
func (b *BrokerConfig) SourceName() string {
	if b.Name == "" {
		return broker.DefaultSourceName
	}
	return b.Name
}

// BrokerConfig translates the section into the broker's config.
func (b *BrokerConfig) BrokerConfig() broker.Config {
	return broker.Config{
		Listen: b.Listen, Name: b.Name, Users: b.Users, PasswordFile: b.PasswordFile,
		CertFile: b.CertFile, KeyFile: b.KeyFile, TopicPrefixes: b.TopicPrefixes,
		MaxMessageBytes: b.MaxMessageBytes, MaxConnections: b.MaxConnections,
		MaxInflight: b.MaxInflight, MaxQueued: b.MaxQueued,
	}
}

// validateBroker checks the embedded broker through its own Validate and
// keeps its name apart from the sources'.
func (c *Config) validateBroker(p *problems) {
	if c.Broker.Listen == "" {
		return
	}
	bc := c.Broker.BrokerConfig()
	p.addFields("broker", bc.Validate())
	name := c.Broker.Name
	if name == "" {
		name = broker.DefaultSourceName
	}
	for i, s := range c.MQTTSources {
		if s.Name == name {
			p.addf("broker.name", "%q is also the name of mqttSources[%d]; names must be unique", name, i)
		}
	}
}
