package s3iam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestSigningKeyVector(t *testing.T) {
	// AWS's documented example secret.
	got := hex.EncodeToString(signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "s3"))
	if got != "32f78051dcde24c552811d654f4a769112bb834b03975cdd6b1fd7d16248c269" {
		t.Fatalf("kSigning %s", got)
	}
}

func signed(t testing.TB, access, secret string, body []byte, at time.Time) *http.Request {
	t.Helper()
	return signedFor(t, aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}, "iam", "us-east-1", body, at)
}

// signedFor signs as the gateway does, with any credentials, service and
// region.
func signedFor(t testing.TB, creds aws.Credentials, service, region string, body []byte, at time.Time) *http.Request {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, "http://unix/private/version", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(protocolHeader, "1")
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	r.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payload, service, region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifySigV4(t *testing.T) {
	now := time.Now().UTC()
	body := []byte(`{}`)
	const ak, sk = "GATEWAY", "gateway-secret-0123456789"
	gw := aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}
	// One gatewayAuth for every case: its signer's key cache is warm with
	// the right key when the refused ones come.
	g := newGatewayAuth(ak, sk)
	if err := g.verify(signed(t, ak, sk, body, now), body, now); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	refusedFor := map[string]string{
		"wrong secret":                   "SignatureDoesNotMatch",
		"other key":                      "unknown access key",
		"tampered body":                  "The request body does not match X-Amz-Content-Sha256",
		"too old":                        "RequestExpired",
		"no signature":                   "MissingAuthenticationToken",
		"no payload hash header":         "X-Amz-Content-Sha256 is required",
		"another spelling of the header": "IncompleteSignature",
		"two Authorization headers":      "more than one Authorization header",
		"a session token":                "a session token is not expected",
		"presigned":                      "not in the query string",
		"another service":                "scoped to correct service",
		"another region":                 "scoped to a valid region: 'us-east-1'",
	}
	for name, c := range map[string]struct {
		r    *http.Request
		body []byte
	}{
		"wrong secret":  {signed(t, ak, "other-secret-0123456789", body, now), body},
		"other key":     {signed(t, "OTHER", sk, body, now), body},
		"tampered body": {signed(t, ak, sk, body, now), []byte(`{"x":1}`)},
		"too old":       {signed(t, ak, sk, body, now.Add(-10*time.Minute)), body},
		"no signature":  {func() *http.Request { r, _ := http.NewRequest("POST", "http://unix/x", nil); return r }(), body},
		"no payload hash header": {func() *http.Request {
			r := signed(t, ak, sk, body, now)
			r.Header.Del("X-Amz-Content-Sha256")
			return r
		}(), body},
		"another spelling of the header": {func() *http.Request {
			r := signed(t, ak, sk, body, now)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ", SignedHeaders=", ",  SignedHeaders=", 1))
			return r
		}(), body},
		"two Authorization headers": {func() *http.Request {
			r := signed(t, ak, sk, body, now)
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}(), body},
		"a session token": {signedFor(t, aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk, SessionToken: "session"}, "iam", "us-east-1", body, now), body},
		"presigned": {func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http://unix/private/version", nil)
			sum := sha256.Sum256(body)
			payload := hex.EncodeToString(sum[:])
			uri, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), gw, r, payload, "iam", "us-east-1", now)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := http.NewRequest(http.MethodPost, uri, bytes.NewReader(body))
			for k, v := range hdr {
				p.Header[k] = v
			}
			p.Header.Set("X-Amz-Content-Sha256", payload)
			return p
		}(), body},
		"another region":  {signedFor(t, gw, "iam", "eu-west-1", body, now), body},
		"another service": {signedFor(t, gw, "s3", "us-east-1", body, now), body},
	} {
		err := g.verify(c.r, c.body, now)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), refusedFor[name]) {
			t.Errorf("%s: refused with %q, want it refused for %q", name, err, refusedFor[name])
		}
	}
	tampered := signed(t, ak, sk, body, now)
	tampered.Header.Set(protocolHeader, "2")
	if err := g.verify(tampered, body, now); err == nil {
		t.Error("a signed header changed after signing was accepted")
	}
}

// BenchmarkGatewayVerify: the check of the gateway's signature that every
// request of the protocol pays (two per S3 request).
func BenchmarkGatewayVerify(b *testing.B) {
	const ak, sk = "GATEWAYIAMCLIENT0001", "gateway-iam-secret-0123456789abcdef"
	now := time.Now().UTC()
	body := []byte(`{"accessKeyId":"ASIAQZTPKF6TBHM6LJNG","sessionToken":"x","actions":["s3:GetObject"],"resources":["arn:aws:s3:::b/k"]}`)
	r := signed(b, ak, sk, body, now)
	g := newGatewayAuth(ak, sk)
	b.ReportAllocs()
	for b.Loop() {
		if err := g.verify(r, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
