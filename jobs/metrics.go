package jobs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Scheduler's Prometheus series, labelled by job name.
type metrics struct {
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	rows        *prometheus.CounterVec
	running     *prometheus.GaugeVec
	next        nextRunCollector
}

func newMetrics(s *Scheduler) *metrics {
	return &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_job_runs_total",
			Help: "Runs of each maintenance job, by result (success, error, skipped, timeout).",
		}, []string{"job_name", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "corescope_job_duration_seconds",
			Help: "Duration of each maintenance job run that was not skipped.",
			// 10 ms .. about 45 min.
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"job_name"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corescope_job_last_success_timestamp_seconds",
			Help: "Unix time at which each job last finished successfully (dry runs excluded).",
		}, []string{"job_name"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_job_rows_affected_total",
			Help: "Rows changed by each job (dry runs excluded).",
		}, []string{"job_name"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "corescope_job_running",
			Help: "1 while a run of the job is in progress.",
		}, []string{"job_name"}),
		next: nextRunCollector{
			s: s,
			desc: prometheus.NewDesc("corescope_job_next_run_timestamp_seconds",
				"Unix time of each scheduled job's next run.", []string{"job_name"}, nil),
		},
	}
}

func (m *metrics) register(reg prometheus.Registerer) {
	reg.MustRegister(m.runs, m.duration, m.lastSuccess, m.rows, m.running, m.next)
}

// init creates the series of a new job so that they read 0, not absent.
func (m *metrics) init(job string) {
	for _, r := range []string{ResultSuccess, ResultError, ResultSkipped, ResultTimeout} {
		m.runs.WithLabelValues(job, r)
	}
	m.rows.WithLabelValues(job)
	m.running.WithLabelValues(job)
}

// nextRunCollector reads next-run times from the schedule at scrape time.
type nextRunCollector struct {
	s    *Scheduler
	desc *prometheus.Desc
}

func (c nextRunCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c nextRunCollector) Collect(ch chan<- prometheus.Metric) {
	for _, j := range c.s.Jobs() {
		if j.Next.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue,
			float64(j.Next.UnixNano())/1e9, j.Name)
	}
}
