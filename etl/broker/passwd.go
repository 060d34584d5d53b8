package broker

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// HashIterations is the PBKDF2 iteration count of new $7$ hashes.
// mosquitto_passwd uses 101 by default; we use more, at about 30 ms per
// check on a Raspberry Pi 4, paid once per connection.
const HashIterations = 20000

const saltBytes = 12 // mosquitto_passwd's salt length

// hashSpec is a parsed password hash.
type hashSpec struct {
	kind       int // 6: SHA-512(password ‖ salt); 7: PBKDF2-HMAC-SHA512
	iterations int
	salt, sum  []byte
}

// parseHash parses a $7$iterations$salt$hash or $6$salt$hash string, the
// formats of mosquitto's password files (base64 salt and hash).
func parseHash(s string) (hashSpec, error) {
	if !strings.HasPrefix(s, "$") {
		return hashSpec{}, errors.New("not a password hash (plain text is not accepted; see `corescope-ingestor passwd`)")
	}
	f := strings.Split(s[1:], "$")
	var h hashSpec
	switch {
	case len(f) == 4 && f[0] == "7":
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 1 {
			return hashSpec{}, errors.New("$7$ hash: bad iteration count")
		}
		h = hashSpec{kind: 7, iterations: n}
		f = f[2:]
	case len(f) == 3 && f[0] == "6":
		h = hashSpec{kind: 6}
		f = f[1:]
	default:
		return hashSpec{}, errors.New("unsupported hash format (want $7$ or $6$)")
	}
	var err error
	if h.salt, err = base64.StdEncoding.DecodeString(f[0]); err != nil || len(h.salt) == 0 {
		return hashSpec{}, errors.New("bad salt encoding")
	}
	if h.sum, err = base64.StdEncoding.DecodeString(f[1]); err != nil || len(h.sum) != sha512.Size {
		return hashSpec{}, errors.New("bad hash encoding")
	}
	return h, nil
}

// verify reports whether password matches h, in constant time.
func (h hashSpec) verify(password string) bool {
	var got []byte
	switch h.kind {
	case 7:
		k, err := pbkdf2.Key(sha512.New, password, h.salt, h.iterations, sha512.Size)
		if err != nil {
			return false
		}
		got = k
	case 6:
		d := sha512.New()
		d.Write([]byte(password))
		d.Write(h.salt)
		got = d.Sum(nil)
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, h.sum) == 1
}

// HashPassword returns a new $7$ hash of password, usable in
// broker.users[].passwordHash and in password files.
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum, err := pbkdf2.Key(sha512.New, password, salt, HashIterations, sha512.Size)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return fmt.Sprintf("$7$%d$%s$%s", HashIterations,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(sum)), nil
}
