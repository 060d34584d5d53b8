package main

import (
	"context"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/prometheus/client_golang/prometheus"
)

// dbCollector exports the database file sizes at scrape time.
type dbCollector struct {
	db                  *sqlite.DB
	file, wal, freelist *prometheus.Desc
}

func newDBCollector(db *sqlite.DB) prometheus.Collector {
	return &dbCollector{
		db:       db,
		file:     prometheus.NewDesc("corescope_db_file_size_bytes", "Size of the SQLite database file.", nil, nil),
		wal:      prometheus.NewDesc("corescope_db_wal_size_bytes", "Size of the SQLite write-ahead log.", nil, nil),
		freelist: prometheus.NewDesc("corescope_db_freelist_bytes", "Bytes in free pages (reclaimable by incremental vacuum).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.file
	ch <- c.wal
	ch <- c.freelist
}

// Collect implements prometheus.Collector.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.db.Sizes(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.file, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.file, prometheus.GaugeValue, float64(s.FileBytes))
	ch <- prometheus.MustNewConstMetric(c.wal, prometheus.GaugeValue, float64(s.WALBytes))
	ch <- prometheus.MustNewConstMetric(c.freelist, prometheus.GaugeValue, float64(s.FreelistPages*s.PageSize))
}
