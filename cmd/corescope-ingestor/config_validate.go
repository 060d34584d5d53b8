package main

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ zones resolve even on hosts without a zoneinfo database

	"github.com/corescope/etl/etl/broker"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/uplink"
	corejobs "github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// normalize fills the values derived from other keys (legacy MQTT and
// retention keys, per-source and per-job defaults) and validates every
// section, adding one problem per bad key. path is the config file, set
// holds the lower-cased key paths given in the file or the environment.
func (c *Config) normalize(path string, set map[string]bool, p *problems, log *slog.Logger) {
	isSet := func(key string) bool { return set[strings.ToLower(key)] }

	if strings.TrimSpace(c.DBPath) == "" {
		c.DBPath = DefaultDBPath
	}
	c.normalizeSources(p, log)
	c.normalizeJobs(isSet, p)
	if c.Metrics.SampleIntervalSec < 0 {
		p.addf("metrics.sampleIntervalSec", "must be ≥ 0 seconds (0 means the default, %d), got %d", uplink.DefaultMetricsIntervalSec, c.Metrics.SampleIntervalSec)
	} else if c.Metrics.SampleIntervalSec == 0 {
		c.Metrics.SampleIntervalSec = uplink.DefaultMetricsIntervalSec
	}
	if c.ChannelKeysPath == "" {
		c.ChannelKeysPath = filepath.Join(filepath.Dir(path), DefaultChannelKeysFile)
	}
	c.channelKeys(p)
	c.GeoFilter.validate(p)
	c.ForeignAdverts.Mode = oneOf(p, "foreignAdverts.mode", c.ForeignAdverts.Mode, DefaultForeignAdvertsMode, "flag", "drop")
	if strings.EqualFold(strings.TrimSpace(c.LogLevel), "warning") {
		c.LogLevel = "warn"
	}
	c.LogLevel = oneOf(p, "logLevel", c.LogLevel, DefaultLogLevel, "debug", "info", "warn", "error")
	c.LogFormat = oneOf(p, "logFormat", c.LogFormat, DefaultLogFormat, "text", "json")
	c.HTTP.validate(p, log)
	if c.Stats.Interval <= 0 {
		p.addf("stats.interval", "must be > 0, got %v", c.Stats.Interval)
	}
	c.Ingest.validate(p)
	c.validateBroker(p)
	c.normalizeHEADKeys(isSet, p)
}

// validateBroker checks the embedded broker through its own Validate and
// keeps its name apart from the sources'.
func (c *Config) validateBroker(p *problems) {
	if c.Broker.Listen == "" {
		return
	}
	bc := c.Broker.BrokerConfig()
	if err := bc.Validate(); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			field, msg, ok := strings.Cut(e.Error(), ": ")
			if !ok {
				field, msg = "", e.Error()
			}
			p.addf(strings.TrimSuffix("broker."+field, "."), "%s", msg)
		}
	}
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

// normalizeHEADKeys applies the keys CoreScope HEAD added that are not a
// job's days (those are in normalizeJobs).
func (c *Config) normalizeHEADKeys(isSet func(string) bool, p *problems) {
	// ingestBufferSize is HEAD's name for the in-memory queue; 0 or
	// negative means HEAD's default there, so it leaves ours alone.
	if isSet("ingestBufferSize") && c.IngestBufferSize > 0 {
		if isSet("ingest.queueSize") {
			if c.IngestBufferSize != c.Ingest.QueueSize {
				p.addf("ingestBufferSize", "%d disagrees with ingest.queueSize: %d; set only one of them", c.IngestBufferSize, c.Ingest.QueueSize)
			}
		} else {
			c.Ingest.QueueSize = c.IngestBufferSize
		}
	}
	c.IngestBufferSize = c.Ingest.QueueSize

	switch m := c.Runtime.MaxMemoryMB; {
	case m < 0:
		p.addf("runtime.maxMemoryMB", "must be ≥ 0 MiB (0 means the default, %d), got %d", DefaultMaxMemoryMB, m)
	case m == 0:
		c.Runtime.MaxMemoryMB = DefaultMaxMemoryMB
	}

	regions := c.HashRegions[:0]
	for _, r := range c.HashRegions {
		// HEAD skips empty entries; '#' is prepended by meshcore.NewRegions.
		if r = strings.TrimSpace(r); r != "" {
			regions = append(regions, r)
		}
	}
	c.HashRegions = regions
}

// memoryLimit returns the Go soft memory limit in bytes and where it comes
// from: the GOMEMLIMIT environment variable wins (the runtime applied it
// at start; the limit is then not ours to set, and bytes is 0), then
// runtime.maxMemoryMB.
func (c *Config) memoryLimit(lookupEnv func(string) (string, bool)) (bytes int64, from string) {
	if v, ok := lookupEnv("GOMEMLIMIT"); ok && v != "" {
		return 0, "GOMEMLIMIT"
	}
	return int64(c.Runtime.MaxMemoryMB) << 20, "runtime.maxMemoryMB"
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

// normalizeSources converts the legacy mqtt section, applies the local
// default and the per-source defaults, and validates every source.
func (c *Config) normalizeSources(p *problems, log *slog.Logger) {
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
		s.Broker = strings.TrimSpace(s.Broker)
		u := validateBroker(p, key+".broker", s.Broker)
		s.Name = strings.TrimSpace(s.Name)
		if s.Name == "" && u != nil {
			// The broker URL without credentials.
			s.Name = u.Scheme + "://" + u.Host + u.Path
		}
		if s.Name != "" {
			if j, dup := names[s.Name]; dup {
				p.addf(key+".name", "duplicate source name %q (also mqttSources[%d]); names must be unique", s.Name, j)
			} else {
				names[s.Name] = i
			}
		}
		if len(s.Topics) == 0 {
			s.Topics = []string{mqtt.DefaultTopic}
		}
		for j, t := range s.Topics {
			if err := validateTopicFilter(t); err != nil {
				p.add(fmt.Sprintf("%s.topics[%d]", key, j), err)
			}
		}
		switch {
		case s.ConnectTimeoutSec < 0:
			p.addf(key+".connectTimeoutSec", "must be ≥ 0 seconds (0 means the default, %d), got %d", mqtt.DefaultConnectTimeoutSec, s.ConnectTimeoutSec)
		case s.ConnectTimeoutSec == 0:
			s.ConnectTimeoutSec = mqtt.DefaultConnectTimeoutSec
		}
		if s.QoS < 0 || s.QoS > 2 {
			p.addf(key+".qos", "must be 0, 1 or 2, got %d", s.QoS)
		}
		if s.Password != "" && s.Username == "" {
			p.addf(key+".password", "set without username")
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
		s.StallAfter = defaultDuration(p, key+".stallAfter", s.StallAfter, mqtt.DefaultStallAfter)
		s.KeepAlive = defaultDuration(p, key+".keepAlive", s.KeepAlive, mqtt.DefaultKeepAlive)
		if s.KeepAlive > 0 && s.KeepAlive < time.Second {
			p.addf(key+".keepAlive", "must be at least 1s, got %v", s.KeepAlive)
		}
		if s.CAFile != "" {
			if _, err := os.Stat(s.CAFile); err != nil {
				p.add(key+".caFile", err)
			}
			if u != nil && !s.TLS() {
				p.addf(key+".caFile", "set for a broker without TLS (%s://); use mqtts, ssl, tls or wss", u.Scheme)
			}
		}
	}
}

// validateBroker checks a broker URL with mqtt.ParseBroker (the one broker
// check, whose errors never contain the password) and returns it parsed,
// or nil.
func validateBroker(p *problems, key, broker string) *url.URL {
	if broker == "" {
		p.addf(key, "required")
		return nil
	}
	u, err := mqtt.ParseBroker(broker)
	if err != nil {
		p.add(key, err)
		return nil
	}
	return u
}

// validateTopicFilter checks an MQTT subscription filter: '#' only as the
// whole last level, '+' only as a whole level.
func validateTopicFilter(t string) error {
	if t == "" {
		return fmt.Errorf("empty topic")
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

// daysRule describes how one retention key maps onto a job's days option.
type daysRule struct {
	job       string
	legacyKey string
	legacy    *int
	def       int
	hasNever  bool   // some value means "keep forever"
	never     int    // that value
	neverText string // what it means
}

// normalizeJobs merges the legacy retention and db keys with the job
// options, validates each job and mirrors the effective values back into
// the legacy keys.
func (c *Config) normalizeJobs(isSet func(string) bool, p *problems) {
	jobs := &c.Jobs
	rules := []daysRule{
		{maintenance.NameStaleNodes, "retention.nodeDays", &c.Retention.NodeDays, maintenance.DefaultNodeDays, false, 0, ""},
		{maintenance.NameStaleObservers, "retention.observerDays", &c.Retention.ObserverDays, maintenance.DefaultObserverDays, true, maintenance.KeepObserversForever, "keep observers forever"},
		{maintenance.NamePruneMetrics, "retention.metricsDays", &c.Retention.MetricsDays, maintenance.DefaultMetricsDays, false, 0, ""},
		{maintenance.NamePrunePackets, "retention.packetDays", &c.Retention.PacketDays, DefaultPacketDays, true, 0, "keep packets forever"},
		// CoreScope HEAD's keys.
		{maintenance.NamePruneClientReceptions, "retention.clientRxDays", &c.Retention.ClientRxDays, DefaultClientRxDays, true, 0, "keep client RX coverage rows forever"},
		{maintenance.NamePruneNeighborEdges, "neighborEdgesMaxAgeDays", &c.NeighborEdgesMaxAgeDays, maintenance.DefaultNeighborEdgesMaxAgeDays, false, 0, ""},
	}
	byName := map[string]*JobConfig{}
	for _, j := range jobs.List() {
		byName[j.Name] = j.JobConfig
	}
	for _, r := range rules {
		job := byName[r.job]
		jobKey := "jobs." + r.job + ".days"
		days, ok := r.days(p, r.legacyKey, *r.legacy)
		daysKey := r.legacyKey
		if isSet(jobKey) {
			jd, jok := r.days(p, jobKey, job.Days)
			if isSet(r.legacyKey) && ok && jok && jd != days {
				p.addf(jobKey, "%d disagrees with %s: %d; set only one of them", job.Days, r.legacyKey, *r.legacy)
			}
			days, daysKey = jd, jobKey
		}
		job.Days, *r.legacy = days, days
		if r.hasNever && days == r.never {
			enabledKey := "jobs." + r.job + ".enabled"
			if isSet(enabledKey) && job.Enabled {
				p.addf(enabledKey, "cannot be true while %s is %d (%s)", daysKey, days, r.neverText)
			}
			job.Enabled = false
		}
	}

	// Vacuum: pages and onStartup default to the db section.
	pages, ok := vacuumPages(p, "db.incrementalVacuumPages", c.DB.IncrementalVacuumPages)
	if isSet("jobs.vacuum.pages") {
		jp, jok := vacuumPages(p, "jobs.vacuum.pages", jobs.Vacuum.Pages)
		if isSet("db.incrementalVacuumPages") && ok && jok && jp != pages {
			p.addf("jobs.vacuum.pages", "%d disagrees with db.incrementalVacuumPages: %d; set only one of them", jobs.Vacuum.Pages, c.DB.IncrementalVacuumPages)
		}
		pages = jp
	}
	jobs.Vacuum.Pages, c.DB.IncrementalVacuumPages = pages, pages
	onStartup := c.DB.VacuumOnStartup
	if isSet("jobs.vacuum.onStartup") {
		if isSet("db.vacuumOnStartup") && jobs.Vacuum.OnStartup != onStartup {
			p.addf("jobs.vacuum.onStartup", "%t disagrees with db.vacuumOnStartup: %t; set only one of them", jobs.Vacuum.OnStartup, onStartup)
		}
		onStartup = jobs.Vacuum.OnStartup
	}
	jobs.Vacuum.OnStartup, c.DB.VacuumOnStartup = onStartup, onStartup

	for _, j := range jobs.List() {
		key := "jobs." + j.Name
		for _, opt := range []string{"days", "pages", "onStartup", "dir", "keep", "compress", "onDecoderUpgrade"} {
			if !jobHasOption(j.Name, opt) && isSet(key+"."+opt) {
				p.addf(key+"."+opt, "not an option of the %s job (it applies to %s)", j.Name, strings.Join(jobOptions[opt], ", "))
			}
		}
		j.Schedule = strings.TrimSpace(j.Schedule)
		switch {
		case j.Schedule == "" && j.Name == maintenance.NameVacuum:
			// Runs only chained after a prune job that deleted rows.
		case j.Schedule == "" && j.Name == maintenance.NameReprocess:
			// Runs on demand (and after a decoder upgrade, if asked).
		case j.Schedule == "":
			p.addf(key+".schedule", "required (a cron spec or a descriptor such as @daily; set enabled: false to turn the job off)")
		default:
			if err := corejobs.ValidateSchedule(j.Schedule); err != nil {
				p.add(key+".schedule", fmt.Errorf("parse %q: %w", j.Schedule, err))
			}
		}
		if j.Timeout <= 0 {
			p.addf(key+".timeout", "must be > 0, got %v", j.Timeout)
		}
		if j.Jitter < 0 {
			p.addf(key+".jitter", "must be ≥ 0, got %v", j.Jitter)
		}
		if j.ChunkRows <= 0 {
			p.addf(key+".chunkRows", "must be > 0 rows, got %d", j.ChunkRows)
		}
		if j.ChunkBudget <= 0 {
			p.addf(key+".chunkBudget", "must be > 0, got %v", j.ChunkBudget)
		}
	}
	if jobs.Backup.Keep < 0 {
		p.addf("jobs.backup.keep", "must be ≥ 0 copies (0 = the default, %d), got %d", maintenance.DefaultBackupKeep, jobs.Backup.Keep)
	}
	switch jobs.Backup.Compress {
	case maintenance.CompressNone, maintenance.CompressGzip:
	default:
		p.addf("jobs.backup.compress", "%q: want gzip, or empty for none", jobs.Backup.Compress)
	}
	if jobs.HistoryPerJob <= 0 {
		p.addf("jobs.historyPerJob", "must be > 0 runs, got %d", jobs.HistoryPerJob)
	}
}

// days validates a day count of rule r given under key and returns the
// effective value (0 becomes the default unless 0 means "never").
func (r daysRule) days(p *problems, key string, v int) (int, bool) {
	lo := 0
	if r.hasNever && r.never < 0 {
		lo = r.never
	}
	if v < lo {
		switch {
		case lo < 0:
			p.addf(key, "must be ≥ %d (%d means %s, 0 means the default, %d), got %d", lo, r.never, r.neverText, r.def, v)
		case r.hasNever && r.never == 0:
			p.addf(key, "must be ≥ 0 (0 means %s), got %d", r.neverText, v)
		default:
			p.addf(key, "must be ≥ 0 (0 means the default, %d), got %d", r.def, v)
		}
		return r.def, false
	}
	if v == 0 {
		return r.def, true
	}
	return v, true
}

// vacuumPages validates a page count (0 means the default).
func vacuumPages(p *problems, key string, v int) (int, bool) {
	switch {
	case v < 0:
		p.addf(key, "must be ≥ 0 pages (0 means the default, %d), got %d", maintenance.DefaultVacuumPages, v)
		return maintenance.DefaultVacuumPages, false
	case v == 0:
		return maintenance.DefaultVacuumPages, true
	}
	return v, true
}

// validate checks the polygon and the box of a geo filter.
func (g *GeoFilterConfig) validate(p *problems) {
	const key = "geo_filter"
	if n := len(g.Polygon); n > 0 && n < 3 {
		p.addf(key+".polygon", "want at least 3 [lat, lon] points, got %d", n)
	}
	for i, pt := range g.Polygon {
		k := fmt.Sprintf("%s.polygon[%d]", key, i)
		if len(pt) != 2 {
			p.addf(k, "want [lat, lon], got %d numbers", len(pt))
			continue
		}
		checkLat(p, k, pt[0])
		checkLon(p, k, pt[1])
	}
	if g.BufferKm < 0 || math.IsNaN(g.BufferKm) {
		p.addf(key+".bufferKm", "must be ≥ 0 km, got %v", g.BufferKm)
	}
	box := []struct {
		name string
		v    *float64
	}{{"latMin", g.LatMin}, {"latMax", g.LatMax}, {"lonMin", g.LonMin}, {"lonMax", g.LonMax}}
	var have, missing []string
	for _, b := range box {
		if b.v == nil {
			missing = append(missing, b.name)
		} else {
			have = append(have, b.name)
		}
	}
	if len(have) == 0 {
		return
	}
	if len(missing) > 0 {
		p.addf(key, "a box needs latMin, latMax, lonMin and lonMax (missing %s)", strings.Join(missing, ", "))
		return
	}
	checkLat(p, key+".latMin", *g.LatMin)
	checkLat(p, key+".latMax", *g.LatMax)
	checkLon(p, key+".lonMin", *g.LonMin)
	checkLon(p, key+".lonMax", *g.LonMax)
	if *g.LatMin > *g.LatMax {
		p.addf(key+".latMin", "%v is greater than latMax %v", *g.LatMin, *g.LatMax)
	}
	if *g.LonMin > *g.LonMax {
		p.addf(key+".lonMin", "%v is greater than lonMax %v", *g.LonMin, *g.LonMax)
	}
}

func checkLat(p *problems, key string, v float64) {
	if !(v >= -90 && v <= 90) {
		p.addf(key, "latitude %v out of range [-90, 90]", v)
	}
}

func checkLon(p *problems, key string, v float64) {
	if !(v >= -180 && v <= 180) {
		p.addf(key, "longitude %v out of range [-180, 180]", v)
	}
}

// validate checks the listen address and the credentials, and warns when
// the endpoint is reachable from the network without authentication.
func (h *HTTPConfig) validate(p *problems, log *slog.Logger) {
	if (h.Username == "") != (h.Password == "") {
		p.addf("http.password", "set both http.username and http.password, or neither")
	}
	h.Listen = strings.TrimSpace(h.Listen)
	if h.Listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		p.addf("http.listen", "want host:port, got %q: %v", h.Listen, err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.addf("http.listen", "invalid port %q", port)
		return
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	if !loopback && h.Username == "" && h.BearerToken == "" {
		log.Warn("http endpoint reachable from the network without authentication; set http.bearerToken or http.username/password", "listen", h.Listen, "pprof", h.Pprof)
	}
}

// validate checks the pipeline sizes and timings.
func (in *IngestConfig) validate(p *problems) {
	positive := func(key string, v int) {
		if v <= 0 {
			p.addf(key, "must be > 0, got %d", v)
		}
	}
	positive("ingest.queueSize", in.QueueSize)
	positive("ingest.batchSize", in.BatchSize)
	positive("ingest.maxMessageBytes", in.MaxMessageBytes)
	if in.QueueMaxBytes <= 0 {
		p.addf("ingest.queueMaxBytes", "must be > 0, got %d", in.QueueMaxBytes)
	}
	if in.SpoolMaxBytes <= 0 {
		p.addf("ingest.spoolMaxBytes", "must be > 0, got %d", in.SpoolMaxBytes)
	}
	if in.BatchDelay <= 0 {
		p.addf("ingest.batchDelay", "must be > 0, got %v", in.BatchDelay)
	}
	if in.ShutdownTimeout <= 0 {
		p.addf("ingest.shutdownTimeout", "must be > 0, got %v", in.ShutdownTimeout)
	}
	if c := in.Capture; c.Keep < 0 || c.MaxFileBytes < 0 || c.MaxFileAge < 0 {
		p.addf("ingest.capture", "keep, maxFileBytes and maxFileAge must not be negative (0 means the default)")
	}
}
