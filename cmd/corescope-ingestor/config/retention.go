package config

import "github.com/corescope/etl/jobs/maintenance"

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

func defaultRetention() RetentionConfig {
	return RetentionConfig{
		NodeDays:     maintenance.DefaultNodeDays,
		ObserverDays: maintenance.DefaultObserverDays,
		MetricsDays:  maintenance.DefaultMetricsDays,
		PacketDays:   DefaultPacketDays,
		ClientRxDays: DefaultClientRxDays,
	}
}

// daysRule describes how one retention key maps onto a job's days option.
type daysRule struct {
	job       string
	legacyKey string
	legacy    *int
	target    *maintenance.DaysConfig
	def       int
	hasNever  bool   // some value means "keep forever"
	never     int    // that value
	neverText string // what it means
}

// daysRules maps the legacy retention keys (and HEAD's
// neighborEdgesMaxAgeDays) onto the days of their jobs.
func (c *Config) daysRules() []daysRule {
	j := &c.Jobs
	return []daysRule{
		{maintenance.NameStaleNodes, "retention.nodeDays", &c.Retention.NodeDays, &j.StaleNodes, maintenance.DefaultNodeDays, false, 0, ""},
		{maintenance.NameStaleObservers, "retention.observerDays", &c.Retention.ObserverDays, &j.StaleObservers, maintenance.DefaultObserverDays, true, maintenance.KeepObserversForever, "keep observers forever"},
		{maintenance.NamePruneMetrics, "retention.metricsDays", &c.Retention.MetricsDays, &j.PruneMetrics, maintenance.DefaultMetricsDays, false, 0, ""},
		{maintenance.NamePrunePackets, "retention.packetDays", &c.Retention.PacketDays, &j.PrunePackets, DefaultPacketDays, true, 0, "keep packets forever"},
		// CoreScope HEAD's keys.
		{maintenance.NamePruneClientReceptions, "retention.clientRxDays", &c.Retention.ClientRxDays, &j.PruneClientReceptions, DefaultClientRxDays, true, 0, "keep client RX coverage rows forever"},
		{maintenance.NamePruneNeighborEdges, "neighborEdgesMaxAgeDays", &c.NeighborEdgesMaxAgeDays, &j.PruneNeighborEdges, maintenance.DefaultNeighborEdgesMaxAgeDays, false, 0, ""},
	}
}

// normalizeRetention merges the legacy retention keys with the days of
// their jobs and mirrors the effective values back into the legacy keys.
func (c *Config) normalizeRetention(isSet func(string) bool, p *problems) {
	for _, r := range c.daysRules() {
		job := r.target
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
