package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	jsonparser "github.com/knadh/koanf/parsers/json"
	yamlparser "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	envprovider "github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/broker"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/spool"
	"github.com/corescope/etl/etl/statsfile"
	"github.com/corescope/etl/etl/transform"
	"github.com/corescope/etl/etl/uplink"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// This file defines the config file format and loads it. CoreScope's own
// config.json is a superset of ours (the web server reads the same file), so
// keys we do not own are ignored, while keys inside the sections we own are
// strict. Validation lives in config_validate.go.

// Top-level defaults.
const (
	// DefaultConfigPath is the -config default, relative to the working
	// directory, as in CoreScope.
	DefaultConfigPath = "config.json"
	// DefaultDBPath is the SQLite file, relative to the working directory.
	DefaultDBPath = "data/meshcore.db"
	// DefaultChannelKeysFile is the rainbow key file name, looked up in the
	// directory of the config file.
	DefaultChannelKeysFile = "channel-rainbow.json"
	// DefaultLogLevel is the slog level: debug, info, warn or error.
	DefaultLogLevel = "info"
	// DefaultLogFormat is the slog handler: text or json.
	DefaultLogFormat = "text"
	// DefaultForeignAdvertsMode keeps adverts from outside geo_filter and
	// flags their node (the other mode is "drop").
	DefaultForeignAdvertsMode = "flag"
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
	Jobs JobsConfig `koanf:"jobs"`
	// HTTP configures the metrics and control endpoint. Ours.
	HTTP HTTPConfig `koanf:"http"`
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
}

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
		Broker:             s.PahoBroker(),
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

// PahoBroker returns the broker URL in the form paho expects: mqtt:// becomes
// tcp:// and mqtts:// becomes ssl://; other schemes are unchanged.
func (s *SourceConfig) PahoBroker() string {
	scheme, rest, ok := strings.Cut(s.Broker, "://")
	if !ok {
		return s.Broker
	}
	switch strings.ToLower(scheme) {
	case "mqtt":
		return "tcp://" + rest
	case "mqtts":
		return "ssl://" + rest
	}
	return s.Broker
}

// TLS reports whether the broker URL uses TLS (mqtts, ssl, tls or wss).
func (s *SourceConfig) TLS() bool {
	scheme, _, _ := strings.Cut(s.Broker, "://")
	switch strings.ToLower(scheme) {
	case "mqtts", "ssl", "tls", "wss":
		return true
	}
	return false
}

// Retention defaults, in days, with CoreScope's meanings. The others
// (nodeDays, observerDays, metricsDays) are jobs/maintenance's.
const (
	// DefaultPacketDays of 0 keeps transmissions forever.
	DefaultPacketDays = 0
	// DefaultClientRxDays of 0 keeps client RX coverage rows forever.
	DefaultClientRxDays = 0
)

// RetentionConfig is CoreScope's retention section. Each value is the
// default of the matching job's days option.
type RetentionConfig struct {
	// NodeDays: nodes not heard for this many days move to inactive_nodes
	// (default 7; 0 means 7).
	NodeDays int `koanf:"nodeDays"`
	// ObserverDays: observers not heard for this many days are marked
	// inactive (default 14; 0 means 14; -1 keeps them forever).
	ObserverDays int `koanf:"observerDays"`
	// MetricsDays: observer_metrics and dropped_packets rows older than this
	// many days are deleted (default 30; 0 means 30).
	MetricsDays int `koanf:"metricsDays"`
	// PacketDays: transmissions older than this many days are deleted
	// (default 0, which keeps them forever).
	PacketDays int `koanf:"packetDays"`
	// ClientRxDays: client_receptions and client_observers rows older than
	// this many days are deleted (default 0, which keeps them forever).
	// CoreScope HEAD's key.
	ClientRxDays int `koanf:"clientRxDays"`
}

// DefaultMaxMemoryMB is the Go runtime's soft memory limit in MiB unless
// GOMEMLIMIT is set: the garbage collector works harder, rather than the heap
// growing, while a burst fills the ingest queue (a small VM or a Raspberry
// Pi). 0 means this default. CoreScope HEAD's runtime.maxMemoryMB.
const DefaultMaxMemoryMB = 128

// RuntimeConfig is CoreScope HEAD's runtime section.
type RuntimeConfig struct {
	// MaxMemoryMB is the Go soft memory limit in MiB (default 128; 0 means
	// 128). The GOMEMLIMIT environment variable wins.
	MaxMemoryMB int `koanf:"maxMemoryMB"`
}

// ClientRxCoverageConfig is CoreScope HEAD's clientRxCoverage section.
type ClientRxCoverageConfig struct {
	// Enabled stores GPS-tagged receptions published by mobile companions
	// on meshcore/client/<pubkey>/packets (default false).
	Enabled bool `koanf:"enabled"`
}

// DBConfig is CoreScope's db section: the defaults of the vacuum job.
type DBConfig struct {
	// VacuumOnStartup runs one full VACUUM before ingest starts, to switch
	// an old file to incremental auto-vacuum (default false).
	VacuumOnStartup bool `koanf:"vacuumOnStartup"`
	// IncrementalVacuumPages is the pages freed per vacuum run (default
	// maintenance.DefaultVacuumPages, 1024).
	IncrementalVacuumPages int `koanf:"incrementalVacuumPages"`
	// Load is CoreScope's server startup loading; accepted and ignored.
	Load DBLoadConfig `koanf:"load"`
}

// DBLoadConfig is the db.load section that CoreScope's server reads (the
// rows per chunk of its startup load). The ingestor ignores it; it is
// declared so that a misspelled key next to it is still reported.
type DBLoadConfig struct {
	// ChunkSize is the server's rows per startup chunk; ignored.
	ChunkSize int `koanf:"chunkSize"`
}

// MetricsConfig is CoreScope's metrics section.
type MetricsConfig struct {
	// SampleIntervalSec is the observer_metrics bucket in seconds; the
	// server must use the same value (0 means
	// uplink.DefaultMetricsIntervalSec, 300).
	SampleIntervalSec int `koanf:"sampleIntervalSec"`
}

// GeoFilterConfig is CoreScope's geo_filter: a polygon plus a buffer, or a
// latitude/longitude box, or both. Nil box fields mean absent.
type GeoFilterConfig struct {
	// Polygon is a list of [lat, lon] points (at least 3), degrees.
	Polygon [][]float64 `koanf:"polygon"`
	// BufferKm widens the polygon, in kilometres (default 0).
	BufferKm float64 `koanf:"bufferKm"`
	// LatMin, LatMax, LonMin and LonMax bound the box, in degrees; all four
	// or none (nil) are set.
	LatMin *float64 `koanf:"latMin"`
	LatMax *float64 `koanf:"latMax"`
	LonMin *float64 `koanf:"lonMin"`
	LonMax *float64 `koanf:"lonMax"`
}

// Enabled reports whether a polygon or a box is configured.
func (g *GeoFilterConfig) Enabled() bool {
	return len(g.Polygon) > 0 || g.LatMin != nil
}

// ForeignAdvertsConfig is CoreScope's foreignAdverts section.
type ForeignAdvertsConfig struct {
	// Mode is "flag" (store and mark the node foreign, default) or "drop".
	Mode string `koanf:"mode"`
}

// Job defaults; the chunking and the history kept are jobs/maintenance's
// and jobs' defaults. Job names are maintenance.Name*.
const (
	// DefaultJobTimeout bounds one run of a maintenance job.
	DefaultJobTimeout = 10 * time.Minute
	// DefaultPrunePacketsTimeout bounds one packet prune, which may work
	// through a large backlog the first time.
	DefaultPrunePacketsTimeout = 30 * time.Minute
	// DefaultWALCheckpointTimeout bounds one WAL checkpoint.
	DefaultWALCheckpointTimeout = time.Minute
)

// JobConfig configures one maintenance job. Days, Pages and OnStartup are
// options of some jobs only (see JobsConfig).
type JobConfig struct {
	// Schedule is a 5-field cron spec or a descriptor (@hourly, @every 90m),
	// optionally prefixed with "CRON_TZ=Zone ". Empty (vacuum only) means
	// the job runs only chained after a prune job that deleted rows.
	Schedule string `koanf:"schedule"`
	// Enabled turns the job on (default true, except prunePackets when
	// days is 0 and staleObservers when days is -1, which are off).
	Enabled bool `koanf:"enabled"`
	// Timeout bounds one run; must be > 0 (default 10m; prunePackets 30m,
	// walCheckpoint 1m).
	Timeout time.Duration `koanf:"timeout"`
	// Jitter delays each scheduled run by a random duration in [0, Jitter)
	// (default 0).
	Jitter time.Duration `koanf:"jitter"`
	// ChunkRows is the rows per chunk transaction (default 5000).
	ChunkRows int `koanf:"chunkRows"`
	// ChunkBudget is the longest a chunk may take before yielding
	// (default 100ms).
	ChunkBudget time.Duration `koanf:"chunkBudget"`
	// Days is the retention in days (staleNodes, staleObservers,
	// pruneMetrics, prunePackets); its default is the legacy retention key.
	Days int `koanf:"days"`
	// Pages is the pages freed per run (vacuum); default
	// db.incrementalVacuumPages.
	Pages int `koanf:"pages"`
	// OnStartup runs a full VACUUM before ingest when the file is not in
	// incremental auto-vacuum mode (vacuum); default db.vacuumOnStartup.
	OnStartup bool `koanf:"onStartup"`
	// Dir is where backups are written (backup); default "backups" next
	// to the database.
	Dir string `koanf:"dir"`
	// Keep is the newest backups kept (backup); default 7.
	Keep int `koanf:"keep"`
	// Compress is "gzip" or "" for none (backup); default none.
	Compress string `koanf:"compress"`
	// OnDecoderUpgrade runs the job once at start when the decoder
	// version differs from the one of its last finished pass (reprocess);
	// default false.
	OnDecoderUpgrade bool `koanf:"onDecoderUpgrade"`
}

// JobsConfig configures every maintenance job.
type JobsConfig struct {
	// StaleNodes moves nodes not seen for Days to inactive_nodes.
	StaleNodes JobConfig `koanf:"staleNodes"`
	// StaleObservers marks observers not seen for Days inactive.
	StaleObservers JobConfig `koanf:"staleObservers"`
	// PruneMetrics deletes observer_metrics and dropped_packets older than Days.
	PruneMetrics JobConfig `koanf:"pruneMetrics"`
	// PrunePackets deletes transmissions (and their observations) older
	// than Days; enabled only when Days > 0.
	PrunePackets JobConfig `koanf:"prunePackets"`
	// Vacuum runs the incremental vacuum.
	Vacuum JobConfig `koanf:"vacuum"`
	// WALCheckpoint truncates the WAL.
	WALCheckpoint JobConfig `koanf:"walCheckpoint"`
	// MultibyteSnapshot applies the server's mbcap-snapshot/snapshot.json
	// (default every 5 minutes, and at start).
	MultibyteSnapshot JobConfig `koanf:"multibyteSnapshot"`
	// PruneRequests executes the server's prune-requests/request-*.json
	// (default every 15 s, and at start).
	PruneRequests JobConfig `koanf:"pruneRequests"`
	// PruneClientReceptions deletes client RX coverage rows older than Days
	// (retention.clientRxDays); enabled only when Days > 0. Default daily,
	// and at start.
	PruneClientReceptions JobConfig `koanf:"pruneClientReceptions"`
	// NeighborEdges builds neighbor_edges from new observations and
	// refreshes the resolved_path resolver (default every minute, and at
	// start; chunkRows 20000 observations read per chunk).
	NeighborEdges JobConfig `koanf:"neighborEdges"`
	// PruneNeighborEdges deletes neighbor_edges not seen for Days (default
	// daily, and at start; days defaults to neighborEdgesMaxAgeDays).
	PruneNeighborEdges JobConfig `koanf:"pruneNeighborEdges"`
	// Backup writes a verified online copy of the database (off by
	// default; daily when enabled).
	Backup JobConfig `koanf:"backup"`
	// Reprocess re-decodes stored packets with the current decoder and
	// keys (no schedule by default: run it with `jobs run reprocess`).
	Reprocess JobConfig `koanf:"reprocess"`
	// HistoryPerJob is the runs kept per job (default 50).
	HistoryPerJob int `koanf:"historyPerJob"`
}

// NamedJob is a job's config with its name.
type NamedJob struct {
	Name string
	*JobConfig
}

// List returns every job with its name, in a fixed order.
func (j *JobsConfig) List() []NamedJob {
	return []NamedJob{
		{maintenance.NameStaleNodes, &j.StaleNodes},
		{maintenance.NameStaleObservers, &j.StaleObservers},
		{maintenance.NamePruneMetrics, &j.PruneMetrics},
		{maintenance.NamePrunePackets, &j.PrunePackets},
		{maintenance.NameVacuum, &j.Vacuum},
		{maintenance.NameWALCheckpoint, &j.WALCheckpoint},
		{maintenance.NameMultibyteSnapshot, &j.MultibyteSnapshot},
		{maintenance.NamePruneRequests, &j.PruneRequests},
		{maintenance.NamePruneClientReceptions, &j.PruneClientReceptions},
		{maintenance.NameNeighborEdges, &j.NeighborEdges},
		{maintenance.NamePruneNeighborEdges, &j.PruneNeighborEdges},
		{maintenance.NameBackup, &j.Backup},
		{maintenance.NameReprocess, &j.Reprocess},
	}
}

// jobOptions lists, for each job-specific option, the jobs it belongs to.
var jobOptions = map[string][]string{
	"days":             {maintenance.NameStaleNodes, maintenance.NameStaleObservers, maintenance.NamePruneMetrics, maintenance.NamePrunePackets, maintenance.NamePruneNeighborEdges, maintenance.NamePruneClientReceptions},
	"pages":            {maintenance.NameVacuum},
	"onStartup":        {maintenance.NameVacuum},
	"dir":              {maintenance.NameBackup},
	"keep":             {maintenance.NameBackup},
	"compress":         {maintenance.NameBackup},
	"onDecoderUpgrade": {maintenance.NameReprocess},
}

// jobHasOption reports whether option (a koanf key of JobConfig) applies to job.
func jobHasOption(job, option string) bool {
	jobs, ok := jobOptions[option]
	if !ok {
		return true // common option
	}
	for _, j := range jobs {
		if j == job {
			return true
		}
	}
	return false
}

// DefaultHTTPListen serves metrics and the job API on loopback only.
const DefaultHTTPListen = "127.0.0.1:9108"

// HTTPConfig configures the HTTP endpoint. Ours.
type HTTPConfig struct {
	// Listen is host:port; "" disables the server (default 127.0.0.1:9108).
	Listen string `koanf:"listen"`
	// Username and Password enable basic auth; both or neither are set
	// (default "").
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// BearerToken, when set, is accepted as "Authorization: Bearer <token>".
	BearerToken string `koanf:"bearerToken"`
	// Pprof serves /debug/pprof/ on the same listener (default false).
	Pprof bool `koanf:"pprof"`
}

// StatsConfig configures CoreScope's per-second stats file.
type StatsConfig struct {
	// File is the stats path; "" disables it (default
	// statsfile.DefaultPath; env CORESCOPE_INGESTOR_STATS).
	File string `koanf:"file"`
	// Interval is the write period (default statsfile.DefaultInterval,
	// 1s). Ours.
	Interval time.Duration `koanf:"interval"`
}

// IngestConfig tunes the streaming pipeline; its defaults are the owning
// packages' (etl, jobs, etl/transform, etl/spool). Ours.
type IngestConfig struct {
	// QueueSize is the messages buffered between MQTT and the writer
	// (default etl.DefaultQueueSize, 200000: it absorbs a 50k msg/s burst
	// of several seconds without making the broker drop QoS 0 messages;
	// memory is used only while it fills).
	QueueSize int `koanf:"queueSize"`
	// BatchSize is the records per transaction (default
	// etl.DefaultBatchSize, 1000).
	BatchSize int `koanf:"batchSize"`
	// BatchDelay is the longest a record waits before its batch commits
	// (default etl.DefaultBatchDelay, 100ms).
	BatchDelay time.Duration `koanf:"batchDelay"`
	// ShutdownTimeout bounds the whole shutdown (default
	// jobs.DefaultShutdownTimeout, 15s).
	ShutdownTimeout time.Duration `koanf:"shutdownTimeout"`
	// MaxMessageBytes is the largest MQTT payload accepted, in bytes
	// (default transform.DefaultMaxMessageBytes, 65536).
	MaxMessageBytes int `koanf:"maxMessageBytes"`
	// QueueMaxBytes bounds the queue by bytes as QueueSize does by
	// messages (payload, topic and a fixed 256-byte overhead per message;
	// default etl.DefaultQueueBytes, 64 MiB: with the queue, the batches
	// and the runtime, the default config stays under 200 MiB RSS); what
	// does not fit goes to the spool.
	QueueMaxBytes int64 `koanf:"queueMaxBytes"`
	// SpoolDir is the on-disk spool's directory; "" = <dbPath>.spool.
	SpoolDir string `koanf:"spoolDir"`
	// SpoolMaxBytes bounds the spool on disk, in bytes (default
	// spool.DefaultMaxBytes, 1 GiB); beyond it messages are dropped and
	// counted.
	SpoolMaxBytes int64 `koanf:"spoolMaxBytes"`
	// Capture tees every received message into rotated JSON Lines files
	// (off unless dir is set), for `corescope-ingestor import`.
	Capture CaptureConfig `koanf:"capture"`
}

// CaptureConfig configures ingest.capture. Ours.
type CaptureConfig struct {
	// Dir is the capture directory; "" (default) disables capture.
	Dir string `koanf:"dir"`
	// MaxFileBytes rotates a file at this size (default 64 MiB).
	MaxFileBytes int64 `koanf:"maxFileBytes"`
	// MaxFileAge rotates a file at this age (default 1h).
	MaxFileAge time.Duration `koanf:"maxFileAge"`
	// Keep is the closed files kept (default 168).
	Keep int `koanf:"keep"`
	// Compress gzips closed files (default true).
	Compress bool `koanf:"compress"`
}

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

// sourceName is the source name of the broker's messages.
func (b *BrokerConfig) sourceName() string {
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

// backupJob is the backup job's default: off, keeping
// maintenance.DefaultBackupKeep copies.
func backupJob(j JobConfig) JobConfig {
	j.Enabled = false
	j.Keep = maintenance.DefaultBackupKeep
	return j
}

// defaultConfig returns the configuration used when a key is absent. Values
// derived from other keys (job days, source defaults, channelKeysPath) are
// filled in by normalize.
func defaultConfig() *Config {
	job := func(schedule string, timeout time.Duration) JobConfig {
		return JobConfig{
			Schedule:    schedule,
			Enabled:     true,
			Timeout:     timeout,
			ChunkRows:   maintenance.DefaultChunkRows,
			ChunkBudget: maintenance.DefaultChunkBudget,
		}
	}
	return &Config{
		DBPath: DefaultDBPath,
		Retention: RetentionConfig{
			NodeDays:     maintenance.DefaultNodeDays,
			ObserverDays: maintenance.DefaultObserverDays,
			MetricsDays:  maintenance.DefaultMetricsDays,
			PacketDays:   DefaultPacketDays,
			ClientRxDays: DefaultClientRxDays,
		},
		NeighborEdgesMaxAgeDays: maintenance.DefaultNeighborEdgesMaxAgeDays,
		IngestBufferSize:        etl.DefaultQueueSize,
		Runtime:                 RuntimeConfig{MaxMemoryMB: DefaultMaxMemoryMB},
		DB:                      DBConfig{IncrementalVacuumPages: maintenance.DefaultVacuumPages},
		Metrics:                 MetricsConfig{SampleIntervalSec: uplink.DefaultMetricsIntervalSec},
		ForeignAdverts:          ForeignAdvertsConfig{Mode: DefaultForeignAdvertsMode},
		ValidateSignatures:      true,
		LogLevel:                DefaultLogLevel,
		LogFormat:               DefaultLogFormat,
		Jobs: JobsConfig{
			StaleNodes:            job("@hourly", DefaultJobTimeout),
			StaleObservers:        job("@daily", DefaultJobTimeout),
			PruneMetrics:          job("@daily", DefaultJobTimeout),
			PrunePackets:          job("@daily", DefaultPrunePacketsTimeout),
			Vacuum:                job("", DefaultJobTimeout),
			WALCheckpoint:         job("@hourly", DefaultWALCheckpointTimeout),
			MultibyteSnapshot:     job("@every 5m", DefaultJobTimeout),
			PruneRequests:         job("@every 15s", DefaultJobTimeout),
			PruneClientReceptions: job("@daily", DefaultJobTimeout),
			NeighborEdges:         withChunkRows(job("@every 1m", DefaultJobTimeout), maintenance.DefaultNeighborEdgesChunkRows),
			PruneNeighborEdges:    job("@daily", DefaultJobTimeout),
			Backup:                backupJob(job("@daily", DefaultPrunePacketsTimeout)),
			Reprocess:             job("", DefaultPrunePacketsTimeout),
			HistoryPerJob:         jobs.DefaultHistoryPerJob,
		},
		HTTP:  HTTPConfig{Listen: DefaultHTTPListen},
		Stats: StatsConfig{File: statsfile.DefaultPath, Interval: statsfile.DefaultInterval},
		Ingest: IngestConfig{
			QueueSize:       etl.DefaultQueueSize,
			BatchSize:       etl.DefaultBatchSize,
			BatchDelay:      etl.DefaultBatchDelay,
			ShutdownTimeout: jobs.DefaultShutdownTimeout,
			MaxMessageBytes: transform.DefaultMaxMessageBytes,
			QueueMaxBytes:   etl.DefaultQueueBytes,
			SpoolMaxBytes:   spool.DefaultMaxBytes,
			Capture:         CaptureConfig{Compress: true},
		},
	}
}

// configError reports every problem found while loading a config; callers
// detect it with errors.As (the daemon and check exit with status 2). Its
// message is one line per problem, each starting with the key path.
type configError struct {
	err error // errors.Join of the problems
}

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// problems collects config errors, each prefixed with its key path.
type problems struct {
	errs []error
	// undecodable holds the key paths that failed to decode; later
	// problems under them would only repeat the first one.
	undecodable map[string]bool
}

func (p *problems) addf(path, format string, args ...any) {
	p.add(path, fmt.Errorf(format, args...))
}

func (p *problems) add(path string, err error) {
	for k := path; k != ""; {
		if p.undecodable[k] {
			return
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %w", path, err))
}

// addUndecodable records a key path that failed to decode.
func (p *problems) addUndecodable(path string, err error) {
	p.add(path, err)
	if p.undecodable == nil {
		p.undecodable = map[string]bool{}
	}
	p.undecodable[path] = true
}

// Names of the environment variables CoreScope reads.
const (
	envDBPath      = "DB_PATH"
	envMQTTBroker  = "MQTT_BROKER"
	envMQTTTopic   = "MQTT_TOPIC"
	envStatsFile   = "CORESCOPE_INGESTOR_STATS"
	envChannelKeys = "CHANNEL_KEYS_PATH"
	// envPrefix maps CORESCOPE_SECTION__KEY=value onto section.key.
	envPrefix = "CORESCOPE_"
)

// hostname is os.Hostname, replaced in tests.
var hostname = os.Hostname

// loadConfig reads the config file at path (YAML for .yaml/.yml, JSON
// otherwise), applies the environment environ (os.Environ form) and returns
// the validated, effective config. explicit says whether the path was given
// with -config: a missing default file means zero-config defaults, a missing
// explicit file is an error. Every problem is reported at once in a
// *configError.
func loadConfig(path string, explicit bool, environ []string, log *slog.Logger) (*Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var p problems
	fail := func() (*Config, error) {
		return nil, &configError{err: errors.Join(p.errs...)}
	}

	// File layer.
	fk := koanf.New(".")
	// Like CoreScope, any other extension is read as JSON.
	var parser koanf.Parser = jsonparser.Parser()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		parser = yamlparser.Parser()
	}
	if err := fk.Load(file.Provider(path), parser); err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			log.Info("config file not found, using defaults", "path", path)
		case errors.Is(err, fs.ErrNotExist):
			p.addf(path, "config file not found")
			return fail()
		default:
			p.add(path, describeParseError(path, err))
			return fail()
		}
	}
	fileMap := fk.Raw()
	dropNulls(fileMap)

	// Environment layer: CORESCOPE_SECTION__KEY first, then CoreScope's
	// named variables, which win.
	env := envMap(environ)
	ek := koanf.New(".")
	if err := ek.Load(envprovider.Provider(".", envprovider.Opt{
		Prefix:        envPrefix,
		EnvironFunc:   func() []string { return environ },
		TransformFunc: envTransform(&p),
	}), nil); err != nil {
		p.add("environment", err)
	}
	if err := ek.Load(confmap.Provider(namedEnv(env, log), "."), nil); err != nil {
		p.add("environment", err)
	}

	// Merge: defaults, file, environment.
	ko := koanf.New(".")
	if err := ko.Load(structs.Provider(defaultConfig(), "koanf"), nil); err != nil {
		p.add("defaults", err)
		return fail()
	}
	if err := ko.Load(confmap.Provider(fileMap, ""), nil); err != nil {
		p.add(path, err)
		return fail()
	}
	if err := ko.Merge(ek); err != nil {
		p.add("environment", err)
		return fail()
	}
	fillSourceDefaults(ko)

	// Which keys did the user set (file or environment)? Lower-cased paths,
	// because keys match case-insensitively, as in CoreScope.
	set := map[string]bool{}
	setk := koanf.New(".")
	_ = setk.Load(confmap.Provider(fileMap, ""), nil)
	_ = setk.Merge(ek)
	for _, k := range setk.Keys() {
		set[strings.ToLower(k)] = true
	}

	// Decode on top of the defaults, so that a key given as null keeps its
	// default; then report unknown keys and validate.
	c := defaultConfig()
	var md mapstructure.Metadata
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			numberToDurationHook,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
			fractionToIntHook,
		),
		WeaklyTypedInput: true,
		Metadata:         &md,
		TagName:          "koanf",
	}
	decodeErr := ko.UnmarshalWithConf("", c, koanf.UnmarshalConf{DecoderConfig: dc})
	addDecodeErrors(&p, decodeErr)
	unused := md.Unused
	if decodeErr != nil {
		// mapstructure drops the unused keys of a struct that failed to
		// decode; find them ourselves so all problems show at once.
		unused = append(unused, unknownKeys(ko.Raw(), reflect.TypeOf(Config{}), "")...)
	}
	reportUnknownKeys(&p, unused, log)

	c.normalize(path, set, &p, log)
	if len(p.errs) > 0 {
		return fail()
	}
	emptyToNil(reflect.ValueOf(c).Elem())
	return c, nil
}

// emptyToNil replaces empty slices and maps with nil throughout v, so that
// "[]" in a file and an absent key load to the same config.
func emptyToNil(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				emptyToNil(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				emptyToNil(v.Index(i))
			}
		}
	}
}

// describeParseError adds the line and column to a JSON syntax error, which
// encoding/json reports only as a byte offset.
func describeParseError(path string, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("parse: %w", err)
	}
	b, rerr := os.ReadFile(path)
	if rerr != nil || se.Offset > int64(len(b)) {
		return fmt.Errorf("parse: %w", err)
	}
	line := 1 + strings.Count(string(b[:se.Offset]), "\n")
	col := int(se.Offset) - strings.LastIndex(string(b[:se.Offset]), "\n") - 1
	return fmt.Errorf("parse: line %d column %d: %w", line, col, err)
}

// dropNulls removes null values from nested maps, so that a key written as
// null (or a YAML section whose children are all commented out) means
// "absent" and keeps its default.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNulls(v)
		}
	}
}

// fillSourceDefaults sets the per-source keys whose zero value is valid
// (qos 0) to their default when the source does not set them.
func fillSourceDefaults(ko *koanf.Koanf) {
	list, ok := ko.Get("mqttSources").([]any)
	if !ok {
		return
	}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(m)), isQoS) {
			m["qos"] = mqtt.DefaultQoS
		}
	}
	_ = ko.Load(confmap.Provider(map[string]any{"mqttSources": list}, ""), nil)
}

// isQoS reports whether a source's key is qos, in any case.
func isQoS(key string) bool { return strings.EqualFold(key, "qos") }

// envMap turns an os.Environ-style list into a map; the first entry of a
// name wins, as with os.Getenv.
func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

// namedEnv maps CoreScope's environment variables onto config keys. Empty
// values are ignored, as in CoreScope.
func namedEnv(env map[string]string, log *slog.Logger) map[string]any {
	out := map[string]any{}
	if v := env[envDBPath]; v != "" {
		out["dbPath"] = v
	}
	if v := env[envMQTTBroker]; v != "" {
		topic := env[envMQTTTopic]
		if topic == "" {
			topic = mqtt.DefaultTopic
		}
		out["mqttSources"] = []any{map[string]any{
			"name": "env", "broker": v, "topics": []any{topic},
		}}
		log.Info("mqtt sources replaced by environment", "env", envMQTTBroker, "broker", mqtt.RedactURL(v), "topic", topic)
	} else if env[envMQTTTopic] != "" {
		log.Warn("environment variable ignored without MQTT_BROKER", "env", envMQTTTopic)
	}
	if v := env[envStatsFile]; v != "" {
		out["stats.file"] = v
	}
	if v := env[envChannelKeys]; v != "" {
		out["channelKeysPath"] = v
	}
	return out
}

// envTransform maps CORESCOPE_SECTION__KEY to the known key section.key,
// matching names case-insensitively ("__" separates levels). Values of
// sections, lists of objects and maps are JSON; lists of strings are
// comma-separated. Unknown names are reported to p.
func envTransform(p *problems) func(k, v string) (string, any) {
	index := envKeyIndex()
	return func(k, v string) (string, any) {
		if k == envStatsFile {
			return "", nil // CoreScope's variable, handled by namedEnv
		}
		name := strings.TrimPrefix(k, envPrefix)
		key, ok := index[strings.ToUpper(name)]
		if !ok {
			// CORESCOPE_* is a shared namespace (CoreScope's server may use
			// variables of its own in the same environment): only a name that
			// is close to one of ours, or that addresses a nested key, is
			// reported as an error; others are ignored.
			var names []string
			for n := range index {
				names = append(names, envPrefix+n)
			}
			if s := suggest(k, names); s != "" {
				p.addf(k, "unknown environment variable (did you mean %s?)", s)
			} else if strings.Contains(name, "__") {
				p.addf(k, "unknown environment variable")
			}
			return "", nil
		}
		if !key.json {
			return key.path, v
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			// Not the error's text: encoding/json quotes the offending
			// character, which may belong to a password or a key.
			var se *json.SyntaxError
			where := ""
			if errors.As(err, &se) {
				where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
			}
			p.addf(k, "value of %s must be JSON%s", key.path, where)
			return "", nil
		}
		return key.path, val
	}
}

type envKey struct {
	path string // canonical koanf path
	json bool   // value is JSON
}

// envKeyIndex maps SECTION__KEY (upper case) to every key path of Config.
func envKeyIndex() map[string]envKey {
	index := map[string]envKey{}
	var walk func(t reflect.Type, path, env string)
	walk = func(t reflect.Type, path, env string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || tag == "-" {
				continue
			}
			p, e := tag, strings.ToUpper(tag)
			if path != "" {
				p, e = path+"."+tag, env+"__"+e
			}
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct:
				index[e] = envKey{p, true}
				walk(ft, p, e)
			case ft.Kind() == reflect.Map,
				ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.String:
				index[e] = envKey{p, true}
			default:
				index[e] = envKey{p, false}
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "", "")
	return index
}

var durationType = reflect.TypeOf(time.Duration(0))

// numberToDurationHook rejects a bare number for a duration (300 would mean
// 300ns); durations are strings such as "5m". Zero is accepted.
func numberToDurationHook(f, t reflect.Type, data any) (any, error) {
	if t != durationType || f == durationType {
		return data, nil
	}
	switch f.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v is not a duration: write it with a unit, such as \"%vs\"", data, data)
	}
	return data, nil
}

// fractionToIntHook rejects a number with a fraction for an integer key
// (mapstructure would truncate it).
func fractionToIntHook(f, t reflect.Type, data any) (any, error) {
	if f.Kind() != reflect.Float64 && f.Kind() != reflect.Float32 {
		return data, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x := reflect.ValueOf(data).Float()
		if x != math.Trunc(x) {
			return nil, fmt.Errorf("%v is not an integer", data)
		}
	}
	return data, nil
}

// addDecodeErrors adds mapstructure's (joined) errors, one per key path.
func addDecodeErrors(p *problems, err error) {
	if err == nil {
		return
	}
	de, ok := err.(*mapstructure.DecodeError)
	if !ok {
		switch u := err.(type) {
		case interface{ Unwrap() []error }: // errors.Join
			for _, e := range u.Unwrap() {
				addDecodeErrors(p, e)
			}
		case interface{ Unwrap() error }: // "decoding failed due to…: %w"
			addDecodeErrors(p, u.Unwrap())
		default:
			p.add("config", err)
		}
		return
	}
	inner := de.Unwrap()
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(inner, &pe):
		inner = fmt.Errorf("cannot parse %q as %s", fmt.Sprint(pe.Value), pe.Expected.Type())
	case errors.As(inner, &ue):
		inner = fmt.Errorf("want %s, got %s", friendlyType(ue.Expected.Type()), friendlyValue(ue.Value))
	}
	p.addUndecodable(de.Name(), inner)
}

func friendlyType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as \"5m\""
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		return "an object"
	}
	return t.String()
}

func friendlyValue(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("string %q", v)
	}
	return fmt.Sprintf("%T %v", v, v)
}

// serverKeys are top-level keys of CoreScope's config.json that only the web
// server reads; they are ignored without a word.
var serverKeys = []string{
	"port", "apiKey", "nodeBlacklist", "https", "branding", "theme", "nodeColors",
	"home", "healthThresholds", "defaultRegion", "mapDefaults", "regions", "cacheTTL",
	"liveMap", "timestamps", "packetStore", "resolvedPath", "neighborGraph",
	"batteryThresholds", "analytics",
	// Added at CoreScope HEAD (a06ac8ac).
	"hiddenNamePrefixes", "listLimits", "corsAllowedOrigins", "markerStroke", "map",
	"areas", "observersCache", "knownChannelsUrl", "knownChannelsRefreshMs",
	"compression", "customizer",
}

// reportUnknownKeys turns unused key paths into problems. Keys starting with
// "_comment" are CoreScope's comments and always allowed. Inside the sections
// we own every other unknown key is an error. At the top level the file is
// shared with CoreScope's server, so an unknown key is an error only when it
// looks like a misspelling of one of our keys.
func reportUnknownKeys(p *problems, unused []string, log *slog.Logger) {
	slices.Sort(unused)
	seen := map[string]bool{}
	for _, key := range unused {
		if seen[key] {
			continue
		}
		seen[key] = true
		parent, last := splitKeyPath(key)
		if strings.HasPrefix(last, "_comment") {
			continue
		}
		known := knownKeys(parent)
		if parent == "" {
			if slices.ContainsFunc(serverKeys, func(k string) bool { return strings.EqualFold(k, last) }) {
				continue
			}
			s := suggest(last, known)
			if s == "" {
				log.Debug("ignoring config key not used by the ingestor", "key", last)
				continue
			}
			p.addf(key, "unknown key (did you mean %q?)", s)
			continue
		}
		if s := suggest(last, known); s != "" {
			p.addf(key, "unknown key (did you mean %q?)", s)
		} else {
			p.addf(key, "unknown key (known keys: %s)", strings.Join(known, ", "))
		}
	}
}

// splitKeyPath splits "a.b[1].c" into "a.b[1]" and "c".
func splitKeyPath(key string) (parent, last string) {
	i := strings.LastIndex(key, ".")
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

// knownKeys returns the keys of the struct at the key path parent ("" is
// the top level), in declaration order.
func knownKeys(parent string) []string {
	t := reflect.TypeOf(Config{})
	if parent != "" {
		for _, seg := range strings.Split(parent, ".") {
			name, _, _ := strings.Cut(seg, "[")
			f, ok := fieldByTag(t, name)
			if !ok {
				return nil
			}
			t = f.Type
			if strings.Contains(seg, "[") && t.Kind() == reflect.Slice {
				t = t.Elem()
			}
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if strings.EqualFold(t.Field(i).Tag.Get("koanf"), tag) {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// unknownKeys walks the raw config map against the struct type t and
// returns the key paths with no matching field, in mapstructure's form
// (a.b, list[2].c). Maps with free keys are not entered.
func unknownKeys(raw any, t reflect.Type, path string) []string {
	m, ok := raw.(map[string]any)
	if !ok || t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for k, v := range m {
		p := k
		if path != "" {
			p = path + "." + k
		}
		f, ok := fieldByTag(t, k)
		if !ok {
			out = append(out, p)
			continue
		}
		ft := f.Type
		if f.Tag.Get("koanf") != k {
			p = strings.TrimSuffix(p, k) + f.Tag.Get("koanf")
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, unknownKeys(v, ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			if list, ok := v.([]any); ok {
				for i, e := range list {
					out = append(out, unknownKeys(e, ft.Elem(), fmt.Sprintf("%s[%d]", p, i))...)
				}
			}
		}
	}
	return out
}

// suggest returns the candidate nearest to key by case-insensitive edit
// distance, or "" when none is close enough to be a likely misspelling.
func suggest(key string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(key), strings.ToLower(c))
		if bestD < 0 || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(key) < 5 {
		limit = 1
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ChannelKeys merges the configured channel keys in CoreScope's three
// layers, each overriding the previous: the rainbow file at ChannelKeysPath
// (optional), keys derived from HashChannels, then ChannelKeysHex. Names are
// normalised with meshcore.NormalizeChannelName ("public" is "Public");
// within one layer the canonical spelling wins a collision. The result is
// sorted by name and does not include the built-in keys (DecoderOptions
// adds them). Errors name the key path and never contain key material.
func (c *Config) ChannelKeys() ([]meshcore.ChannelKey, error) {
	var p problems
	keys, _ := c.channelKeys(&p)
	return keys, errors.Join(p.errs...)
}

// DecoderOptions returns the decoder options the daemon uses, so that the
// decode subcommand decodes exactly as the daemon stores: the configured
// channel keys, then extra (the decode subcommand's -key and -hashtag,
// which win over configured keys of the same name), then the built-in ones
// (meshcore.BuiltinKeys, lowest priority), the hashRegions keys, and
// signature verification. A channel name dropped by normalisation is
// logged as a warning.
func (c *Config) DecoderOptions(log *slog.Logger, extra ...meshcore.ChannelKey) (meshcore.Options, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var p problems
	keys, dropped := c.channelKeys(&p)
	if len(p.errs) > 0 {
		return meshcore.Options{}, &configError{err: errors.Join(p.errs...)}
	}
	for _, d := range dropped {
		log.Warn("channel key ignored: another key of the same layer has the canonical spelling of its name",
			"channel", d, "canonical", meshcore.NormalizeChannelName(d))
	}
	return meshcore.Options{
		Keys:             meshcore.NewKeyring(slices.Concat(keys, extra, meshcore.BuiltinKeys())),
		Regions:          meshcore.NewRegions(c.HashRegions),
		VerifySignatures: c.ValidateSignatures,
	}, nil
}

// channelKeys merges the layers (see ChannelKeys) and returns the original
// names of the keys that lost a collision after name normalisation.
func (c *Config) channelKeys(p *problems) (keys []meshcore.ChannelKey, dropped []string) {
	merged := map[string][16]byte{}
	layer := func(ks []meshcore.ChannelKey) {
		out, d := meshcore.NormalizeChannelKeys(ks)
		dropped = append(dropped, d...)
		for _, k := range out {
			merged[k.Name] = k.Key
		}
	}
	if c.ChannelKeysPath != "" {
		b, err := os.ReadFile(c.ChannelKeysPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			p.add("channelKeysPath", err)
		default:
			var file map[string]string
			if err := json.Unmarshal(b, &file); err != nil {
				// encoding/json quotes the offending character, which may
				// be part of a key: report the position only.
				var se *json.SyntaxError
				where := ""
				if errors.As(err, &se) {
					where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
				}
				p.addf("channelKeysPath", "%s: want a JSON object of name to hex key%s", c.ChannelKeysPath, where)
			}
			var ks []meshcore.ChannelKey
			for _, name := range slices.Sorted(maps.Keys(file)) {
				k, err := parseChannelKey(file[name])
				if err != nil {
					p.addf("channelKeysPath", "%s: key of %q: %v", c.ChannelKeysPath, name, err)
					continue
				}
				ks = append(ks, meshcore.ChannelKey{Name: name, Key: k})
			}
			layer(ks)
		}
	}
	var ks []meshcore.ChannelKey
	for i, name := range c.HashChannels {
		name = strings.TrimSpace(name)
		if name == "" || name == "#" {
			p.addf(fmt.Sprintf("hashChannels[%d]", i), "empty channel name")
			continue
		}
		name, k := meshcore.HashtagKey(name)
		ks = append(ks, meshcore.ChannelKey{Name: name, Key: k})
	}
	layer(ks)
	ks = nil
	for _, name := range slices.Sorted(maps.Keys(c.ChannelKeysHex)) {
		if strings.HasPrefix(name, "_comment") {
			continue
		}
		k, err := parseChannelKey(c.ChannelKeysHex[name])
		if err != nil {
			p.add("channelKeys."+name, err)
			continue
		}
		ks = append(ks, meshcore.ChannelKey{Name: name, Key: k})
	}
	layer(ks)
	keys = make([]meshcore.ChannelKey, 0, len(merged))
	for name, k := range merged {
		keys = append(keys, meshcore.ChannelKey{Name: name, Key: k})
	}
	slices.SortFunc(keys, func(a, b meshcore.ChannelKey) int { return strings.Compare(a.Name, b.Name) })
	return keys, dropped
}

// parseChannelKey decodes a 32-hex-character (16-byte) channel key,
// surrounding spaces ignored. Its errors never echo the key.
func parseChannelKey(s string) ([16]byte, error) {
	return meshcore.ParseKeyHex(strings.TrimSpace(s))
}

// SlogLevel returns LogLevel as a slog level (info when unset; normalize
// accepts only debug, info, warn and error).
func (c *Config) SlogLevel() slog.Level {
	var l slog.Level // info
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// redactedValue replaces a secret in printed configs.
const redactedValue = "<redacted>"

// redacted returns a copy of c with passwords, bearer tokens and channel
// keys replaced by "<redacted>" (empty secrets stay empty, so the output
// shows whether one is set).
func (c *Config) redacted() *Config {
	r := *c
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return redactedValue
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
