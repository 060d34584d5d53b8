package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// The Grafana dashboard and the Prometheus rules shipped in etc/ may only
// use metrics, and labels of those metrics, that the daemon really exports.
// A daemon runs a known workload (packets, a duplicate, malformed and
// undecodable input, a blacklisted observer, an ignored subtopic, a status
// message, messages through the embedded broker), then every expression of
// both files is checked against its /metrics.

const (
	dashboardFile = "../../etc/grafana/corescope-ingestor.json"
	rulesFile     = "../../etc/prometheus/corescope-ingestor.rules.yml"
)

// ruleFile is the Prometheus rule file format (rule groups); decoding is
// strict, so a misspelled field fails the test. Prometheus's own parser
// would pull in its server; promtool is not available here.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	parallelDaemon(t)
	exported := workloadMetrics(t)

	var dash struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []dashPanel `json:"panels"`
	}
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					t.Errorf("dashboard panel %q: target %s has no expr", p.Title, tg.RefID)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(exprs) < 30 {
		t.Fatalf("dashboard has only %d queries", len(exprs))
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, strings.TrimSuffix(strings.TrimPrefix(v.Definition, "label_values("), ")"))
		}
	}
	for _, e := range exprs {
		checkExpr(t, "dashboard", e, exported, nil)
	}

	var rules ruleFile
	b, err = os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if len(rules.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	alerts := 0
	for _, g := range rules.Groups {
		if g.Name == "" {
			t.Error("rule group without a name")
		}
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without alert name", g.Name)
				continue
			}
			alerts++
			if r.Expr == "" || r.For == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: needs expr, for, labels.severity and annotations.summary", r.Alert)
			}
			if !promDurationRE.MatchString(r.For) {
				t.Errorf("alert %s: for %q is not a duration", r.Alert, r.For)
			}
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q", r.Alert, r.Labels["severity"])
			}
			var refs []string
			for _, a := range r.Annotations {
				for _, m := range labelRefRE.FindAllStringSubmatch(a, -1) {
					refs = append(refs, m[1])
				}
			}
			checkExpr(t, "alert "+r.Alert, r.Expr, exported, refs)
		}
	}
	for _, want := range []string{"CorescopeIngestStalled", "CorescopeSourceDown", "CorescopeWriterBehind",
		"CorescopeJobFailing", "CorescopeJobOverdue", "CorescopeDatabaseUnwritable", "CorescopeDiskGrowth"} {
		found := false
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				found = found || r.Alert == want
			}
		}
		if !found {
			t.Errorf("rules file lacks alert %s", want)
		}
	}
	t.Logf("checked %d dashboard queries and %d alerts against %d exported metric families", len(exprs), alerts, len(exported))
}

type dashPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

var (
	promDurationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	labelRefRE     = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	// A metric name: our prefix, Go's and the process collector's.
	metricRE = regexp.MustCompile(`\b((?:corescope|process|go)_[a-zA-Z0-9_]+)\b`)
	// A label matcher block right after a metric name.
	matcherRE = regexp.MustCompile(`\b((?:corescope|process|go)_[a-zA-Z0-9_]+)\{([^}]*)\}`)
	// Label names in a matcher block: name followed by an operator.
	matcherNameRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	// Grouping clauses.
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
)

// targetLabels are added by Prometheus at scrape time; le is a histogram
// bucket's label.
var targetLabels = []string{"job", "instance", "le"}

// checkExpr reports every metric of expr that the daemon does not export,
// and every label (in matchers, grouping clauses and the annotations'
// $labels references) that none of expr's metrics carries.
func checkExpr(t *testing.T, where, expr string, exported map[string][]string, refs []string) {
	t.Helper()
	labelsOf := map[string]bool{}
	for _, l := range targetLabels {
		labelsOf[l] = true
	}
	metrics := metricRE.FindAllString(expr, -1)
	if len(metrics) == 0 {
		t.Errorf("%s: %q uses no metric", where, expr)
	}
	for _, m := range metrics {
		ls, ok := family(exported, m)
		if !ok {
			t.Errorf("%s: metric %s is not exported by the daemon (in %q)", where, m, expr)
			continue
		}
		for _, l := range ls {
			labelsOf[l] = true
		}
	}
	for _, mm := range matcherRE.FindAllStringSubmatch(expr, -1) {
		ls, ok := family(exported, mm[1])
		if !ok {
			continue
		}
		for _, n := range matcherNameRE.FindAllStringSubmatch(mm[2], -1) {
			if !slices.Contains(ls, n[1]) && !slices.Contains(targetLabels, n[1]) {
				t.Errorf("%s: %s has no label %q (it has %v)", where, mm[1], n[1], ls)
			}
		}
	}
	var grouped []string
	for _, g := range groupingRE.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				grouped = append(grouped, l)
			}
		}
	}
	for _, l := range append(grouped, refs...) {
		if !labelsOf[l] {
			t.Errorf("%s: label %q is on none of the metrics of %q", where, l, expr)
		}
	}
}

// family returns the label names of the exported metric family that name
// belongs to (a histogram's _bucket, _sum and _count series included).
func family(exported map[string][]string, name string) ([]string, bool) {
	if ls, ok := exported[name]; ok {
		return ls, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if ls, ok := exported[base]; ok {
				if suf == "_bucket" {
					ls = append(slices.Clone(ls), "le")
				}
				return ls, true
			}
		}
	}
	return nil, false
}

// workloadMetrics runs a daemon through a known workload and returns its
// metric families with their label names.
func workloadMetrics(t *testing.T) map[string][]string {
	t.Helper()
	b := mqtttest.StartBroker(t)
	a, blocked := observerKey("Obs A"), observerKey("Blocked")
	embedded := freeLoopbackAddr(t)
	cfg := &testConfig{
		Sources: []testSource{{Name: "m", Broker: b.URL()}},
		HTTP:    true,
		Extra: map[string]any{
			"observerBlacklist": []string{blocked},
			"broker":            map[string]any{"listen": embedded},
		},
	}
	d := startDaemon(t, cfg)
	pub := newPublisher(t, b)
	ts := time.Now().UTC().Truncate(time.Second)
	for i := range 3 {
		publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", uniquePacket(i), ts))
	}
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", uniquePacket(0), ts)) // duplicate
	publish(t, pub, packetsTopic("SJC", a), false, []byte(`not json`))
	publish(t, pub, packetsTopic("SJC", a), false, packetJSON("Obs A", "ZZZZ", ts))
	publish(t, pub, packetsTopic("SJC", blocked), false, packetJSON("Blocked", uniquePacket(7), ts))
	publish(t, pub, "meshcore/SJC/"+a+"/debug", false, []byte(`{"msg":"x"}`))
	publish(t, pub, statusTopic("SJC", a), false, statusJSON("Obs A", ts, "Heltec V3"))
	// One packet through the embedded broker.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep, err := mqtt.NewPublisher(ctx, mqtt.PublisherConfig{Broker: "tcp://" + embedded})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if err := ep.Publish(packetsTopic("SJC", a), 1, false, packetJSON("Obs A", uniquePacket(42), ts)).Wait(ctx); err != nil {
		t.Fatal(err)
	}

	// Some families appear only once their first event happened (the
	// first background checkpoint, the first job run): wait for them.
	var exported map[string][]string
	eventually(t, 30*time.Second, "the workload's metric families", func() bool {
		exported = parseFamilies(t, d.metrics())
		for _, want := range []string{
			"corescope_ingest_filtered_total", "corescope_ingest_ignored_total", "corescope_ingest_rejects_total",
			"corescope_decode_errors_total", "corescope_job_runs_total", "corescope_db_checkpoints_total",
			"corescope_ingest_batches_total", "corescope_job_last_success_timestamp_seconds",
			"corescope_broker_messages_received_total",
		} {
			if _, ok := exported[want]; !ok {
				return false
			}
		}
		return true
	})
	return exported
}

func parseFamilies(t *testing.T, scrape string) map[string][]string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(scrape))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := make(map[string][]string, len(fams))
	for name, f := range fams {
		var ls []string
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(ls, lp.GetName()) {
					ls = append(ls, lp.GetName())
				}
			}
		}
		out[name] = ls
	}
	return out
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
