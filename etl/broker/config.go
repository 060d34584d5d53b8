package broker

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// Defaults.
const (
	// DefaultListen is the quick-start address: loopback, one above the
	// standard MQTT port so that it never collides with a system Mosquitto.
	DefaultListen          = "127.0.0.1:1884"
	DefaultMaxMessageBytes = 64 << 10 // bytes of payload; a larger PUBLISH closes the connection
	DefaultMaxConnections  = 256      // concurrent clients; more are refused with "server busy"
	DefaultMaxInflight     = 64       // QoS 1/2 messages a client may have unacknowledged (receive maximum)
	DefaultMaxQueued       = 1024     // messages queued for delivery to one subscriber before drops
	DefaultSourceName      = "embedded"
	// sessionExpirySecs bounds how long a disconnected persistent session
	// is kept in memory.
	sessionExpirySecs = 3600
	// packetOverhead is what a PUBLISH carries besides its payload (fixed
	// header, topic, properties), allowed on top of MaxMessageBytes.
	packetOverhead = 1024
)

// DefaultTopicPrefixes are where observers publish (uplinks.md).
var DefaultTopicPrefixes = []string{"meshcore/"}

// Config configures the embedded broker. The zero value of every field but
// Listen means its default. The koanf tags are the config file's keys of
// its broker section.
type Config struct {
	// Listen is the TCP address, host:port. "" disables the broker.
	Listen string `koanf:"listen"`
	// Name is the source name messages carry (a metric label and the key
	// of per-source settings); default DefaultSourceName, "embedded".
	Name string `koanf:"name"`
	// Users are the accepted credentials, with $7$ (PBKDF2-SHA512) or $6$
	// hashes from `corescope-ingestor passwd` or mosquitto_passwd. With
	// neither Users nor PasswordFile, clients connect without credentials
	// (loopback only).
	Users []User `koanf:"users"`
	// PasswordFile holds "name:hash" lines, the format of mosquitto_passwd
	// ($7$ and $6$ hashes) and of `corescope-ingestor passwd`.
	PasswordFile string `koanf:"passwordFile"`
	// CertFile and KeyFile enable TLS on the listener (PEM files).
	CertFile string `koanf:"certFile"`
	KeyFile  string `koanf:"keyFile"`
	// TopicPrefixes restricts PUBLISH to topics under these prefixes;
	// default DefaultTopicPrefixes, ["meshcore/"].
	TopicPrefixes []string `koanf:"topicPrefixes"`
	// MaxMessageBytes is the largest payload accepted, in bytes (default
	// DefaultMaxMessageBytes).
	MaxMessageBytes int `koanf:"maxMessageBytes"`
	// MaxConnections is the number of concurrent clients (default
	// DefaultMaxConnections).
	MaxConnections int `koanf:"maxConnections"`
	// MaxInflight is the per-client QoS>0 receive window, in messages
	// (default DefaultMaxInflight).
	MaxInflight int `koanf:"maxInflight"`
	// MaxQueued is the per-subscriber outbound queue, in messages (default
	// DefaultMaxQueued).
	MaxQueued int `koanf:"maxQueued"`
}

// SourceName returns the source name of the broker's messages: Name, or
// DefaultSourceName.
func (c *Config) SourceName() string {
	if c.Name == "" {
		return DefaultSourceName
	}
	return c.Name
}

// User is one accepted credential. PasswordHash is a $7$ (PBKDF2-SHA512)
// or $6$ (salted SHA-512) hash as written by HashPassword or
// mosquitto_passwd; plain text is refused.
type User struct {
	Name         string `koanf:"name"`
	PasswordHash string `koanf:"passwordHash"`
}

// Enabled reports whether the broker is configured to run.
func (c *Config) Enabled() bool { return c.Listen != "" }

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultSourceName
	}
	if len(c.TopicPrefixes) == 0 {
		c.TopicPrefixes = DefaultTopicPrefixes
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = DefaultMaxQueued
	}
	return c
}

// Validate checks c and returns every problem, each naming its field (the
// caller prefixes the config path). A listener reachable from other hosts
// must require credentials or TLS.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port", c.Listen))
	} else if port == "" {
		errs = append(errs, fmt.Errorf("listen: %q has no port", c.Listen))
	}
	tls := c.CertFile != "" || c.KeyFile != ""
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("certFile and keyFile: both or neither"))
	}
	users, uerr := c.users()
	if uerr != nil {
		errs = append(errs, uerr)
	}
	if err == nil && !isLoopback(host) && len(users) == 0 && c.PasswordFile == "" && !tls {
		errs = append(errs, fmt.Errorf("listen: %s is reachable from other hosts: set users, passwordFile or TLS (certFile/keyFile)", c.Listen))
	}
	for i, p := range c.TopicPrefixes {
		if p == "" || strings.ContainsAny(p, "+#") {
			errs = append(errs, fmt.Errorf("topicPrefixes[%d]: %q must be a non-empty topic prefix without wildcards", i, p))
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"maxMessageBytes", c.MaxMessageBytes}, {"maxConnections", c.MaxConnections}, {"maxInflight", c.MaxInflight}, {"maxQueued", c.MaxQueued}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.name))
		}
	}
	if c.MaxInflight > 65535 {
		errs = append(errs, errors.New("maxInflight: at most 65535"))
	}
	return errors.Join(errs...)
}

// users returns the configured users plus those of PasswordFile, with
// their hashes checked.
func (c *Config) users() (map[string]string, error) {
	out := make(map[string]string, len(c.Users))
	var errs []error
	for i, u := range c.Users {
		if u.Name == "" {
			errs = append(errs, fmt.Errorf("users[%d].name: empty", i))
			continue
		}
		if _, err := parseHash(u.PasswordHash); err != nil {
			errs = append(errs, fmt.Errorf("users[%d].passwordHash: %w", i, err))
			continue
		}
		out[u.Name] = u.PasswordHash
	}
	if c.PasswordFile != "" {
		if err := readPasswordFile(c.PasswordFile, out); err != nil {
			errs = append(errs, fmt.Errorf("passwordFile: %w", err))
		}
	}
	return out, errors.Join(errs...)
}

// readPasswordFile adds the file's "name:hash" lines to users. Blank lines
// and lines starting with # are skipped.
func readPasswordFile(path string, users map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return fmt.Errorf("%s:%d: not name:hash", path, n)
		}
		if _, err := parseHash(hash); err != nil {
			return fmt.Errorf("%s:%d: user %q: %w", path, n, name, err)
		}
		users[name] = hash
	}
	return sc.Err()
}

// isLoopback reports whether a listen host accepts loopback connections
// only. An empty host (all interfaces) is not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
