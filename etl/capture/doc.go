// Package capture tees every received MQTT message into rotated JSON Lines
// files, so that traffic can be replayed later (`corescope-ingestor import`)
// into a new or rebuilt database, or to test a decoder change on real input.
//
// The line format is the spool's (package etl/spool): one JSON object per
// message with source, topic, payload (or payload_base64), qos, retain and
// received. The active file is capture-<UTC start>.jsonl; when it reaches
// MaxFileBytes or MaxFileAge it is closed, gzip-compressed to .jsonl.gz
// (unless Compress is off) and a new file starts; only the newest Keep
// closed files are kept.
//
// Capture never blocks ingest: Write hands the message to a bounded buffer
// and drops it (counted) when the buffer is full. When the capture disk
// fails (full, read-only), capture stops, says why through Err (the daemon
// lists it in /readyz reasons) and a metric, and ingest goes on.
//
// Import is the way back: Read and ReadFile parse capture files and plain
// JSON Lines of {topic, payload}; an Importer feeds files to the ingest
// pipeline (so that imported messages are stored exactly as live ones and
// a second import adds nothing), or merges another CoreScope database
// through a function of the store, and reports its Progress. ImportHandler
// serves the same import as the daemon's POST /import, streaming progress
// as JSON lines (ImportRequest in, Progress out); a ProgressPrinter shows
// that progress on a terminal (a bar) or in a log (a line every 5 s).
package capture
