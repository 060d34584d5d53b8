package uplink

import (
	"fmt"
	"unicode/utf8"
)

// Bounds, in bytes, on the text an observer puts in what we store. Real
// uplinks stay far below them (../shared/spec/uplinks.md b.1–b.3).
const (
	// MaxObserverLen bounds the observer id (topic segment, or origin_id
	// on the old short topics). Uplinks publish the observer's public key,
	// 64 hex characters; twice that leaves room for other id schemes.
	MaxObserverLen = 128
	// MaxRegionLen bounds the topic's IATA segment and the payload
	// "region". Regions are 3-letter IATA codes; 32 leaves room for
	// "us-west-2" or "PDX-metro" style names.
	MaxRegionLen = 32
	// MaxOriginLen bounds the payload "origin", the observer's display
	// name. Uplinks send the node name, at most 31 bytes in the firmware;
	// 128 leaves room for a configured name with multi-byte characters.
	MaxOriginLen = 128
)

// Reasons a message is rejected for what its observer sent
// (RejectError.Reason).
const (
	ReasonEmptyObserver   = "empty_observer"   // a packet or status with no observer id ("meshcore/SJC//packets")
	ReasonInvalidObserver = "invalid_observer" // observer id over MaxObserverLen, not UTF-8, or with a control character
	ReasonInvalidRegion   = "invalid_region"   // IATA or region over MaxRegionLen, not UTF-8, or with a control character
	ReasonInvalidOrigin   = "invalid_origin"   // origin (name) over MaxOriginLen, not UTF-8, or with a control character
)

// validate rejects an envelope whose observer-controlled text should not be
// stored: an empty observer id on a packet or status, or an id, region or
// name that is too long, not UTF-8 or holds a control character (C0, DEL,
// C1: a NUL, a newline, a terminal escape). Such a message is rejected as
// a whole rather than stored cleaned up: the observer that sent it is
// broken or hostile, and the counted reason tells the operator which.
// Ignored envelopes are not read, so not judged.
func validate(env *Envelope) error {
	switch env.Kind {
	case KindPacket, KindStatus:
		if env.Topic.Observer == "" {
			return &RejectError{Reason: ReasonEmptyObserver}
		}
		if err := check(env.Topic.Observer, MaxObserverLen, ReasonInvalidObserver, "observer"); err != nil {
			return err
		}
	case KindChannelMessage, KindDirectMessage:
		// No observer: a companion's own messages.
	default:
		return nil
	}
	if err := check(env.Topic.IATA, MaxRegionLen, ReasonInvalidRegion, "topic region"); err != nil {
		return err
	}
	if err := check(env.Region, MaxRegionLen, ReasonInvalidRegion, "payload region"); err != nil {
		return err
	}
	return check(env.Origin, MaxOriginLen, ReasonInvalidOrigin, "origin")
}

// check returns a *RejectError with reason when s is not validText. The
// error describes s without echoing it.
func check(s string, maxLen int, reason, what string) error {
	if validText(s, maxLen) {
		return nil
	}
	if len(s) > maxLen {
		return &RejectError{Reason: reason, Err: fmt.Errorf("%s is %d bytes, more than %d", what, len(s), maxLen)}
	}
	return &RejectError{Reason: reason, Err: fmt.Errorf("%s is not UTF-8 text without control characters", what)}
}

// validText reports whether s is at most maxLen bytes of UTF-8 without
// control characters (U+0000–U+001F, U+007F–U+009F).
func validText(s string, maxLen int) bool {
	if len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r <= 0x9f {
			return false
		}
		i += n
	}
	return true
}
