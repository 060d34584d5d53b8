package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// cmdCheck implements "check [-config PATH]": it loads and validates the
// config with the process environment and prints the effective config as
// YAML, secrets redacted. A config error is returned as a usageError (exit
// status 2) listing every problem.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlag(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("check: unexpected arguments %q", fs.Args())}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := cf.load(log)
	if err != nil {
		return err
	}
	out, err := cfg.redacted().marshalYAML()
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	fmt.Fprintf(stdout, "# effective configuration of %s (secrets redacted)\n", cf.path)
	_, err = stdout.Write(out)
	return err
}

// marshalYAML renders the config as YAML with the config file's key names,
// in declaration order. Job options that do not apply to a job are left
// out, as are absent optional values.
func (c *Config) marshalYAML() ([]byte, error) {
	n, err := yamlNode(reflect.ValueOf(*c), "")
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

// yamlNode converts v to a YAML node; job names the JobConfig being
// rendered ("" elsewhere).
func yamlNode(v reflect.Value, job string) (*yaml.Node, error) {
	if v.Type() == durationType {
		return scalarNode(formatDuration(time.Duration(v.Int())))
	}
	switch v.Kind() {
	case reflect.Pointer:
		return yamlNode(v.Elem(), job)
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || (job != "" && !jobHasOption(job, tag)) {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Pointer && fv.IsNil() {
				continue
			}
			child := ""
			if fv.Type() == reflect.TypeOf(JobConfig{}) {
				child = tag
			}
			val, err := yamlNode(fv, child)
			if err != nil {
				return nil, err
			}
			k, _ := scalarNode(tag)
			m.Content = append(m.Content, k, val)
		}
		return m, nil
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			kn, _ := scalarNode(k.String())
			val, err := yamlNode(v.MapIndex(k), "")
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
			val, err := yamlNode(v.Index(i), "")
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
