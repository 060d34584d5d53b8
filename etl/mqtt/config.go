package mqtt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
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

// DefaultConnectTimeoutSec is CoreScope's connectTimeoutSec default, in
// seconds: the daemon's ConnectTimeout of a source that does not set it.
// It differs on purpose from DefaultConnectTimeout (paho's 10 s), which
// the library keeps for its other users (Publisher, tests).
const DefaultConnectTimeoutSec = 30

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
	// false (the default), since the broker finds the session by it: use
	// DefaultClientID unless the operator chose one. With CleanSession true,
	// empty lets the broker assign one.
	ClientID string
	// CleanSession true discards the session at every connect. The default,
	// false, is a persistent session: the broker keeps the subscriptions,
	// and queues what they match while the source is down (QoS 0 messages
	// too if the broker queues them, mosquitto's queue_qos0_messages), so a
	// broker restart or a reconnect loses nothing.
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

// Validate reports every problem of c (after defaults), joined. It is the
// one check of a source's settings: each error starts with the field's
// config key (broker, topics[1], caFile, …) and a colon, so that a config
// loader can prefix it with the source's key path.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf(field+": "+format, args...))
	}
	if c.Name == "" {
		add("name", "empty")
	}
	u, err := ParseBroker(c.Broker)
	if err != nil {
		add("broker", "%w", err)
	}
	if c.QoS > 2 {
		add("qos", "must be 0, 1 or 2, got %d", c.QoS)
	}
	if !c.CleanSession && c.ClientID == "" {
		add("clientId", "required for a persistent session (cleanSession false)")
	}
	for i, t := range c.Topics {
		if err := validateTopicFilter(t); err != nil {
			add(fmt.Sprintf("topics[%d]", i), "%w", err)
		}
	}
	if c.Password != "" && c.Username == "" {
		add("password", "set without username")
	}
	if c.KeepAlive < time.Second {
		add("keepAlive", "must be at least 1s, got %v", c.KeepAlive)
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			add("caFile", "%w", err)
		}
		if u != nil && !IsTLS(u) {
			add("caFile", "set for a broker without TLS (%s://); use mqtts, ssl, tls or wss", u.Scheme)
		}
	}
	return errors.Join(errs...)
}

// IsTLS reports whether a broker URL's scheme uses TLS (ssl, tls, mqtts
// or wss).
func IsTLS(u *url.URL) bool {
	switch strings.ToLower(u.Scheme) {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}

// validateTopicFilter checks an MQTT subscription filter: not empty, '#'
// only as the whole last level, '+' only as a whole level.
func validateTopicFilter(t string) error {
	if t == "" {
		return errors.New("empty topic")
	}
	levels := strings.Split(t, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("invalid topic %q: '#' must be the whole last level", t)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("invalid topic %q: '+' must be a whole level", t)
		}
	}
	return nil
}

// ParseBroker parses and checks a broker URL: scheme tcp, mqtt, ssl, tls,
// mqtts, ws or wss, and a host. Its errors never contain the URL's
// password: they quote RedactURL's form, and a URL that does not parse is
// parsed again in that form, so that net/url's message (which quotes the
// URL, and an invalid escape's text) is about the redacted string.
func ParseBroker(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("required (a URL such as mqtt://host:1883)")
	}
	red := RedactURL(s)
	u, err := url.Parse(s)
	if err != nil {
		if _, rerr := url.Parse(red); rerr != nil {
			var ue *url.Error
			if errors.As(rerr, &ue) {
				rerr = ue.Err
			}
			return nil, fmt.Errorf("invalid URL %q: %w", red, rerr)
		}
		// Only the hidden password is malformed; do not describe it.
		return nil, fmt.Errorf("invalid URL %q: invalid user name or password: characters such as %% @ : / and spaces must be percent-encoded", red)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	case "":
		return nil, fmt.Errorf("want a URL such as mqtt://host:1883, got %q", red)
	default:
		return nil, fmt.Errorf("unsupported scheme %q in %q (want one of mqtt, mqtts, tcp, ssl, tls, ws, wss)", u.Scheme, red)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("missing host in %q (want scheme://host:port)", red)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("invalid port %q in %q", p, red)
		}
	}
	return u, nil
}

// redactedPassword replaces a URL's password, as url.URL.Redacted does.
const redactedPassword = "xxxxx"

// RedactURL returns s with the password of its userinfo replaced by
// "xxxxx", for logs, errors and printed configs. It works on the text, not
// on a parsed URL, so that URLs net/url rejects (an invalid escape, a bad
// port, a space in the userinfo, a missing "//") are redacted too: the
// userinfo is everything between the scheme and the last '@'. It is the one
// redaction routine for broker URLs; a URL without a password is returned
// unchanged.
func RedactURL(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	prefix, rest := "", s
	if scheme, r, ok := strings.Cut(s, ":"); ok && validScheme(scheme) {
		slashes := len(r) - len(strings.TrimLeft(r, "/"))
		// Without "//", "a:b@host" may be a user and a password with no
		// scheme: then the text before the first ':' is the user.
		if slashes > 0 || strings.Contains(s[len(scheme)+1:at], ":") {
			prefix, rest = s[:len(scheme)+1+slashes], r[slashes:]
		}
	}
	at = strings.LastIndex(rest, "@")
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return s
	}
	return prefix + user + ":" + redactedPassword + rest[at:]
}

// validScheme reports whether s is a URL scheme (RFC 3986 §3.1).
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// DefaultClientID returns the client id of a source whose config sets none:
// "csi-" and 16 hex digits of a SHA-256 over the host name, the absolute
// database path and the source name. It is stable across restarts (so a
// persistent session is found again), differs between two ingestors on one
// host and between the sources of one ingestor, and has 20 characters from
// [0-9a-z-], within the 23 that every MQTT 3.1.1 broker accepts (§3.1.3.1).
func DefaultClientID(host, dbPath, source string) string {
	sum := sha256.Sum256([]byte(host + "\x00" + dbPath + "\x00" + source))
	return "csi-" + hex.EncodeToString(sum[:8])
}
