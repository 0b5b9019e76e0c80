package minioidentity

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkIdentityCall: one MinIO identity call in process (query
// parsing, the auth check, verification of an ES256 token with a cached
// key, the bindings, the answer), without the network.
func BenchmarkIdentityCall(b *testing.B) {
	p, key := newTestPlugin(b)
	now := time.Now().Unix()
	tok := key.Sign(b, map[string]any{"iss": "https://idp.test", "aud": "minio", "sub": "s", "azp": "app", "iat": now, "exp": now + 7200}, nil)
	target := Path + "?token=" + tok
	if w := serve(p, http.MethodPost, target, testAuth, ""); w.Code != http.StatusOK {
		b.Fatalf("%d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if w := serve(p, http.MethodPost, target, testAuth, ""); w.Code != http.StatusOK {
			b.Fatalf("%d", w.Code)
		}
	}
}
