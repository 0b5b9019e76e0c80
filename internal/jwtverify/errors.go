package jwtverify

import "fmt"

// Code is a stable, machine-readable reason why a token was not accepted.
type Code string

// The codes. They are part of the built-in's contract: policies and tests
// match on them.
const (
	CodeMalformed            Code = "malformed"             // not a compact JWS with JSON header and claims, too large, encrypted, nested, unknown crit
	CodeUnsupportedAlgorithm Code = "unsupported_algorithm" // alg none, HMAC, or not in the provider's allow-list
	CodeUnknownKey           Code = "unknown_key"           // no key of the issuer's key set fits kid and alg
	CodeBadSignature         Code = "bad_signature"         // the signature does not verify
	CodeExpired              Code = "expired"               // exp has passed, or the token is older than max_age
	CodeNotYetValid          Code = "not_yet_valid"         // nbf or iat lies in the future
	CodeWrongIssuer          Code = "wrong_issuer"          // iss is not the provider's issuer
	CodeWrongAudience        Code = "wrong_audience"        // aud (and azp, when allowed) names none of the audiences
	CodeMissingClaim         Code = "missing_claim"         // a required claim (always exp) is absent
	CodeIDPUnreachable       Code = "idp_unreachable"       // the key set could not be obtained and none is cached
	CodeInvalidProvider      Code = "invalid_provider"      // the provider configuration itself is wrong
)

// Error says why a token was rejected. Its message is safe to show to the
// client: it never contains the token or key material.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func fail(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
