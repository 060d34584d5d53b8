package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/corescope/etl/etl/mqtt"
)

var durationType = reflect.TypeOf(time.Duration(0))

// numberToDurationHook rejects a bare number for a duration (300 would mean
// 300ns); durations are strings such as "5m". Zero is accepted.
func numberToDurationHook(f, t reflect.Type, data any) (any, error) {
	if t != durationType || f == durationType {
		return data, nil
	}
	switch f.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v is not a duration: write it with a unit, such as \"%vs\"", data, data)
	}
	return data, nil
}

// fractionToIntHook rejects a number with a fraction for an integer key
// (mapstructure would truncate it).
func fractionToIntHook(f, t reflect.Type, data any) (any, error) {
	if f.Kind() != reflect.Float64 && f.Kind() != reflect.Float32 {
		return data, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x := reflect.ValueOf(data).Float()
		if x != math.Trunc(x) {
			return nil, fmt.Errorf("%v is not an integer", data)
		}
	}
	return data, nil
}

// emptyToAbsentHook decodes an empty list or object as an absent key, so
// that "[]" in a file and no key at all load to the same config.
func emptyToAbsentHook(_, _ reflect.Type, data any) (any, error) {
	switch v := data.(type) {
	case []any:
		if len(v) == 0 {
			return nil, nil
		}
	case []string:
		if len(v) == 0 {
			return nil, nil
		}
	case map[string]any:
		if len(v) == 0 {
			return nil, nil
		}
	}
	return data, nil
}

// sourceDefaultsHook gives a source that has no qos key mqtt.DefaultQoS:
// 0 is a valid QoS, so after decoding an absent key could not be told from
// a zero one.
func sourceDefaultsHook(_, t reflect.Type, data any) (any, error) {
	m, ok := data.(map[string]any)
	if !ok || t != reflect.TypeFor[SourceConfig]() {
		return data, nil
	}
	for k := range m {
		if strings.EqualFold(k, "qos") {
			return data, nil
		}
	}
	m = maps.Clone(m)
	m["qos"] = mqtt.DefaultQoS
	return m, nil
}

// addDecodeErrors adds mapstructure's (joined) errors, one per key path.
func addDecodeErrors(p *problems, err error) {
	if err == nil {
		return
	}
	de, ok := err.(*mapstructure.DecodeError)
	if !ok {
		switch u := err.(type) {
		case interface{ Unwrap() []error }: // errors.Join
			for _, e := range u.Unwrap() {
				addDecodeErrors(p, e)
			}
		case interface{ Unwrap() error }: // "decoding failed due to…: %w"
			addDecodeErrors(p, u.Unwrap())
		default:
			p.add("config", err)
		}
		return
	}
	inner := de.Unwrap()
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(inner, &pe):
		inner = fmt.Errorf("cannot parse %q as %s", fmt.Sprint(pe.Value), pe.Expected.Type())
	case errors.As(inner, &ue):
		inner = fmt.Errorf("want %s, got %s", friendlyType(ue.Expected.Type()), friendlyValue(ue.Value))
	}
	p.addUndecodable(de.Name(), inner)
}

func friendlyType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as \"5m\""
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		return "an object"
	}
	return t.String()
}

func friendlyValue(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("string %q", v)
	}
	return fmt.Sprintf("%T %v", v, v)
}

// serverKeys are top-level keys of CoreScope's config.json that only the web
// server reads; they are ignored without a word.
var serverKeys = []string{
	"port", "apiKey", "nodeBlacklist", "https", "branding", "theme", "nodeColors",
	"home", "healthThresholds", "defaultRegion", "mapDefaults", "regions", "cacheTTL",
	"liveMap", "timestamps", "packetStore", "resolvedPath", "neighborGraph",
	"batteryThresholds", "analytics",
	// Added at CoreScope HEAD (a06ac8ac).
	"hiddenNamePrefixes", "listLimits", "corsAllowedOrigins", "markerStroke", "map",
	"areas", "observersCache", "knownChannelsUrl", "knownChannelsRefreshMs",
	"compression", "customizer",
}

// reportUnknownKeys turns unused key paths, and the top-level keys the
// remain map absorbed, into problems. Keys starting with "_comment" are
// CoreScope's comments and always allowed. Inside the sections we own every
// other unknown key is an error. At the top level the file is shared with
// CoreScope's server, so an unknown key is an error only when it looks like
// a misspelling of one of our keys.
func reportUnknownKeys(p *problems, unused []string, server map[string]any, log *slog.Logger) {
	unused = slices.Concat(unused, slices.Collect(maps.Keys(server)))
	slices.Sort(unused)
	for _, key := range slices.Compact(unused) {
		parent, last := splitKeyPath(key)
		if strings.HasPrefix(last, "_comment") {
			continue
		}
		known := knownKeys(parent)
		if parent == "" {
			if slices.ContainsFunc(serverKeys, func(k string) bool { return strings.EqualFold(k, last) }) {
				continue
			}
			s := suggest(last, known)
			if s == "" {
				log.Debug("ignoring config key not used by the ingestor", "key", last)
				continue
			}
			p.addf(key, "unknown key (did you mean %q?)", s)
			continue
		}
		if job, ok := strings.CutPrefix(parent, "jobs."); ok && !strings.Contains(job, ".") {
			if others := jobsWithOption(last); len(others) > 0 {
				p.addf(key, "not an option of the %s job (it applies to %s)", job, strings.Join(others, ", "))
				continue
			}
		}
		if s := suggest(last, known); s != "" {
			p.addf(key, "unknown key (did you mean %q?)", s)
		} else {
			p.addf(key, "unknown key (known keys: %s)", strings.Join(known, ", "))
		}
	}
}

// splitKeyPath splits "a.b[1].c" into "a.b[1]" and "c".
func splitKeyPath(key string) (parent, last string) {
	i := strings.LastIndex(key, ".")
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

// suggest returns the candidate nearest to key by case-insensitive edit
// distance, or "" when none is close enough to be a likely misspelling.
func suggest(key string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(key), strings.ToLower(c))
		if bestD < 0 || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(key) < 5 {
		limit = 1
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
