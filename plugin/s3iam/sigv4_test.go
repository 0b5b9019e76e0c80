package s3iam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
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
	r, _ := http.NewRequest(http.MethodPost, "http://unix/private/version", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(protocolHeader, "1")
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	r.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}, r, payload, "iam", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifySigV4(t *testing.T) {
	now := time.Now().UTC()
	body := []byte(`{}`)
	const ak, sk = "GATEWAY", "gateway-secret-0123456789"
	if err := newGatewayAuth(ak, sk).verify(signed(t, ak, sk, body, now), body, now); err != nil {
		t.Fatalf("valid request refused: %v", err)
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
	} {
		if err := newGatewayAuth(ak, sk).verify(c.r, c.body, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	tampered := signed(t, ak, sk, body, now)
	tampered.Header.Set(protocolHeader, "2")
	if err := newGatewayAuth(ak, sk).verify(tampered, body, now); err == nil {
		t.Error("a signed header changed after signing was accepted")
	}
}
