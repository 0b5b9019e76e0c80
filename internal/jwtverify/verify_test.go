package jwtverify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
	"github.com/opa-sts/opa-sts/internal/testkeys"
)

const issuer = "https://idp.example/realms/demo"

var now = time.Unix(1_800_000_000, 0)

func claims(extra map[string]any) map[string]any {
	c := map[string]any{
		"iss": issuer,
		"sub": "service-account-1",
		"aud": "sts",
		"iat": now.Unix() - 10,
		"exp": now.Unix() + 300,
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

type fixture struct {
	key      *testkeys.Key
	set      *jwks.Set
	verifier *jwtverify.Verifier
}

func newFixture(t testing.TB, alg string) *fixture {
	k := testkeys.New(t, alg, "key-1")
	set, err := jwks.Parse(testkeys.JWKS(k.PublicJWK(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{key: k, set: set, verifier: jwtverify.NewVerifier(jwks.New(jwks.Config{}), 100)}
}

func (f *fixture) provider(t testing.TB, mod func(*jwtverify.ProviderConfig)) *jwtverify.ProviderSet {
	t.Helper()
	cfg := jwtverify.ProviderConfig{Issuer: issuer, JWKS: f.set, Audiences: []string{"sts"}}
	if mod != nil {
		mod(&cfg)
	}
	p, err := jwtverify.NewProvider(cfg, false)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return jwtverify.MustProviderSet(p)
}

func set(t *testing.T, cfg jwtverify.ProviderConfig) *jwtverify.ProviderSet {
	t.Helper()
	p, err := jwtverify.NewProvider(cfg, false)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return jwtverify.MustProviderSet(p)
}

func expectCode(t *testing.T, f *fixture, p *jwtverify.ProviderSet, token string, want jwtverify.Code) {
	t.Helper()
	res, err := f.verifier.Verify(context.Background(), token, p, now)
	if want == "" {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		if res.Claims.Get(ast.StringTerm("iss")).Value.Compare(ast.String(issuer)) != 0 {
			t.Fatalf("claims not returned: %v", res.Claims)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %s, got a valid token", want)
	}
	if err.Code != want {
		t.Fatalf("want %s, got %s (%s)", want, err.Code, err.Message)
	}
	if strings.Contains(err.Message, token) || (len(token) > 40 && strings.Contains(err.Message, token[len(token)-30:])) {
		t.Fatalf("error message leaks the token: %s", err.Message)
	}
}

func TestAllAlgorithmsVerify(t *testing.T) {
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			expectCode(t, f, f.provider(t, nil), f.key.Sign(t, claims(nil), nil), "")
		})
	}
}

func TestAlgNoneNeverVerifies(t *testing.T) {
	f := newFixture(t, "RS256")
	p := f.provider(t, nil)
	body, _ := json.Marshal(claims(nil))
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		tok := testkeys.Compact(fmt.Sprintf(`{"alg":%q,"kid":"key-1"}`, alg), string(body), nil)
		expectCode(t, f, p, strings.TrimSuffix(tok, ".")+".", jwtverify.CodeUnsupportedAlgorithm)
		tok = testkeys.Compact(fmt.Sprintf(`{"alg":%q,"kid":"key-1"}`, alg), string(body), []byte("x"))
		expectCode(t, f, p, tok, jwtverify.CodeUnsupportedAlgorithm)
	}
	// Not even when a provider tries to allow it.
	if _, err := jwtverify.NewProvider(jwtverify.ProviderConfig{Issuer: issuer, JWKS: f.set, Audiences: []string{"sts"}, Algorithms: []string{"none"}}, false); err == nil {
		t.Fatal("a provider allowing alg none was accepted")
	}
}

// HMAC with the RSA public key as the shared secret: the classic
// algorithm-confusion attack.
func TestHMACWithPublicKeyNeverVerifies(t *testing.T) {
	f := newFixture(t, "RS256")
	p := f.provider(t, nil)
	der, err := x509.MarshalPKIXPublicKey(f.key.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
	n, _ := json.Marshal(f.key.PublicJWK(t, false))
	secrets = append(secrets, n)
	body, _ := json.Marshal(claims(nil))
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for _, secret := range secrets {
			header := fmt.Sprintf(`{"alg":%q,"kid":"key-1","typ":"JWT"}`, alg)
			enc := base64.RawURLEncoding.EncodeToString
			input := enc([]byte(header)) + "." + enc(body)
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(input))
			expectCode(t, f, p, input+"."+enc(mac.Sum(nil)), jwtverify.CodeUnsupportedAlgorithm)
		}
	}
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		if _, err := jwtverify.NewProvider(jwtverify.ProviderConfig{Issuer: issuer, JWKS: f.set, Audiences: []string{"sts"}, Algorithms: []string{alg}}, false); err == nil {
			t.Fatalf("a provider allowing %s was accepted", alg)
		}
	}
}

func TestSymmetricKeysInJWKSAreIgnored(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	oct := map[string]any{"kty": "oct", "kid": "hmac", "k": base64.RawURLEncoding.EncodeToString(secret), "alg": "HS256"}
	rsaKey := testkeys.New(t, "RS256", "rsa")
	set, err := jwks.Parse(testkeys.JWKS(oct, rsaKey.PublicJWK(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.ByKID("hmac")) != 0 {
		t.Fatal("symmetric key kept")
	}
}

func TestJWKAlgMustAgreeWithHeader(t *testing.T) {
	f := newFixture(t, "RS256") // JWK says alg RS256
	p := f.provider(t, nil)
	ps := &testkeys.Key{KID: "key-1", Alg: "PS256", Private: f.key.Private}
	expectCode(t, f, p, ps.Sign(t, claims(nil), nil), jwtverify.CodeUnknownKey)
}

func TestKeyTypeMustFitAlgorithm(t *testing.T) {
	f := newFixture(t, "RS256")
	p := f.provider(t, nil)
	ec := testkeys.New(t, "ES256", "key-1") // same kid, other key type
	expectCode(t, f, p, ec.Sign(t, claims(nil), nil), jwtverify.CodeUnknownKey)
}

func TestUnknownKID(t *testing.T) {
	f := newFixture(t, "ES256")
	other := testkeys.New(t, "ES256", "other")
	expectCode(t, f, f.provider(t, nil), other.Sign(t, claims(nil), nil), jwtverify.CodeUnknownKey)
}

func TestNoKIDTriesTheIssuersKeys(t *testing.T) {
	f := newFixture(t, "ES256")
	noKid := &testkeys.Key{Alg: "ES256", Private: f.key.Private}
	expectCode(t, f, f.provider(t, nil), noKid.Sign(t, claims(nil), nil), "")
	stranger := testkeys.New(t, "ES256", "")
	expectCode(t, f, f.provider(t, nil), stranger.Sign(t, claims(nil), nil), jwtverify.CodeBadSignature)
}

func TestEmbeddedJWKIsNotTrusted(t *testing.T) {
	f := newFixture(t, "ES256")
	attacker := testkeys.New(t, "ES256", "key-1")
	embedded, err := jwk.FromRaw(attacker.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	tok := attacker.Sign(t, claims(nil), map[string]any{"jwk": embedded, "jku": "https://evil.example/keys"})
	expectCode(t, f, f.provider(t, nil), tok, jwtverify.CodeBadSignature)
}

func TestBadSignature(t *testing.T) {
	f := newFixture(t, "RS256")
	p := f.provider(t, nil)
	tok := f.key.Sign(t, claims(nil), nil)
	parts := strings.Split(tok, ".")
	forged, _ := json.Marshal(claims(map[string]any{"sub": "admin"}))
	parts[1] = base64.RawURLEncoding.EncodeToString(forged)
	expectCode(t, f, p, strings.Join(parts, "."), jwtverify.CodeBadSignature)

	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[10] ^= 0xff
	expectCode(t, f, p, parts[0]+"."+strings.Split(tok, ".")[1]+"."+base64.RawURLEncoding.EncodeToString(sig), jwtverify.CodeBadSignature)
	expectCode(t, f, p, parts[0]+"."+strings.Split(tok, ".")[1]+"."+base64.RawURLEncoding.EncodeToString(sig[:20]), jwtverify.CodeBadSignature)
}

func TestTimeClaims(t *testing.T) {
	f := newFixture(t, "ES256")
	p := f.provider(t, nil)
	n := now.Unix()
	cases := []struct {
		name  string
		extra map[string]any
		want  jwtverify.Code
	}{
		{"expired", map[string]any{"exp": n - 61}, jwtverify.CodeExpired},
		{"expired within leeway", map[string]any{"exp": n - 30}, ""},
		{"exp exactly now+leeway", map[string]any{"exp": n - 60}, jwtverify.CodeExpired},
		{"no exp", map[string]any{"exp": nil}, jwtverify.CodeMissingClaim},
		{"exp string", map[string]any{"exp": "tomorrow"}, jwtverify.CodeMalformed},
		{"exp fractional", map[string]any{"exp": float64(n) + 0.5}, ""},
		{"nbf future", map[string]any{"nbf": n + 120}, jwtverify.CodeNotYetValid},
		{"nbf within leeway", map[string]any{"nbf": n + 30}, ""},
		{"iat future", map[string]any{"iat": n + 3600}, jwtverify.CodeNotYetValid},
		{"huge exp", map[string]any{"exp": 1e300}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectCode(t, f, p, f.key.Sign(t, claims(c.extra), nil), c.want)
		})
	}
	zero := time.Duration(0)
	strict := f.provider(t, func(c *jwtverify.ProviderConfig) { c.Leeway = &zero })
	expectCode(t, f, strict, f.key.Sign(t, claims(map[string]any{"exp": n - 1}), nil), jwtverify.CodeExpired)

	maxAge := f.provider(t, func(c *jwtverify.ProviderConfig) { c.MaxAge = time.Minute })
	expectCode(t, f, maxAge, f.key.Sign(t, claims(map[string]any{"iat": n - 3600}), nil), jwtverify.CodeExpired)
	expectCode(t, f, maxAge, f.key.Sign(t, claims(map[string]any{"iat": nil}), nil), jwtverify.CodeMissingClaim)
	expectCode(t, f, maxAge, f.key.Sign(t, claims(nil), nil), "")
}

func TestIssuer(t *testing.T) {
	f := newFixture(t, "ES256")
	p := f.provider(t, nil)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"iss": issuer + "/"}), nil), jwtverify.CodeWrongIssuer)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"iss": "https://evil.example"}), nil), jwtverify.CodeWrongIssuer)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"iss": nil}), nil), jwtverify.CodeWrongIssuer)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"iss": 42}), nil), jwtverify.CodeWrongIssuer)
}

func TestAudience(t *testing.T) {
	f := newFixture(t, "ES256")
	p := f.provider(t, nil)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"aud": "account"}), nil), jwtverify.CodeWrongAudience)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"aud": []string{"account", "sts"}}), nil), "")
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"aud": []string{}}), nil), jwtverify.CodeWrongAudience)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"aud": nil}), nil), jwtverify.CodeWrongAudience)
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"aud": []any{1, 2}}), nil), jwtverify.CodeWrongAudience)

	keycloak := claims(map[string]any{"aud": "account", "azp": "sts"})
	expectCode(t, f, p, f.key.Sign(t, keycloak, nil), jwtverify.CodeWrongAudience)
	azp := f.provider(t, func(c *jwtverify.ProviderConfig) { c.AZPFallback = true })
	expectCode(t, f, azp, f.key.Sign(t, keycloak, nil), "")
	expectCode(t, f, azp, f.key.Sign(t, claims(map[string]any{"aud": "account", "azp": "other"}), nil), jwtverify.CodeWrongAudience)

	skip := f.provider(t, func(c *jwtverify.ProviderConfig) { c.Audiences = nil; c.SkipAudienceCheck = true })
	expectCode(t, f, skip, f.key.Sign(t, claims(map[string]any{"aud": "anything"}), nil), "")
	if _, err := jwtverify.NewProvider(jwtverify.ProviderConfig{Issuer: issuer, JWKS: f.set}, false); err == nil {
		t.Fatal("a provider without audiences was accepted")
	}
}

func TestRequiredClaims(t *testing.T) {
	f := newFixture(t, "ES256")
	p := f.provider(t, func(c *jwtverify.ProviderConfig) { c.RequiredClaims = []string{"sub", "client_id"} })
	expectCode(t, f, p, f.key.Sign(t, claims(map[string]any{"client_id": "app"}), nil), "")
	expectCode(t, f, p, f.key.Sign(t, claims(nil), nil), jwtverify.CodeMissingClaim)
}

func TestHeaderChecks(t *testing.T) {
	f := newFixture(t, "ES256")
	p := f.provider(t, nil)
	for _, tc := range []struct {
		name  string
		extra map[string]any
		want  jwtverify.Code
	}{
		{"typ JWT", map[string]any{"typ": "JWT"}, ""},
		{"typ at+jwt", map[string]any{"typ": "at+jwt"}, ""},
		{"typ application/at+jwt", map[string]any{"typ": "application/at+JWT"}, ""},
		{"typ dpop", map[string]any{"typ": "dpop+jwt"}, jwtverify.CodeMalformed},
		{"typ logout", map[string]any{"typ": "logout+jwt"}, jwtverify.CodeMalformed},
		{"crit", map[string]any{"crit": []string{"exp"}, "exp": 1}, jwtverify.CodeMalformed},
		{"cty JWT", map[string]any{"cty": "JWT"}, jwtverify.CodeMalformed},
		{"zip", map[string]any{"zip": "DEF"}, jwtverify.CodeMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectCode(t, f, p, f.key.Sign(t, claims(nil), tc.extra), tc.want)
		})
	}
	// A disallowed (but supported) algorithm.
	rsOnly := f.provider(t, func(c *jwtverify.ProviderConfig) { c.Algorithms = []string{"RS256"} })
	expectCode(t, f, rsOnly, f.key.Sign(t, claims(nil), nil), jwtverify.CodeUnsupportedAlgorithm)
}

func TestMalformedInput(t *testing.T) {
	f := newFixture(t, "ES256")
	p := f.provider(t, nil)
	good := f.key.Sign(t, claims(nil), nil)
	parts := strings.Split(good, ".")
	body, _ := json.Marshal(claims(nil))
	enc := base64.RawURLEncoding.EncodeToString
	for name, tok := range map[string]string{
		"empty":            "",
		"one part":         "abc",
		"two parts":        "abc.def",
		"four parts":       good + ".x",
		"jwe five parts":   parts[0] + ".a.b.c.d",
		"empty header":     "." + parts[1] + "." + parts[2],
		"padding":          parts[0] + "=." + parts[1] + "." + parts[2],
		"bad base64":       "*!*." + parts[1] + "." + parts[2],
		"header not json":  enc([]byte("hello")) + "." + parts[1] + "." + parts[2],
		"header array":     enc([]byte(`["alg"]`)) + "." + parts[1] + "." + parts[2],
		"header null":      enc([]byte(`null`)) + "." + parts[1] + "." + parts[2],
		"header trailing":  enc([]byte(`{"alg":"ES256"} {}`)) + "." + parts[1] + "." + parts[2],
		"no alg":           enc([]byte(`{"kid":"key-1"}`)) + "." + parts[1] + "." + parts[2],
		"alg number":       enc([]byte(`{"alg":256}`)) + "." + parts[1] + "." + parts[2],
		"kid number":       enc([]byte(`{"alg":"ES256","kid":1}`)) + "." + parts[1] + "." + parts[2],
		"duplicate alg":    enc([]byte(`{"alg":"ES256","kid":"key-1","alg":"none"}`)) + "." + parts[1] + "." + parts[2],
		"duplicate claim":  parts[0] + "." + enc([]byte(`{"iss":"x","iss":"`+issuer+`"}`)) + "." + parts[2],
		"deep nesting":     parts[0] + "." + enc([]byte(`{"a":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`)) + "." + parts[2],
		"claims not json":  parts[0] + "." + enc([]byte("{")) + "." + parts[2],
		"claims array":     parts[0] + "." + enc([]byte(`[1]`)) + "." + parts[2],
		"claims string":    parts[0] + "." + enc([]byte(`"x"`)) + "." + parts[2],
		"empty signature":  parts[0] + "." + parts[1] + ".",
		"bad sig base64":   parts[0] + "." + parts[1] + ".$$$",
		"oversized":        parts[0] + "." + enc(append(body[:len(body)-1], []byte(`,"pad":"`+strings.Repeat("a", 30000)+`"}`)...)) + "." + parts[2],
		"binary garbage":   "\x00\xff\xfe.\x01.\x02",
		"whitespace token": " " + good,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := f.verifier.Verify(context.Background(), tok, p, now)
			if err == nil {
				t.Fatalf("accepted: %v", res.Claims)
			}
			_ = res
			if err.Code != jwtverify.CodeMalformed && err.Code != jwtverify.CodeUnsupportedAlgorithm {
				t.Fatalf("want malformed, got %s: %s", err.Code, err.Message)
			}
		})
	}
	small := f.provider(t, func(c *jwtverify.ProviderConfig) { c.MaxTokenBytes = 100 })
	expectCode(t, f, small, good, jwtverify.CodeMalformed)
}

func TestProviderValidation(t *testing.T) {
	f := newFixture(t, "ES256")
	big := 11 * time.Minute
	for name, cfg := range map[string]jwtverify.ProviderConfig{
		"no issuer":        {JWKS: f.set, Audiences: []string{"a"}},
		"no key source":    {Issuer: issuer, Audiences: []string{"a"}},
		"two key sources":  {Issuer: issuer, JWKS: f.set, JWKSURL: "https://idp.example/keys", Audiences: []string{"a"}},
		"http jwks":        {Issuer: issuer, JWKSURL: "http://idp.example/keys", Audiences: []string{"a"}},
		"unknown alg":      {Issuer: issuer, JWKS: f.set, Audiences: []string{"a"}, Algorithms: []string{"RS1"}},
		"huge leeway":      {Issuer: issuer, JWKS: f.set, Audiences: []string{"a"}, Leeway: &big},
		"negative max age": {Issuer: issuer, JWKS: f.set, Audiences: []string{"a"}, MaxAge: -time.Second},
	} {
		if _, err := jwtverify.NewProvider(cfg, false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// jwksServer serves a mutable JWKS for the remote-key tests.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	doc  []byte
	down bool
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{doc: doc}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(s.doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestKeyOfOneIssuerNeverVerifiesAnother(t *testing.T) {
	a := testkeys.New(t, "ES256", "shared-kid")
	srvA := newJWKSServer(t, testkeys.JWKS(a.PublicJWK(t, true)))
	b := testkeys.New(t, "ES256", "b-kid")
	srvB := newJWKSServer(t, testkeys.JWKS(b.PublicJWK(t, true)))
	v := jwtverify.NewVerifier(jwks.New(jwks.Config{}), 100)
	pa := set(t, jwtverify.ProviderConfig{Issuer: "https://a.example", JWKSURL: srvA.URL, Audiences: []string{"sts"}})
	pb := set(t, jwtverify.ProviderConfig{Issuer: "https://b.example", JWKSURL: srvB.URL, Audiences: []string{"sts"}})

	tokA := a.Sign(t, claims(map[string]any{"iss": "https://a.example"}), nil)
	if _, err := v.Verify(context.Background(), tokA, pa, now); err != nil {
		t.Fatalf("a's token for a: %v", err)
	}
	// A token signed by a's key that claims to come from b.
	forged := a.Sign(t, claims(map[string]any{"iss": "https://b.example"}), nil)
	if _, err := v.Verify(context.Background(), forged, pb, now); err == nil || err.Code != jwtverify.CodeUnknownKey {
		t.Fatalf("want unknown_key, got %v", err)
	}
	// a's token presented to b's provider.
	if _, err := v.Verify(context.Background(), tokA, pb, now); err == nil || err.Code != jwtverify.CodeWrongIssuer {
		t.Fatalf("want wrong_issuer, got %v", err)
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	k1 := testkeys.New(t, "ES256", "k1")
	srv := newJWKSServer(t, testkeys.JWKS(k1.PublicJWK(t, true)))
	clock := now
	keys := jwks.New(jwks.Config{Now: func() time.Time { return clock }, MaxStale: time.Minute})
	v := jwtverify.NewVerifier(keys, 100)
	p := set(t, jwtverify.ProviderConfig{Issuer: issuer, JWKSURL: srv.URL, Audiences: []string{"sts"}})
	tok := k1.Sign(t, claims(nil), nil)

	first, err := v.Verify(context.Background(), tok, p, now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(context.Background(), tok, p, now)
	if err != nil || second != first {
		t.Fatalf("second presentation not served from the cache (err %v)", err)
	}
	// Expiry is re-checked on a cache hit.
	if _, err := v.Verify(context.Background(), tok, p, now.Add(time.Hour)); err == nil || err.Code != jwtverify.CodeExpired {
		t.Fatalf("cached token past exp: want expired, got %v", err)
	}
	// Another provider (audience) does not share the entry.
	p2 := set(t, jwtverify.ProviderConfig{Issuer: issuer, JWKSURL: srv.URL, Audiences: []string{"other"}})
	if _, err := v.Verify(context.Background(), tok, p2, now); err == nil || err.Code != jwtverify.CodeWrongAudience {
		t.Fatalf("want wrong_audience for another provider, got %v", err)
	}

	// The IdP drops k1: once the key set is refreshed, the cached result goes.
	k2 := testkeys.New(t, "ES256", "k2")
	srv.mu.Lock()
	srv.doc = testkeys.JWKS(k2.PublicJWK(t, true))
	srv.mu.Unlock()
	clock = now.Add(16 * time.Minute)
	if _, err := v.Verify(context.Background(), tok, p, now.Add(time.Minute)); err == nil || err.Code != jwtverify.CodeUnknownKey {
		t.Fatalf("token of a removed key: want unknown_key, got %v", err)
	}
}

func TestColdCacheIdPDown(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	srv := newJWKSServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	srv.down = true
	v := jwtverify.NewVerifier(jwks.New(jwks.Config{}), 100)
	p := set(t, jwtverify.ProviderConfig{Issuer: issuer, JWKSURL: srv.URL, Audiences: []string{"sts"}})
	_, err := v.Verify(context.Background(), k.Sign(t, claims(nil), nil), p, now)
	if err == nil || err.Code != jwtverify.CodeIDPUnreachable {
		t.Fatalf("want idp_unreachable, got %v", err)
	}
	if strings.Contains(err.Message, srv.URL) {
		t.Fatalf("message names internal URL: %s", err.Message)
	}
}

// One token, one spelling: Go's base64 decoder skips CR and LF anywhere
// and accepts set bits after the last byte, which would give a valid
// token many spellings (and many fingerprints and cache entries).
func TestOnlyTheCanonicalBase64urlFormVerifies(t *testing.T) {
	f := newFixture(t, "RS256")
	p := f.provider(t, nil)
	tok := f.key.Sign(t, claims(nil), nil)
	expectCode(t, f, p, tok, "")
	parts := strings.Split(tok, ".")
	sig := parts[2]
	for name, variant := range map[string]string{
		"LF in the signature": parts[0] + "." + parts[1] + "." + sig[:10] + "\n" + sig[10:],
		"CRLF in the claims":  parts[0] + "." + parts[1][:5] + "\r\n" + parts[1][5:] + "." + sig,
		"padding":             tok + "==",
		"standard alphabet":   parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(sig) + "+",
		"trailing bits set":   parts[0] + "." + parts[1] + "." + sig[:len(sig)-1] + string(trailingBitsVariant(sig[len(sig)-1])),
		"space in the header": parts[0][:3] + " " + parts[0][3:] + "." + parts[1] + "." + sig,
	} {
		t.Run(name, func(t *testing.T) { expectCode(t, f, p, variant, jwtverify.CodeMalformed) })
	}
}

// trailingBitsVariant returns the base64url symbol that decodes to the
// same leading bits as c with its unused low bits set (an RS256 signature
// of 256 bytes leaves 4 unused bits in its last symbol).
func trailingBitsVariant(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return alphabet[i|0x0f]
}
