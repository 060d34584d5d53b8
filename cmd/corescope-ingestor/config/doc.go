// Package config loads and validates the ingestor's configuration.
//
// CoreScope's own config.json is a superset of ours (the web server reads
// the same file), so unknown top-level keys are absorbed (Config.Server)
// unless they look like a misspelling of one of ours, while keys inside the
// sections we own are strict. Each section lives in its own file with its
// struct, its defaults (the owning package's Default* constants) and its
// validation.
//
// Load builds one koanf instance in layers — defaults, the file (YAML or
// JSON by extension), CORESCOPE_<SECTION>__<KEY> variables, then CoreScope's
// own variables (DB_PATH, MQTT_BROKER, MQTT_TOPIC, CORESCOPE_INGESTOR_STATS,
// CHANNEL_KEYS_PATH) — decodes it once, and reports every problem at once in
// an *Error, each line starting with the key path.
package config
