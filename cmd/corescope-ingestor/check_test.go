package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/jobs/maintenance"
)

// cleanEnv removes the variables config.Load reads from the test process's
// environment (cmdCheck reads os.Environ), restoring them afterwards.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, config.EnvPrefix), name == config.EnvDBPath, name == config.EnvMQTTBroker,
			name == config.EnvMQTTTopic, name == config.EnvChannelKeysPath:
			t.Setenv(name, "") // registers the restore
			os.Unsetenv(name)
		}
	}
}

func TestCmdCheckRedactsSecrets(t *testing.T) {
	cleanEnv(t)
	secrets := []string{"s3cret-mqtt-pass", "s3cret-http-pass", "s3cret-bearer", "8b3387e9c5cdea6ac9e5edbaa115cd72", "s3cret-in-url"}
	path := writeConfig(t, "config.json", `{
  "mqttSources": [
    {"name": "a", "broker": "mqtts://broker.example:8883", "username": "u", "password": "s3cret-mqtt-pass"},
    {"name": "b", "broker": "mqtt://user:s3cret-in-url@broker.example:1883"}
  ],
  "http": {"username": "admin", "password": "s3cret-http-pass", "bearerToken": "s3cret-bearer"},
  "channelKeys": {"Public": "8b3387e9c5cdea6ac9e5edbaa115cd72"}
}`)
	var stdout, stderr bytes.Buffer
	if err := cmdCheck(context.Background(), []string{"-config", path}, &stdout, &stderr); err != nil {
		t.Fatalf("check: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, s := range secrets {
		if strings.Contains(out, s) || strings.Contains(stderr.String(), s) {
			t.Errorf("output contains secret %q:\n%s", s, out)
		}
	}

	var doc struct {
		MQTTSources []map[string]any  `yaml:"mqttSources"`
		HTTP        map[string]any    `yaml:"http"`
		ChannelKeys map[string]string `yaml:"channelKeys"`
		Jobs        map[string]any    `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("output is not valid YAML: %v\n%s", err, out)
	}
	if len(doc.MQTTSources) != 2 || doc.MQTTSources[0]["password"] != config.RedactedValue || doc.MQTTSources[0]["username"] != "u" ||
		doc.MQTTSources[1]["broker"] != "mqtt://user:xxxxx@broker.example:1883" || doc.MQTTSources[1]["password"] != "" {
		t.Errorf("sources = %v", doc.MQTTSources)
	}
	if doc.HTTP["password"] != config.RedactedValue || doc.HTTP["bearerToken"] != config.RedactedValue || doc.HTTP["username"] != "admin" {
		t.Errorf("http = %v", doc.HTTP)
	}
	if doc.ChannelKeys["Public"] != config.RedactedValue {
		t.Errorf("channelKeys = %v", doc.ChannelKeys)
	}
	// Job options appear only on the jobs they belong to.
	wal, _ := doc.Jobs[maintenance.NameWALCheckpoint].(map[string]any)
	vac, _ := doc.Jobs[maintenance.NameVacuum].(map[string]any)
	if _, ok := wal["days"]; ok || vac["pages"] != maintenance.DefaultVacuumPages || vac["days"] != nil {
		t.Errorf("walCheckpoint = %v, vacuum = %v", wal, vac)
	}
}

// TestCmdCheckRoundTrip checks that the effective config printed by check
// is itself a config that loads to the same result.
func TestCmdCheckRoundTrip(t *testing.T) {
	cleanEnv(t)
	for _, path := range []string{
		"../../etc/corescope-ingestor.yaml",
		writeConfig(t, "c.yaml", `
mqttSources:
  - {broker: "mqtt://a:1883", qos: 0, cleanSession: false, rejectUnauthorized: false, iataFilter: [SJC]}
retention: {packetDays: 30, observerDays: -1}
jobs:
  vacuum: {schedule: "@every 6h", onStartup: true}
  prunePackets: {schedule: "CRON_TZ=Europe/Paris 30 3 * * *", jitter: 90s}
geo_filter: {polygon: [[1, 2], [3, 4], [5, 6]], bufferKm: 2.5, latMin: 0, latMax: 10, lonMin: -1, lonMax: 7}
logFormat: json
`),
	} {
		want := mustLoad(t, path, nil)
		var stdout, stderr bytes.Buffer
		if err := cmdCheck(context.Background(), []string{"-config", path}, &stdout, &stderr); err != nil {
			t.Fatalf("check %s: %v\n%s", path, err, stderr.String())
		}
		again := filepath.Join(t.TempDir(), "effective.yaml")
		if err := os.WriteFile(again, stdout.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		got := mustLoad(t, again, nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: check output does not load back to the same config:\n%s", path, stdout.String())
		}
	}
}

func TestCmdCheckConfigError(t *testing.T) {
	cleanEnv(t)
	path := writeConfig(t, "c.yaml", "retention:\n  packetDay: 30\njobs:\n  prunePackets:\n    schedule: '@dailyy'\n")
	var stdout, stderr bytes.Buffer
	err := cmdCheck(context.Background(), []string{"-config", path}, &stdout, &stderr)
	if !errors.As(err, &usageError{}) {
		t.Fatalf("err = %T %v, want a usageError", err, err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Errorf("err = %v, want a *config.Error inside", err)
	}
	assertProblems(t, err,
		`retention.packetDay: unknown key (did you mean "packetDays"?)`,
		`jobs.prunePackets.schedule: parse "@dailyy"`)
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing on error", stdout.String())
	}
	if code := exitCode(err, &stderr); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
}

func TestCmdCheckUsage(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{{"-nope"}, {"-config", "x.json", "extra"}, {"-config", filepath.Join(t.TempDir(), "missing.json")}} {
		var stdout, stderr bytes.Buffer
		err := cmdCheck(context.Background(), args, &stdout, &stderr)
		if !errors.As(err, &usageError{}) {
			t.Errorf("check %q: err = %v, want a usageError", args, err)
		}
	}
}

func TestCmdCheckZeroConfig(t *testing.T) {
	cleanEnv(t)
	t.Chdir(t.TempDir())
	var stdout, stderr bytes.Buffer
	if err := cmdCheck(context.Background(), nil, &stdout, &stderr); err != nil {
		t.Fatalf("check without config.json: %v", err)
	}
	if !strings.Contains(stderr.String(), "config file not found, using defaults") ||
		!strings.Contains(stdout.String(), "broker: "+config.DefaultLocalBroker) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}

// A broker URL that net/url rejects is reported without its password,
// from the config file and from MQTT_BROKER (issue #14 item 6).
func TestCmdCheckNeverEchoesBrokerPassword(t *testing.T) {
	const secret = "pa55w0rd"
	urls := map[string]string{
		"bad escape":        "mqtt://user:" + secret + "%zz@broker.example:1883",
		"bad port":          "mqtt://user:" + secret + "@broker.example:18x3",
		"space in userinfo": "mqtt://us er:" + secret + "@broker.example:1883",
		"space in password": "mqtt://user:" + secret + " x@broker.example:1883",
		"missing slashes":   "mqtt:user:" + secret + "@broker.example:1883",
		"bad scheme":        "http://user:" + secret + "@broker.example",
		"no host":           "mqtt://user:" + secret + "@",
		"control character": "mqtt://user:" + secret + "\x01@broker.example:1883",
	}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			cleanEnv(t)
			b, _ := json.Marshal(map[string]any{"mqttSources": []any{map[string]any{"name": "a", "broker": u}}})
			path := writeConfig(t, "config.json", string(b))
			t.Run("file", func(t *testing.T) { checkRejectsWithout(t, secret, "mqttSources[0].broker", "-config", path) })
			t.Run("MQTT_BROKER", func(t *testing.T) {
				t.Setenv(config.EnvMQTTBroker, u)
				checkRejectsWithout(t, secret, "mqttSources[0].broker", "-config", writeConfig(t, "config.json", `{}`))
			})
			t.Run("legacy mqtt.broker", func(t *testing.T) {
				b, _ := json.Marshal(map[string]any{"mqtt": map[string]any{"broker": u}})
				checkRejectsWithout(t, secret, "mqttSources[0].broker", "-config", writeConfig(t, "config.json", string(b)))
			})
		})
	}
}

// checkRejectsWithout runs check with args and wants exit status 2, an
// error naming key, and secret nowhere in the error, stdout or stderr.
func checkRejectsWithout(t *testing.T, secret, key string, args ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"check"}, args...), nil, &stdout, &stderr)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), key) {
		t.Fatalf("err %v, want a usage error naming %s", err, key)
	}
	for what, s := range map[string]string{"error": err.Error(), "stdout": stdout.String(), "stderr": stderr.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains the password:\n%s", what, s)
		}
	}
}

// writeConfig writes content to name in a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad loads the config at path with environ.
func mustLoad(t *testing.T, path string, environ []string) *config.Config {
	t.Helper()
	c, err := config.Load(path, true, environ, nil)
	if err != nil {
		t.Fatalf("config.Load(%s): %v", path, err)
	}
	return c
}

// assertProblems checks that err holds a *config.Error and that, for each
// want entry "key: text", some line of the message starts with "key: " and
// contains text.
func assertProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	if _, ok := errors.AsType[*config.Error](err); !ok {
		t.Fatalf("error %T is not a *config.Error: %v", err, err)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		key, text, _ := strings.Cut(w, ": ")
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, key+": ") && strings.Contains(l, text) }) {
			t.Errorf("no line %q in:\n%s", w, err)
		}
	}
}
