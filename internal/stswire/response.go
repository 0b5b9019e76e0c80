package stswire

import (
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Credentials are the temporary credentials of a success response.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// Result is the content of a success response.
type Result struct {
	Action           Action
	Credentials      Credentials
	Subject          string // SubjectFromToken / SubjectFromWebIdentityToken; omitted when empty; not for AssumeRole
	Audience         string // omitted when empty; not for AssumeRole
	Provider         string // the IdP issuer; omitted when empty; not for AssumeRole
	AssumedRoleArn   string // AssumedRoleUser is omitted when both Arn and Id are empty; AssumeRole requires both
	AssumedRoleID    string
	PackedPolicySize *int   // percent of the packed-size limit, 0..100; omitted when nil
	SourceIdentity   string // AssumeRole and web identity; omitted when empty
}

// ErrIncompleteResult is returned by WriteResult and WriteCallerIdentity,
// before anything is written, when the result could not be used by a client.
var ErrIncompleteResult = errors.New("stswire: result lacks a credential member, the expiration or (AssumeRole) the assumed role user, " +
	"has a PackedPolicySize outside 0..100, or names an action without credentials")

// expirationLayout is RFC 3339 in UTC with whole seconds and a trailing Z,
// e.g. 2026-11-28T20:26:12Z.
const expirationLayout = "2006-01-02T15:04:05Z"

// WriteResult writes the success document:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<AssumeRole[With<X>]Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
//	  <AssumeRole[With<X>]Result>
//	    <Credentials><AccessKeyId/><SecretAccessKey/><SessionToken/><Expiration/></Credentials>
//	    <SubjectFromToken|SubjectFromWebIdentityToken/>     (not for AssumeRole)
//	    <AssumedRoleUser><Arn/><AssumedRoleId/></AssumedRoleUser>
//	    <Audience/><Provider/>                               (not for AssumeRole)
//	    <PackedPolicySize/><SourceIdentity/>
//	  </AssumeRole[With<X>]Result>
//	  <ResponseMetadata><RequestId/></ResponseMetadata>
//	</AssumeRole[With<X>]Response>
//
// compact (no white space between elements), with Content-Type
// application/xml, the request id in x-amz-request-id and x-amzn-RequestId,
// and Cache-Control: no-store. The four
// credential members are always present (aws-sdk-go-v2 and botocore expect
// them); a result without any of them, without an expiration, with a
// PackedPolicySize outside 0..100, for AssumeRole without both
// AssumedRoleUser members, or with an action that returns no credentials
// (GetCallerIdentity: WriteCallerIdentity) is refused with
// ErrIncompleteResult before anything is written, so the caller can still answer InternalError. Other errors are the
// ResponseWriter's.
func WriteResult(w http.ResponseWriter, res Result, requestID string) error {
	var root, subject string
	switch res.Action {
	case AssumeRoleWithClientGrants:
		root, subject = "AssumeRoleWithClientGrants", "SubjectFromToken"
	case AssumeRoleWithWebIdentity:
		root, subject = "AssumeRoleWithWebIdentity", "SubjectFromWebIdentityToken"
	case AssumeRole:
		// AWS always answers AssumedRoleUser here; botocore's and the
		// CLI's callers read its Arn.
		root = "AssumeRole"
		if res.AssumedRoleArn == "" || res.AssumedRoleID == "" {
			return ErrIncompleteResult
		}
		res.Subject, res.Audience, res.Provider = "", "", ""
	default:
		return ErrIncompleteResult
	}
	c := &res.Credentials
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" || c.Expiration.IsZero() {
		return ErrIncompleteResult
	}
	if res.PackedPolicySize != nil && (*res.PackedPolicySize < 0 || *res.PackedPolicySize > 100) {
		return ErrIncompleteResult
	}
	requestID = sanitizeRequestID(requestID)

	bp := getBuf()
	b := append((*bp)[:0], xmlDecl...)
	b = append(b, '<')
	b = append(b, root...)
	b = append(b, `Response xmlns="`+Namespace+`"><`...)
	b = append(b, root...)
	b = append(b, "Result><Credentials><AccessKeyId>"...)
	b = appendEscaped(b, c.AccessKeyID)
	b = append(b, "</AccessKeyId><SecretAccessKey>"...)
	b = appendEscaped(b, c.SecretAccessKey)
	b = append(b, "</SecretAccessKey><SessionToken>"...)
	b = appendEscaped(b, c.SessionToken)
	b = append(b, "</SessionToken><Expiration>"...)
	b = c.Expiration.UTC().Truncate(time.Second).AppendFormat(b, expirationLayout)
	b = append(b, "</Expiration></Credentials>"...)
	if subject != "" {
		b = appendElement(b, subject, res.Subject)
	}
	if res.AssumedRoleArn != "" || res.AssumedRoleID != "" {
		b = append(b, "<AssumedRoleUser><Arn>"...)
		b = appendEscaped(b, res.AssumedRoleArn)
		b = append(b, "</Arn><AssumedRoleId>"...)
		b = appendEscaped(b, res.AssumedRoleID)
		b = append(b, "</AssumedRoleId></AssumedRoleUser>"...)
	}
	b = appendElement(b, "Audience", res.Audience)
	b = appendElement(b, "Provider", res.Provider)
	if res.PackedPolicySize != nil {
		b = append(b, "<PackedPolicySize>"...)
		b = strconv.AppendInt(b, int64(*res.PackedPolicySize), 10)
		b = append(b, "</PackedPolicySize>"...)
	}
	b = appendElement(b, "SourceIdentity", res.SourceIdentity)
	b = append(b, "</"...)
	b = append(b, root...)
	b = append(b, "Result><ResponseMetadata><RequestId>"...)
	b = appendEscaped(b, requestID)
	b = append(b, "</RequestId></ResponseMetadata></"...)
	b = append(b, root...)
	b = append(b, "Response>"...)

	err := writeXML(w, w.Header(), http.StatusOK, b, requestID)
	putBuf(bp, b)
	return err
}

// CallerIdentity is the content of a GetCallerIdentity response.
type CallerIdentity struct {
	Arn     string // required
	UserID  string // required: the unique id (AIDA..., or AROA...:session for a session)
	Account string // omitted when empty
}

// WriteCallerIdentity writes the GetCallerIdentity success document:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
//	  <GetCallerIdentityResult><Arn/><UserId/><Account/></GetCallerIdentityResult>
//	  <ResponseMetadata><RequestId/></ResponseMetadata>
//	</GetCallerIdentityResponse>
//
// compact, with the headers WriteResult sets. A result without Arn or
// UserID is refused with ErrIncompleteResult before anything is written.
func WriteCallerIdentity(w http.ResponseWriter, id CallerIdentity, requestID string) error {
	if id.Arn == "" || id.UserID == "" {
		return ErrIncompleteResult
	}
	requestID = sanitizeRequestID(requestID)
	bp := getBuf()
	b := append((*bp)[:0], xmlDecl...)
	b = append(b, `<GetCallerIdentityResponse xmlns="`+Namespace+`"><GetCallerIdentityResult>`...)
	b = appendElement(b, "Arn", id.Arn)
	b = appendElement(b, "UserId", id.UserID)
	b = appendElement(b, "Account", id.Account)
	b = append(b, "</GetCallerIdentityResult><ResponseMetadata><RequestId>"...)
	b = appendEscaped(b, requestID)
	b = append(b, "</RequestId></ResponseMetadata></GetCallerIdentityResponse>"...)
	err := writeXML(w, w.Header(), http.StatusOK, b, requestID)
	putBuf(bp, b)
	return err
}

// appendElement appends <name>value</name>, or nothing when value is empty.
func appendElement(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, value)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendEscaped appends s as XML character data, escaped as encoding/xml
// does. Characters XML 1.0 cannot carry (C0 controls other than tab, LF and
// CR, U+FFFE, U+FFFF, lone surrogates, invalid UTF-8) become U+FFFD, so the
// document always parses.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && plainXML[s[i]] {
			i++ // runs of plain ASCII, the common case, are copied at once
		}
		if i == len(s) {
			break
		}
		c := s[i]
		var esc string
		size := 1
		if c < utf8.RuneSelf {
			switch c {
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '&':
				esc = "&amp;"
			case '"':
				esc = "&#34;"
			case '\'':
				esc = "&#39;"
			case '\t':
				esc = "&#x9;"
			case '\n':
				esc = "&#xA;"
			case '\r':
				esc = "&#xD;"
			default: // other C0 controls
				esc = "\uFFFD"
			}
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || size != 1) && isXMLChar(r) {
				i += size
				continue
			}
			esc = "\uFFFD"
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		i += size
		start = i
	}
	return append(b, s[start:]...)
}

// plainXML marks the bytes appendEscaped copies unchanged: ASCII from space
// to DEL other than the five XML specials.
var plainXML = func() (t [256]bool) {
	for c := 0x20; c <= 0x7f; c++ { // DEL is a valid XML character
		t[c] = true
	}
	for _, c := range `<>&'"` {
		t[c] = false
	}
	return t
}()

// isXMLChar reports whether r is in XML 1.0's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
