package meshcore

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// publicPacket is the CoreScope fixture's transmission 78: a GRP_TXT on the
// Public channel (vector #142).
const publicPacket = "15022761113C8DE912DF39BB7200583576C678AF66C0956DAF7320F6DD2AA8C9E436C874FF672B"

func TestBuiltinKeys(t *testing.T) {
	bk := BuiltinKeys()
	if len(bk) != 1 || bk[0].Name != "Public" || !bk[0].Builtin || ChannelHash(bk[0].Key) != 0x11 {
		t.Fatalf("BuiltinKeys = %+v", bk)
	}
	if k, _ := ParseKeyHex("8b3387e9c5cdea6ac9e5edbaa115cd72"); k != bk[0].Key {
		t.Fatalf("Public key %x", bk[0].Key)
	}
	bk[0].Name = "changed" // a copy: the next call is unaffected
	if BuiltinKeys()[0].Name != "Public" {
		t.Fatal("BuiltinKeys shares its slice")
	}

	// No configuration: the Public channel still decrypts.
	p, err := NewDecoder(Options{Keys: NewKeyring(BuiltinKeys())}).Decode(publicPacket)
	if err != nil || p.Type != "CHAN" || p.Channel != "Public" || p.ChannelHash != "Public" ||
		!strings.Contains(string(p.DecodedJSON), `"channel":"Public","text":"KK6MES-MC: 👽"`) {
		t.Fatalf("built-in Public: %v %+v", err, p)
	}
	// Without it: enc_11.
	p, _ = NewDecoder(Options{}).Decode(publicPacket)
	if p.Type != "GRP_TXT" || p.ChannelHash != "enc_11" || p.DecryptionStatus != StatusNoKey {
		t.Fatalf("no keys: %+v", p)
	}
}

func TestBuiltinOverride(t *testing.T) {
	_, other := HashtagKey("#other")
	builtin := BuiltinKeys()[0]
	for _, name := range []string{"Public", "public", "PUBLIC"} {
		conf := ChannelKey{Name: name, Key: other}
		for _, keys := range [][]ChannelKey{{builtin, conf}, {conf, builtin}} {
			kr := NewKeyring(keys)
			if kr.Len() != 1 || !reflect.DeepEqual(kr.Names(), []string{"Public"}) {
				t.Fatalf("%q: names %q", name, kr.Names())
			}
			// The configured (wrong) key replaced the built-in one.
			p, _ := NewDecoder(Options{Keys: kr}).Decode(publicPacket)
			if p.DecryptionStatus != StatusDecryptionFailed || p.ChannelHash != "enc_11" {
				t.Fatalf("%q overridden: %+v", name, p)
			}
		}
	}
	// Two built-ins of one name: the later wins, as for configured keys.
	kr := NewKeyring([]ChannelKey{{Name: "Public", Key: other, Builtin: true}, builtin})
	if p, _ := NewDecoder(Options{Keys: kr}).Decode(publicPacket); p.Channel != "Public" {
		t.Fatalf("later built-in: %+v", p)
	}
}

func TestBuiltinPriority(t *testing.T) {
	builtin := BuiltinKeys()[0]
	// The Public key configured under another name is tried before the
	// built-in key: its name wins.
	conf := ChannelKey{Name: "General", Key: PublicChannelKey}
	_, zk := HashtagKey("#zz")
	for _, keys := range [][]ChannelKey{{builtin, conf}, {conf, builtin}} {
		kr := NewKeyring(append(keys, ChannelKey{Name: "#zz", Key: zk}))
		if want := []string{"#zz", "General", "Public"}; !reflect.DeepEqual(kr.Names(), want) {
			t.Fatalf("Names = %q, want %q", kr.Names(), want)
		}
		p, err := NewDecoder(Options{Keys: kr}).Decode(publicPacket)
		if err != nil || p.Channel != "General" || p.ChannelHash != "General" {
			t.Fatalf("configured copy of the Public key: %v %+v", err, p)
		}
	}
	// Between the two channel-hash groups the hash byte decides first: a
	// built-in key whose hash byte matches is tried before configured keys
	// whose byte does not (a GRP_DATA both keys "decrypt", see
	// TestKeyringOrder).
	alphaName, alpha := HashtagKey("#alpha")
	collName, coll := HashtagKey("#collide-171739")
	kr2 := NewKeyring([]ChannelKey{{Name: alphaName, Key: alpha, Builtin: true}, {Name: collName, Key: coll}})
	for chanByte, want := range map[string]string{"10": "#alpha", "3C": "#collide-171739", "00": "#collide-171739"} {
		p, err := NewDecoder(Options{Keys: kr2}).Decode("1900" + chanByte + collideCipher)
		if err != nil || p.Channel != want {
			t.Errorf("chan byte %s: %v %q, want %q", chanByte, err, p.Channel, want)
		}
	}
	// A built-in key named "a" still sorts after the configured keys.
	kr := NewKeyring([]ChannelKey{{Name: "a", Key: PublicChannelKey, Builtin: true}, {Name: "z", Key: PublicChannelKey}})
	if p, _ := NewDecoder(Options{Keys: kr}).Decode(publicPacket); p.Channel != "z" {
		t.Fatalf("built-in tried first: %q", p.Channel)
	}
}

func TestNormalizeChannelName(t *testing.T) {
	for in, want := range map[string]string{
		"public": "Public", "PUBLIC": "Public", "Public": "Public", "pUbLiC": "Public",
		"#public": "#public", "publics": "publics", " public": " public", "": "", "#test": "#test",
		"publİc": "publİc", // no Unicode case folding beyond ASCII
	} {
		if got := NormalizeChannelName(in); got != want {
			t.Errorf("NormalizeChannelName(%q) = %q, want %q", in, got, want)
		}
	}
	// A key configured as "public" decrypts to channel "Public".
	p, _ := NewDecoder(Options{Keys: NewKeyring([]ChannelKey{{Name: "public", Key: PublicChannelKey}})}).Decode(publicPacket)
	if p.Channel != "Public" || p.ChannelHash != "Public" || !strings.Contains(string(p.DecodedJSON), `"channel":"Public"`) {
		t.Fatalf("public: %+v", p)
	}
}

func TestNormalizeChannelKeys(t *testing.T) {
	k1 := [16]byte{1}
	k2 := [16]byte{2}
	k3 := [16]byte{3}
	for _, tc := range []struct {
		in      []ChannelKey
		out     []ChannelKey
		dropped []string
	}{
		{ // canonical spelling wins, whatever the order
			[]ChannelKey{{Name: "public", Key: k1}, {Name: "#a", Key: k3}, {Name: "Public", Key: k2}},
			[]ChannelKey{{Name: "Public", Key: k2}, {Name: "#a", Key: k3}},
			[]string{"public"},
		},
		{
			[]ChannelKey{{Name: "Public", Key: k2}, {Name: "public", Key: k1}, {Name: "#a", Key: k3}},
			[]ChannelKey{{Name: "Public", Key: k2}, {Name: "#a", Key: k3}},
			[]string{"public"},
		},
		{ // two non-canonical spellings: the last wins
			[]ChannelKey{{Name: "public", Key: k1}, {Name: "PUBLIC", Key: k2}},
			[]ChannelKey{{Name: "Public", Key: k2}},
			[]string{"public"},
		},
		{ // no collision: names normalised, order kept
			[]ChannelKey{{Name: "#b", Key: k1}, {Name: "PUBLIC", Key: k2}},
			[]ChannelKey{{Name: "#b", Key: k1}, {Name: "Public", Key: k2}},
			nil,
		},
	} {
		out, dropped := NormalizeChannelKeys(tc.in)
		if !reflect.DeepEqual(out, tc.out) || !reflect.DeepEqual(dropped, tc.dropped) {
			t.Errorf("NormalizeChannelKeys(%v) = %v %q, want %v %q", tc.in, out, dropped, tc.out, tc.dropped)
		}
	}
}

// Key parse errors never echo key material (issue #14): they are fixed
// texts plus the channel name.
func TestParseKeyErrorsHideKey(t *testing.T) {
	for _, bad := range []string{
		"", "9cd8", "9cd8fcf22a47333b591d96a2b848b73f00",
		"9cd8fcf22a47333b591d96a2b848b7zz", "9cd8fcf22a47333b591d96a2b848b7Zq",
		" 9cd8fcf22a47333b591d96a2b848b73", "secretsecretsecretsecretsecret!!",
	} {
		_, err := ParseKeyHex(bad)
		if !errors.Is(err, ErrKeyLength) && !errors.Is(err, ErrKeyHex) {
			t.Errorf("ParseKeyHex(%q) = %v", bad, err)
			continue
		}
		_, err = ParseChannelKey("#chan", bad)
		want := `invalid channel key for "#chan": ` + map[bool]string{true: "must be 32 hex characters", false: "must contain only hex characters"}[len(bad) != 32]
		if err == nil || err.Error() != want {
			t.Errorf("ParseChannelKey(%q) = %v, want %s", bad, err, want)
		}
	}
	ck, err := ParseChannelKey("public", "8B3387E9C5CDEA6AC9E5EDBAA115CD72")
	if err != nil || ck.Name != "public" || ck.Key != PublicChannelKey || ck.Builtin {
		t.Fatalf("ParseChannelKey: %+v %v", ck, err)
	}
}
