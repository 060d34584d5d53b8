package main

import (
	"context"
	"os"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/prometheus/client_golang/prometheus"
)

// dbCollector exports the database file sizes at scrape time.
type dbCollector struct {
	db                              *sqlite.DB
	file, wal, freelist, pages, age *prometheus.Desc
}

func newDBCollector(db *sqlite.DB) prometheus.Collector {
	return &dbCollector{
		db:       db,
		file:     prometheus.NewDesc("corescope_db_file_size_bytes", "Size of the SQLite database file.", nil, nil),
		wal:      prometheus.NewDesc("corescope_db_wal_size_bytes", "Size of the SQLite write-ahead log.", nil, nil),
		freelist: prometheus.NewDesc("corescope_db_freelist_bytes", "Bytes in free pages (reclaimable by incremental vacuum).", nil, nil),
		pages:    prometheus.NewDesc("corescope_db_page_size_bytes", "Database page size.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.file
	ch <- c.wal
	ch <- c.freelist
	ch <- c.pages
}

// Collect implements prometheus.Collector.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	path := c.db.Path()
	if fi, err := os.Stat(path); err == nil {
		ch <- prometheus.MustNewConstMetric(c.file, prometheus.GaugeValue, float64(fi.Size()))
	}
	wal := 0.0
	if fi, err := os.Stat(path + "-wal"); err == nil {
		wal = float64(fi.Size())
	}
	ch <- prometheus.MustNewConstMetric(c.wal, prometheus.GaugeValue, wal)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var free, size int64
	r := c.db.Reader()
	if r.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free) == nil &&
		r.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size) == nil {
		ch <- prometheus.MustNewConstMetric(c.freelist, prometheus.GaugeValue, float64(free*size))
		ch <- prometheus.MustNewConstMetric(c.pages, prometheus.GaugeValue, float64(size))
	}
}
