package meshcore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys, err := ReadKeyFile(filepath.Join(dir, "missing.json"))
	if keys != nil || err != nil {
		t.Fatalf("missing file: %v, %v", keys, err)
	}
	good := strings.Repeat("ab", 16)
	keys, err = ReadKeyFile(write("ok.json", `{"#b": "`+good+`", "#a": " `+good+` "}`))
	if err != nil || len(keys) != 2 || keys[0].Name != "#a" || keys[1].Name != "#b" || keys[0].Key[0] != 0xab {
		t.Fatalf("keys = %+v, err = %v", keys, err)
	}
	keys, err = ReadKeyFile(write("bad.json", `{"#ok": "`+good+`", "#short": "secretabc", "#hex": "`+strings.Repeat("zz", 16)+`"}`))
	if len(keys) != 1 || err == nil || !strings.Contains(err.Error(), `key of "#short": must be 32 hex`) ||
		!strings.Contains(err.Error(), `key of "#hex": must contain only hex`) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("keys = %+v, err = %v", keys, err)
	}
	if _, err := ReadKeyFile(write("syntax.json", `{"#a": "secret`)); err == nil || !strings.Contains(err.Error(), "want a JSON object") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestMergeKeyLayers(t *testing.T) {
	k := func(name string, b byte) ChannelKey { return ChannelKey{Name: name, Key: [16]byte{b}} }
	keys, dropped := MergeKeyLayers(
		[]ChannelKey{k("#a", 1), k("public", 2)},
		[]ChannelKey{k("#a", 3)},
		[]ChannelKey{k("PUBLIC", 4), k("Public", 5)},
	)
	if len(keys) != 2 || keys[0] != k("#a", 3) || keys[1] != k("Public", 5) {
		t.Errorf("keys = %+v", keys)
	}
	if len(dropped) != 1 || dropped[0] != "PUBLIC" {
		t.Errorf("dropped = %v", dropped)
	}
}
