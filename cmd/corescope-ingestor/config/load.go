package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	jsonparser "github.com/knadh/koanf/parsers/json"
	yamlparser "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	envprovider "github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/v2"
)

// Names of the environment variables Load reads.
const (
	EnvDBPath          = "DB_PATH"
	EnvMQTTBroker      = "MQTT_BROKER"
	EnvMQTTTopic       = "MQTT_TOPIC"
	EnvStatsFile       = "CORESCOPE_INGESTOR_STATS"
	EnvChannelKeysPath = "CHANNEL_KEYS_PATH"
	// EnvPrefix maps CORESCOPE_SECTION__KEY=value onto section.key.
	EnvPrefix = "CORESCOPE_"
)

// Load reads the config file at path (YAML for .yaml/.yml, JSON
// otherwise), applies the environment environ (os.Environ form) and returns
// the validated, effective config. explicit says whether the path was given
// with -config: a missing default file means zero-config defaults, a missing
// explicit file is an error. Every problem is reported at once in an *Error.
func Load(path string, explicit bool, environ []string, log *slog.Logger) (*Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var p problems
	fail := func() (*Config, error) {
		return nil, &Error{err: errors.Join(p.errs...)}
	}
	// Layers: the file, CORESCOPE_SECTION__KEY, then CoreScope's named
	// variables, which win. The defaults are the struct decoding starts
	// from, so that ko holds exactly the keys that were given.
	ko := koanf.New(".")
	fileMap, err := readFile(path, explicit, log)
	if err != nil {
		p.add(path, err)
		return fail()
	}
	if err := ko.Load(confmap.Provider(fileMap, ""), nil); err != nil {
		p.add(path, err)
		return fail()
	}
	if err := ko.Load(envprovider.Provider(".", envprovider.Opt{
		Prefix:        EnvPrefix,
		EnvironFunc:   func() []string { return environ },
		TransformFunc: envTransform(&p),
	}), nil); err != nil {
		p.add("environment", err)
	}
	named := namedEnv(envMap(environ), log)
	if err := ko.Load(confmap.Provider(named, "."), nil); err != nil {
		p.add("environment", err)
	}
	// The key paths given, lower-cased: keys match case-insensitively, as
	// in CoreScope.
	set := map[string]bool{}
	for _, k := range ko.Keys() {
		set[strings.ToLower(k)] = true
	}

	c, unused := decode(ko, &p)
	reportUnknownKeys(&p, unused, c.Server, log)
	c.normalize(path, func(key string) bool { return set[strings.ToLower(key)] }, &p, log)
	if len(p.errs) > 0 {
		return fail()
	}
	return c, nil
}

// readFile parses the config file at path, its null values dropped. A
// missing file that was not given explicitly is empty.
func readFile(path string, explicit bool, log *slog.Logger) (map[string]any, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		log.Info("config file not found, using defaults", "path", path)
		return map[string]any{}, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.New("config file not found")
	case err != nil:
		return nil, fmt.Errorf("parse: %w", err)
	}
	// Like CoreScope, any other extension is read as JSON.
	var parser koanf.Parser = jsonparser.Parser()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		parser = yamlparser.Parser()
	}
	m, err := parser.Unmarshal(b)
	if err != nil {
		return nil, describeParseError(b, err)
	}
	dropNulls(m)
	return m, nil
}

// decode unmarshals ko onto the defaults, so that a key given as null keeps
// its default, and returns the config with the key paths no field took.
func decode(ko *koanf.Koanf, p *problems) (*Config, []string) {
	c := Default()
	var md mapstructure.Metadata
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			numberToDurationHook,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
			fractionToIntHook,
			sourceDefaultsHook,
			emptyToAbsentHook, // last: it may return nil, which ends the chain
		),
		WeaklyTypedInput: true,
		Metadata:         &md,
		TagName:          "koanf",
		SquashTagOption:  "flatten", // the option koanf's structs provider reads
	}
	err := ko.UnmarshalWithConf("", c, koanf.UnmarshalConf{DecoderConfig: dc})
	addDecodeErrors(p, err)
	unused := md.Unused
	if err != nil {
		// mapstructure drops the unused keys of a struct that failed to
		// decode; find them ourselves so all problems show at once.
		unused = append(unused, unknownKeys(ko.Raw(), "")...)
	}
	return c, unused
}

// describeParseError adds the line and column to a JSON syntax error, which
// encoding/json reports only as a byte offset.
func describeParseError(b []byte, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset > int64(len(b)) {
		return fmt.Errorf("parse: %w", err)
	}
	line := 1 + strings.Count(string(b[:se.Offset]), "\n")
	col := int(se.Offset) - strings.LastIndex(string(b[:se.Offset]), "\n") - 1
	return fmt.Errorf("parse: line %d column %d: %w", line, col, err)
}

// dropNulls removes null values from nested maps, so that a key written as
// null (or a YAML section whose children are all commented out) means
// "absent" and keeps its default.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNulls(v)
		}
	}
}
