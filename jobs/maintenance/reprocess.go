package maintenance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// NameReprocess re-decodes stored transmissions.
const NameReprocess = "reprocess"

// etl_state keys of the reprocess job.
const (
	reprocessCursorKey  = "reprocess.cursor"         // last transmission id done by an unfinished pass
	reprocessVersionKey = "reprocess.decoderVersion" // decoder version of the last finished pass
	reprocessExamples   = 3                          // examples reported per field
)

// Reprocess re-decodes every stored transmissions.raw_hex with the current
// decoder and channel and region keys, and rewrites the derived columns
// (decoded_json, channel_hash, from_pubkey, route, payload type and version,
// scope_name) of the rows whose stored values differ; for an advert that is
// its node's newest, the node's name, role and position follow. Typical
// uses: history of a channel whose key was just added, fields a decoder
// upgrade added.
//
// Rows are read through the read pool in id order, decoded off the writer,
// and only changed rows are written, in chunks that yield to ingest. A
// durable cursor (etl_state) lets an interrupted pass resume where it
// stopped. A row that no longer decodes is left untouched and reported.
// A dry run walks everything and reports what would change, per field and
// per payload type, with examples.
type Reprocess struct {
	DB *sqlite.DB
	// Decode derives the columns from a raw packet, as the ingest path
	// would now.
	Decode func(rawHex string) (*etl.Packet, error)
	// DecoderVersion identifies the decoder; it is recorded when a pass
	// finishes.
	DecoderVersion string
	// IfDecoderChanged makes a run do nothing unless DecoderVersion differs
	// from the one recorded by the last finished pass (or a pass is
	// unfinished). OnUpgrade applies it to the scheduler's startup run only
	// (jobs.StartupRun), so that on-demand runs always work.
	IfDecoderChanged bool
	OnUpgrade        bool
	// TypeName names payload types in the report; nil reports numbers.
	TypeName func(payloadType int) string
	Chunking Chunking
}

// reprocessReport accumulates what a pass found.
type reprocessReport struct {
	scanned, changed, written, undecodable int64
	byField, byType                        map[string]int64
	examples                               map[string][]string
}

// Run does one pass (from the durable cursor, if a pass was interrupted).
// Result.Rows counts the rows rewritten (would be rewritten, in a dry run).
func (j *Reprocess) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	if j.Decode == nil {
		return jobs.Result{}, errors.New("reprocess: no decoder")
	}
	var cursor int64
	if !dryRun {
		if v, ok, err := j.DB.State(ctx, reprocessCursorKey); err != nil {
			return jobs.Result{}, fmt.Errorf("reprocess: %w", err)
		} else if ok {
			cursor, _ = strconv.ParseInt(v, 10, 64)
		}
		if (j.IfDecoderChanged || (j.OnUpgrade && jobs.StartupRun(ctx))) && cursor == 0 {
			v, _, err := j.DB.State(ctx, reprocessVersionKey)
			if err != nil {
				return jobs.Result{}, fmt.Errorf("reprocess: %w", err)
			}
			if v == j.DecoderVersion {
				return jobs.Result{Detail: "decoder unchanged (" + v + ")"}, nil
			}
		}
	}
	resumed := cursor
	rep := &reprocessReport{byField: map[string]int64{}, byType: map[string]int64{}, examples: map[string][]string{}}
	z := j.Chunking.sizer()
	readRows := j.Chunking.rows()
	for {
		if err := ctx.Err(); err != nil {
			return rep.result(dryRun, resumed), fmt.Errorf("reprocess: %w", err)
		}
		rows, err := j.DB.ReadTransmissions(ctx, cursor, readRows)
		if err != nil {
			return rep.result(dryRun, resumed), fmt.Errorf("reprocess: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		old, upd := j.diff(rows, rep)
		if !dryRun {
			for len(old) > 0 {
				n := min(len(old), z.limit)
				t0 := time.Now()
				w, err := j.DB.UpdateDerived(ctx, old[:n], upd[:n])
				if err != nil {
					return rep.result(dryRun, resumed), fmt.Errorf("reprocess: %w", err)
				}
				z.observe(time.Since(t0))
				rep.written += w
				old, upd = old[n:], upd[n:]
			}
		}
		cursor = rows[len(rows)-1].ID
		if !dryRun {
			if err := j.DB.SetState(ctx, reprocessCursorKey, strconv.FormatInt(cursor, 10)); err != nil {
				return rep.result(dryRun, resumed), fmt.Errorf("reprocess: %w", err)
			}
		}
		if len(rows) < readRows {
			break
		}
	}
	if !dryRun {
		if err := j.DB.SetState(ctx, reprocessCursorKey, "0"); err != nil {
			return rep.result(dryRun, resumed), fmt.Errorf("reprocess: %w", err)
		}
		if err := j.DB.SetState(ctx, reprocessVersionKey, j.DecoderVersion); err != nil {
			return rep.result(dryRun, resumed), fmt.Errorf("reprocess: %w", err)
		}
	}
	return rep.result(dryRun, resumed), nil
}

// diff decodes rows and returns those whose derived columns changed, with
// their new values.
func (j *Reprocess) diff(rows []sqlite.StoredTx, rep *reprocessReport) (old []sqlite.StoredTx, upd []*etl.Packet) {
	for _, r := range rows {
		if r.RawHex == "" { // companion message: nothing to decode
			continue
		}
		rep.scanned++
		d, err := j.Decode(r.RawHex)
		if err != nil {
			rep.undecodable++
			rep.example("undecodable", r.Hash+" ("+err.Error()+")")
			continue
		}
		var fields []string
		add := func(changed bool, name string) {
			if changed {
				fields = append(fields, name)
			}
		}
		add(d.DecodedJSON != r.DecodedJSON, "decoded_json")
		add(d.ChannelHash != r.ChannelHash, "channel_hash")
		add(d.FromPubkey != r.FromPubkey, "from_pubkey")
		add(d.RouteType != r.RouteType, "route_type")
		add(d.PayloadType != r.PayloadType, "payload_type")
		add(d.PayloadVersion != r.PayloadVersion, "payload_version")
		add(d.Scope != r.ScopeName, "scope_name")
		if len(fields) == 0 {
			continue
		}
		rep.changed++
		typ := strconv.Itoa(d.PayloadType)
		if j.TypeName != nil {
			typ = j.TypeName(d.PayloadType)
		}
		rep.byType[typ]++
		for _, f := range fields {
			rep.byField[f]++
			rep.example(f, r.Hash)
		}
		old, upd = append(old, r), append(upd, d)
	}
	return old, upd
}

func (r *reprocessReport) example(field, s string) {
	if len(r.examples[field]) < reprocessExamples {
		r.examples[field] = append(r.examples[field], s)
	}
}

func (r *reprocessReport) result(dryRun bool, resumed int64) jobs.Result {
	var b strings.Builder
	fmt.Fprintf(&b, "scanned=%d changed=%d", r.scanned, r.changed)
	if !dryRun {
		fmt.Fprintf(&b, " written=%d", r.written)
	}
	fmt.Fprintf(&b, " undecodable=%d", r.undecodable)
	if resumed > 0 {
		fmt.Fprintf(&b, " resumed_after_id=%d", resumed)
	}
	for _, m := range []struct {
		name string
		m    map[string]int64
	}{{"field", r.byField}, {"type", r.byType}} {
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			fmt.Fprintf(&b, " %s.%s=%d", m.name, k, m.m[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.examples)) {
		fmt.Fprintf(&b, " examples.%s=%s", k, strings.Join(r.examples[k], ","))
	}
	rows := r.written
	if dryRun {
		rows = r.changed
	}
	return jobs.Result{Rows: rows, Detail: b.String()}
}
