package meshcore

import "strconv"

// Packet is one decoded MeshCore packet.
type Packet struct {
	RouteType       int    // header bits 0–1 (RouteTransportFlood…RouteTransportDirect)
	PayloadType     int    // header bits 2–5 (PayloadReq…PayloadRawCustom)
	PayloadVersion  int    // header bits 6–7
	RouteTypeName   string // e.g. "FLOOD"
	PayloadTypeName string // e.g. "GRP_TXT"; "UNKNOWN" for 0x0C–0x0E

	// TransportCodes holds {code1, code2} as uppercase wire-order hex; nil
	// unless the route type is TRANSPORT_FLOOD or TRANSPORT_DIRECT.
	TransportCodes *[2]string
	// TransportScoped reports a transport route (0 or 3) whose code1 is not
	// 0000: transmissions.scope_name is then ScopeName ('' = unknown
	// scope), and NULL otherwise.
	TransportScoped bool
	// ScopeName is the first configured region (Options.Regions, with its
	// '#') whose code for this payload equals code1; "" when none matches.
	ScopeName string

	HashSize      int      // bytes per hop (0 for a zero-hop DIRECT packet)
	HashCount     int      // number of hops
	Hops          []string // uppercase hex per hop; never nil
	HopsCompleted *int     // TRACE with a route only: hops that already forwarded

	// Anomaly is a TRACE warning ("" if none); the packet is still stored.
	Anomaly string

	// Type is the payload object's "type" ("CHAN" once a GRP_TXT decrypts,
	// "UNKNOWN" for the reserved types 0x0C–0x0E).
	Type string
	// Hash is the content hash of the verbatim raw string (§10).
	Hash string
	// DecodedJSON is the transmissions.decoded_json document (§9.1).
	DecodedJSON []byte
	// ChannelHash is the transmissions.channel_hash column; "" means NULL.
	ChannelHash string
	// FromPubkey is the transmissions.from_pubkey column; "" means NULL.
	FromPubkey string
	// PathJSON is the observations.path_json column.
	PathJSON string

	// DecryptionStatus is "decrypted", "no_key" or "decryption_failed" for
	// a GRP_TXT or GRP_DATA payload that was long enough, "" otherwise.
	DecryptionStatus string
	// Channel is the (normalised) name of the key that decrypted the
	// payload, if any.
	Channel string

	// Advert is non-nil iff the payload type is ADVERT and the payload was
	// long enough to carry a public key.
	Advert *Advert
}

// Advert is what an advert tells about its node, plus the ingest checks.
type Advert struct {
	PubKey string // 64 lowercase hex
	Name   string // sanitised, at most 32 bytes; "" when absent
	Role   string // nodes.role: none, companion, repeater, room, sensor or type-N

	HasLocation bool
	Lat, Lon    float64 // degrees

	HasBattery bool
	BatteryMV  int64 // millivolts

	HasTemperature bool
	TemperatureC   float64 // degrees Celsius

	Timestamp uint32 // sender clock, unix seconds

	SignatureChecked bool // signatures were verified (Options.VerifySignatures)
	SignatureValid   bool // meaningful only when SignatureChecked

	// Invalid is the §11 step-1 rejection reason ("" = valid). An invalid
	// advert is dropped by the ingestor before storage.
	Invalid string
}

// MarshalJSON renders the packet summary that the decode command prints; see
// AppendJSON.
func (p *Packet) MarshalJSON() ([]byte, error) {
	return p.AppendJSON(make([]byte, 0, 512+len(p.DecodedJSON)+len(p.PathJSON))), nil
}

// AppendJSON appends one JSON object describing the packet: header,
// transportCodes, scopeName (transport-scoped packets only: the matched
// region or ""), path, anomaly, hash, type, decoded_json (embedded as JSON),
// columns, path_json (embedded), decryption status and channel, and for
// adverts the validation and signature status.
func (p *Packet) AppendJSON(dst []byte) []byte {
	dst = p.appendHeaderJSON(dst)
	dst = p.appendPathJSON(dst)
	if p.Anomaly != "" {
		dst = appendKey(dst, "anomaly")
		dst = appendString(dst, p.Anomaly)
	}
	dst = appendKey(dst, "hash")
	dst = appendString(dst, p.Hash)
	dst = appendKey(dst, "type")
	dst = appendString(dst, p.Type)
	dst = appendKey(dst, "decoded_json")
	if len(p.DecodedJSON) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, p.DecodedJSON...)
	}
	dst = p.appendColumnsJSON(dst)
	dst = appendKey(dst, "path_json")
	if p.PathJSON == "" {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, p.PathJSON...)
	}
	if p.DecryptionStatus != "" {
		dst = appendKey(dst, "decryptionStatus")
		dst = appendString(dst, p.DecryptionStatus)
	}
	if p.Channel != "" {
		dst = appendKey(dst, "channel")
		dst = appendString(dst, p.Channel)
	}
	if p.Advert != nil {
		dst = p.Advert.appendJSON(dst)
	}
	return append(dst, '}')
}

// appendHeaderJSON appends the header object, transportCodes and, for a
// transport-scoped packet, scopeName.
func (p *Packet) appendHeaderJSON(dst []byte) []byte {
	dst = append(dst, `{"header":{"routeType":`...)
	dst = strconv.AppendInt(dst, int64(p.RouteType), 10)
	dst = appendKey(dst, "routeTypeName")
	dst = appendString(dst, p.RouteTypeName)
	dst = appendKey(dst, "payloadType")
	dst = strconv.AppendInt(dst, int64(p.PayloadType), 10)
	dst = appendKey(dst, "payloadTypeName")
	dst = appendString(dst, p.PayloadTypeName)
	dst = appendKey(dst, "payloadVersion")
	dst = strconv.AppendInt(dst, int64(p.PayloadVersion), 10)
	dst = append(dst, '}')

	dst = appendKey(dst, "transportCodes")
	if p.TransportCodes == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"code1":`...)
		dst = appendString(dst, p.TransportCodes[0])
		dst = appendKey(dst, "code2")
		dst = appendString(dst, p.TransportCodes[1])
		dst = append(dst, '}')
	}
	if p.TransportScoped {
		dst = appendKey(dst, "scopeName")
		dst = appendString(dst, p.ScopeName)
	}
	return dst
}

// appendPathJSON appends the path object.
func (p *Packet) appendPathJSON(dst []byte) []byte {
	dst = appendKey(dst, "path")
	dst = append(dst, `{"hashSize":`...)
	dst = strconv.AppendInt(dst, int64(p.HashSize), 10)
	dst = appendKey(dst, "hashCount")
	dst = strconv.AppendInt(dst, int64(p.HashCount), 10)
	dst = appendKey(dst, "hops")
	dst = append(dst, '[')
	for i, h := range p.Hops {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, h)
	}
	dst = append(dst, ']')
	if p.HopsCompleted != nil {
		dst = appendKey(dst, "hopsCompleted")
		dst = strconv.AppendInt(dst, int64(*p.HopsCompleted), 10)
	}
	return append(dst, '}')
}

// appendColumnsJSON appends the columns object: the values stored in
// transmissions.
func (p *Packet) appendColumnsJSON(dst []byte) []byte {
	dst = appendKey(dst, "columns")
	dst = append(dst, `{"route_type":`...)
	dst = strconv.AppendInt(dst, int64(p.RouteType), 10)
	dst = appendKey(dst, "payload_type")
	dst = strconv.AppendInt(dst, int64(p.PayloadType), 10)
	dst = appendKey(dst, "payload_version")
	dst = strconv.AppendInt(dst, int64(p.PayloadVersion), 10)
	dst = appendKey(dst, "channel_hash")
	dst = appendNullString(dst, p.ChannelHash)
	dst = appendKey(dst, "from_pubkey")
	dst = appendNullString(dst, p.FromPubkey)
	return append(dst, '}')
}

// appendJSON appends the advert key and object: role, validation and
// signature status.
func (a *Advert) appendJSON(dst []byte) []byte {
	dst = appendKey(dst, "advert")
	dst = append(dst, `{"role":`...)
	dst = appendString(dst, a.Role)
	dst = appendKey(dst, "valid")
	dst = appendBool(dst, a.Invalid == "")
	if a.Invalid != "" {
		dst = appendKey(dst, "reason")
		dst = appendString(dst, a.Invalid)
	}
	dst = appendKey(dst, "signatureChecked")
	dst = appendBool(dst, a.SignatureChecked)
	if a.SignatureChecked {
		dst = appendKey(dst, "signatureValid")
		dst = appendBool(dst, a.SignatureValid)
	}
	return append(dst, '}')
}

// appendNullString appends s as a JSON string, or null when s is empty.
func appendNullString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}
