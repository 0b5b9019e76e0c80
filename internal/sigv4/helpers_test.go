package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAKID   = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testToken  = "eyJhbGciOiJFZERTQSJ9.c2Vzc2lvbi10b2tlbi1zZWNyZXQtcGFydA.c2lnbmF0dXJl"
	testHost   = "sts.example.com:8443"
	testBody   = "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=s1&Version=2011-06-15"
	formCT     = "application/x-www-form-urlencoded"
)

var testNow = time.Date(2026, 11, 28, 20, 26, 12, 0, time.UTC)

// signOpts describes a request to sign with aws-sdk-go-v2's signer.
type signOpts struct {
	akid, secret, token, region, service string
	at                                   time.Time
	method, target, body                 string
	payload                              string // payload hash; "" = SHA-256 of the body
	before                               func(*http.Request)
	expires                              int // query form: X-Amz-Expires, 0 = none
}

func (o signOpts) withDefaults() signOpts {
	if o.akid == "" {
		o.akid = testAKID
	}
	if o.secret == "" {
		o.secret = testSecret
	}
	switch o.region {
	case "":
		o.region = "us-east-1"
	case "-":
		o.region = ""
	}
	if o.service == "" {
		o.service = "sts"
	}
	if o.at.IsZero() {
		o.at = testNow
	}
	if o.method == "" {
		o.method = http.MethodPost
	}
	if o.target == "" {
		o.target = "http://" + testHost + "/"
	}
	if o.payload == "" {
		sum := sha256.Sum256([]byte(o.body))
		o.payload = hex.EncodeToString(sum[:])
	}
	return o
}

func bodyOf(method, body string) string {
	if body == "-" {
		return ""
	}
	if method == http.MethodPost && body == "" {
		return testBody
	}
	return body
}

// headerSigned is an STS request signed in the header form (SignHTTP), as
// the server receives it.
func headerSigned(t testing.TB, o signOpts) *http.Request {
	t.Helper()
	if o.method == "" {
		o.method = http.MethodPost
	}
	o.body = bodyOf(o.method, o.body)
	o = o.withDefaults()
	r := httptest.NewRequest(o.method, o.target, strings.NewReader(o.body))
	if o.body != "" {
		r.Header.Set("Content-Type", formCT)
	}
	if o.before != nil {
		o.before(r)
	}
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret, SessionToken: o.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, o.payload, o.service, o.region, o.at); err != nil {
		t.Fatal(err)
	}
	return r
}

// presigned is an STS request signed in the query form (PresignHTTP), as
// the server receives it.
func presigned(t testing.TB, o signOpts) *http.Request {
	t.Helper()
	if o.method == "" {
		o.method = http.MethodGet
	}
	o = o.withDefaults()
	if o.target == "http://"+testHost+"/" {
		o.target += "?Action=GetCallerIdentity&Version=2011-06-15"
	}
	r := httptest.NewRequest(o.method, o.target, nil)
	if o.expires != 0 {
		q := r.URL.Query()
		q.Set("X-Amz-Expires", strconv.Itoa(o.expires))
		r.URL.RawQuery = q.Encode()
	}
	if o.before != nil {
		o.before(r)
	}
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret, SessionToken: o.token}
	uri, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, o.payload, o.service, o.region, o.at)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewRequest(o.method, uri, strings.NewReader(o.body))
	for k, vs := range hdr {
		if k != "Host" {
			s.Header[k] = vs
		}
	}
	return s
}

// verify parses and verifies r with the test secret at testNow.
func verify(r *http.Request, body string) error {
	return verifyWith(r, body, testSecret, testNow)
}

// sharedSigner is one Signer for every verification of the tests (the
// secret of testAKID never changes in them): its cached keys must never
// change an answer.
var sharedSigner = NewSigner()

// verifyWith verifies with a fresh signer and with sharedSigner, and
// panics if their answers differ.
func verifyWith(r *http.Request, body, secret string, now time.Time) error {
	a, err := Parse(r, "sts")
	if err != nil {
		return err
	}
	fresh := a.Verify(r, []byte(body), secret, now)
	if cached := a.VerifyWith(sharedSigner, r, []byte(body), secret, now); codeOf(cached) != codeOf(fresh) {
		panic("VerifyWith answered " + codeOf(cached) + " where Verify answered " + codeOf(fresh))
	}
	return fresh
}

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// checkSafe: no error message repeats a secret, the token or a signature.
func checkSafe(t *testing.T, err error, r *http.Request) {
	t.Helper()
	msg := err.Error()
	secrets := []string{testSecret, testToken, testToken[:20], testToken[len(testToken)-20:]}
	if r != nil {
		if _, sig, ok := strings.Cut(r.Header.Get("Authorization"), "Signature="); ok && len(sig) >= 16 {
			secrets = append(secrets, sig[:16])
		}
		if sig := r.URL.Query().Get(QuerySignature); len(sig) >= 16 {
			secrets = append(secrets, sig[:16])
		}
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("message %q reveals %q", msg, s)
		}
	}
}
