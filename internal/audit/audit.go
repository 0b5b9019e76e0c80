// Package audit holds what the plugins' decision-log entries share: the
// fingerprint that stands for a secret, and request ids.
package audit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// Fingerprint replaces a secret (an identity token, a session token) with
// a fingerprint that lets an auditor match entries of the same secret
// without being able to use it. The empty string stays empty.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return "redacted:sha256:" + hex.EncodeToString(sum[:8])
}

// NewID returns a random request id in the UUID text form.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "00000000-0000-0000-0000-000000000000"
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
