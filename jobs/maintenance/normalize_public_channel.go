package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// NormalizePublicChannel renames the channel of GRP_TXT transmissions
// stored as 'public' to 'Public', the decoder's spelling since CoreScope's
// built-in Public key (head.md §2.14, CoreScope's channel_hash_casing_v1),
// so the channel list shows one Public channel. It runs at every start; the
// lookup is one probe of the partial channel index, so a clean file costs
// nothing.
type NormalizePublicChannel struct {
	DB       *sqlite.DB
	Chunking Chunking
}

// Run renames one pass. Result.Rows counts the rows renamed.
func (j *NormalizePublicChannel) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	var n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		c, more, err := j.DB.NormalizePublicChannelChunk(ctx, limit, dryRun)
		n += c
		return more, err
	})
	return jobs.Result{Rows: n, Detail: fmt.Sprintf("transmissions=%d %s", n, p)}, err
}
