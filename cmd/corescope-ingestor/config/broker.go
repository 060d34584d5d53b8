package config

import "github.com/corescope/etl/etl/broker"

// BrokerConfig configures the embedded MQTT broker that observers publish
// to directly (off unless listen is set; see broker.Config), and the region
// of its messages. Ours.
type BrokerConfig struct {
	broker.Config `koanf:",flatten"`
	// Region is the region of its messages when the topic has none.
	Region string `koanf:"region"`
}

// validateBroker checks the embedded broker through its own Validate and
// keeps its name apart from the sources'.
func (c *Config) validateBroker(p *problems) {
	if c.Broker.Listen == "" {
		return
	}
	p.addFields("broker", c.Broker.Validate())
	for i, s := range c.MQTTSources {
		if s.Name == c.Broker.SourceName() {
			p.addf("broker.name", "%q is also the name of mqttSources[%d]; names must be unique", s.Name, i)
		}
	}
}
