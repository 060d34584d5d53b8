package main

import (
	"log/slog"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/etl/transform"
	"github.com/corescope/etl/etl/uplink"
	"github.com/prometheus/client_golang/prometheus"
)

// newTransformer builds the ingest transform of cfg: the decoder with the
// configured channel keys and regions, the observer filters, the geo
// filter and the per-source settings. The daemon and `import` share it, so
// that imported messages are stored exactly as live ones. topo resolves
// the hops of observations.resolved_path; nil leaves it NULL.
func newTransformer(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger, topo *topology.Live) (*transform.Transformer, error) {
	opts, err := cfg.DecoderOptions(log)
	if err != nil {
		return nil, usageError{err}
	}
	log.Info("decoder keys loaded", "channel_keys", opts.Keys.Len(), "regions", opts.Regions.Len())
	srcs := make(map[string]transform.Source, len(cfg.MQTTSources))
	for _, s := range cfg.MQTTSources {
		srcs[s.Name] = transform.Source{Region: s.Region, IATAFilter: s.IATAFilter}
	}
	if cfg.Broker.Listen != "" {
		srcs[cfg.Broker.SourceName()] = transform.Source{Region: cfg.Broker.Region}
	}
	return transform.New(transform.Config{
		Decoder:         meshcore.NewDecoder(opts),
		Filter:          uplink.NewFilter(uplink.FilterConfig{Blacklist: cfg.ObserverBlacklist, IATAWhitelist: cfg.ObserverIATAWhitelist}),
		Geo:             cfg.GeoFilter.Geo().Filter(),
		ForeignDrop:     cfg.ForeignAdverts.Mode == "drop",
		SampleInterval:  cfg.Metrics.SampleIntervalSec,
		MaxMessageBytes: cfg.Ingest.MaxMessageBytes,
		Sources:         srcs,
		Topology:        topo,
		ClientRx:        cfg.ClientRxCoverage.Enabled,
		Logger:          log.With("component", "ingest"),
		Registerer:      reg,
	}), nil
}
