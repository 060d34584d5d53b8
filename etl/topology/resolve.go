package topology

import (
	"encoding/json"
	"slices"
	"strings"
)

// payloadAdvert is MeshCore's ADVERT payload type: only adverts name their
// origin (from_pubkey), which anchors the first hop.
const payloadAdvert = 4

// Resolver resolves path hops with an Index and a Graph. It is immutable
// and safe for concurrent use; a nil Index or Graph is empty.
type Resolver struct {
	Index *Index
	Graph *Graph
}

// Resolve appends to dst one entry per hop: the hop's full lower-case key,
// or "" when it does not resolve (spec head.md §2.8,
// resolvePathWithContext). The anchor starts as anchor (the advert's
// origin, or ""), and a seen set starts with it. A hop with one candidate
// resolves to it unless it was seen; a hop with several resolves only when
// there is an anchor and exactly one unseen candidate is the anchor's
// neighbour in the graph. A resolved hop becomes the anchor and is seen; an
// unresolved one clears the anchor.
func (r *Resolver) Resolve(dst []string, hops []string, anchor string) []string {
	anchor = strings.ToLower(anchor)
	var seenBuf [16]string
	seen := seenBuf[:0]
	if anchor != "" {
		seen = append(seen, anchor)
	}
	var x *Index
	var g *Graph
	if r != nil {
		x, g = r.Index, r.Graph
	}
	for _, hop := range hops {
		var got string
		switch n, one, many := x.candidates(hop); {
		case n == 1:
			if !slices.Contains(seen, one) {
				got = one
			}
		case n > 1 && anchor != "":
			// The anchor's neighbours are fewer than the candidates of a
			// short prefix: look for the candidates among them.
			for _, k := range g.Neighbours(anchor) {
				if !hasPrefixFold(k, hop) || slices.Contains(seen, k) || !x.among(many, k) {
					continue
				}
				if got != "" {
					got = "" // a second candidate: still ambiguous
					break
				}
				got = k
			}
		}
		dst = append(dst, got)
		anchor = got
		if got != "" {
			seen = append(seen, got)
		}
	}
	return dst
}

// ResolvedPath returns observations.resolved_path for a packet of
// payloadType from fromPubkey (used as the anchor of adverts only) with
// path pathJSON: a JSON array with one element per hop, the full lower-case
// key or null, e.g. ["46d6…5d84",null]. It returns "" (SQL NULL) when the
// path has no hops, cannot be read, or no hop resolves, so that a duplicate
// never clobbers a stored value (spec head.md §2.8, marshalResolvedPath).
func (r *Resolver) ResolvedPath(payloadType int, fromPubkey, pathJSON string) string {
	var hopBuf, keyBuf [16]string
	hops, ok := ParseHops(hopBuf[:0], pathJSON)
	if !ok || len(hops) == 0 {
		return ""
	}
	anchor := ""
	if payloadType == payloadAdvert {
		anchor = fromPubkey
	}
	keys := r.Resolve(keyBuf[:0], hops, anchor)
	size := 2
	for _, k := range keys {
		size += max(len(k)+2, 4) + 1 // "key" or null, and a comma
	}
	if !slices.ContainsFunc(keys, func(k string) bool { return k != "" }) {
		return ""
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case k == "":
			b = append(b, "null"...)
		case isPlain(k):
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, '"')
		default:
			q, _ := json.Marshal(k) // a legacy key with odd characters
			b = append(b, q...)
		}
	}
	b = append(b, ']')
	return string(b)
}

// isPlain reports whether k needs no JSON escaping.
func isPlain(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return false
		}
	}
	return true
}

// Edges appends to dst the neighbour pairs one observation contributes to
// neighbor_edges (spec head.md §2.9), resolving hops by unique prefix only
// (an ambiguous prefix never makes an edge). from is the packet's origin
// key (from_pubkey, or the advert's decoded pubKey), observer the
// observer's id; both may be "". For an advert heard with no hops the pair
// is origin↔observer; with hops, origin↔first hop (adverts only) and,
// independently, observer↔last hop. A pair of a key with itself is
// skipped. Pairs are canonical.
func (x *Index) Edges(dst []Pair, payloadType int, from, pathJSON, observer string) []Pair {
	from, observer = strings.ToLower(from), strings.ToLower(observer)
	advert := payloadType == payloadAdvert && from != ""
	var hopBuf [16]string
	hops, ok := ParseHops(hopBuf[:0], pathJSON)
	if !ok || len(hops) == 0 {
		if advert && observer != "" && from != observer {
			dst = append(dst, NewPair(from, observer))
		}
		return dst
	}
	if advert {
		if k, ok := x.Unique(hops[0]); ok && k != from {
			dst = append(dst, NewPair(from, k))
		}
	}
	if observer != "" {
		if k, ok := x.Unique(hops[len(hops)-1]); ok && k != observer {
			dst = append(dst, NewPair(observer, k))
		}
	}
	return dst
}

// hasPrefixFold reports whether key (lower case) starts with hop in any
// case.
func hasPrefixFold(key, hop string) bool {
	if len(key) < len(hop) {
		return false
	}
	for i := 0; i < len(hop); i++ {
		c := hop[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if key[i] != c {
			return false
		}
	}
	return true
}
