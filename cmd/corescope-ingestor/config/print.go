package config

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// YAML renders the config as YAML with the config file's key names, in
// declaration order; absent optional values and the keys only CoreScope's
// server reads are left out. check prints Redacted().YAML().
func (c *Config) YAML() ([]byte, error) {
	n, err := yamlNode(reflect.ValueOf(*c))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// formatDuration prints d without zero trailing units: 10m rather than
// 10m0s, 1h rather than 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// yamlNode converts v to a YAML node.
func yamlNode(v reflect.Value) (*yaml.Node, error) {
	if v.Type() == durationType {
		return scalarNode(formatDuration(time.Duration(v.Int())))
	}
	switch v.Kind() {
	case reflect.Pointer:
		return yamlNode(v.Elem())
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range keyFields(v.Type()) {
			fv := v.FieldByIndex(f.Index)
			if fv.Kind() == reflect.Pointer && fv.IsNil() {
				continue
			}
			val, err := yamlNode(fv)
			if err != nil {
				return nil, err
			}
			k, _ := scalarNode(keyName(f))
			m.Content = append(m.Content, k, val)
		}
		return m, nil
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			kn, _ := scalarNode(k.String())
			val, err := yamlNode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, kn, val)
		}
		return m, nil
	case reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		flow := true
		for i := range v.Len() {
			val, err := yamlNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			flow = flow && (val.Kind == yaml.ScalarNode || val.Style == yaml.FlowStyle)
			s.Content = append(s.Content, val)
		}
		if flow {
			s.Style = yaml.FlowStyle
		}
		return s, nil
	}
	return scalarNode(v.Interface())
}

func scalarNode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}
