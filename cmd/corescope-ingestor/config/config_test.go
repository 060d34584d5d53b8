package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/statsfile"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// writeConfig writes content to name in a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testLogger returns a logger writing into buf.
func testLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustLoad(t *testing.T, path string, environ []string) *Config {
	t.Helper()
	var logs bytes.Buffer
	c, err := Load(path, true, environ, testLogger(&logs))
	if err != nil {
		t.Fatalf("Load(%s): %v\nlogs:\n%s", path, err, logs.String())
	}
	return c
}

// assertProblems checks that err is a *Error and that, for each want
// entry "key: text", some line of the message starts with "key: " and
// contains text.
func assertProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want errors %q, got none", want)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *Error: %v", err, err)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		key, text, _ := strings.Cut(w, ": ")
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, key+": ") && strings.Contains(l, text) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no line %q in:\n%s", w, err)
		}
	}
}

func TestLoadConfigYAMLAndJSON(t *testing.T) {
	const yamlText = `
dbPath: /var/lib/corescope/meshcore.db
mqttSources:
  - name: eu
    broker: mqtts://broker.example.org:8883
    username: ingest
    password: pw
    topics: [meshcore/+/+/packets, meshcore/+/+/status]
    qos: 0
    clientId: fixed-id
    cleanSession: false
    stallAfter: 90s
    keepAlive: 1m
retention:
  packetDays: 45
  observerDays: -1
jobs:
  prunePackets:
    schedule: "CRON_TZ=Europe/Paris 30 3 * * *"
    chunkRows: 100
  historyPerJob: 10
http:
  listen: ""
ingest:
  batchDelay: 250ms
hashChannels: "#a,#b"
`
	const jsonText = `{
  "dbPath": "/var/lib/corescope/meshcore.db",
  "mqttSources": [{
    "name": "eu", "broker": "mqtts://broker.example.org:8883",
    "username": "ingest", "password": "pw",
    "topics": ["meshcore/+/+/packets", "meshcore/+/+/status"],
    "qos": 0, "clientId": "fixed-id", "cleanSession": false,
    "stallAfter": "90s", "keepAlive": "1m"
  }],
  "retention": {"packetDays": 45, "observerDays": -1},
  "jobs": {"prunePackets": {"schedule": "CRON_TZ=Europe/Paris 30 3 * * *", "chunkRows": 100}, "historyPerJob": 10},
  "http": {"listen": ""},
  "ingest": {"batchDelay": "250ms"},
  "hashChannels": ["#a", "#b"]
}`
	dir := t.TempDir()
	var configs []*Config
	for name, text := range map[string]string{"c.yaml": yamlText, "c.yml": yamlText, "c.json": jsonText} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c := mustLoad(t, path, nil)
		configs = append(configs, c)

		s := c.MQTTSources[0]
		if len(c.MQTTSources) != 1 || s.Name != "eu" || s.QoS != 0 || s.ClientID != "fixed-id" ||
			s.CleanSession || s.StallAfter != 90*time.Second || s.KeepAlive != time.Minute ||
			s.ConnectTimeoutSec != mqtt.DefaultConnectTimeoutSec || !strings.HasPrefix(s.Broker, "mqtts://broker.example.org:8883") {
			t.Errorf("%s: source = %+v", name, s)
		}
		j := c.Jobs.PrunePackets
		if !j.Enabled || j.Days != 45 || c.Retention.PacketDays != 45 || j.ChunkRows != 100 ||
			j.ChunkBudget != maintenance.DefaultChunkBudget || j.Timeout != maintenance.DefaultLongJobTimeout {
			t.Errorf("%s: prunePackets = %+v", name, j)
		}
		if c.Jobs.StaleObservers.Enabled || c.Jobs.StaleObservers.Days != maintenance.KeepObserversForever {
			t.Errorf("%s: staleObservers = %+v, want disabled with days -1", name, c.Jobs.StaleObservers)
		}
		if c.HTTP.Listen != "" || c.Ingest.BatchDelay != 250*time.Millisecond || c.Ingest.BatchSize != etl.DefaultBatchSize ||
			c.Jobs.HistoryPerJob != 10 || !reflect.DeepEqual(c.HashChannels, []string{"#a", "#b"}) {
			t.Errorf("%s: config = %+v", name, c)
		}
	}
	for _, c := range configs[1:] {
		if !reflect.DeepEqual(c, configs[0]) {
			t.Errorf("YAML and JSON differ:\n%+v\n%+v", c, configs[0])
		}
	}
}

func TestLoadConfigCoreScopeExample(t *testing.T) {
	var logs bytes.Buffer
	c, err := Load("../../../testdata/corescope-config.example.json", true, nil, testLogger(&logs))
	if err != nil {
		t.Fatalf("CoreScope's example config must load unchanged: %v", err)
	}
	if len(c.MQTTSources) != 2 {
		t.Fatalf("sources = %+v", c.MQTTSources)
	}
	local, linco := c.MQTTSources[0], c.MQTTSources[1]
	if local.Name != "local" || local.Broker != "mqtt://localhost:1883" ||
		!reflect.DeepEqual(local.Topics, []string{"meshcore/+/+/packets", "meshcore/#"}) || local.QoS != mqtt.DefaultQoS {
		t.Errorf("local = %+v", local)
	}
	if linco.Name != "lincomatic" || linco.Broker != "mqtts://mqtt.lincomatic.com:8883" ||
		linco.RejectUnauthorized == nil || *linco.RejectUnauthorized || linco.ConnectTimeoutSec != 45 ||
		linco.Region != "SJC" || !reflect.DeepEqual(linco.IATAFilter, []string{"SJC", "SFO", "OAK", "MRY"}) ||
		linco.Username != "your-username" || linco.Password != "your-password" {
		t.Errorf("lincomatic = %+v", linco)
	}
	if c.Retention != (RetentionConfig{NodeDays: 7, ObserverDays: 14, MetricsDays: 30, PacketDays: 30}) ||
		!c.Jobs.PrunePackets.Enabled || c.Jobs.PrunePackets.Days != 30 {
		t.Errorf("retention = %+v, prunePackets = %+v", c.Retention, c.Jobs.PrunePackets)
	}
	if len(c.GeoFilter.Polygon) != 4 || c.GeoFilter.BufferKm != 20 || c.GeoFilter.Geo().Filter() == nil || c.ForeignAdverts.Mode != "flag" {
		t.Errorf("geo = %+v", c.GeoFilter)
	}
	keys, err := c.ChannelKeys()
	if err != nil || len(keys) != 10 {
		t.Errorf("channel keys = %d, %v; want 10 (Public + 9 hash channels)", len(keys), err)
	}
	if c.ChannelKeysPath != filepath.Join("../../../testdata", DefaultChannelKeysFile) {
		t.Errorf("channelKeysPath = %q", c.ChannelKeysPath)
	}
}

// TestReferenceConfigs keeps etc/ honest: both files load and validate, and
// the annotated YAML states exactly the built-in defaults.
func TestReferenceConfigs(t *testing.T) {
	ref := mustLoad(t, "../../../etc/corescope-ingestor.yaml", nil)
	mustLoad(t, "../../../etc/config.example.json", nil)

	def, err := Load(filepath.Join(t.TempDir(), "config.json"), false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ref.MQTTSources[0].Broker; got != "mqtt://127.0.0.1:1883" {
		t.Errorf("reference broker = %q", got)
	}
	ref.MQTTSources[0].Broker = def.MQTTSources[0].Broker
	ref.ChannelKeysPath = def.ChannelKeysPath
	if !reflect.DeepEqual(ref, def) {
		a, _ := ref.YAML()
		b, _ := def.YAML()
		t.Errorf("etc/corescope-ingestor.yaml does not state the defaults:\n--- reference\n%s\n--- defaults\n%s", a, b)
	}
}

func TestLoadConfigZeroConfig(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	c, err := Load(filepath.Join(dir, DefaultPath), false, nil, testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "config file not found, using defaults") {
		t.Errorf("missing zero-config log line in:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "no MQTT sources configured") {
		t.Errorf("missing default-source log line in:\n%s", logs.String())
	}
	if c.DBPath != DefaultDBPath || c.HTTP.Listen != jobs.DefaultListen || c.Stats.File != statsfile.DefaultPath ||
		c.Jobs.PrunePackets.Enabled || !c.Jobs.StaleNodes.Enabled || c.Jobs.StaleNodes.Days != maintenance.DefaultNodeDays ||
		c.Jobs.Vacuum.Pages != maintenance.DefaultVacuumPages || c.Jobs.Vacuum.Schedule != "" || !c.ValidateSignatures {
		t.Errorf("defaults = %+v", c)
	}
	s := c.MQTTSources[0]
	if len(c.MQTTSources) != 1 || s.Name != "local" || s.Broker != DefaultLocalBroker ||
		!reflect.DeepEqual(s.Topics, []string{mqtt.DefaultTopic}) || s.QoS != mqtt.DefaultQoS || s.CleanSession ||
		!strings.HasPrefix(s.ClientID, "csi-") {
		t.Errorf("default source = %+v", s)
	}
	if c.ChannelKeysPath != filepath.Join(dir, DefaultChannelKeysFile) {
		t.Errorf("channelKeysPath = %q", c.ChannelKeysPath)
	}

	// The same missing file given with -config is an error.
	_, err = Load(filepath.Join(dir, DefaultPath), true, nil, nil)
	assertProblems(t, err, filepath.Join(dir, DefaultPath)+": config file not found")
}

func TestLoadConfigEnv(t *testing.T) {
	const file = `{"dbPath": "from-file.db", "mqttSources": [{"name": "file", "broker": "mqtt://file:1883"}], "stats": {"file": "/tmp/from-file.json"}}`
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *Config)
	}{
		{"DB_PATH", []string{"DB_PATH=/data/env.db"}, func(t *testing.T, c *Config) {
			if c.DBPath != "/data/env.db" {
				t.Errorf("dbPath = %q", c.DBPath)
			}
		}},
		{"empty DB_PATH is ignored", []string{"DB_PATH="}, func(t *testing.T, c *Config) {
			if c.DBPath != "from-file.db" {
				t.Errorf("dbPath = %q", c.DBPath)
			}
		}},
		{"named variable wins over CORESCOPE_", []string{"CORESCOPE_DBPATH=generic.db", "DB_PATH=named.db"}, func(t *testing.T, c *Config) {
			if c.DBPath != "named.db" {
				t.Errorf("dbPath = %q", c.DBPath)
			}
		}},
		{"MQTT_BROKER and MQTT_TOPIC", []string{"MQTT_BROKER=mqtts://env:8883", "MQTT_TOPIC=meshcore/SJC/#"}, func(t *testing.T, c *Config) {
			s := c.MQTTSources
			if len(s) != 1 || s[0].Name != "env" || s[0].Broker != "mqtts://env:8883" ||
				!reflect.DeepEqual(s[0].Topics, []string{"meshcore/SJC/#"}) || s[0].QoS != mqtt.DefaultQoS {
				t.Errorf("sources = %+v", s)
			}
		}},
		{"MQTT_BROKER alone", []string{"MQTT_BROKER=tcp://env:1883"}, func(t *testing.T, c *Config) {
			s := c.MQTTSources
			if len(s) != 1 || s[0].Name != "env" || !reflect.DeepEqual(s[0].Topics, []string{mqtt.DefaultTopic}) {
				t.Errorf("sources = %+v", s)
			}
		}},
		{"MQTT_TOPIC alone is ignored", []string{"MQTT_TOPIC=x/#"}, func(t *testing.T, c *Config) {
			if c.MQTTSources[0].Name != "file" || c.MQTTSources[0].Topics[0] != mqtt.DefaultTopic {
				t.Errorf("sources = %+v", c.MQTTSources)
			}
		}},
		{"CORESCOPE_INGESTOR_STATS", []string{"CORESCOPE_INGESTOR_STATS=/run/stats.json"}, func(t *testing.T, c *Config) {
			if c.Stats.File != "/run/stats.json" {
				t.Errorf("stats.file = %q", c.Stats.File)
			}
		}},
		{"CHANNEL_KEYS_PATH", []string{"CHANNEL_KEYS_PATH=/etc/keys.json"}, func(t *testing.T, c *Config) {
			if c.ChannelKeysPath != "/etc/keys.json" {
				t.Errorf("channelKeysPath = %q", c.ChannelKeysPath)
			}
		}},
		{"CORESCOPE_RETENTION__PACKETDAYS", []string{"CORESCOPE_RETENTION__PACKETDAYS=30"}, func(t *testing.T, c *Config) {
			if c.Retention.PacketDays != 30 || c.Jobs.PrunePackets.Days != 30 || !c.Jobs.PrunePackets.Enabled {
				t.Errorf("retention = %+v, prunePackets = %+v", c.Retention, c.Jobs.PrunePackets)
			}
		}},
		{"case-insensitive nested key", []string{"CORESCOPE_jobs__PrunePackets__Schedule=@every 6h", "CORESCOPE_JOBS__PRUNEPACKETS__TIMEOUT=1h"}, func(t *testing.T, c *Config) {
			if c.Jobs.PrunePackets.Schedule != "@every 6h" || c.Jobs.PrunePackets.Timeout != time.Hour {
				t.Errorf("prunePackets = %+v", c.Jobs.PrunePackets)
			}
		}},
		{"empty value disables http", []string{"CORESCOPE_HTTP__LISTEN="}, func(t *testing.T, c *Config) {
			if c.HTTP.Listen != "" {
				t.Errorf("http.listen = %q", c.HTTP.Listen)
			}
		}},
		{"list of strings", []string{"CORESCOPE_HASHCHANNELS=#a,#b", "CORESCOPE_GEO_FILTER__BUFFERKM=12.5"}, func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.HashChannels, []string{"#a", "#b"}) || c.GeoFilter.BufferKm != 12.5 {
				t.Errorf("hashChannels = %q, bufferKm = %v", c.HashChannels, c.GeoFilter.BufferKm)
			}
		}},
		{"JSON value", []string{`CORESCOPE_MQTTSOURCES=[{"name":"j","broker":"ws://j:9001","qos":2}]`}, func(t *testing.T, c *Config) {
			s := c.MQTTSources
			if len(s) != 1 || s[0].Name != "j" || s[0].QoS != 2 || s[0].Broker != "ws://j:9001" {
				t.Errorf("sources = %+v", s)
			}
		}},
		{"unrelated variables are ignored", []string{"HOME=/root", "PATH=/bin", "CORESCOPE=1"}, func(t *testing.T, c *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "config.json", file)
			tt.check(t, mustLoad(t, path, tt.env))
		})
	}
}

func TestLoadConfigEnvErrors(t *testing.T) {
	path := writeConfig(t, "config.json", `{}`)
	_, err := Load(path, true, []string{
		"CORESCOPE_RETENTION__PACKETDAY=30",
		"CORESCOPE_MQTTSOURCES=not json",
		"CORESCOPE_INGEST__BATCHSIZE=many",
	}, nil)
	assertProblems(t, err,
		"CORESCOPE_RETENTION__PACKETDAY: unknown environment variable (did you mean CORESCOPE_RETENTION__PACKETDAYS?)",
		"CORESCOPE_MQTTSOURCES: must be JSON",
		`ingest.batchSize: cannot parse "many" as int`,
	)
}

func TestLoadConfigLegacyMQTT(t *testing.T) {
	tests := []struct {
		name, file string
		want       []SourceConfig // name, broker, topics compared
	}{
		{"topic", `{"mqtt": {"broker": "mqtt://old:1883", "topic": "meshcore/+/+/packets"}}`,
			[]SourceConfig{{Name: "default", Broker: "mqtt://old:1883", Topics: []string{"meshcore/+/+/packets"}}}},
		{"no topic subscribes to meshcore/# only", `{"mqtt": {"broker": "mqtt://old:1883", "topic": ""}}`,
			[]SourceConfig{{Name: "default", Broker: "mqtt://old:1883", Topics: []string{mqtt.DefaultTopic}}}},
		{"mqttSources win", `{"mqtt": {"broker": "mqtt://old:1883"}, "mqttSources": [{"broker": "mqtt://new:1883"}]}`,
			[]SourceConfig{{Name: "mqtt://new:1883", Broker: "mqtt://new:1883", Topics: []string{mqtt.DefaultTopic}}}},
		{"name defaults to the broker URL without credentials", `{"mqttSources": [{"broker": "mqtt://u:p@new:1883"}]}`,
			[]SourceConfig{{Name: "mqtt://new:1883", Broker: "mqtt://u:p@new:1883", Topics: []string{mqtt.DefaultTopic}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, writeConfig(t, "config.json", tt.file), nil)
			var got []SourceConfig
			for _, s := range c.MQTTSources {
				got = append(got, SourceConfig{Name: s.Name, Broker: s.Broker, Topics: s.Topics})
				if s.QoS != mqtt.DefaultQoS || s.ClientID == "" || s.CleanSession {
					t.Errorf("source defaults not applied: %+v", s)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sources = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The defaults are a persistent session with QoS 1 subscriptions and a
// stable client id per host, database and source (issue #14 item 4).
func TestLoadConfigClientID(t *testing.T) {
	saved := hostname
	t.Cleanup(func() { hostname = saved })
	hostname = func() (string, error) { return "box.lan", nil }
	file := `
dbPath: data/meshcore.db
mqttSources:
  - {name: local, broker: "mqtt://127.0.0.1:1883", cleanSession: true}
  - {broker: "mqtts://b.example:8883"}
  - {name: x, broker: "mqtt://127.0.0.1:1883", clientId: mine}
`
	c := mustLoad(t, writeConfig(t, "c.yaml", file), nil)
	abs, err := filepath.Abs("data/meshcore.db")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		mqtt.DefaultClientID("box.lan", abs, "local"),
		mqtt.DefaultClientID("box.lan", abs, "mqtts://b.example:8883"),
		"mine",
	}
	for i, s := range c.MQTTSources {
		if s.ClientID != want[i] {
			t.Errorf("source %d clientId = %q, want %q", i, s.ClientID, want[i])
		}
		if len(s.ClientID) > 23 {
			t.Errorf("source %d clientId %q is longer than MQTT 3.1.1's safe 23 characters", i, s.ClientID)
		}
	}
	if again := mustLoad(t, writeConfig(t, "c.yaml", file), nil); again.MQTTSources[0].ClientID != want[0] {
		t.Errorf("client id not stable across loads: %q", again.MQTTSources[0].ClientID)
	}
	other := mustLoad(t, writeConfig(t, "c.yaml", strings.Replace(file, "data/meshcore.db", "other.db", 1)), nil)
	if other.MQTTSources[0].ClientID == want[0] {
		t.Errorf("two databases share client id %q", want[0])
	}
	if !c.MQTTSources[0].CleanSession || c.MQTTSources[1].CleanSession {
		t.Errorf("cleanSession not kept/defaulted")
	}
	mc := c.MQTTSources[1].MQTTConfig()
	if mc.CleanSession || mc.QoS != 1 || mc.ClientID != want[1] || mc.Broker != "mqtts://b.example:8883" {
		t.Errorf("mqtt config = %+v; want a persistent session, QoS 1, the generated id", mc)
	}
	if err := mc.Validate(); err != nil {
		t.Errorf("default source does not validate: %v", err)
	}
}

func TestLoadConfigLegacyAndJobOptions(t *testing.T) {
	tests := []struct {
		name, file string
		check      func(t *testing.T, c *Config)
	}{
		{"legacy only", `{"retention": {"nodeDays": 3, "metricsDays": 0}, "db": {"incrementalVacuumPages": 99, "vacuumOnStartup": true}}`,
			func(t *testing.T, c *Config) {
				if c.Jobs.StaleNodes.Days != 3 || c.Jobs.PruneMetrics.Days != maintenance.DefaultMetricsDays ||
					c.Jobs.Vacuum.Pages != 99 || !c.Jobs.Vacuum.OnStartup || c.Retention.MetricsDays != maintenance.DefaultMetricsDays {
					t.Errorf("jobs = %+v", c.Jobs)
				}
			}},
		{"job only, legacy mirrors", `{"jobs": {"staleNodes": {"days": 5}, "vacuum": {"pages": 10, "onStartup": true}, "prunePackets": {"days": 9}}}`,
			func(t *testing.T, c *Config) {
				if c.Retention.NodeDays != 5 || c.DB.IncrementalVacuumPages != 10 || !c.DB.VacuumOnStartup ||
					c.Retention.PacketDays != 9 || !c.Jobs.PrunePackets.Enabled {
					t.Errorf("retention = %+v, db = %+v", c.Retention, c.DB)
				}
			}},
		{"both set and equal", `{"retention": {"packetDays": 30}, "jobs": {"prunePackets": {"days": 30}}}`,
			func(t *testing.T, c *Config) {
				if c.Jobs.PrunePackets.Days != 30 {
					t.Errorf("prunePackets = %+v", c.Jobs.PrunePackets)
				}
			}},
		{"0 means the default on both sides", `{"retention": {"nodeDays": 0}, "jobs": {"staleNodes": {"days": 7}}}`,
			func(t *testing.T, c *Config) {
				if c.Jobs.StaleNodes.Days != 7 {
					t.Errorf("staleNodes = %+v", c.Jobs.StaleNodes)
				}
			}},
		{"prune disabled explicitly", `{"retention": {"packetDays": 30}, "jobs": {"prunePackets": {"enabled": false}}}`,
			func(t *testing.T, c *Config) {
				if c.Jobs.PrunePackets.Enabled || c.Jobs.PrunePackets.Days != 30 {
					t.Errorf("prunePackets = %+v", c.Jobs.PrunePackets)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustLoad(t, writeConfig(t, "config.json", tt.file), nil))
		})
	}
}

func TestLoadConfigLenientKeys(t *testing.T) {
	// CoreScope comments anywhere, server-only keys, unknown top-level keys
	// unlike ours, null values and empty YAML sections are all accepted.
	c := mustLoad(t, writeConfig(t, "c.yaml", `
_comment: top
port: 3000
someFutureServerKey: {a: 1}
retention:
  _comment: inside an owned section
  packetDays: 3
jobs:
  # every job commented out
http: ~
mqttSources:
  - broker: mqtt://127.0.0.1:1883
    _comment_topics: per source
channelKeys:
  _comment: not a key
validateSignatures: null
`), nil)
	if c.Retention.PacketDays != 3 || c.HTTP.Listen != jobs.DefaultListen || !c.ValidateSignatures ||
		c.Jobs.StaleNodes.Schedule != "@hourly" {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string // YAML
		want []string
	}{
		{"misspelled owned key", "retention:\n  packetDay: 30\n",
			[]string{`retention.packetDay: unknown key (did you mean "packetDays"?)`}},
		{"misspelled job option", "jobs:\n  prunePackets:\n    shedule: '@daily'\n",
			[]string{`jobs.prunePackets.shedule: unknown key (did you mean "schedule"?)`}},
		{"misspelled job", "jobs:\n  pruneMetric: {}\n",
			[]string{`jobs.pruneMetric: unknown key (did you mean "pruneMetrics"?)`}},
		{"unknown key far from any", "http:\n  tls: true\n",
			[]string{`http.tls: unknown key (known keys: listen, username, password, bearerToken, pprof)`}},
		{"misspelled top-level key", "dbPaht: x.db\n",
			[]string{`dbPaht: unknown key (did you mean "dbPath"?)`}},
		{"unknown source key", "mqttSources:\n  - broker: mqtt://h:1\n    toppics: [a]\n",
			[]string{`mqttSources[0].toppics: unknown key (did you mean "topics"?)`}},
		{"bad cron descriptor", "jobs:\n  prunePackets:\n    schedule: '@dailyy'\n",
			[]string{`jobs.prunePackets.schedule: parse "@dailyy": unrecognized descriptor`}},
		{"bad cron fields", "jobs:\n  staleNodes:\n    schedule: '61 * * * *'\n",
			[]string{`jobs.staleNodes.schedule: parse "61 * * * *"`}},
		{"seconds field is not accepted", "jobs:\n  staleNodes:\n    schedule: '0 0 * * * *'\n",
			[]string{`jobs.staleNodes.schedule: parse "0 0 * * * *"`}},
		{"bad CRON_TZ", "jobs:\n  walCheckpoint:\n    schedule: 'CRON_TZ=Mars/Olympus 0 3 * * *'\n",
			[]string{`jobs.walCheckpoint.schedule: parse "CRON_TZ=Mars/Olympus 0 3 * * *"`}},
		{"CRON_TZ without a schedule", "jobs:\n  walCheckpoint:\n    schedule: 'CRON_TZ=UTC'\n",
			[]string{`jobs.walCheckpoint.schedule: parse "CRON_TZ=UTC": missing schedule after the time zone`}},
		{"@every under a second", "jobs:\n  walCheckpoint:\n    schedule: '@every 0s'\n",
			[]string{`jobs.walCheckpoint.schedule: parse "@every 0s": @every 0s: the shortest interval is 1s`}},
		{"never fires", "jobs:\n  walCheckpoint:\n    schedule: '0 0 30 2 *'\n",
			[]string{`jobs.walCheckpoint.schedule: parse "0 0 30 2 *": the schedule never fires`}},
		{"empty schedule", "jobs:\n  staleNodes:\n    schedule: ''\n",
			[]string{`jobs.staleNodes.schedule: required`}},
		{"negative node days", "retention:\n  nodeDays: -1\n",
			[]string{`retention.nodeDays: must be ≥ 0`}},
		{"observer days below -1", "retention:\n  observerDays: -2\n",
			[]string{`retention.observerDays: must be ≥ -1`}},
		{"negative job days", "jobs:\n  prunePackets:\n    days: -3\n",
			[]string{`jobs.prunePackets.days: must be ≥ 0 (0 means keep packets forever)`}},
		{"legacy and job disagree", "retention:\n  packetDays: 10\njobs:\n  prunePackets:\n    days: 30\n",
			[]string{`jobs.prunePackets.days: 30 disagrees with retention.packetDays: 10`}},
		{"legacy and vacuum disagree", "db:\n  incrementalVacuumPages: 10\n  vacuumOnStartup: true\njobs:\n  vacuum:\n    pages: 20\n    onStartup: false\n",
			[]string{`jobs.vacuum.pages: 20 disagrees with db.incrementalVacuumPages: 10`,
				`jobs.vacuum.onStartup: false disagrees with db.vacuumOnStartup: true`}},
		{"enabled prune without days", "jobs:\n  prunePackets:\n    enabled: true\n",
			[]string{`jobs.prunePackets.enabled: cannot be true while retention.packetDays is 0`}},
		{"option of another job", "jobs:\n  walCheckpoint:\n    pages: 5\n",
			[]string{`jobs.walCheckpoint.pages: not an option of the walCheckpoint job`}},
		{"days on the vacuum job", "jobs:\n  vacuum:\n    days: 5\n",
			[]string{`jobs.vacuum.days: not an option of the vacuum job (it applies to staleNodes, staleObservers, pruneMetrics, prunePackets, pruneClientReceptions, pruneNeighborEdges)`}},
		{"misplaced option, any case", "jobs:\n  backup:\n    OnStartup: true\n  reprocess:\n    keep: 3\n",
			[]string{`jobs.backup.OnStartup: not an option of the backup job (it applies to vacuum)`,
				`jobs.reprocess.keep: not an option of the reprocess job (it applies to backup)`}},
		{"bare number for a duration", "jobs:\n  staleNodes:\n    timeout: 300\n",
			[]string{`jobs.staleNodes.timeout: 300 is not a duration`}},
		{"bad duration", "ingest:\n  batchDelay: soon\n",
			[]string{`ingest.batchDelay: time: invalid duration`}},
		{"fractional integer", "ingest:\n  batchSize: 1.5\n",
			[]string{`ingest.batchSize: 1.5 is not an integer`}},
		{"wrong type", "retention: 5\nhashChannels: {a: 1}\n",
			[]string{`retention: expected a map`, `hashChannels[0]: want string, got an object`}},
		{"broker without scheme", "mqttSources:\n  - broker: localhost:1883\n",
			[]string{`mqttSources[0].broker: `}},
		{"non-positive sizes", "ingest:\n  queueSize: 0\n  shutdownTimeout: -1s\nstats:\n  interval: 0s\njobs:\n  historyPerJob: 0\n  vacuum:\n    chunkRows: 0\n",
			[]string{`ingest.queueSize: must be > 0`, `ingest.shutdownTimeout: must be > 0`, `stats.interval: must be > 0`,
				`jobs.historyPerJob: must be > 0`, `jobs.vacuum.chunkRows: must be > 0`}},
		{"unknown URL scheme", "mqttSources:\n  - broker: mqtt://ok:1883\n  - broker: http://web:80\n",
			[]string{`mqttSources[1].broker: unsupported scheme "http"`}},
		{"missing broker", "mqttSources:\n  - name: x\n",
			[]string{`mqttSources[0].broker: required`}},
		{"missing host", "mqttSources:\n  - broker: 'mqtt://'\n",
			[]string{`mqttSources[0].broker: missing host`}},
		{"duplicate source names", "mqttSources:\n  - {name: a, broker: 'mqtt://h:1'}\n  - {name: a, broker: 'mqtt://h:2'}\n",
			[]string{`mqttSources[1].name: duplicate source name "a" (also mqttSources[0])`}},
		{"duplicate default names", "mqttSources:\n  - {broker: 'mqtt://h:1'}\n  - {broker: 'mqtt://h:1', topics: [x]}\n",
			[]string{`mqttSources[1].name: duplicate source name "mqtt://h:1"`}},
		{"duplicate client ids", "mqttSources:\n  - {name: a, broker: 'mqtt://h:1', clientId: c}\n  - {name: b, broker: 'mqtt://h:1', clientId: c}\n",
			[]string{`mqttSources[1].clientId: duplicate client id "c"`}},
		{"bad qos", "mqttSources:\n  - {broker: 'mqtt://h:1', qos: 3}\n",
			[]string{`mqttSources[0].qos: must be 0, 1 or 2`}},
		{"bad topic", "mqttSources:\n  - {broker: 'mqtt://h:1', topics: ['meshcore/#/x', 'a+/b']}\n",
			[]string{`mqttSources[0].topics[0]: invalid topic`, `mqttSources[0].topics[1]: invalid topic`}},
		{"missing caFile", "mqttSources:\n  - {broker: 'mqtts://h:1', caFile: /nonexistent/ca.pem}\n",
			[]string{`mqttSources[0].caFile: stat /nonexistent/ca.pem`}},
		{"caFile without TLS", "mqttSources:\n  - {broker: 'mqtt://h:1', caFile: '" + caFile + "'}\n",
			[]string{`mqttSources[0].caFile: set for a broker without TLS`}},
		{"negative durations", "mqttSources:\n  - {broker: 'mqtt://h:1', stallAfter: -1s, keepAlive: 10ms, connectTimeoutSec: -1}\n",
			[]string{`mqttSources[0].stallAfter: must be ≥ 0`, `mqttSources[0].keepAlive: must be at least 1s`,
				`mqttSources[0].connectTimeoutSec: must be ≥ 0`}},
		{"password without username", "mqttSources:\n  - {broker: 'mqtt://h:1', password: p}\n",
			[]string{`mqttSources[0].password: set without username`}},
		{"malformed channel keys", "channelKeys:\n  Short: abcd\n  NotHex: zz3387e9c5cdea6ac9e5edbaa115cd72\n",
			[]string{`channelKeys.Short: must be 32 hex characters`, `channelKeys.NotHex: must contain only hex characters`}},
		{"empty hash channel", "hashChannels: ['#ok', '#']\n",
			[]string{`hashChannels[1]: empty channel name`}},
		{"geo polygon", "geo_filter:\n  polygon: [[1, 2], [3, 4]]\n",
			[]string{`geo_filter.polygon: want at least 3`}},
		{"geo point", "geo_filter:\n  polygon: [[91, 2], [3, 200], [1]]\n  bufferKm: -1\n",
			[]string{`geo_filter.polygon[0]: latitude 91 out of range`, `geo_filter.polygon[1]: longitude 200 out of range`,
				`geo_filter.polygon[2]: want [lat, lon], got 1 numbers`, `geo_filter.bufferKm: must be ≥ 0`}},
		{"geo box incomplete", "geo_filter:\n  latMin: 1\n  latMax: 2\n",
			[]string{`geo_filter: a box needs latMin, latMax, lonMin and lonMax (missing lonMin, lonMax)`}},
		{"geo box inverted", "geo_filter: {latMin: 2, latMax: 1, lonMin: 0, lonMax: 190}\n",
			[]string{`geo_filter.latMin: 2 is greater than latMax 1`, `geo_filter.lonMax: longitude 190 out of range`}},
		{"enums", "logLevel: verbose\nlogFormat: xml\nforeignAdverts:\n  mode: keep\n",
			[]string{`logLevel: must be one of debug, info, warn, error`, `logFormat: must be one of text, json`,
				`foreignAdverts.mode: must be one of flag, drop`}},
		{"http", "http:\n  listen: '9108'\n  username: u\n",
			[]string{`http.listen: want host:port`, `http.password: set both`}},
		{"negative sample interval", "metrics:\n  sampleIntervalSec: -5\n",
			[]string{`metrics.sampleIntervalSec: must be ≥ 0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, "c.yaml", tt.file), true, nil, nil)
			assertProblems(t, err, tt.want...)
		})
	}
}

// TestLoadConfigAllErrorsAtOnce checks that one load reports every problem,
// decode errors and unknown keys in failing sections included.
func TestLoadConfigAllErrorsAtOnce(t *testing.T) {
	path := writeConfig(t, "config.json", `{
  "retention": {"packetDay": 30, "nodeDays": "many"},
  "jobs": {"prunePackets": {"schedule": "@dailyy", "timeout": 5}, "staleNodes": {"shedule": "@hourly"}},
  "mqttSources": [{"broker": "mqtt://a:1"}, {"broker": "gopher://b:70"}],
  "channelKeys": {"Bad": "xyz"}
}`)
	_, err := Load(path, true, []string{"CORESCOPE_NOPE__X=1"}, nil)
	want := []string{
		`retention.packetDay: unknown key (did you mean "packetDays"?)`,
		`retention.nodeDays: cannot parse "many" as int`,
		`jobs.prunePackets.schedule: parse "@dailyy"`,
		`jobs.prunePackets.timeout: 5 is not a duration`,
		`jobs.staleNodes.shedule: unknown key (did you mean "schedule"?)`,
		`mqttSources[1].broker: unsupported scheme "gopher"`,
		`channelKeys.Bad: must be 32 hex characters`,
		`CORESCOPE_NOPE__X: unknown environment variable`,
	}
	assertProblems(t, err, want...)
	if n := len(strings.Split(err.Error(), "\n")); n != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", n, len(want), err)
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	bad := writeConfig(t, "config.json", "{\n  \"dbPath\": \"x\",\n  oops\n}")
	_, err := Load(bad, true, nil, nil)
	assertProblems(t, err, bad+": parse: line 3 column")

	badYAML := writeConfig(t, "c.yaml", "dbPath: [unclosed\n")
	_, err = Load(badYAML, true, nil, nil)
	assertProblems(t, err, badYAML+": parse: yaml")

	// Other extensions are JSON, as in CoreScope.
	toml := writeConfig(t, "c.toml", "a = 1\n")
	_, err = Load(toml, true, nil, nil)
	assertProblems(t, err, toml+": parse: line 1 column 1: invalid character 'a'")
	mustLoad(t, writeConfig(t, "config", `{"dbPath": "x.db"}`), nil)
}

func TestConfigChannelKeys(t *testing.T) {
	dir := t.TempDir()
	rainbow := filepath.Join(dir, "rainbow.json")
	if err := os.WriteFile(rainbow, []byte(`{"#test": "00000000000000000000000000000000", "#rain": "11111111111111111111111111111111"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	derived := func(name string) [16]byte {
		sum := sha256.Sum256([]byte(name))
		var k [16]byte
		copy(k[:], sum[:16])
		return k
	}
	hexKey := func(s string) [16]byte {
		var k [16]byte
		if _, err := hex.Decode(k[:], []byte(s)); err != nil {
			t.Fatal(err)
		}
		return k
	}
	c := &Config{
		ChannelKeysPath: rainbow,
		HashChannels:    []string{"test", "#bot"},
		ChannelKeysHex:  map[string]string{"Public": "8B3387E9C5CDEA6AC9E5EDBAA115CD72", "#bot": "22222222222222222222222222222222"},
	}
	keys, err := c.ChannelKeys()
	if err != nil {
		t.Fatal(err)
	}
	want := []meshcore.ChannelKey{
		{Name: "#bot", Key: hexKey("22222222222222222222222222222222")},  // explicit beats derived
		{Name: "#rain", Key: hexKey("11111111111111111111111111111111")}, // from the file
		{Name: "#test", Key: derived("#test")},                           // derived beats the file; '#' added
		{Name: "Public", Key: hexKey("8b3387e9c5cdea6ac9e5edbaa115cd72")},
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v\nwant   %v", keys, want)
	}

	// A missing rainbow file is fine; a malformed one is an error.
	c.ChannelKeysPath = filepath.Join(dir, "missing.json")
	if _, err := c.ChannelKeys(); err != nil {
		t.Errorf("missing rainbow file: %v", err)
	}
	if err := os.WriteFile(rainbow, []byte(`["not", "a map"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ChannelKeysPath = rainbow
	if _, err := c.ChannelKeys(); err == nil || !strings.HasPrefix(err.Error(), "channelKeysPath: ") {
		t.Errorf("malformed rainbow file: err = %v", err)
	}
}

func TestConfigSuggest(t *testing.T) {
	tests := []struct {
		key  string
		want string
	}{
		{"packetDay", "packetDays"},
		{"PACKETDAYS", "packetDays"},
		{"shedule", "schedule"},
		{"nothingLikeIt", ""},
		{"db", ""}, // exact keys are never unknown; short keys need distance ≤ 1
	}
	for _, tt := range tests {
		if got := suggest(tt.key, []string{"packetDays", "nodeDays", "schedule"}); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
