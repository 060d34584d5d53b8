package config

import (
	"log/slog"
	"strings"

	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// Top-level defaults.
const (
	// DefaultPath is the -config default, relative to the working
	// directory, as in CoreScope.
	DefaultPath = "config.json"
	// DefaultDBPath is the SQLite file, relative to the working directory.
	DefaultDBPath = "data/meshcore.db"
	// DefaultLogLevel is the slog level: debug, info, warn or error.
	DefaultLogLevel = "info"
	// DefaultLogFormat is the slog handler: text or json.
	DefaultLogFormat = "text"
)

// Config is the whole configuration of the ingestor. Field tags are
// CoreScope's camelCase JSON keys; sections marked "ours" do not exist in
// CoreScope.
type Config struct {
	// DBPath is the SQLite file (default data/meshcore.db; env DB_PATH).
	DBPath string `koanf:"dbPath"`
	// MQTT is CoreScope's legacy single-broker section, converted into a
	// source named "default" when MQTTSources is empty.
	MQTT MQTTConfig `koanf:"mqtt"`
	// MQTTSources lists the brokers to subscribe to (default: one source
	// "local" on mqtt://localhost:1883).
	MQTTSources []SourceConfig `koanf:"mqttSources"`
	// Retention holds CoreScope's retention keys. After loading they mirror
	// the effective days of the maintenance jobs.
	Retention RetentionConfig `koanf:"retention"`
	// DB holds CoreScope's vacuum keys. After loading they mirror the
	// effective options of the vacuum job.
	DB DBConfig `koanf:"db"`
	// Metrics configures observer_metrics sampling.
	Metrics MetricsConfig `koanf:"metrics"`
	// ChannelKeysHex maps a channel name to its 32-hex-character key
	// (CoreScope's "channelKeys"; highest priority layer). Use ChannelKeys for
	// the merged, decoded set.
	ChannelKeysHex map[string]string `koanf:"channelKeys"`
	// ChannelKeysPath is the optional rainbow file, a JSON map of name to
	// hex key (default <dir of config>/channel-rainbow.json; env
	// CHANNEL_KEYS_PATH).
	ChannelKeysPath string `koanf:"channelKeysPath"`
	// HashChannels lists hashtag channel names whose key is derived from the
	// name ('#' is prepended when missing).
	HashChannels []string `koanf:"hashChannels"`
	// ObserverBlacklist lists observer ids whose messages are dropped
	// (case-insensitive).
	ObserverBlacklist []string `koanf:"observerBlacklist"`
	// ObserverIATAWhitelist, when non-empty, keeps only observers whose
	// region code is listed (case-insensitive).
	ObserverIATAWhitelist []string `koanf:"observerIATAWhitelist"`
	// GeoFilter restricts adverts to an area; absent means off.
	GeoFilter GeoFilterConfig `koanf:"geo_filter"`
	// ForeignAdverts says what to do with adverts outside GeoFilter.
	ForeignAdverts ForeignAdvertsConfig `koanf:"foreignAdverts"`
	// ValidateSignatures checks the ed25519 signature of adverts
	// (default true).
	ValidateSignatures bool `koanf:"validateSignatures"`
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string `koanf:"logLevel"`
	// LogFormat is text or json (default text). Ours.
	LogFormat string `koanf:"logFormat"`
	// Jobs configures the scheduled maintenance jobs. Ours.
	Jobs maintenance.Config `koanf:"jobs"`
	// HTTP configures the metrics and control endpoint. Ours.
	HTTP jobs.ServerOptions `koanf:"http"`
	// Stats configures CoreScope's per-second stats file.
	Stats StatsConfig `koanf:"stats"`
	// Ingest tunes the streaming pipeline. Ours.
	Ingest IngestConfig `koanf:"ingest"`

	// HashRegions lists the transport-code region names ("#belgium"; '#' is
	// prepended when missing) whose keys scope transport-routed packets:
	// transmissions.scope_name and nodes.default_scope (CoreScope HEAD).
	HashRegions []string `koanf:"hashRegions"`
	// NeighborEdgesMaxAgeDays: neighbor_edges not seen for this many days
	// are deleted (default 5; 0 means 5). CoreScope HEAD's key; it is the
	// default of the days option of the neighbor-edge prune job.
	NeighborEdgesMaxAgeDays int `koanf:"neighborEdgesMaxAgeDays"`
	// IngestBufferSize is CoreScope HEAD's in-memory message buffer: when
	// > 0 and ingest.queueSize is not set, it is the queue size (0 or
	// negative: ignored, as HEAD falls back to its default). After loading
	// it mirrors ingest.queueSize.
	IngestBufferSize int `koanf:"ingestBufferSize"`
	// Runtime holds CoreScope HEAD's process settings.
	Runtime RuntimeConfig `koanf:"runtime"`
	// ClientRxCoverage turns on CoreScope HEAD's mobile client RX coverage
	// (client_receptions, client_observers).
	ClientRxCoverage ClientRxCoverageConfig `koanf:"clientRxCoverage"`
	// Broker runs an embedded MQTT broker that observers publish to
	// directly (off by default). Ours.
	Broker BrokerConfig `koanf:"broker"`

	// Server absorbs the top-level keys that only CoreScope's web server
	// reads (decoding's remain map); the ingestor ignores them.
	Server map[string]any `koanf:",remain,omitempty"`
}

// Default returns the configuration used when a key is absent. Values
// derived from other keys (job days, source defaults, channelKeysPath) are
// filled in by Load.
func Default() *Config {
	return &Config{
		DBPath:                  DefaultDBPath,
		Retention:               defaultRetention(),
		NeighborEdgesMaxAgeDays: maintenance.DefaultNeighborEdgesMaxAgeDays,
		IngestBufferSize:        defaultIngest().QueueSize,
		Runtime:                 RuntimeConfig{MaxMemoryMB: DefaultMaxMemoryMB},
		DB:                      defaultDB(),
		Metrics:                 defaultMetrics(),
		ForeignAdverts:          ForeignAdvertsConfig{Mode: DefaultForeignAdvertsMode},
		ValidateSignatures:      true,
		LogLevel:                DefaultLogLevel,
		LogFormat:               DefaultLogFormat,
		Jobs:                    maintenance.DefaultConfig(),
		HTTP:                    jobs.ServerOptions{Listen: jobs.DefaultListen},
		Stats:                   defaultStats(),
		Ingest:                  defaultIngest(),
	}
}

// normalize fills the values derived from other keys (legacy MQTT and
// retention keys, per-source and per-job defaults) and validates every
// section, adding one problem per bad key. path is the config file, isSet
// reports whether a key path was given in the file or the environment.
func (c *Config) normalize(path string, isSet func(string) bool, p *problems, log *slog.Logger) {
	if strings.TrimSpace(c.DBPath) == "" {
		c.DBPath = DefaultDBPath
	}
	c.normalizeSources(p, log)
	c.normalizeJobs(isSet, p)
	c.Metrics.validate(p)
	c.normalizeChannels(path, p)
	p.addFields("geo_filter", c.GeoFilter.Geo().Validate())
	c.ForeignAdverts.validate(p)
	if strings.EqualFold(strings.TrimSpace(c.LogLevel), "warning") {
		c.LogLevel = "warn"
	}
	c.LogLevel = oneOf(p, "logLevel", c.LogLevel, DefaultLogLevel, "debug", "info", "warn", "error")
	c.LogFormat = oneOf(p, "logFormat", c.LogFormat, DefaultLogFormat, "text", "json")
	p.addFields("http", c.HTTP.Validate())
	c.Stats.validate(p)
	c.Ingest.validate(p)
	c.validateBroker(p)
	c.normalizeHEADKeys(isSet, p)
}

// SlogLevel returns LogLevel as a slog level (info when unset; Load
// accepts only debug, info, warn and error).
func (c *Config) SlogLevel() slog.Level {
	var l slog.Level // info
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// oneOf lower-cases v, replaces "" with def and checks it is allowed.
func oneOf(p *problems, key, v, def string, allowed ...string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.addf(key, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return v
}
