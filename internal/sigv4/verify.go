package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// CheckTime refuses, with RequestExpired, a request whose X-Amz-Date is more
// than MaxClockSkew after now, or more than MaxClockSkew before it; for a
// presigned request with X-Amz-Expires, one whose date+expires is before
// now instead of the second bound. Verify calls it; a caller may call it
// first, to refuse a stale request before looking up any secret.
func (a *Auth) CheckTime(now time.Time) error {
	if e := a.checkTime(now); e != nil {
		return e
	}
	return nil
}

func (a *Auth) checkTime(now time.Time) *Error {
	if a.Date.Sub(now) > MaxClockSkew {
		return expired("Signature not yet current: X-Amz-Date is more than 5 minutes ahead of the server's clock")
	}
	if a.Form == QueryForm && a.Expires > 0 {
		if now.Sub(a.Date) > a.Expires {
			return expired("Request has expired: X-Amz-Date plus X-Amz-Expires is in the past")
		}
		return nil
	}
	if now.Sub(a.Date) > MaxClockSkew {
		return expired("Signature expired: X-Amz-Date is more than 5 minutes behind the server's clock")
	}
	return nil
}

// CheckRegion refuses, with SignatureDoesNotMatch as AWS answers, a
// signature scoped to a region other than want. An empty want accepts any
// region (the default: clients sign with whatever region they have).
func (a *Auth) CheckRegion(want string) error {
	if want != "" && a.Region != want {
		return mismatch("Credential should be scoped to a valid region: '" + want + "'")
	}
	return nil
}

// Verify checks that r, whose body is body exactly as received, is signed
// with secret (the secret access key of a.AccessKeyID): the clock
// (CheckTime), the body against X-Amz-Content-Sha256 when the client sent
// one, every signed header present, then the signature recomputed over the
// request as received and compared in constant time. r must be the request
// a came from.
//
// The payload hash is the body's SHA-256: aws-sdk-go-v2, botocore and
// minio-go sign it without sending it, the JS SDK also sends it as
// X-Amz-Content-Sha256. A presigned request with an empty body may instead
// have signed UNSIGNED-PAYLOAD (S3-style presigners); with a body it may
// not, since nothing would then cover the body's parameters.
//
// The signature is computed by aws-sdk-go-v2's signer over a copy of r
// carrying only the signed headers. A fresh signer is used each time: the
// SDK's signing-key cache is keyed by access key id, date, region and
// service, not by the secret, so a shared one would go on accepting an old
// secret of the same key id for the rest of the day. Nothing secret outlives
// the call.
//
// The error is an *Error: RequestExpired, SignatureDoesNotMatch, or
// InvalidClientTokenId for an empty secret.
func (a *Auth) Verify(r *http.Request, body []byte, secret string, now time.Time) error {
	if e := a.verify(r, body, secret, now, newSDKSigner()); e != nil {
		return e
	}
	return nil
}

// A Signer recomputes signatures for VerifyWith and keeps the signing keys
// it derives across calls, keyed by access key id, date, region and
// service but not by the secret. Give one only to a caller whose access key
// id always has the same secret for the Signer's lifetime (a credential
// fixed by one configuration); Verify, which takes any secret, uses a fresh
// one each time.
type Signer struct{ s *v4.Signer }

// NewSigner returns a Signer with an empty key cache.
func NewSigner() *Signer { return &Signer{s: newSDKSigner()} }

// VerifyWith is Verify with a Signer that keeps its derived keys.
func (a *Auth) VerifyWith(s *Signer, r *http.Request, body []byte, secret string, now time.Time) error {
	if s == nil {
		return a.Verify(r, body, secret, now)
	}
	if e := a.verify(r, body, secret, now, s.s); e != nil {
		return e
	}
	return nil
}

func newSDKSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) {
		// The token, if any, is already where the client put it (a
		// signed header or a query parameter); headers stay headers.
		o.DisableSessionToken = true
		o.DisableHeaderHoisting = true
	})
}

func (a *Auth) verify(r *http.Request, body []byte, secret string, now time.Time, signer *v4.Signer) *Error {
	if a == nil || r == nil || a.Form == 0 {
		return missingAuth()
	}
	if secret == "" {
		return InvalidClientTokenID()
	}
	if e := a.checkTime(now); e != nil {
		return e
	}
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	var candidates [2]string
	n := 0
	switch {
	case a.payloadHash == "":
		candidates[n], n = bodyHash, n+1
		if a.Form == QueryForm && len(body) == 0 {
			candidates[n], n = unsignedPayload, n+1
		}
	case a.payloadHash == unsignedPayload: // query form only (Parse)
		if len(body) != 0 {
			return mismatch("A presigned request with a body must sign the body, not UNSIGNED-PAYLOAD")
		}
		candidates[n], n = unsignedPayload, n+1
	case a.payloadHash != bodyHash:
		return mismatch("The request body does not match X-Amz-Content-Sha256")
	default:
		candidates[n], n = bodyHash, n+1
	}

	c, e := a.signable(r)
	if e != nil {
		return e
	}
	ok := false
	for _, payload := range candidates[:n] {
		signed, sig, e := a.sign(signer, c, secret, payload)
		if e != nil {
			return e
		}
		if signed != a.signedHeaders {
			// The SDK's signer leaves out user-agent, expect,
			// transfer-encoding, x-amzn-trace-id and a zero
			// content-length: a signature over one of them cannot be
			// recomputed. No SDK signs them.
			return mismatch("The signed headers include one that cannot be verified (user-agent, expect, transfer-encoding, x-amzn-trace-id, or a zero content-length)")
		}
		// Every candidate is compared, so the time taken does not say
		// which one matched.
		if hmac.Equal([]byte(sig), []byte(a.signature)) {
			ok = true
		}
	}
	if !ok {
		return mismatch("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return nil
}

// signable is a copy of r with what the signature covers: method, path,
// query, host, and the signed headers with their values as received.
func (a *Auth) signable(r *http.Request) (*http.Request, *Error) {
	u := &url.URL{RawQuery: a.query}
	if r.URL != nil {
		u.Path, u.RawPath = r.URL.Path, r.URL.RawPath
	}
	// No scheme: the signer then keeps the Host as received (with a
	// scheme it would drop a default port the client may have signed).
	c := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: make(http.Header, len(a.SignedHeaders)+2)}
	for _, h := range a.SignedHeaders {
		switch h {
		case "host":
			continue
		case "content-length":
			n, ok := contentLength(r)
			if !ok {
				return nil, mismatch("The signed header content-length is not in the request")
			}
			c.ContentLength = n // the signer signs it from here
			continue
		}
		k := textproto.CanonicalMIMEHeaderKey(h)
		vs := r.Header[k]
		if len(vs) == 0 {
			return nil, mismatch("The signed header " + h + " is not in the request")
		}
		// One canonical form: a control character (other than a tab) in a
		// signed value has none (the signer trims some that the
		// specification keeps; net/http refuses them anyway).
		for _, v := range vs {
			if hasControl(v) {
				return nil, incomplete("The signed header " + h + " holds a control character")
			}
		}
		c.Header[k] = vs
	}
	return c, nil
}

func hasControl(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return true
		}
	}
	return false
}

func contentLength(r *http.Request) (int64, bool) {
	if vs := r.Header.Values("Content-Length"); len(vs) > 0 {
		if len(vs) != 1 {
			return 0, false
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		return n, err == nil && n >= 0 && strconv.FormatInt(n, 10) == vs[0]
	}
	return r.ContentLength, r.ContentLength >= 0
}

// sign returns the signed-header list and the signature aws-sdk-go-v2's
// signer computes for c.
func (a *Auth) sign(signer *v4.Signer, c *http.Request, secret, payload string) (signedHeaders, signature string, e *Error) {
	creds := aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret}
	ctx := context.Background()
	if a.Form == HeaderForm {
		s := *c
		s.Header = c.Header.Clone()
		s.URL = new(url.URL)
		*s.URL = *c.URL
		if err := signer.SignHTTP(ctx, creds, &s, payload, a.Service, a.Region, a.Date); err != nil {
			return "", "", mismatch("The request cannot be signed")
		}
		authz := s.Header.Get("Authorization")
		_, rest, _ := strings.Cut(authz, ", SignedHeaders=")
		signedHeaders, signature, _ = strings.Cut(rest, ", Signature=")
		return signedHeaders, signature, nil
	}
	uri, hdrs, err := signer.PresignHTTP(ctx, creds, c, payload, a.Service, a.Region, a.Date)
	if err != nil {
		return "", "", mismatch("The request cannot be signed")
	}
	i := strings.LastIndex(uri, "&"+QuerySignature+"=")
	if i < 0 {
		return "", "", mismatch("The request cannot be signed")
	}
	names := make([]string, 0, len(hdrs))
	for k := range hdrs {
		names = append(names, strings.ToLower(k))
	}
	sort.Strings(names)
	return strings.Join(names, ";"), uri[i+len(QuerySignature)+2:], nil
}

// AuthorizationHeader is the Authorization header as aws-sdk-go-v2 writes
// it for this signature ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..."), for a caller that accepts that spelling only. "" for the
// query form.
func (a *Auth) AuthorizationHeader() string {
	if a == nil || a.Form != HeaderForm {
		return ""
	}
	return Algorithm + " Credential=" + a.AccessKeyID + "/" + a.Date.Format(scopeLayout) + "/" + a.Region + "/" + a.Service + "/" + terminator +
		", SignedHeaders=" + a.signedHeaders + ", Signature=" + a.signature
}
