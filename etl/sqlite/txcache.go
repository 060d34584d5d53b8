package sqlite

// txCacheSize is the transmissions remembered per generation (two
// generations are kept): far more than arrive within the seconds in which
// the copies of one packet come in from every observer.
const txCacheSize = 1 << 15

// txEntry is what Apply knows of a transmission it inserted: the columns a
// later copy compares with (head.md §2.7; ingestor.md §9 #3).
type txEntry struct {
	id        int64
	firstSeen string // as stored (RFC 3339 UTC seconds)
	lastSeen  int64  // epoch seconds, as stored
}

// txCache remembers the transmissions Apply inserted recently, so that a
// copy of the same packet from another observer finds its row without an
// INSERT attempt and a lookup: two statements, most of the cost of a
// duplicate, which is two thirds of the traffic with three observers
// (BenchmarkApply/heard-by-3). It is valid only while Apply is the only
// writer of transmissions: every other write (maintenance chunks, VACUUM,
// migrations) and every rolled-back batch clear it (DB.forgetWrites). Two
// generations approximate LRU without per-entry bookkeeping. Guarded by
// holding the writer.
type txCache struct {
	cur, old map[string]txEntry
}

func (c *txCache) get(hash string) (txEntry, bool) {
	if e, ok := c.cur[hash]; ok {
		return e, true
	}
	if e, ok := c.old[hash]; ok {
		c.put(hash, e)
		return e, true
	}
	return txEntry{}, false
}

func (c *txCache) put(hash string, e txEntry) {
	if c.cur == nil || len(c.cur) >= txCacheSize {
		c.old, c.cur = c.cur, make(map[string]txEntry, txCacheSize/4)
	}
	c.cur[hash] = e
}

// forgetWrites drops what Apply remembers of the rows it wrote (observer
// rowids, recent transmissions): called whenever something else may have
// written, or a batch was rolled back.
func (db *DB) forgetWrites() {
	db.observers = nil
	db.txs = txCache{}
}
