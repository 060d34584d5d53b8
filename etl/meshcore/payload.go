package meshcore

import (
	"encoding/binary"
	"strconv"
)

// payload decodes p by payload type into st.js (the decoded_json document)
// and the packet fields. It never fails: a short payload gives an error
// payload (spec §7, §13).
func (dc *decoding) payload(p []byte) {
	switch dc.ptype {
	case PayloadReq, PayloadResponse, PayloadTxtMsg, PayloadPath:
		dc.peer(p)
	case PayloadAck:
		dc.ack(p)
	case PayloadAdvert:
		dc.advert(p)
	case PayloadGrpTxt, PayloadGrpData:
		dc.group(p)
	case PayloadAnonReq:
		dc.anonReq(p)
	case PayloadTrace:
		dc.trace(p)
	case PayloadMultipart:
		dc.multipart(p)
	case PayloadControl:
		dc.control(p)
	case PayloadRawCustom:
		dc.rawCustom(p)
	default: // the reserved types 0x0C–0x0E
		dc.begin("UNKNOWN")
		if len(p) > 0 {
			dc.hexField("raw", p)
		}
		dc.end()
	}
}

// begin opens the decoded_json object with its "type" and records the type.
func (dc *decoding) begin(typ string) {
	dc.pkt.Type = typ
	js := append(dc.st.js, `{"type":"`...)
	js = append(js, typ...)
	dc.st.js = append(js, '"')
}

func (dc *decoding) end() { dc.st.js = append(dc.st.js, '}') }

// hexField appends `,"key":"<lowercase hex of b>"`.
func (dc *decoding) hexField(key string, b []byte) {
	dc.st.js = appendHexString(appendKey(dc.st.js, key), b)
}

// strField appends `,"key":` and s as an escaped JSON string.
func (dc *decoding) strField(key, s string) {
	dc.st.js = appendString(appendKey(dc.st.js, key), s)
}

func (dc *decoding) intField(key string, v int64) {
	dc.st.js = strconv.AppendInt(appendKey(dc.st.js, key), v, 10)
}

func (dc *decoding) boolField(key string, v bool) {
	dc.st.js = appendBool(appendKey(dc.st.js, key), v)
}

// errorPayload writes {"type":T,"raw":hex(p)?,"error":msg}.
func (dc *decoding) errorPayload(typ string, p []byte, msg string) {
	dc.begin(typ)
	if len(p) > 0 {
		dc.hexField("raw", p)
	}
	dc.strField("error", msg)
	dc.end()
}

const errTooShort = "too short"

// peer decodes REQ, RESPONSE, TXT_MSG and PATH: dest hash, source hash,
// 2-byte MAC, ciphertext (§7.1, §7.7).
func (dc *decoding) peer(p []byte) {
	typ := payloadTypeNames[dc.ptype]
	if len(p) < 4 {
		dc.errorPayload(typ, p, errTooShort)
		return
	}
	dc.begin(typ)
	dc.hexField("destHash", p[0:1])
	dc.hexField("srcHash", p[1:2])
	dc.hexField("mac", p[2:4])
	if len(p) > 4 {
		key := "encryptedData"
		if dc.ptype == PayloadPath {
			key = "pathData"
		}
		dc.hexField(key, p[4:])
	}
	dc.end()
}

// ack decodes an ACK: the CRC as a little-endian u32 in 8 hex digits, then
// the extended-ACK fields of firmware 1.16+ (§7.2, head §2.18): ackLen is
// the payload length capped at 6, ackAttempt byte 4, ackRand byte 5; bytes
// after the sixth are ignored.
func (dc *decoding) ack(p []byte) {
	if len(p) < 4 {
		dc.errorPayload("ACK", p, errTooShort)
		return
	}
	dc.begin("ACK")
	js := append(appendKey(dc.st.js, "extraHash"), '"')
	js = appendHexU32(js, binary.LittleEndian.Uint32(p))
	js = append(js, '"')
	dc.st.js = appendAckExt(js, "ackLen", "ackAttempt", "ackRand", p)
	dc.end()
}

// appendAckExt appends the length (capped at 6), attempt (byte 4) and random
// (byte 5) members of an extended ACK body a.
func appendAckExt(js []byte, lenKey, attemptKey, randKey string, a []byte) []byte {
	js = appendUint8(appendKey(js, lenKey), byte(min(len(a), 6)))
	if len(a) >= 5 {
		js = appendUint8(appendKey(js, attemptKey), a[4])
	}
	if len(a) >= 6 {
		js = appendUint8(appendKey(js, randKey), a[5])
	}
	return js
}

// anonReq decodes ANON_REQ: dest hash, sender public key, MAC, ciphertext (§7.6).
func (dc *decoding) anonReq(p []byte) {
	if len(p) < 35 {
		dc.errorPayload("ANON_REQ", p, errTooShort)
		return
	}
	dc.begin("ANON_REQ")
	dc.hexField("destHash", p[0:1])
	dc.hexField("mac", p[33:35])
	if len(p) > 35 {
		dc.hexField("encryptedData", p[35:])
	}
	dc.hexField("ephemeralPubKey", p[1:33])
	dc.end()
}

// trace decodes TRACE and post-processes the path: the header path holds SNR
// bytes, the payload the route (§7.8).
func (dc *decoding) trace(p []byte) {
	if len(p) < 9 {
		dc.errorPayload("TRACE", p, errTooShort)
		dc.pkt.Anomaly = "TRACE payload decode failed: too short"
		return
	}
	tag := binary.LittleEndian.Uint32(p[0:4])
	auth := binary.LittleEndian.Uint32(p[4:8])
	flags := p[8]
	route := p[9:]
	dc.begin("TRACE")
	if len(route) > 0 {
		dc.hexField("pathData", route)
		if dc.route != RouteDirect && dc.route != RouteTransportDirect {
			dc.pkt.Anomaly = "TRACE packet with non-DIRECT routing (expected DIRECT or TRANSPORT_DIRECT)"
		}
		done := dc.hashCount
		// One SNR value per completed hop, only for 1-byte header entries.
		if done > 0 && dc.hopSize == 1 {
			js := append(appendKey(dc.st.js, "snrValues"), '[')
			for i, b := range dc.headerPath[:done] {
				if i > 0 {
					js = append(js, ',')
				}
				js = appendFloat(js, float64(int8(b))/4.0)
			}
			dc.st.js = append(js, ']')
		}
		dc.blk.hopsCompleted = done
		dc.pkt.HopsCompleted = &dc.blk.hopsCompleted
		dc.hopSize = 1 << (flags & 0x03)
		dc.hopBytes = route[:len(route)/dc.hopSize*dc.hopSize]
		dc.pkt.HashSize = dc.hopSize
	}
	if tag != 0 {
		dc.intField("tag", int64(tag))
	}
	if auth != 0 {
		dc.intField("authCode", int64(auth))
	}
	dc.intField("traceFlags", int64(flags))
	dc.end()
}

// multipart decodes MULTIPART: remaining count, inner type, inner ACK (with
// the extended-ACK fields, head §2.18) or payload (§7.9).
func (dc *decoding) multipart(p []byte) {
	if len(p) < 1 {
		dc.errorPayload("MULTIPART", p, errTooShort)
		return
	}
	inner := int(p[0] & 0x0f)
	dc.begin("MULTIPART")
	dc.intField("remaining", int64(p[0]>>4))
	dc.intField("innerType", int64(inner))
	dc.strField("innerTypeName", payloadTypeNames[inner])
	switch {
	case inner == PayloadAck && len(p) >= 5:
		js := append(appendKey(dc.st.js, "innerAckCrc"), '"')
		js = appendHexU32(js, binary.LittleEndian.Uint32(p[1:5]))
		js = append(js, '"')
		dc.st.js = appendAckExt(js, "innerAckLen", "innerAckAttempt", "innerAckRand", p[1:])
	case len(p) > 1:
		dc.hexField("innerPayload", p[1:])
	}
	dc.end()
}

// Control subtypes (high nibble of CONTROL byte 0).
const (
	ctrlDiscoverReq  = 0x8
	ctrlDiscoverResp = 0x9
)

// control decodes CONTROL: the raw payload, its first byte and length
// (§7.10), then the node-discovery fields (head §2.18). DISCOVER_REQ:
// filter (byte 1), tag (u32 LE, bytes 2–5) from 6 bytes on, since (u32 LE,
// bytes 6–9) from 10. DISCOVER_RESP: node type (low nibble); from 6 bytes
// on the SNR (int8 byte 1, unscaled), the tag (bytes 2–5) and a public key
// prefix: 32 bytes when 32 follow the tag, else 8 when 8 follow.
func (dc *decoding) control(p []byte) {
	if len(p) < 1 {
		dc.errorPayload("CONTROL", p, errTooShort)
		return
	}
	dc.begin("CONTROL")
	dc.hexField("raw", p)
	dc.hexField("ctrlFlags", p[0:1])
	dc.boolField("ctrlZeroHop", p[0]&0x80 != 0)
	dc.intField("ctrlLength", int64(len(p)))
	switch p[0] >> 4 {
	case ctrlDiscoverReq:
		dc.strField("ctrlSubtype", "DISCOVER_REQ")
		if len(p) >= 6 {
			dc.intField("ctrlFilter", int64(p[1]))
			dc.intField("ctrlTag", int64(binary.LittleEndian.Uint32(p[2:6])))
		}
		if len(p) >= 10 {
			dc.intField("ctrlSince", int64(binary.LittleEndian.Uint32(p[6:10])))
		}
	case ctrlDiscoverResp:
		dc.strField("ctrlSubtype", "DISCOVER_RESP")
		if len(p) >= 6 {
			dc.intField("ctrlTag", int64(binary.LittleEndian.Uint32(p[2:6])))
		}
		dc.intField("ctrlNodeType", int64(p[0]&0x0f))
		if len(p) >= 6 {
			dc.intField("ctrlSNR", int64(int8(p[1])))
			switch key := p[6:]; {
			case len(key) >= 32:
				dc.hexField("ctrlPubKey", key[:32])
			case len(key) >= 8:
				dc.hexField("ctrlPubKey", key[:8])
			}
		}
	default:
		dc.strField("ctrlSubtype", "UNKNOWN")
	}
	dc.end()
}

// rawCustom decodes RAW_CUSTOM: the raw bytes, their length and the first
// byte as an upper-case hex tag (head §2.18).
func (dc *decoding) rawCustom(p []byte) {
	dc.begin("RAW_CUSTOM")
	if len(p) > 0 {
		dc.hexField("raw", p)
	}
	dc.intField("rawLength", int64(len(p)))
	if len(p) > 0 {
		dc.st.js = append(appendKey(dc.st.js, "firstByteTag"), '"', hexUpper[p[0]>>4], hexUpper[p[0]&0x0f], '"')
	}
	dc.end()
}
