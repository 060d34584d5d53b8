package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
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

// channelKeys merges the key layers, lowest priority first: the rainbow
// file, hashChannels, then channelKeys. Every bad key is added to p;
// dropped names the keys that lost to the canonical spelling of their
// name within a layer.
func (c *Config) channelKeys(p *problems) (keys []meshcore.ChannelKey, dropped []string) {
	var file []meshcore.ChannelKey
	if c.ChannelKeysPath != "" {
		var err error
		file, err = meshcore.ReadKeyFile(c.ChannelKeysPath)
		p.addEach("channelKeysPath", err)
	}
	var tags []meshcore.ChannelKey
	for i, name := range c.HashChannels {
		name = strings.TrimSpace(name)
		if name == "" || name == "#" {
			p.addf(fmt.Sprintf("hashChannels[%d]", i), "empty channel name")
			continue
		}
		name, k := meshcore.HashtagKey(name)
		tags = append(tags, meshcore.ChannelKey{Name: name, Key: k})
	}
	var configured []meshcore.ChannelKey
	for _, name := range slices.Sorted(maps.Keys(c.ChannelKeysHex)) {
		if strings.HasPrefix(name, "_comment") {
			continue
		}
		k, err := meshcore.ParseKeyHex(strings.TrimSpace(c.ChannelKeysHex[name]))
		if err != nil {
			p.add("channelKeys."+name, err)
			continue
		}
		configured = append(configured, meshcore.ChannelKey{Name: name, Key: k})
	}
	keys, dropped = meshcore.MergeKeyLayers(file, tags, configured)
	return keys, dropped
}
