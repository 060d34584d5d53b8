package config

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// listIndexes matches the list indexes of a key path ("[2]").
var listIndexes = regexp.MustCompile(`\[\d+\]`)

// keyFields returns the fields of struct type t that have a config key, in
// declaration order, with the fields of flattened embedded structs in
// place and the remain map left out. It is the one place that reads the
// koanf tags; keys and the printer build on it.
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

// key is one key of Config: its path, with "[]" for the elements of a
// list of objects (mqttSources[].broker), and the Go type of its value.
type key struct {
	path string
	typ  reflect.Type
}

// parent returns the path of the section holding k ("" at the top).
func (k key) parent() string {
	i := strings.LastIndex(k.path, ".")
	return k.path[:max(i, 0)]
}

// name returns the last element of k's path.
func (k key) name() string { return k.path[strings.LastIndex(k.path, ".")+1:] }

// keys lists every key of Config, depth first in declaration order. The
// unknown-key checks, their suggestions and the environment variables
// are all derived from it.
var keys = sync.OnceValue(func() []key {
	var out []key
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for _, f := range keyFields(t) {
			k := key{path: prefix + keyName(f), typ: f.Type}
			out = append(out, k)
			switch {
			case k.typ.Kind() == reflect.Struct:
				walk(k.typ, k.path+".")
			case k.typ.Kind() == reflect.Slice && k.typ.Elem().Kind() == reflect.Struct:
				walk(k.typ.Elem(), k.path+"[].")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
})

// lookupKey returns the key at path, matching case-insensitively; list
// indexes in path ("mqttSources[2].name") match "[]".
func lookupKey(path string) (key, bool) {
	path = listIndexes.ReplaceAllString(path, "[]")
	for _, k := range keys() {
		if strings.EqualFold(k.path, path) {
			return k, true
		}
	}
	return key{}, false
}

// knownKeys returns the names of the keys in the section at the key path
// parent ("" is the top level), in declaration order.
func knownKeys(parent string) []string {
	parent = listIndexes.ReplaceAllString(parent, "[]")
	var names []string
	for _, k := range keys() {
		if strings.EqualFold(k.parent(), parent) {
			names = append(names, k.name())
		}
	}
	return names
}

// jobsWithOption returns the jobs whose kind has option, in declaration
// order.
func jobsWithOption(option string) []string {
	var jobs []string
	for _, k := range keys() {
		if job, ok := strings.CutPrefix(k.parent(), "jobs."); ok && !strings.Contains(job, ".") && strings.EqualFold(k.name(), option) {
			jobs = append(jobs, job)
		}
	}
	return jobs
}

// unknownKeys returns the key paths of the raw config map under path with
// no matching key, in mapstructure's form (a.b, list[2].c). Maps with
// free keys (channelKeys) are not entered.
func unknownKeys(raw any, path string) []string {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	for name, v := range m {
		p := name
		if path != "" {
			p = path + "." + name
		}
		k, ok := lookupKey(p)
		if !ok {
			out = append(out, p)
			continue
		}
		p = strings.TrimSuffix(p, name) + k.name()
		switch {
		case k.typ.Kind() == reflect.Struct:
			out = append(out, unknownKeys(v, p)...)
		case k.typ.Kind() == reflect.Slice && k.typ.Elem().Kind() == reflect.Struct:
			list, _ := v.([]any)
			for i, e := range list {
				out = append(out, unknownKeys(e, p+"["+strconv.Itoa(i)+"]")...)
			}
		}
	}
	return out
}
