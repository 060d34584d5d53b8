package uplink

import (
	"strings"
	"unicode/utf8"
)

// Reasons Filter.Allow refuses a message; bounded metric labels.
const (
	ReasonBlacklisted        = "blacklisted"          // observer in the blacklist
	ReasonIATANotWhitelisted = "iata_not_whitelisted" // region not in the global whitelist
	ReasonIATAFiltered       = "iata_filtered"        // region not in the source's iataFilter
)

// FilterConfig configures a Filter.
type FilterConfig struct {
	// Blacklist lists observer ids (topic public keys) whose messages are
	// dropped, matched case-insensitively after trimming. Empty: none.
	Blacklist []string
	// IATAWhitelist lists the regions accepted from observers, matched
	// case-insensitively after trimming. Empty: all regions.
	IATAWhitelist []string
}

// Filter applies the configured observer blacklist and IATA whitelist, and
// a source's iataFilter. It is immutable, so safe for concurrent use; a nil
// *Filter allows everything but still applies the source's iataFilter.
type Filter struct {
	blacklist map[string]struct{} // lowercased ids
	whitelist map[string]struct{} // uppercased regions
}

// NewFilter builds a Filter. Empty (or blank) entries are ignored.
func NewFilter(cfg FilterConfig) *Filter {
	f := &Filter{}
	for _, id := range cfg.Blacklist {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			if f.blacklist == nil {
				f.blacklist = make(map[string]struct{})
			}
			f.blacklist[id] = struct{}{}
		}
	}
	for _, r := range cfg.IATAWhitelist {
		if r = strings.ToUpper(strings.TrimSpace(r)); r != "" {
			if f.whitelist == nil {
				f.whitelist = make(map[string]struct{})
			}
			f.whitelist[r] = struct{}{}
		}
	}
	return f
}

// Allow decides whether env is stored. It checks, in order:
//
//  1. the observer blacklist against env.Topic.Observer → "blacklisted";
//  2. the global IATA whitelist against env.EffectiveRegion(), for every
//     kind except companion messages, which have no observer or region
//     → "iata_not_whitelisted";
//  3. sourceIATAFilter, the per-source iataFilter (case-insensitive,
//     trimmed; empty allows all), against env.EffectiveRegion(), for
//     packets only: never status or companion messages → "iata_filtered".
//
// It returns ("", true) when the message passes. Set env.SourceRegion before
// calling it: a topic without an IATA falls back to the source's region.
func (f *Filter) Allow(env *Envelope, sourceIATAFilter []string) (reason string, ok bool) {
	companion := env.Kind == KindChannelMessage || env.Kind == KindDirectMessage
	if f.Blacklisted(env.Topic.Observer) {
		return ReasonBlacklisted, false
	}
	var buf [64]byte
	region := strings.TrimSpace(env.EffectiveRegion())
	if f != nil && len(f.whitelist) > 0 && !companion {
		if _, good := f.whitelist[string(foldCase(buf[:0], region, true))]; !good {
			return ReasonIATANotWhitelisted, false
		}
	}
	if env.Kind == KindPacket && !inFoldedList(sourceIATAFilter, region) {
		return ReasonIATAFiltered, false
	}
	return "", true
}

// Blacklisted reports whether the observer id (a topic segment) is in the
// observer blacklist, ignoring case and surrounding whitespace. A nil
// *Filter blacklists nothing.
func (f *Filter) Blacklisted(observer string) bool {
	if f == nil || len(f.blacklist) == 0 {
		return false
	}
	id := strings.TrimSpace(observer)
	if id == "" {
		return false
	}
	var buf [64]byte
	_, bad := f.blacklist[string(foldCase(buf[:0], id, false))]
	return bad
}

// foldCase appends s to dst, upper-cased if upper is set, else lower-cased.
// Indexing a map with string(foldCase(buf[:0], …)) does not allocate for
// ASCII strings that fit buf.
func foldCase(dst []byte, s string, upper bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			if upper {
				return append(dst[:0], strings.ToUpper(s)...)
			}
			return append(dst[:0], strings.ToLower(s)...)
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// inFoldedList reports whether region matches an entry of list, ignoring case
// and surrounding whitespace. An empty list (or one with only blank entries)
// matches everything.
func inFoldedList(list []string, region string) bool {
	nonEmpty := false
	for _, e := range list {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		nonEmpty = true
		if strings.EqualFold(e, region) {
			return true
		}
	}
	return !nonEmpty
}
