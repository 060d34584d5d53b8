package meshcore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The repository copies of the shared contract vectors: the seed-era file
// and the file of today's CoreScope (HEAD), which adds 31 vectors and
// changes the output of 8 seed-era ones (changedAtHead).
const (
	vectorsFile          = "testdata/decoder-vectors.json"
	headVectorsFile      = "testdata/decoder-vectors-head.json"
	sharedVectorsDir     = "../../../shared/testdata/"
	seedVectorCount      = 153
	headVectorCount      = 184
	decodableSeedVectors = 138
	decodableHeadVectors = 169
)

// changedAtHead are the seed-era vectors (by index) whose expected output
// differs at HEAD (head §2.14, §2.18); TestVectors skips them, TestHeadVectors
// checks their new output.
var changedAtHead = map[int]string{
	78:  "MULTIPART inner ACK: innerAckLen",
	80:  "CONTROL: ctrlSubtype DISCOVER_REQ",
	81:  "CONTROL: ctrlSubtype UNKNOWN",
	82:  "ACK: ackLen",
	83:  "extended ACK: ackLen, ackAttempt, ackRand",
	91:  "RAW_CUSTOM decoder",
	130: "CONTROL DISCOVER_RESP fields",
	142: "key named 'public' decrypts to channel 'Public'",
}

type vector struct {
	Raw                string            `json:"raw"`
	Source             string            `json:"source"`
	ChannelKeys        map[string]string `json:"channelKeys"`
	ValidateSignatures bool              `json:"validateSignatures"`
	Note               string            `json:"note"`
	Expect             struct {
		OK        bool   `json:"ok"`
		Error     string `json:"error"`
		ErrorKind string `json:"errorKind"`
		Header    *struct {
			RouteType       int    `json:"routeType"`
			RouteTypeName   string `json:"routeTypeName"`
			PayloadType     int    `json:"payloadType"`
			PayloadTypeName string `json:"payloadTypeName"`
			PayloadVersion  int    `json:"payloadVersion"`
		} `json:"header"`
		TransportCodes *struct {
			Code1 string `json:"code1"`
			Code2 string `json:"code2"`
		} `json:"transportCodes"`
		Path *struct {
			HashSize      int      `json:"hashSize"`
			HashCount     int      `json:"hashCount"`
			Hops          []string `json:"hops"`
			HopsCompleted *int     `json:"hopsCompleted"`
		} `json:"path"`
		Anomaly         *string         `json:"anomaly"`
		Type            string          `json:"type"`
		DecodedJSON     json.RawMessage `json:"decodedJson"`
		DecodedJSONText string          `json:"decodedJsonText"`
		Columns         *struct {
			RouteType      int     `json:"route_type"`
			PayloadType    int     `json:"payload_type"`
			PayloadVersion int     `json:"payload_version"`
			ChannelHash    *string `json:"channel_hash"`
			FromPubkey     *string `json:"from_pubkey"`
		} `json:"columns"`
		PathJSON         string `json:"pathJson"`
		AdvertValidation *struct {
			Valid  bool   `json:"valid"`
			Reason string `json:"reason"`
			Role   string `json:"role"`
		} `json:"advertValidation"`
		ContentHash string `json:"contentHash"`
	} `json:"expect"`
}

// loadVectors loads the seed-era vectors.
func loadVectors(tb testing.TB) []vector { return loadVectorFile(tb, vectorsFile) }

// loadHeadVectors loads the HEAD vectors.
func loadHeadVectors(tb testing.TB) []vector { return loadVectorFile(tb, headVectorsFile) }

func loadVectorFile(tb testing.TB, file string) []vector {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		tb.Fatal(err)
	}
	return vs
}

// keyringFor builds the keyring a vector was produced with (nil if none).
func keyringFor(tb testing.TB, v vector) *Keyring {
	tb.Helper()
	if len(v.ChannelKeys) == 0 {
		return nil
	}
	return NewKeyring(vectorKeys(tb, v))
}

// vectorKeys parses a vector's channel keys.
func vectorKeys(tb testing.TB, v vector) []ChannelKey {
	tb.Helper()
	var keys []ChannelKey
	for name, h := range v.ChannelKeys {
		k, err := ParseChannelKey(name, h)
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestVectorsCopyUpToDate(t *testing.T) {
	for _, file := range []string{vectorsFile, headVectorsFile} {
		shared, err := os.ReadFile(sharedVectorsDir + filepath.Base(file))
		if err != nil {
			t.Skipf("shared vectors not available: %v", err)
		}
		local, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shared, local) {
			t.Fatalf("%s differs from the shared file: copy it again", file)
		}
	}
}

// TestVectors checks the seed-era vectors whose output did not change.
func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs) != seedVectorCount {
		t.Fatalf("got %d vectors, want %d", len(vs), seedVectorCount)
	}
	head := map[string]bool{}
	for _, v := range loadHeadVectors(t) {
		head[vectorID(t, v)] = true
	}
	for i, v := range vs {
		if why, ok := changedAtHead[i]; ok {
			t.Logf("#%d %s: changed at HEAD (%s), checked by TestHeadVectors", i, v.Source, why)
			if !head[vectorID(t, v)] {
				t.Errorf("#%d: changed vector missing from %s", i, headVectorsFile)
			}
			continue
		}
		checkVector(t, i, v)
	}
}

// TestHeadVectors checks every HEAD vector, decoded_json byte for byte.
func TestHeadVectors(t *testing.T) {
	vs := loadHeadVectors(t)
	if len(vs) != headVectorCount {
		t.Fatalf("got %d vectors, want %d", len(vs), headVectorCount)
	}
	for i, v := range vs {
		checkVector(t, i, v)
	}
}

// vectorID identifies a vector's input: raw, keys and signature checking.
func vectorID(t *testing.T, v vector) string {
	keys, err := json.Marshal(v.ChannelKeys) // map keys sorted
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v.Raw, string(keys), v.ValidateSignatures)
}

// checkVector decodes one vector with its keys and options and compares
// everything it pins.
func checkVector(t *testing.T, i int, v vector) {
	t.Helper()
	dec := NewDecoder(Options{Keys: keyringFor(t, v), VerifySignatures: v.ValidateSignatures})
	p, err := dec.Decode(v.Raw)
	e := v.Expect
	if got := ContentHash(v.Raw); got != e.ContentHash {
		t.Errorf("#%d %s: ContentHash = %q, want %q", i, v.Source, got, e.ContentHash)
	}
	if !e.OK {
		de, ok := err.(*Error)
		switch {
		case !ok:
			t.Errorf("#%d %s: err = %v (%T), want *Error %s", i, v.Source, err, err, e.ErrorKind)
		case de.Kind != e.ErrorKind || de.Msg != e.Error:
			t.Errorf("#%d %s: error = %s %q, want %s %q", i, v.Source, de.Kind, de.Msg, e.ErrorKind, e.Error)
		case p != nil:
			t.Errorf("#%d: packet returned with an error", i)
		}
		return
	}
	if err != nil {
		t.Errorf("#%d %s: unexpected error %v", i, v.Source, err)
		return
	}
	comparePacket(t, i, v, p)
}

// comparePacket compares a decoded packet with its vector's expectations.
func comparePacket(t *testing.T, i int, v vector, p *Packet) {
	t.Helper()
	e := v.Expect
	fail := func(what string, got, want any) {
		t.Errorf("#%d %s: %s = %#v, want %#v", i, v.Source, what, got, want)
	}
	h := e.Header
	if p.RouteType != h.RouteType || p.RouteTypeName != h.RouteTypeName || p.PayloadType != h.PayloadType ||
		p.PayloadTypeName != h.PayloadTypeName || p.PayloadVersion != h.PayloadVersion {
		fail("header", []any{p.RouteType, p.RouteTypeName, p.PayloadType, p.PayloadTypeName, p.PayloadVersion}, *h)
	}
	switch {
	case e.TransportCodes == nil && p.TransportCodes != nil:
		fail("transportCodes", *p.TransportCodes, nil)
	case e.TransportCodes != nil && (p.TransportCodes == nil ||
		p.TransportCodes[0] != e.TransportCodes.Code1 || p.TransportCodes[1] != e.TransportCodes.Code2):
		fail("transportCodes", p.TransportCodes, *e.TransportCodes)
	}
	if p.HashSize != e.Path.HashSize || p.HashCount != e.Path.HashCount {
		fail("path size/count", []int{p.HashSize, p.HashCount}, []int{e.Path.HashSize, e.Path.HashCount})
	}
	if p.Hops == nil || !reflect.DeepEqual(p.Hops, e.Path.Hops) {
		fail("hops", p.Hops, e.Path.Hops)
	}
	switch {
	case (p.HopsCompleted == nil) != (e.Path.HopsCompleted == nil):
		fail("hopsCompleted presence", p.HopsCompleted != nil, e.Path.HopsCompleted != nil)
	case p.HopsCompleted != nil && *p.HopsCompleted != *e.Path.HopsCompleted:
		fail("hopsCompleted", *p.HopsCompleted, *e.Path.HopsCompleted)
	}
	if (p.Anomaly != "") != (e.Anomaly != nil) || (e.Anomaly != nil && *e.Anomaly != p.Anomaly) {
		fail("anomaly", p.Anomaly, e.Anomaly)
	}
	if p.Type != e.Type {
		fail("type", p.Type, e.Type)
	}
	if string(p.DecodedJSON) != e.DecodedJSONText {
		t.Errorf("#%d %s: decoded_json\n got %s\nwant %s", i, v.Source, p.DecodedJSON, e.DecodedJSONText)
	}
	var got, want any
	if err := json.Unmarshal(p.DecodedJSON, &got); err != nil {
		t.Errorf("#%d: decoded_json is not JSON: %v", i, err)
	}
	if err := json.Unmarshal(e.DecodedJSON, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		fail("decodedJson value", got, want)
	}
	c := e.Columns
	if p.RouteType != c.RouteType || p.PayloadType != c.PayloadType || p.PayloadVersion != c.PayloadVersion {
		fail("columns", []int{p.RouteType, p.PayloadType, p.PayloadVersion}, *c)
	}
	if wantCH := deref(c.ChannelHash); p.ChannelHash != wantCH {
		fail("channel_hash", p.ChannelHash, wantCH)
	}
	if wantPK := deref(c.FromPubkey); p.FromPubkey != wantPK {
		fail("from_pubkey", p.FromPubkey, wantPK)
	}
	if p.PathJSON != e.PathJSON {
		fail("path_json", p.PathJSON, e.PathJSON)
	}
	if p.Hash != e.ContentHash {
		fail("hash", p.Hash, e.ContentHash)
	}
	if av := e.AdvertValidation; av == nil {
		if p.Advert != nil && p.PayloadType == PayloadAdvert && p.FromPubkey != "" {
			fail("advert", "present", "no advertValidation in vector")
		}
	} else {
		a := p.Advert
		if a == nil {
			fail("advert", nil, *av)
			return
		}
		if (a.Invalid == "") != av.Valid || a.Invalid != av.Reason || a.Role != av.Role {
			fail("advertValidation", []any{a.Invalid == "", a.Invalid, a.Role}, *av)
		}
		if a.PubKey != p.FromPubkey {
			fail("advert pubkey", a.PubKey, p.FromPubkey)
		}
		if a.SignatureChecked != v.ValidateSignatures {
			fail("signatureChecked", a.SignatureChecked, v.ValidateSignatures)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
