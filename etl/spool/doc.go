// Package spool is the ingest pipeline's bounded, durable overflow: an
// append-only queue of MQTT messages on disk, used when the in-memory queue
// is full (a writer stall) and at shutdown for what could not be committed.
//
// # Format
//
// A spool is a directory of segment files named <seq>.jsonl (seq is 16
// lowercase hex digits; files are read in name order). Each line is one
// message as a JSON object (JSON Lines):
//
//	{"source":"eu","topic":"meshcore/SJC/AB12…/packets","payload":"{\"raw\":\"09…\"}","qos":0,"retain":false,"received":"2025-01-02T03:04:05.123456789Z"}
//
// payload is the MQTT payload as a JSON string when it is valid UTF-8,
// otherwise it is absent and payload_base64 holds it (standard base64).
// topic follows the same rule (topic_base64). received is RFC 3339 with
// nanoseconds, UTC. Unknown keys are ignored, so that other writers (capture
// files) can add their own. A line that does not parse is skipped and
// counted; a torn last line (a crash during a write, never acknowledged) is
// truncated away when the spool is opened.
//
// # Durability and order
//
// Append buffers a record and returns at once; a background flusher writes
// the buffer and fsyncs it at most every SyncInterval (group commit), then
// calls each record's done callback (the pipeline acknowledges a QoS 1
// message there: the spool is fsynced, which is more than the database's
// synchronous=NORMAL promises). Records are read back in append order with
// Next and removed with Commit once the caller has stored them; a segment
// file is deleted only when every record in it is committed. After a crash
// the records of a partly committed segment are read again: the caller's
// writes must be idempotent.
//
// The spool is bounded by bytes on disk (MaxBytes): Append fails with
// ErrFull when a record would exceed it.
package spool
