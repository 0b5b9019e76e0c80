package stswire

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/opa-sts/opa-sts/internal/sigv4"
)

// Error types of the STS error document.
const (
	TypeSender   = "Sender"   // the client's fault (4xx)
	TypeReceiver = "Receiver" // our fault (5xx)
)

// Error codes. The first block is the contract's error table; the second
// covers the transport cases the contract does not name.
const (
	CodeMissingParameter        = "MissingParameter"
	CodeInvalidParameterValue   = "InvalidParameterValue"
	CodeInvalidIdentityToken    = "InvalidIdentityToken"
	CodeExpiredToken            = "ExpiredTokenException"
	CodeAccessDenied            = "AccessDenied"
	CodeIDPRejectedClaim        = "IDPRejectedClaim"
	CodeIDPCommunicationError   = "IDPCommunicationError"
	CodeMalformedPolicyDocument = "MalformedPolicyDocument"
	CodePackedPolicyTooLarge    = "PackedPolicyTooLarge"
	CodeInternalError           = "InternalError"

	// CodeMethodNotAllowed answers a method other than POST (405). AWS STS
	// accepts GET as well, so it has no code for this; MinIO answers its
	// S3-style MethodNotAllowed, which is the name used here.
	CodeMethodNotAllowed = "MethodNotAllowed"
	// CodeRequestEntityTooLarge answers a body over Limits.MaxBodyBytes (413).
	CodeRequestEntityTooLarge = "RequestEntityTooLarge"
	// CodeRequestTimeout answers a body not received within the read
	// deadline (400, as S3 answers a connection that stalls).
	CodeRequestTimeout = "RequestTimeout"
	// CodeServiceUnavailable answers when the service cannot decide now (for
	// example no policy loaded yet); AWS SDKs retry 503 with back-off.
	CodeServiceUnavailable = "ServiceUnavailable"
)

// Error is an STS error: the HTTP status and the fields of the XML error
// document. Message is for humans and safe to show: the constructors strip
// control characters and clip it, and this package never puts a token, a
// secret or the policy text into one.
type Error struct {
	Status  int    // HTTP status
	Type    string // "Sender" or "Receiver"
	Code    string // STS error code
	Message string // human-safe: never contains a token or secret
	// Detail is for the operator's log, never written to the client: why
	// an InternalError happened (a misconfigured provider, a decision the
	// STS cannot turn into credentials).
	Detail string
}

// WithDetail returns a copy of e carrying a detail for the operator's log.
func (e *Error) WithDetail(format string, args ...any) *Error {
	c := *e
	c.Detail = fmt.Sprintf(format, args...)
	return &c
}

func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// maxMessageBytes bounds an error message; maxEcho bounds any value of the
// request that a message repeats.
const (
	maxMessageBytes = 512
	maxEcho         = 100
)

func newError(status int, code, msg string) *Error {
	typ := TypeSender
	if status >= 500 {
		typ = TypeReceiver
	}
	return &Error{Status: status, Type: typ, Code: code, Message: sanitizeMessage(msg, maxMessageBytes)}
}

// MissingParameter: a required parameter is absent or empty (400). Also the
// answer to a wrong Version, as MinIO and the contract do.
func MissingParameter(msg string) *Error {
	return newError(http.StatusBadRequest, CodeMissingParameter, msg)
}

// InvalidParameterValue: a parameter has a bad value, the action is unknown,
// or the request is not a well-formed form (400).
func InvalidParameterValue(msg string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidParameterValue, msg)
}

// InvalidIdentityToken: the token is malformed, its signature does not verify,
// its key is unknown, its iss/aud are wrong or its alg is not allowed (400).
// aws-sdk-go-v2's web-identity provider retries this code.
func InvalidIdentityToken(msg string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidIdentityToken, msg)
}

// ExpiredToken: the token has expired (400, code ExpiredTokenException).
func ExpiredToken(msg string) *Error {
	return newError(http.StatusBadRequest, CodeExpiredToken, msg)
}

// AccessDenied: the policy refuses the request (403).
func AccessDenied(msg string) *Error {
	return newError(http.StatusForbidden, CodeAccessDenied, msg)
}

// IDPRejectedClaim: the policy refuses a claim of the token (403), AWS's
// alternative to AccessDenied.
func IDPRejectedClaim(msg string) *Error {
	return newError(http.StatusForbidden, CodeIDPRejectedClaim, msg)
}

// IDPCommunicationError: the IdP's keys could not be obtained and none is
// cached (400, as AWS).
func IDPCommunicationError(msg string) *Error {
	return newError(http.StatusBadRequest, CodeIDPCommunicationError, msg)
}

// MalformedPolicyDocument: the session policy is not a valid policy (400).
func MalformedPolicyDocument(msg string) *Error {
	return newError(http.StatusBadRequest, CodeMalformedPolicyDocument, msg)
}

// PackedPolicyTooLarge: the session policy is too large (400).
func PackedPolicyTooLarge(msg string) *Error {
	return newError(http.StatusBadRequest, CodePackedPolicyTooLarge, msg)
}

// InternalError: our fault (500, Receiver). The message is generic on
// purpose: log the cause, do not send it.
func InternalError() *Error {
	return newError(http.StatusInternalServerError, CodeInternalError,
		"An internal error occurred. Try again later.")
}

// MethodNotAllowed: the method is not POST (405). WriteError adds
// "Allow: POST".
func MethodNotAllowed() *Error {
	return newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
		"The STS endpoint accepts POST only")
}

// RequestEntityTooLarge: the body is larger than the limit (413).
func RequestEntityTooLarge(limit int64) *Error {
	return newError(http.StatusRequestEntityTooLarge, CodeRequestEntityTooLarge,
		"The request body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
}

// RequestTimeout: the body did not arrive in time (400, Sender).
func RequestTimeout() *Error {
	return newError(http.StatusBadRequest, CodeRequestTimeout, "The request body was not received within the time allowed")
}

// ServiceUnavailable: the service cannot answer now (503, Receiver).
func ServiceUnavailable(msg string) *Error {
	return newError(http.StatusServiceUnavailable, CodeServiceUnavailable, msg)
}

// WriteError writes the STS XML error document for e with requestID in the
// headers x-amz-request-id and x-amzn-RequestId and in <RequestId>. A nil e, or one without status
// or code, is written as an InternalError; the message is sanitised again, so
// an Error built by hand cannot inject control characters. For a 405 it sets
// "Allow: POST".
func WriteError(w http.ResponseWriter, e *Error, requestID string) {
	if e == nil || e.Code == "" || e.Status < 400 || e.Status > 599 {
		e = InternalError()
	}
	typ := e.Type
	if typ != TypeSender && typ != TypeReceiver {
		typ = TypeSender
		if e.Status >= 500 {
			typ = TypeReceiver
		}
	}
	requestID = sanitizeRequestID(requestID)

	bp := getBuf()
	b := append((*bp)[:0], xmlDecl...)
	b = append(b, `<ErrorResponse xmlns="`+Namespace+`"><Error><Type>`...)
	b = appendEscaped(b, typ)
	b = append(b, "</Type><Code>"...)
	b = appendEscaped(b, e.Code)
	b = append(b, "</Code><Message>"...)
	b = appendEscaped(b, sanitizeMessage(e.Message, maxMessageBytes))
	b = append(b, "</Message></Error><RequestId>"...)
	b = appendEscaped(b, requestID)
	b = append(b, "</RequestId></ErrorResponse>"...)

	h := w.Header()
	if e.Status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	_ = writeXML(w, h, e.Status, b, requestID) // nothing left to tell the client
	putBuf(bp, b)
}

// sanitizeMessage makes s safe for a message: control and format characters
// (bidi overrides, zero-width) become spaces or vanish, invalid UTF-8 becomes
// U+FFFD, and the result is at most max bytes ("..." marks a clip).
func sanitizeMessage(s string, max int) string {
	clean := len(s) <= max
	for i := 0; clean && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	sb.Grow(min(len(s), max))
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			r = ' '
		case unicode.Is(unicode.Cf, r):
			continue
		}
		if sb.Len()+utf8.RuneLen(r) > max-3 {
			sb.WriteString("...")
			break
		}
		sb.WriteRune(r) // an invalid byte arrives as U+FFFD
	}
	return sb.String()
}

// echo returns a value of the request fit to repeat in a message: sanitised
// and clipped to maxEcho bytes.
func echo(s string) string { return sanitizeMessage(s, maxEcho) }

// sanitizeRequestID keeps a request id fit for a header and a message.
func sanitizeRequestID(id string) string {
	ok := len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		if c := id[i]; c <= 0x20 || c >= 0x7f {
			ok = false
		}
	}
	if ok {
		return id
	}
	var sb strings.Builder
	for i := 0; i < len(id) && sb.Len() < 128; i++ {
		if c := id[i]; c > 0x20 && c < 0x7f {
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// Response buffers. They hold credentials, so they are cleared before reuse.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte, b []byte) {
	if cap(b) > 64<<10 {
		return
	}
	clear(b)
	*bp = b[:0]
	bufPool.Put(bp)
}

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

func writeXML(w http.ResponseWriter, h http.Header, status int, b []byte, requestID string) error {
	// One allocation for all values; each slice is capped at its element,
	// so a later Add cannot overwrite its neighbour. Keys are canonical.
	// The request id goes out twice: x-amz-request-id (MinIO, S3, the
	// contract) and x-amzn-RequestId (AWS STS's header, the only one
	// aws-sdk-go-v2 reads; botocore reads either).
	v := make([]string, 5)
	v[0], v[1], v[2], v[3], v[4] = "application/xml", strconv.Itoa(len(b)), requestID, "no-store", "nosniff"
	h["Content-Type"] = v[0:1:1]
	h["Content-Length"] = v[1:2:2]
	h["X-Amz-Request-Id"] = v[2:3:3]
	h["X-Amzn-Requestid"] = v[2:3:3]
	h["Cache-Control"] = v[3:4:4]
	h["X-Content-Type-Options"] = v[4:5:5]
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err
}

// SigV4 error codes (internal/sigv4), answered for the signed actions.
const (
	CodeMissingAuthenticationToken = sigv4.CodeMissingAuthenticationToken // 403
	CodeIncompleteSignature        = sigv4.CodeIncompleteSignature        // 400
	CodeInvalidClientTokenID       = sigv4.CodeInvalidClientTokenID       // 403
	CodeSignatureDoesNotMatch      = sigv4.CodeSignatureDoesNotMatch      // 403
	CodeRequestExpired             = sigv4.CodeRequestExpired             // 400
)

// ExpiredSessionCredentials is AWS's answer to a call signed with session
// credentials that have expired (ExpiredToken, 400; the identity token of
// a web-identity call that has expired is ExpiredTokenException).
func ExpiredSessionCredentials() *Error {
	return newError(http.StatusBadRequest, "ExpiredToken", "The security token included in the request is expired")
}

// ValidationError is AWS's answer to a parameter the caller's role does
// not allow (a DurationSeconds above the role's maximum or above the hour
// of a chained session).
func ValidationError(msg string) *Error {
	return newError(http.StatusBadRequest, "ValidationError", msg)
}

// SignatureError is the STS error for a refused SigV4 signature: the
// *sigv4.Error's code, AWS's status for it, and its message (which holds no
// secret). Any other error is an InternalError.
func SignatureError(err error) *Error {
	e, ok := errors.AsType[*sigv4.Error](err)
	if !ok || e == nil || e.Code == "" {
		return InternalError()
	}
	return newError(e.HTTPStatus(), e.Code, e.Message)
}
