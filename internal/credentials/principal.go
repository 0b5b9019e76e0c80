package credentials

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// PrincipalAccessKeyIDPrefix marks the long-term access keys of
// principals (catalogs, CI systems) that sign AssumeRole, as AWS's "AKIA"
// does for IAM users.
const PrincipalAccessKeyIDPrefix = "AKIA"

// NewPrincipalAccessKeyID returns a random principal access key id.
func NewPrincipalAccessKeyID() (string, error) {
	id, err := randomAccessKeyID()
	if err != nil {
		return "", err
	}
	return PrincipalAccessKeyIDPrefix + id[len(AccessKeyIDPrefix):], nil
}

// IsPrincipalAccessKeyID reports whether id has the shape of a principal
// access key id.
func IsPrincipalAccessKeyID(id string) bool {
	if len(id) != AccessKeyIDLength || !strings.HasPrefix(id, PrincipalAccessKeyIDPrefix) {
		return false
	}
	for i := len(PrincipalAccessKeyIDPrefix); i < len(id); i++ {
		if !strings.ContainsRune(accessKeyAlphabet, rune(id[i])) {
			return false
		}
	}
	return true
}

// DerivePrincipalSecret computes a principal's secret access key from
// its access key id: HMAC-SHA256 under the derivation secret, in a domain
// of its own (a session's secret is never a principal's). No secret is
// stored anywhere: policy data lists the principals by access key id
// (data.opa_sts.principals), `opa-sts principals new` hands the secret
// out once, and removing a principal from the data revokes it.
func DerivePrincipalSecret(derivationSecret []byte, accessKeyID string) string {
	mac := hmac.New(sha256.New, derivationSecret)
	mac.Write([]byte("opa-sts principal secret access key v1\x00"))
	mac.Write([]byte(accessKeyID))
	sum := mac.Sum(nil)
	return strings.ReplaceAll(base64.StdEncoding.EncodeToString(sum[:30]), "/", "+")
}
