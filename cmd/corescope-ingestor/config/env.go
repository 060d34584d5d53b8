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

// keyFields returns the fields of struct type t that have a config key, in
// declaration order, with the fields of flattened embedded structs in
// place and the remain map left out.
func keyFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			for _, g := range keyFields(f.Type) {
				g.Index = append([]int{i}, g.Index...) // for FieldByIndex
				out = append(out, g)
			}
		case name != "" && name != "-":
			out = append(out, f)
		}
	}
	return out
}

// keyName returns the config key of a field from keyFields.
func keyName(f reflect.StructField) string { return f.Tag.Get("koanf") }

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
// matching names case-insensitively ("__" separates levels), and records
// it in set. Values of sections, lists of objects and maps are JSON; lists
// of strings are comma-separated. Unknown names are reported to p.
func envTransform(p *problems, set map[string]bool) func(k, v string) (string, any) {
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
			markSet(set, key.path, v)
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
		markSet(set, key.path, val)
		return key.path, val
	}
}

type envKey struct {
	path string // canonical koanf path
	json bool   // value is JSON
}

// envKeyIndex maps SECTION__KEY (upper case) to every key path of Config.
func envKeyIndex() map[string]envKey {
	index := map[string]envKey{}
	var walk func(t reflect.Type, path, env string)
	walk = func(t reflect.Type, path, env string) {
		for _, f := range keyFields(t) {
			tag := keyName(f)
			p, e := tag, strings.ToUpper(tag)
			if path != "" {
				p, e = path+"."+tag, env+"__"+e
			}
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct:
				index[e] = envKey{p, true}
				walk(ft, p, e)
			case ft.Kind() == reflect.Map,
				ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.String:
				index[e] = envKey{p, true}
			default:
				index[e] = envKey{p, false}
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", "")
	return index
}
