package meshcore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
)

// ReadKeyFile reads a rainbow file: a JSON object of channel name to a key
// of 32 hex characters, as CoreScope's channel-rainbow.json. A missing file
// holds no keys. The keys are sorted by name; every bad entry is reported
// (errors.Join), each naming its channel and never its key.
func ReadKeyFile(path string) ([]ChannelKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var file map[string]string
	if err := json.Unmarshal(b, &file); err != nil {
		// Not the error's text: encoding/json quotes the offending
		// character, which may belong to a key.
		var se *json.SyntaxError
		where := ""
		if errors.As(err, &se) {
			where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
		}
		return nil, fmt.Errorf("%s: want a JSON object of name to hex key%s", path, where)
	}
	var keys []ChannelKey
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(file)) {
		k, err := ParseKeyHex(strings.TrimSpace(file[name]))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: key of %q: %w", path, name, err))
			continue
		}
		keys = append(keys, ChannelKey{Name: name, Key: k})
	}
	return keys, errors.Join(errs...)
}

// MergeKeyLayers merges layers of channel keys, lowest priority first: a
// key replaces the one of the same name from an earlier layer. Within a
// layer, names are normalised with NormalizeChannelKeys, and dropped
// lists the names that lost to a canonical spelling. The result is sorted
// by name.
func MergeKeyLayers(layers ...[]ChannelKey) (keys []ChannelKey, dropped []string) {
	merged := map[string][16]byte{}
	for _, layer := range layers {
		out, d := NormalizeChannelKeys(layer)
		dropped = append(dropped, d...)
		for _, k := range out {
			merged[k.Name] = k.Key
		}
	}
	for _, name := range slices.Sorted(maps.Keys(merged)) {
		keys = append(keys, ChannelKey{Name: name, Key: merged[name]})
	}
	return keys, dropped
}
