package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/corescope/etl/etl/mqtt"
)

// namedEnv maps CoreScope's environment variables onto config keys. Empty
// values are ignored, as in CoreScope.
func namedEnv(env map[string]string, log *slog.Logger) map[string]any {
	out := map[string]any{}
	if v := env[EnvDBPath]; v != "" {
		out["dbPath"] = v
	}
	if v := env[EnvMQTTBroker]; v != "" {
		topic := env[EnvMQTTTopic]
		if topic == "" {
			topic = mqtt.DefaultTopic
		}
		out["mqttSources"] = []any{map[string]any{
			"name": "env", "broker": v, "topics": []any{topic},
		}}
		log.Info("mqtt sources replaced by environment", "env", EnvMQTTBroker, "broker", mqtt.RedactURL(v), "topic", topic)
	} else if env[EnvMQTTTopic] != "" {
		log.Warn("environment variable ignored without MQTT_BROKER", "env", EnvMQTTTopic)
	}
	if v := env[EnvStatsFile]; v != "" {
		out["stats.file"] = v
	}
	if v := env[EnvChannelKeysPath]; v != "" {
		out["channelKeysPath"] = v
	}
	return out
}

// envMap turns an os.Environ-style list into a map; the first entry of a
// name wins, as with os.Getenv.
func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

// envTransform maps CORESCOPE_SECTION__KEY to the known key section.key,
// matching names case-insensitively ("__" separates levels). Values of sections, lists of objects and maps are JSON; lists
// of strings are comma-separated. Unknown names are reported to p.
func envTransform(p *problems) func(k, v string) (string, any) {
	index := envKeyIndex()
	return func(k, v string) (string, any) {
		if k == EnvStatsFile {
			return "", nil // CoreScope's variable, handled by namedEnv
		}
		name := strings.TrimPrefix(k, EnvPrefix)
		key, ok := index[strings.ToUpper(name)]
		if !ok {
			// CORESCOPE_* is a shared namespace (CoreScope's server may use
			// variables of its own in the same environment): only a name that
			// is close to one of ours, or that addresses a nested key, is
			// reported as an error; others are ignored.
			var names []string
			for n := range index {
				names = append(names, EnvPrefix+n)
			}
			if s := suggest(k, names); s != "" {
				p.addf(k, "unknown environment variable (did you mean %s?)", s)
			} else if strings.Contains(name, "__") {
				p.addf(k, "unknown environment variable")
			}
			return "", nil
		}
		if !key.json {
			return key.path, v
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			// Not the error's text: encoding/json quotes the offending
			// character, which may belong to a password or a key.
			var se *json.SyntaxError
			where := ""
			if errors.As(err, &se) {
				where = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
			}
			p.addf(k, "value of %s must be JSON%s", key.path, where)
			return "", nil
		}
		return key.path, val
	}
}

type envKey struct {
	path string // canonical koanf path
	json bool   // value is JSON
}

// envKeyIndex maps SECTION__KEY (upper case) to every key path of Config
// outside lists.
func envKeyIndex() map[string]envKey {
	index := map[string]envKey{}
	for _, k := range keys() {
		if strings.Contains(k.path, "[]") {
			continue
		}
		kind := k.typ.Kind()
		json := kind == reflect.Struct || kind == reflect.Map || kind == reflect.Slice && k.typ.Elem().Kind() != reflect.String
		index[strings.ToUpper(strings.ReplaceAll(k.path, ".", "__"))] = envKey{k.path, json}
	}
	return index
}
