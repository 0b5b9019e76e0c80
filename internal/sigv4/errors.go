package sigv4

import "net/http"

// The AWS error codes of a request whose signature is refused. The STS
// answers them in its XML error document with the status of HTTPStatus.
const (
	// CodeMissingAuthenticationToken: the request carries no signature at
	// all (no Authorization header and no X-Amz-* query authentication).
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	// CodeIncompleteSignature: a signature is there but malformed: wrong
	// algorithm, a component missing or given twice, a malformed credential
	// scope, signed headers or date, both forms at once.
	CodeIncompleteSignature = "IncompleteSignature"
	// CodeInvalidClientTokenID: the access key id is unknown, or the session
	// token does not verify. This package never decides it: the caller
	// does, when it looks the key up (see InvalidClientTokenID).
	CodeInvalidClientTokenID = "InvalidClientTokenId"
	// CodeSignatureDoesNotMatch: the signature is well-formed but is not the
	// one the secret gives for this request (or its scope names another
	// service or date, or the body does not match its declared hash).
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	// CodeRequestExpired: X-Amz-Date is more than MaxClockSkew away from
	// now, or a presigned request is past X-Amz-Expires.
	CodeRequestExpired = "RequestExpired"
)

// Error is a refused signature. Message is safe to send to the client: it
// never holds a secret, a session token or a signature, and repeats nothing
// of the request but the names of headers and parameters.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	return e.Code + ": " + e.Message
}

// HTTPStatus is the status AWS answers with the error's code: 403 for
// MissingAuthenticationToken, InvalidClientTokenId and
// SignatureDoesNotMatch, 400 for IncompleteSignature and RequestExpired.
func (e *Error) HTTPStatus() int {
	switch e.Code {
	case CodeIncompleteSignature, CodeRequestExpired:
		return http.StatusBadRequest
	default:
		return http.StatusForbidden
	}
}

func incomplete(msg string) *Error { return &Error{Code: CodeIncompleteSignature, Message: msg} }
func mismatch(msg string) *Error   { return &Error{Code: CodeSignatureDoesNotMatch, Message: msg} }
func expired(msg string) *Error    { return &Error{Code: CodeRequestExpired, Message: msg} }

// InvalidClientTokenID is the error for a caller that does not know the
// access key id, or whose session token does not verify. The message is
// AWS's, and names neither.
func InvalidClientTokenID() *Error {
	return &Error{Code: CodeInvalidClientTokenID, Message: "The security token included in the request is invalid."}
}

func missingAuth() *Error {
	return &Error{Code: CodeMissingAuthenticationToken,
		Message: "Request is missing Authentication Token: sign it with AWS Signature Version 4"}
}
