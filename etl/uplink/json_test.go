package uplink

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var jsonCases = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[1,2]`, `[1,]`, `{"a":1,}`, `{"a":1`, `{"a" 1}`, `{a:1}`, `{"a":1}x`,
	`"x"`, `"\u00e9"`, `"\u00G9"`, `"\x"`, "\"a\tb\"", `"a\"b"`, `"a\\"`, `"a\\\"`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-5`, `.5`, `+1`, `1.5e3`,
	`true`, `tru`, `nul`, `null`, `false`, `False`, `nulll`,
	`{"a":{"b":[1,{"c":null}]},"d":"e"}`, `{"a":[}`, `{"a":[1 2]}`, `{"":1}`,
	"{\"a\":1}\n", "\u00a0{}", `{"a":"\ud800"}`, "{\"a\":\"\xff\"}",
	strings.Repeat("[", maxNestingDepth) + strings.Repeat("]", maxNestingDepth),
	strings.Repeat("[", maxNestingDepth+1) + strings.Repeat("]", maxNestingDepth+1),
	strings.Repeat(`{"a":`, maxNestingDepth) + "1" + strings.Repeat("}", maxNestingDepth),
	strings.Repeat(`{"a":`, maxNestingDepth+1) + "1" + strings.Repeat("}", maxNestingDepth+1),
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		checkJSON(t, c)
	}
}

// checkJSON compares the scanner with encoding/json on s: validity, and for
// objects the members (last repeated key wins) and their decoded strings.
func checkJSON(t *testing.T, s string) {
	t.Helper()
	name := s
	if len(name) > 40 {
		name = name[:40] + "…"
	}
	if got, want := validJSON(s), json.Valid([]byte(s)); got != want {
		t.Fatalf("validJSON(%q) = %v, json.Valid = %v", name, got, want)
	}
	if !validJSON(s) {
		return
	}
	var want map[string]json.RawMessage
	isObject := json.Unmarshal([]byte(s), &want) == nil && want != nil
	it, ok := newObjectIter(s)
	if ok != isObject {
		t.Fatalf("newObjectIter(%q) = %v, want %v", name, ok, isObject)
	}
	if !ok {
		return
	}
	got := map[string]json.RawMessage{}
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		got[k] = json.RawMessage(v)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("members of %q:\n got %q\nwant %q", name, got, want)
	}
	for k, v := range want {
		var ws string
		isString := json.Unmarshal(v, &ws) == nil && v[0] == '"'
		gs, ok := decodeString(string(v))
		if ok != isString || gs != ws {
			t.Fatalf("decodeString(%s) of key %q = %q, %v; want %q, %v", v, k, gs, ok, ws, isString)
		}
	}
}

func FuzzScanner(f *testing.F) {
	for _, c := range jsonCases {
		f.Add(c)
	}
	f.Add(meshcoretomqttPacket)
	f.Add(statsStatus)
	f.Fuzz(func(t *testing.T, s string) {
		checkJSON(t, s)
	})
}
