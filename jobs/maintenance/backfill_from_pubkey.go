package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// BackfillFromPubkey gives ADVERT transmissions with a NULL from_pubkey
// their originating key (head.md §2.13, which CoreScope's ingestor runs at
// every start): decoded_json's pubKey as stored, or the empty string when there is none,
// so the row is not looked at again. Files whose column was added by
// CoreScope's older ingestor but never backfilled by its server have such
// rows. It runs at every start; a stored cursor makes a run after a
// completed one check only the transmissions stored since.
type BackfillFromPubkey struct {
	DB       *sqlite.DB
	Chunking Chunking
}

// Run backfills one pass. Result.Rows counts the rows updated.
func (j *BackfillFromPubkey) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	cursor, err := j.DB.FromPubkeyCursor(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	var n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		last, c, more, err := j.DB.BackfillFromPubkeyChunk(ctx, cursor, limit, dryRun)
		cursor, n = last, n+c
		return more, err
	})
	return jobs.Result{Rows: n, Detail: fmt.Sprintf("transmissions=%d %s", n, p)}, err
}
