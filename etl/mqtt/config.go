package mqtt

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Defaults applied by NewSource to zero fields of Config.
const (
	DefaultTopic                = "meshcore/#"
	DefaultQoS                  = 1                // subscription QoS
	DefaultKeepAlive            = 30 * time.Second // MQTT keepalive
	DefaultConnectTimeout       = 10 * time.Second // dial + CONNECT/CONNACK, and the SUBACK wait
	DefaultStallAfter           = 5 * time.Minute  // connected but silent this long: forced reconnect
	DefaultMaxReconnectInterval = 30 * time.Second // cap of the reconnect backoff
)

// Config describes one MQTT source. Zero values take the defaults above.
type Config struct {
	// Name is the source name, used as the "source" log attribute and metric
	// label; keep it short and stable.
	Name string
	// Broker is the broker URL: tcp://, ssl:// or tls://, ws://, wss:// (mqtt://
	// and mqtts:// are accepted as tcp:// and ssl://). Credentials in the URL
	// are used and never logged.
	Broker   string
	Username string
	Password string
	// InsecureSkipVerify disables TLS certificate verification (CoreScope's
	// rejectUnauthorized: false).
	InsecureSkipVerify bool
	// CAFile is an optional PEM bundle added to the system roots for TLS.
	CAFile string
	// Topics are the subscription filters; default ["meshcore/#"].
	Topics []string
	// QoS is the subscription QoS, 0, 1 or 2, used as given (callers apply
	// DefaultQoS). A message is delivered at min(publish QoS, subscription
	// QoS), so QoS 1 costs nothing for QoS 0 publishers, and only QoS ≥ 1
	// deliveries carry an Ack.
	QoS byte
	// ClientID is the MQTT client identifier; required when CleanSession is
	// false. Empty lets the broker assign one.
	ClientID string
	// CleanSession false asks the broker to keep the session (subscriptions
	// and unacknowledged QoS ≥ 1 messages) while the source is down.
	CleanSession bool
	// KeepAlive is the MQTT keepalive; default 30 s.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt and the wait for a SUBACK;
	// default 10 s.
	ConnectTimeout time.Duration
	// StallAfter is how long a connected source may go without a message
	// before the watchdog forces a reconnect; default 5 min; negative
	// disables the watchdog.
	StallAfter time.Duration
	// MaxReconnectInterval caps the connect/reconnect backoff (which starts
	// at 1 s, or at the cap if that is smaller, and doubles); default 30 s.
	MaxReconnectInterval time.Duration
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if len(c.Topics) == 0 {
		c.Topics = []string{DefaultTopic}
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.StallAfter == 0 {
		c.StallAfter = DefaultStallAfter
	}
	if c.MaxReconnectInterval <= 0 {
		c.MaxReconnectInterval = DefaultMaxReconnectInterval
	}
	return c
}

// Validate reports every problem of c (after defaults), joined.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: empty"))
	}
	if _, err := parseBroker(c.Broker); err != nil {
		errs = append(errs, fmt.Errorf("broker: %w", err))
	}
	if c.QoS > 2 {
		errs = append(errs, fmt.Errorf("qos: %d is not 0, 1 or 2", c.QoS))
	}
	if !c.CleanSession && c.ClientID == "" {
		errs = append(errs, errors.New("clientId: required for a persistent session (cleanSession false)"))
	}
	for i, t := range c.Topics {
		if t == "" {
			errs = append(errs, fmt.Errorf("topics[%d]: empty", i))
		}
	}
	return errors.Join(errs...)
}

// parseBroker parses and checks a broker URL.
func parseBroker(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", redact(s))
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		return u, nil
	}
	return nil, fmt.Errorf("%q: scheme %q is not tcp, ssl, tls, ws or wss", redact(s), u.Scheme)
}

// redact returns a broker URL without its password, for logs and errors.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
