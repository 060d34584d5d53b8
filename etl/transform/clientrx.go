package transform

import (
	"database/sql"
	"math"
	"strings"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/uplink"
)

// Reasons a mobile client's reception is rejected (head.md §2.16), in
// corescope_ingest_rejects_total.
const (
	ReasonClientPubkey   = "client_invalid_pubkey" // the topic key is not 2–64 lowercase hex digits (once lower-cased)
	ReasonClientNoGPS    = "client_no_gps"         // no "gps" object with numeric lat and lon
	ReasonClientGPSRange = "client_gps_range"      // lat outside ±90 or lon outside ±180
	ReasonClientDecode   = "client_decode_error"   // the packet does not decode
)

// Results of a decoded client reception, the labels of
// corescope_ingest_client_receptions_total: "heard" produced a
// client_receptions record; the others name why the packet does not tell
// which node the client heard directly, and store nothing.
const (
	clientHeard        = "heard"
	clientNotRx        = "not_rx"         // direction is not "rx"
	clientDirectRoute  = "direct_route"   // hops on a direct route: the last hop is not the transmitter
	clientShortHop     = "short_hop"      // the last hop is a 1-byte prefix
	clientUnattributed = "unattributable" // no hops and not an advert
)

// clientReception turns a <p>/client/<key>/packets message into a
// client_receptions record when the client heard a node directly (head.md
// §2.16). Only the observer blacklist applies to it; the skip list and the
// IATA lists do not.
func (t *Transformer) clientReception(m *etl.Message, env *uplink.Envelope, out []etl.Record) []etl.Record {
	if t.cfg.Filter.Blacklisted(env.Topic.Observer) {
		t.m.filtered.WithLabelValues(uplink.ReasonBlacklisted).Inc()
		return out
	}
	key := strings.ToLower(strings.TrimSpace(env.Topic.Observer))
	if !clientKey(key) {
		t.reject(ReasonClientPubkey, m)
		return out
	}
	g := env.GPS
	if !g.OK {
		t.reject(ReasonClientNoGPS, m)
		return out
	}
	if g.Lat < -90 || g.Lat > 90 || g.Lon < -180 || g.Lon > 180 {
		t.reject(ReasonClientGPSRange, m, "lat", g.Lat, "lon", g.Lon)
		return out
	}
	p, err := t.clientDecoder.Decode(env.Raw)
	if err != nil {
		kind := t.decodeError(err)
		t.reject(ReasonClientDecode, m, "kind", kind, "err", err)
		return out
	}
	heard, src, result := heardKey(env.Direction, p)
	t.m.clientRx.WithLabelValues(result).Inc()
	if result != clientHeard {
		return out
	}
	when := receiptTime(m)
	c := &etl.ClientReception{
		RxPubkey: key,
		Name:     env.Origin,
		HeardKey: heard,
		Src:      src,
		RxAt:     env.RxTime(when),
		Lat:      g.Lat,
		Lon:      g.Lon,
		AccM:     g.AccM,
		SNR:      env.SNR,
	}
	if env.RSSI.Valid && env.RSSI.V > math.MinInt64 && env.RSSI.V < math.MaxInt64 {
		c.RSSI = sql.Null[int64]{V: int64(env.RSSI.V), Valid: true} // truncated toward zero
	}
	return append(out, etl.Record{Kind: etl.KindClientReception, Time: when, Client: c})
}

// clientKey reports whether k is 2 to 64 lowercase hex digits.
func clientKey(k string) bool {
	if len(k) < 2 || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// heardKey names the node a client heard directly (head.md §2.16), or says
// why the packet does not tell. Only a reception ("rx") counts. A flood
// packet with hops was last transmitted by its last hop, which each
// forwarder appends; a direct route consumes hops from the front, so its
// last hop is not the transmitter. A 1-byte hop is too ambiguous to keep. A
// zero-hop advert was heard from the advertiser itself.
func heardKey(direction string, p *meshcore.Packet) (key, src, result string) {
	if !strings.EqualFold(direction, "rx") {
		return "", "", clientNotRx
	}
	if len(p.Hops) > 0 {
		if p.RouteType != meshcore.RouteTransportFlood && p.RouteType != meshcore.RouteFlood {
			return "", "", clientDirectRoute
		}
		last := strings.ToLower(strings.TrimSpace(p.Hops[len(p.Hops)-1]))
		if len(last) < 4 {
			return "", "", clientShortHop
		}
		return last, "rxlog", clientHeard
	}
	if a := p.Advert; a != nil && a.PubKey != "" {
		return strings.ToLower(a.PubKey), "advert", clientHeard
	}
	return "", "", clientUnattributed
}
