package awscreds

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxRemoteText bounds how much of a remote party's text an error repeats.
const maxRemoteText = 300

// IdPError is a failed client_credentials request at the token endpoint.
type IdPError struct {
	URL string
	// Status is the HTTP status (0 when there was no answer).
	Status int
	// Code and Description are the OAuth2 error (RFC 6749 5.2) when the
	// identity provider sent one.
	Code, Description string
	// Cause is a transport or decoding failure.
	Cause error
}

func (e *IdPError) Error() string {
	var b strings.Builder
	b.WriteString("identity provider ")
	b.WriteString(e.URL)
	switch {
	case e.Code != "":
		b.WriteString(": ")
		b.WriteString(e.Code)
		if e.Description != "" {
			b.WriteString(": ")
			b.WriteString(e.Description)
		}
	case e.Cause != nil:
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	return b.String()
}

func (e *IdPError) Unwrap() error { return e.Cause }

// STSError is a failed STS request.
type STSError struct {
	URL, Action string
	// Status is the HTTP status (0 when there was no answer).
	Status int
	// Code and Message are the STS error (e.g. InvalidIdentityToken).
	Code, Message, RequestID string
	// Cause is a transport or decoding failure.
	Cause error
}

func (e *STSError) Error() string {
	var b strings.Builder
	b.WriteString("STS ")
	b.WriteString(e.URL)
	b.WriteString(" ")
	b.WriteString(e.Action)
	switch {
	case e.Code != "":
		b.WriteString(": ")
		b.WriteString(e.Code)
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	case e.Cause != nil:
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	var meta []string
	if e.Status != 0 {
		meta = append(meta, fmt.Sprintf("HTTP %d", e.Status))
	}
	if e.RequestID != "" {
		meta = append(meta, "request id "+e.RequestID)
	}
	if len(meta) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(meta, ", "))
		b.WriteString(")")
	}
	return b.String()
}

func (e *STSError) Unwrap() error { return e.Cause }

// redactedError carries the text of another error with the secrets cut
// out; it does not unwrap, so nobody reaches the original text.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

// scrubError returns err with every secret removed from its text.
func scrubError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: scrub(err.Error(), secrets...)}
}

// jwtLike matches the start of a JWT (or a piece of one): a base64url
// JSON object header, optionally followed by more segments.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*)*`)

// scrub makes remote text safe to show: the secrets replaced, anything
// that looks like a JWT (an identity or session token, or a piece of one)
// replaced, control characters dropped, invalid UTF-8 replaced, the length
// bounded.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	s = jwtLike.ReplaceAllString(s, "<redacted token>")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n >= maxRemoteText {
			b.WriteString("...")
			break
		}
		switch {
		case r == utf8.RuneError:
			b.WriteRune('?')
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f:
			continue
		default:
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}
