package meshcore

import (
	"crypto/ed25519"
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"
)

// Advert layout (§7.3).
const (
	advertMinLen  = 100 // pubkey 32 + timestamp 4 + signature 64
	maxNameLen    = 32  // bytes kept of a sanitised name
	advTypeSensor = 4
)

// advert decodes an ADVERT payload, verifies its signature when enabled and
// runs the ingest sanity check (§7.3, §11).
func (dc *decoding) advert(p []byte) {
	if len(p) < advertMinLen {
		dc.errorPayload("ADVERT", p, "too short for advert")
		return
	}
	st := dc.st
	pub, sig, appdata := p[0:32], p[36:100], p[100:]
	ts := binary.LittleEndian.Uint32(p[32:36])

	adv := &dc.blk.adv
	dc.pkt.Advert = adv
	adv.Timestamp = ts
	dc.pubKey = st.arHex(pub, hexLower)

	dc.begin("ADVERT")
	js := appendKey(st.js, "pubKey")
	js = append(js, '"')
	js = append(js, st.ar[dc.pubKey.lo:dc.pubKey.hi]...)
	js = append(js, '"')
	if ts != 0 {
		js = strconv.AppendUint(appendKey(js, "timestamp"), uint64(ts), 10)
	}
	js = append(appendKey(js, "timestampISO"), '"')
	js = appendISOTime(js, ts)
	js = append(js, '"')
	js = appendHexString(appendKey(js, "signature"), sig)
	if dc.d.verify {
		// Signed message: public key ‖ timestamp ‖ all of the appdata
		// (DEV-3: firmware would stop at 32 bytes of appdata).
		msg := append(append(st.signed[:0], p[0:36]...), appdata...)
		adv.SignatureChecked = true
		adv.SignatureValid = ed25519.Verify(pub, msg, sig)
		js = appendBool(appendKey(js, "signatureValid"), adv.SignatureValid)
	}
	st.js = js

	adv.Role = "companion" // no appdata, no flags
	if len(appdata) > 0 {
		dc.appdata(adv, appdata)
	}
	dc.end()
	adv.Invalid = advertInvalid(pub, adv, dc.advName)
}

// appdata parses the flags and optional fields of an advert's appdata.
func (dc *decoding) appdata(adv *Advert, a []byte) {
	st := dc.st
	flags := a[0]
	typ := flags & 0x0f
	adv.Role = roleName(typ)

	js := append(appendKey(st.js, "flags"), `{"raw":`...)
	js = strconv.AppendUint(js, uint64(flags), 10)
	js = strconv.AppendUint(appendKey(js, "type"), uint64(typ), 10)
	js = appendBool(appendKey(js, "chat"), typ == 1)
	js = appendBool(appendKey(js, "repeater"), typ == 2)
	js = appendBool(appendKey(js, "room"), typ == 3)
	js = appendBool(appendKey(js, "sensor"), typ == advTypeSensor)
	js = appendBool(appendKey(js, "hasLocation"), flags&0x10 != 0)
	js = appendBool(appendKey(js, "hasFeat1"), flags&0x20 != 0)
	js = appendBool(appendKey(js, "hasFeat2"), flags&0x40 != 0)
	js = appendBool(appendKey(js, "hasName"), flags&0x80 != 0)
	js = append(js, '}')

	// Optional fields in fixed order; a field that does not fit is skipped
	// without advancing the cursor (DEV-6).
	o := 1
	if flags&0x10 != 0 && len(a) >= o+8 {
		adv.HasLocation = true
		adv.Lat = float64(int32(binary.LittleEndian.Uint32(a[o:]))) / 1e6
		adv.Lon = float64(int32(binary.LittleEndian.Uint32(a[o+4:]))) / 1e6
		o += 8
	}
	var feat1, feat2 int = -1, -1
	if flags&0x20 != 0 && len(a) >= o+2 {
		feat1 = int(binary.LittleEndian.Uint16(a[o:]))
		o += 2
	}
	if flags&0x40 != 0 && len(a) >= o+2 {
		feat2 = int(binary.LittleEndian.Uint16(a[o:]))
		o += 2
	}
	var name []byte
	if flags&0x80 != 0 {
		end := o
		for end < len(a) && a[end] != 0 {
			end++
		}
		name = sanitizeName(st.name[:0], a[o:end])
		dc.advName = name
		o = end
		for o < len(a) && a[o] == 0 {
			o++
		}
	}
	// Sensor telemetry after the name: a CoreScope extension (DEV-5).
	batt, temp := -1, math.MinInt
	if typ == advTypeSensor && len(a)-o >= 4 {
		if v := int(binary.LittleEndian.Uint16(a[o:])); v >= 1 && v <= 10000 {
			batt = v
		}
		if v := int(int16(binary.LittleEndian.Uint16(a[o+2:]))); v >= -5000 && v <= 10000 {
			temp = v
		}
	}

	if adv.HasLocation {
		js = appendFloat(appendKey(js, "lat"), adv.Lat)
		js = appendFloat(appendKey(js, "lon"), adv.Lon)
	}
	if len(name) > 0 {
		js = appendString(appendKey(js, "name"), name)
		st.setLater(&adv.Name, st.arBytes(name))
	}
	if feat1 >= 0 {
		js = strconv.AppendInt(appendKey(js, "feat1"), int64(feat1), 10)
	}
	if feat2 >= 0 {
		js = strconv.AppendInt(appendKey(js, "feat2"), int64(feat2), 10)
	}
	if batt >= 0 {
		adv.HasBattery, adv.BatteryMV = true, int64(batt)
		js = strconv.AppendInt(appendKey(js, "battery_mv"), int64(batt), 10)
	}
	if temp != math.MinInt {
		adv.HasTemperature, adv.TemperatureC = true, float64(temp)/100.0
		js = appendFloat(appendKey(js, "temperature_c"), adv.TemperatureC)
	}
	st.js = js
}

// sanitizeName appends the advert name of raw to dst: UTF-8 decoded with Go
// semantics (each bad byte becomes U+FFFD), control characters other than
// TAB and LF dropped, DEL dropped, then cut to 32 bytes (possibly inside a
// character).
func sanitizeName(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		r, size := rune(raw[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(raw[i:])
		}
		i += size
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			continue
		}
		dst = utf8.AppendRune(dst, r)
	}
	if len(dst) > maxNameLen {
		dst = dst[:maxNameLen]
	}
	return dst
}

// roleName maps the advert type (flags low nibble) to the nodes.role label.
func roleName(typ byte) string {
	switch typ {
	case 0:
		return "none"
	case 1:
		return "companion"
	case 2:
		return "repeater"
	case 3:
		return "room"
	case 4:
		return "sensor"
	}
	return roleTypeN[typ&0x0f]
}

var roleTypeN = func() (t [16]string) {
	for i := range t {
		t[i] = "type-" + strconv.Itoa(i)
	}
	return t
}()

// advertInvalid is the ingestor's sanity check (§11 step 1); it returns the
// rejection reason or "". Several checks cannot fail after decoding; they
// are kept so that the rules read like the contract.
func advertInvalid(pub []byte, adv *Advert, name []byte) string {
	zero := true
	for _, b := range pub {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		return "pubkey is all zeros"
	}
	if adv.HasLocation {
		if math.IsNaN(adv.Lat) || math.IsInf(adv.Lat, 0) || adv.Lat < -90 || adv.Lat > 90 {
			return "invalid lat: " + strconv.FormatFloat(adv.Lat, 'f', 6, 64)
		}
		if math.IsNaN(adv.Lon) || math.IsInf(adv.Lon, 0) || adv.Lon < -180 || adv.Lon > 180 {
			return "invalid lon: " + strconv.FormatFloat(adv.Lon, 'f', 6, 64)
		}
	}
	for _, c := range name {
		if c <= 0x08 || c == 0x0b || c == 0x0c || (c >= 0x0e && c <= 0x1f) || c == 0x7f {
			return "name contains control characters"
		}
	}
	if len(name) > 64 {
		return "name too long (" + strconv.Itoa(len(name)) + " bytes)"
	}
	return ""
}

// appendISOTime appends ts as UTC "YYYY-MM-DDTHH:MM:SS.000Z".
func appendISOTime(dst []byte, ts uint32) []byte {
	secs := int64(ts)
	days, rem := secs/86400, secs%86400
	// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	dst = append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, rem/3600)
	dst = append(dst, ':')
	dst = append2(dst, rem%3600/60)
	dst = append(dst, ':')
	dst = append2(dst, rem%60)
	return append(dst, ".000Z"...)
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}
