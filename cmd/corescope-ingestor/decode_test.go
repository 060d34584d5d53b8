package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Real packets from the CoreScope fixture database
// (testdata/corescope-fixture.db, table transmissions).
const (
	// id=16: GRP_TXT on #wardriving, stored hash bfe6d4414d328c88.
	fixtureWardriving = "150359d69581d1666fd2abd32988b6ad68a307882c574a852481d99c18a0f6e249544a879182f8bb38375903332082b91043a0a4b189f9bbc6d8cc4bc94ca88d8e92d0d14664e87e"
	// id=2: signed repeater advert "R5-D4 300D Rak", hash 09f282f70cc1ff60.
	fixtureAdvert = "11427d1d1f5d300ddc9e145dbe6cb4d6c2d93c74e9f862f5e247783f64ef89a4732e68dd473c4c62c9697f70e27d27e4a0d3f001c4032a262c390f868b2c7df763b2171969f29dde33a01785f01b6e37e7a1d7ba39735cb6013ad3a7f00c76ae84623ef286f99c3ee60292ec9f3e02c688b9f852352d443420333030442052616b"
	// id=78: GRP_TXT on the Public channel, stored channel_hash "public" (HEAD: "Public").
	fixturePublic = "15022761113C8DE912DF39BB7200583576C678AF66C0956DAF7320F6DD2AA8C9E436C874FF672B"
)

// decodeOutput is the part of a decode output line the tests look at.
type decodeOutput struct {
	Raw         string  `json:"raw"`
	Hash        string  `json:"hash"`
	Type        string  `json:"type"`
	Error       string  `json:"error"`
	ErrorKind   string  `json:"errorKind"`
	Channel     string  `json:"channel"`
	Status      string  `json:"decryptionStatus"`
	ScopeName   *string `json:"scopeName"`
	DecodedJSON struct {
		Text           string `json:"text"`
		Sender         string `json:"sender"`
		Name           string `json:"name"`
		SignatureValid *bool  `json:"signatureValid"`
	} `json:"decoded_json"`
	Header struct {
		PayloadTypeName string `json:"payloadTypeName"`
	} `json:"header"`
	Path struct {
		Hops []string `json:"hops"`
	} `json:"path"`
	Columns struct {
		ChannelHash *string `json:"channel_hash"`
		FromPubkey  *string `json:"from_pubkey"`
	} `json:"columns"`
	Advert *struct {
		Role           string `json:"role"`
		Valid          bool   `json:"valid"`
		SignatureValid *bool  `json:"signatureValid"`
	} `json:"advert"`
}

func runDecode(t *testing.T, stdin string, args ...string) ([]decodeOutput, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cmdDecode(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	var outs []decodeOutput
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var o decodeOutput
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, line)
		}
		outs = append(outs, o)
	}
	return outs, err
}

func TestDecodeCommandArgs(t *testing.T) {
	outs, err := runDecode(t, "", "-hashtag", "wardriving", fixtureWardriving, fixtureAdvert)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 {
		t.Fatalf("%d output lines, want 2", len(outs))
	}
	g := outs[0]
	if g.Raw != fixtureWardriving || g.Hash != "bfe6d4414d328c88" || g.Type != "CHAN" || g.Status != "decrypted" ||
		g.Channel != "#wardriving" || g.DecodedJSON.Sender != "XMD Tag 1" ||
		g.DecodedJSON.Text != "XMD Tag 1: @[MapperBot] 37.82197, -122.26943 [0.3w]" ||
		g.Columns.ChannelHash == nil || *g.Columns.ChannelHash != "#wardriving" ||
		strings.Join(g.Path.Hops, ",") != "59,D6,95" {
		t.Errorf("GRP_TXT output: %+v", g)
	}
	a := outs[1]
	if a.Hash != "09f282f70cc1ff60" || a.Header.PayloadTypeName != "ADVERT" || a.DecodedJSON.Name != "R5-D4 300D Rak" ||
		a.DecodedJSON.SignatureValid == nil || !*a.DecodedJSON.SignatureValid ||
		a.Advert == nil || a.Advert.Role != "repeater" || !a.Advert.Valid || a.Advert.SignatureValid == nil || !*a.Advert.SignatureValid ||
		a.Columns.FromPubkey == nil || *a.Columns.FromPubkey != "300ddc9e145dbe6cb4d6c2d93c74e9f862f5e247783f64ef89a4732e68dd473c" {
		t.Errorf("ADVERT output: %+v", a)
	}
}

func TestDecodeCommandStdin(t *testing.T) {
	stdin := fixtureWardriving + "\r\n\n   \nZZZZ\n" + fixtureAdvert // no final newline
	outs, err := runDecode(t, stdin, "-verify=false")
	if err == nil {
		t.Fatal("no error for a packet that failed")
	}
	var ue usageError
	if errors.As(err, &ue) {
		t.Fatalf("decode failure reported as a usage error: %v", err)
	}
	if len(outs) != 3 {
		t.Fatalf("%d output lines, want 3", len(outs))
	}
	// Only the built-in Public key is loaded (no config file here): it is
	// tried and fails, as in the daemon.
	if o := outs[0]; o.Raw != fixtureWardriving || o.Status != "decryption_failed" || o.Type != "GRP_TXT" ||
		o.Columns.ChannelHash == nil || *o.Columns.ChannelHash != "enc_81" {
		t.Errorf("line 1: %+v", o)
	}
	if o := outs[1]; o.ErrorKind != "invalid_hex" || o.Error != "invalid hex: encoding/hex: invalid byte: U+005A 'Z'" || o.Hash != "ZZZZ" {
		t.Errorf("line 2: %+v", o)
	}
	if o := outs[2]; o.Hash != "09f282f70cc1ff60" || o.DecodedJSON.SignatureValid != nil || o.Advert == nil || o.Advert.SignatureValid != nil {
		t.Errorf("line 3 (-verify=false): %+v", o)
	}
}

func TestDecodeCommandKeys(t *testing.T) {
	const public = "8b3387e9c5cdea6ac9e5edbaa115cd72"
	outs, err := runDecode(t, "", "-key", "public="+public, "-hashtag", "#wardriving", fixturePublic, fixtureWardriving)
	if err != nil {
		t.Fatal(err)
	}
	if o := outs[0]; o.Channel != "Public" || o.DecodedJSON.Text != "KK6MES-MC: 👽" || o.Hash != "254e7573c96ab3d8" {
		t.Errorf("public: %+v", o)
	}
	if o := outs[1]; o.Channel != "#wardriving" {
		t.Errorf("wardriving: %+v", o)
	}

	// An explicit key overrides the hashtag key of the same name.
	outs, err = runDecode(t, "", "-hashtag", "#wardriving", "-key", "#wardriving="+public, fixtureWardriving)
	if err != nil {
		t.Fatal(err)
	}
	if o := outs[0]; o.Status != "decryption_failed" {
		t.Errorf("override: %+v", o)
	}
}

func TestDecodeCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-key", "nohex"},
		{"-key", "x=zz"},
		{"-key", "=8b3387e9c5cdea6ac9e5edbaa115cd72"},
		{"-key", "x=8b3387e9c5cdea6ac9e5edbaa115cd"},
		{"-hashtag", ""},
		{"-bogus"},
		{"-verify=maybe"},
	} {
		_, err := runDecode(t, "", append(args, fixtureAdvert)...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
	if _, err := runDecode(t, "", "-h"); err != nil {
		t.Errorf("-h: %v", err)
	}
}

func TestDecodeCommandCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := cmdDecode(ctx, []string{fixtureAdvert}, strings.NewReader(""), &stdout, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

// A transport-flood GRP_TXT whose code1 (2AB5) is region #test's code for
// its payload (head.md §2.5, TestBuildPacketDataScopeMatching).
const scopedTest = "142AB500000068656C6C6F"

// decode -config decodes as the daemon with that config stores: its
// channel keys (names normalised), hashtag channels and region keys, plus
// the built-in Public key; -key/-hashtag add to them.
func TestDecodeCommandConfig(t *testing.T) {
	cleanEnv(t)
	path := writeConfig(t, "config.json", `{
  "channelKeys": {"public": "8b3387e9c5cdea6ac9e5edbaa115cd72"},
  "hashChannels": ["wardriving"],
  "hashRegions": ["#belgium", "test"],
  "validateSignatures": false
}`)
	outs, err := runDecode(t, "", "-config", path, fixturePublic, fixtureWardriving, scopedTest, fixtureAdvert)
	if err != nil {
		t.Fatal(err)
	}
	if o := outs[0]; o.Channel != "Public" || o.Columns.ChannelHash == nil || *o.Columns.ChannelHash != "Public" {
		t.Errorf("public (configured as \"public\"): %+v", o)
	}
	if o := outs[1]; o.Channel != "#wardriving" || o.Status != "decrypted" {
		t.Errorf("hashChannels: %+v", o)
	}
	if o := outs[2]; o.ScopeName == nil || *o.ScopeName != "#test" {
		t.Errorf("scoped packet: scopeName %v, want #test: %+v", o.ScopeName, o)
	}
	if o := outs[3]; o.DecodedJSON.SignatureValid != nil {
		t.Errorf("validateSignatures false in the config: %+v", o)
	}

	// -verify overrides the config; -hashtag adds to it.
	outs, err = runDecode(t, "", "-config", path, "-verify", "-hashtag", "#other", fixtureAdvert)
	if err != nil {
		t.Fatal(err)
	}
	if o := outs[0]; o.DecodedJSON.SignatureValid == nil || !*o.DecodedJSON.SignatureValid {
		t.Errorf("-verify: %+v", o)
	}

	// Without hashRegions a scoped packet has an unknown scope (""), and
	// without any config the built-in Public key still decrypts.
	outs, err = runDecode(t, "", scopedTest, fixturePublic)
	if err != nil {
		t.Fatal(err)
	}
	if o := outs[0]; o.ScopeName == nil || *o.ScopeName != "" {
		t.Errorf("scoped packet without regions: scopeName %v", o.ScopeName)
	}
	if o := outs[1]; o.Channel != "Public" {
		t.Errorf("built-in Public key: %+v", o)
	}
}

func TestDecodeCommandConfigErrors(t *testing.T) {
	cleanEnv(t)
	var ue usageError
	if _, err := runDecode(t, "", "-config", "/nonexistent/config.json", fixtureAdvert); !errors.As(err, &ue) {
		t.Errorf("missing config: err %v, want a usage error", err)
	}
	// A bad key in the config is a usage error that names the key path and
	// never echoes key material.
	const secret = "zz3387e9c5cdea6ac9e5edbaa115cd72"
	path := writeConfig(t, "config.json", `{"channelKeys": {"Mine": "`+secret+`"}}`)
	_, err := runDecode(t, "", "-config", path, fixtureAdvert)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "channelKeys.Mine") {
		t.Fatalf("bad key: err %v, want a usage error naming channelKeys.Mine", err)
	}
	if strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "3387") {
		t.Errorf("error echoes the key: %v", err)
	}
	_, err = runDecode(t, "", "-key", "x="+secret, fixtureAdvert)
	if err == nil || strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "3387") {
		t.Errorf("-key error echoes the key: %v", err)
	}
}
