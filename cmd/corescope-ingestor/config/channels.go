package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/corescope/etl/etl/meshcore"
)

// DefaultChannelKeysFile is the rainbow key file name, looked up in the
// directory of the config file.
const DefaultChannelKeysFile = "channel-rainbow.json"

// normalizeChannels defaults channelKeysPath next to the config file at
// path and validates every channel key layer.
func (c *Config) normalizeChannels(path string, p *problems) {
	if c.ChannelKeysPath == "" {
		c.ChannelKeysPath = filepath.Join(filepath.Dir(path), DefaultChannelKeysFile)
	}
	c.channelKeys(p)
}

// ChannelKeys merges the configured channel keys in CoreScope's three
// layers, each overriding the previous: the rainbow file at ChannelKeysPath
// (optional), keys derived from HashChannels, then ChannelKeysHex. Names are
// normalised with meshcore.NormalizeChannelName ("public" is "Public");
// within one layer the canonical spelling wins a collision. The result is
// sorted by name and does not include the built-in keys (DecoderOptions
// adds them). Errors name the key path and never contain key material.
func (c *Config) ChannelKeys() ([]meshcore.ChannelKey, error) {
	var p problems
	keys, _ := c.channelKeys(&p)
	return keys, errors.Join(p.errs...)
}

// DecoderOptions returns the decoder options the daemon uses, so that the
// decode subcommand decodes exactly as the daemon stores: the configured
// channel keys, then extra (the decode subcommand's -key and -hashtag,
// which win over configured keys of the same name), then the built-in ones
// (meshcore.BuiltinKeys, lowest priority), the hashRegions keys, and
// signature verification. A channel name dropped by normalisation is
// logged as a warning.
func (c *Config) DecoderOptions(log *slog.Logger, extra ...meshcore.ChannelKey) (meshcore.Options, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var p problems
	keys, dropped := c.channelKeys(&p)
	if len(p.errs) > 0 {
		return meshcore.Options{}, &Error{err: errors.Join(p.errs...)}
	}
	for _, d := range dropped {
		log.Warn("channel key ignored: another key of the same layer has the canonical spelling of its name",
			"channel", d, "canonical", meshcore.NormalizeChannelName(d))
	}
	return meshcore.Options{
		Keys:             meshcore.NewKeyring(slices.Concat(keys, extra, meshcore.BuiltinKeys())),
		Regions:          meshcore.NewRegions(c.HashRegions),
		VerifySignatures: c.ValidateSignatures,
	}, nil
}

// channelKeys merges the layers (see ChannelKeys) and returns the original
// names of the keys that lost a collision after name normalisation.
func (c *Config) channelKeys(p *problems) (keys []meshcore.ChannelKey, dropped []string) {
	merged := map[string][16]byte{}
	layer := func(ks []meshcore.ChannelKey) {
		out, d := meshcore.NormalizeChannelKeys(ks)
		dropped = append(dropped, d...)
		for _, k := range out {
			merged[k.Name] = k.Key
		}
	}
	if c.ChannelKeysPath != "" {
		b, err := os.ReadFile(c.ChannelKeysPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			p.add("channelKeysPath", err)
		default:
			var file map[string]string
			if err := json.Unmarshal(b, &file); err != nil {
				// encoding/json quotes the offending character, which may
				// be part of a key: report the position only.
				var se *json.SyntaxError
				where := ""
				if errors.As(err, &se) {
					where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
				}
				p.addf("channelKeysPath", "%s: want a JSON object of name to hex key%s", c.ChannelKeysPath, where)
			}
			var ks []meshcore.ChannelKey
			for _, name := range slices.Sorted(maps.Keys(file)) {
				k, err := parseChannelKey(file[name])
				if err != nil {
					p.addf("channelKeysPath", "%s: key of %q: %v", c.ChannelKeysPath, name, err)
					continue
				}
				ks = append(ks, meshcore.ChannelKey{Name: name, Key: k})
			}
			layer(ks)
		}
	}
	var ks []meshcore.ChannelKey
	for i, name := range c.HashChannels {
		name = strings.TrimSpace(name)
		if name == "" || name == "#" {
			p.addf(fmt.Sprintf("hashChannels[%d]", i), "empty channel name")
			continue
		}
		name, k := meshcore.HashtagKey(name)
		ks = append(ks, meshcore.ChannelKey{Name: name, Key: k})
	}
	layer(ks)
	ks = nil
	for _, name := range slices.Sorted(maps.Keys(c.ChannelKeysHex)) {
		if strings.HasPrefix(name, "_comment") {
			continue
		}
		k, err := parseChannelKey(c.ChannelKeysHex[name])
		if err != nil {
			p.add("channelKeys."+name, err)
			continue
		}
		ks = append(ks, meshcore.ChannelKey{Name: name, Key: k})
	}
	layer(ks)
	keys = make([]meshcore.ChannelKey, 0, len(merged))
	for name, k := range merged {
		keys = append(keys, meshcore.ChannelKey{Name: name, Key: k})
	}
	slices.SortFunc(keys, func(a, b meshcore.ChannelKey) int { return strings.Compare(a.Name, b.Name) })
	return keys, dropped
}

// parseChannelKey decodes a 32-hex-character (16-byte) channel key,
// surrounding spaces ignored. Its errors never echo the key.
func parseChannelKey(s string) ([16]byte, error) {
	return meshcore.ParseKeyHex(strings.TrimSpace(s))
}
