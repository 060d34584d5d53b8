package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/corescope/etl/etl"
)

// StoredTx is one stored transmission with the columns the decoder derives
// from its raw_hex.
type StoredTx struct {
	ID                                     int64
	Hash                                   string
	RawHex                                 string
	FirstSeen                              string
	RouteType, PayloadType, PayloadVersion int
	DecodedJSON                            string           // "" = NULL
	ChannelHash                            string           // "" = NULL
	FromPubkey                             string           // "" = NULL
	ScopeName                              sql.Null[string] // NULL, '' or '#name'
}

// ReadTransmissions returns up to limit transmissions with id > afterID, in
// id order, through the read pool (the writer is not involved). Rows
// without raw_hex (companion messages) are included with RawHex "".
func (db *DB) ReadTransmissions(ctx context.Context, afterID int64, limit int) ([]StoredTx, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, hash, COALESCE(raw_hex, ''), COALESCE(first_seen, ''),
    COALESCE(route_type, 0), COALESCE(payload_type, 0), COALESCE(payload_version, 0),
    COALESCE(decoded_json, ''), COALESCE(channel_hash, ''), COALESCE(from_pubkey, ''), scope_name
FROM transmissions WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("read transmissions: %w", err)
	}
	defer rows.Close()
	out := make([]StoredTx, 0, limit)
	for rows.Next() {
		var t StoredTx
		if err := rows.Scan(&t.ID, &t.Hash, &t.RawHex, &t.FirstSeen, &t.RouteType, &t.PayloadType, &t.PayloadVersion,
			&t.DecodedJSON, &t.ChannelHash, &t.FromPubkey, &t.ScopeName); err != nil {
			return nil, fmt.Errorf("read transmissions: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read transmissions: %w", err)
	}
	return out, nil
}

// UpdateDerived rewrites the derived columns of the given transmissions in
// one write chunk (yielding to ingest first). A row is changed only if its
// decoded_json is still the one read (old[i]), so a concurrent change is
// never overwritten. For an advert whose transmission is its node's newest
// advert, the node's name, role and position follow the new decoding.
// It returns the rows changed.
func (db *DB) UpdateDerived(ctx context.Context, old []StoredTx, upd []*etl.Packet) (int64, error) {
	var n int64
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		upTx, err := tx.PrepareContext(ctx, `UPDATE transmissions SET route_type = ?, payload_type = ?, payload_version = ?,
    decoded_json = ?, channel_hash = ?, from_pubkey = ?, scope_name = ?
WHERE id = ? AND decoded_json IS ?`)
		if err != nil {
			return err
		}
		defer upTx.Close()
		upNode, err := tx.PrepareContext(ctx, `UPDATE nodes SET
    name = COALESCE(?2, name), role = COALESCE(?3, role), lat = COALESCE(?4, lat), lon = COALESCE(?5, lon)
WHERE public_key = ?1 AND NOT EXISTS (
    SELECT 1 FROM transmissions t WHERE t.from_pubkey = ?1 AND t.payload_type = 4 AND t.first_seen > ?6)`)
		if err != nil {
			return err
		}
		defer upNode.Close()
		for i, d := range upd {
			o := old[i]
			res, err := upTx.ExecContext(ctx, d.RouteType, d.PayloadType, d.PayloadVersion,
				nullString(d.DecodedJSON), nullString(d.ChannelHash), nullString(d.FromPubkey), nullStr(d.Scope),
				o.ID, nullString(o.DecodedJSON))
			if err != nil {
				return fmt.Errorf("update transmission %d: %w", o.ID, err)
			}
			c, _ := res.RowsAffected()
			n += c
			if c > 0 && d.Node != nil && d.Node.PublicKey != "" {
				if _, err := upNode.ExecContext(ctx, d.Node.PublicKey, nullString(d.Node.Name), nullString(d.Node.Role),
					nullFloat(d.Node.Lat), nullFloat(d.Node.Lon), o.FirstSeen); err != nil {
					return fmt.Errorf("update node %s: %w", d.Node.PublicKey, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("update derived columns: %w", err)
	}
	return n, nil
}

func nullStr(v sql.Null[string]) any {
	if !v.Valid {
		return nil
	}
	return v.V
}
