package s3iam

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// FuzzGatewaySigV4: a request signed by the gateway credential, with the
// fuzzer free to rewrite its Authorization, X-Amz-Date, payload hash, body
// and path. Nothing panics, and only the request as signed verifies.
func FuzzGatewaySigV4(f *testing.F) {
	const ak, sk = "GATEWAYIAMCLIENT0001", "gateway-iam-secret-0123456789abcdef"
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"accessKeyId":"ASIA","sessionToken":"t"}`)
	seed := signed(f, ak, sk, body, now)
	auth, date, sha, path := seed.Header.Get("Authorization"), seed.Header.Get("X-Amz-Date"), seed.Header.Get("X-Amz-Content-Sha256"), seed.URL.Path
	g := newGatewayAuth(ak, sk)
	f.Add(auth, date, sha, body, path)
	f.Add(auth[:len(auth)-1]+"0", date, sha, body, path)
	f.Add(auth, "20261201T100000Z", sha, []byte(`{}`), "/private/evaluate-policy")
	f.Add("AWS4-HMAC-SHA256 Credential=GATEWAYIAMCLIENT0001/20261201/us-east-1/iam/aws4_request, SignedHeaders=, Signature=", date, sha, body, path)
	f.Fuzz(func(t *testing.T, a, d, s string, b []byte, p string) {
		r, err := http.NewRequest(http.MethodPost, "http://unix/", bytes.NewReader(b))
		if err != nil {
			return
		}
		r.URL.Path = p
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(protocolHeader, "1")
		r.Header.Set("Authorization", a)
		r.Header.Set("X-Amz-Date", d)
		r.Header.Set("X-Amz-Content-Sha256", s)
		if g.verify(r, b, now) == nil && (a != auth || d != date || s != sha || !bytes.Equal(b, body) || p != path) {
			t.Fatalf("a request other than the one signed verified: %q %q %q %q %q", a, d, s, b, p)
		}
	})
}
