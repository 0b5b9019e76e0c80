package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHarness(t *testing.T) {
	t.Run("hydra", testHydra)
	t.Run("oidc-provider", testOIDCProvider)
	t.Run("oidc-provider-ES256", testOIDCProviderES256)
}

func testHydra(t *testing.T) {
	start := time.Now()
	h := StartHydra(t)
	t.Logf("hydra ready in %s at %s", time.Since(start).Round(time.Millisecond), h.Issuer())
	initialKIDs := jwksKIDs(t, h.JWKSURL()) // before any Token call

	const id, secret = "sts-client", "sts-client-secret"
	h.CreateClient(t, id, secret, []string{"https://sts.test", "opa-sts"}, []string{"read", "write"})
	tok := h.Token(t, id, secret, []string{"opa-sts"}, []string{"read", "write"})

	hdr, claims := DecodeHeader(tok), DecodeClaims(tok)
	t.Logf("hydra header: %v", jsonString(hdr))
	t.Logf("hydra claims: %v", jsonString(claims))
	checkEq(t, "alg", hdr["alg"], "RS256")
	checkEq(t, "typ", hdr["typ"], "JWT")
	kid1, _ := hdr["kid"].(string)
	if kid1 == "" {
		t.Fatalf("no kid in header %v", hdr)
	}
	if !strings.HasSuffix(h.Issuer(), "/") {
		t.Errorf("hydra issuer %q: want a trailing slash", h.Issuer())
	}
	checkEq(t, "iss", claims["iss"], h.Issuer())
	checkEq(t, "aud", claims["aud"], []any{"opa-sts"})
	checkEq(t, "sub", claims["sub"], id)
	checkEq(t, "client_id", claims["client_id"], id)
	checkEq(t, "scp", claims["scp"], []any{"read", "write"})
	checkExp(t, claims)

	disc := discovery(t, h.DiscoveryURL())
	checkEq(t, "discovery issuer", disc["issuer"], h.Issuer())
	checkEq(t, "discovery jwks_uri", disc["jwks_uri"], h.JWKSURL())
	checkEq(t, "discovery token_endpoint", disc["token_endpoint"], h.TokenURL())
	if !slices.Contains(initialKIDs, kid1) {
		t.Fatalf("kid %s not in the JWKS %v published right after StartHydra", kid1, initialKIDs)
	}
	if got := jwksKIDs(t, h.JWKSURL()); !slices.Contains(got, kid1) {
		t.Fatalf("kid %s not in JWKS %v", kid1, got)
	}

	kid2 := h.RotateKey(t)
	tok2 := h.Token(t, id, secret, []string{"https://sts.test"}, nil)
	checkEq(t, "rotated kid", DecodeHeader(tok2)["kid"], kid2)
	if kid2 == kid1 {
		t.Fatalf("kid did not change: %s", kid2)
	}
	checkEq(t, "aud", DecodeClaims(tok2)["aud"], []any{"https://sts.test"})
	checkEq(t, "scp without scope", DecodeClaims(tok2)["scp"], []any{})
	got := jwksKIDs(t, h.JWKSURL())
	if !slices.Contains(got, kid2) || !slices.Contains(got, kid1) {
		t.Fatalf("JWKS %v: want old %s and new %s", got, kid1, kid2)
	}

	kid3 := h.RotateKeyAlg(t, "ES256")
	tok3 := h.Token(t, id, secret, []string{"opa-sts"}, []string{"read"})
	checkEq(t, "ES256 alg", DecodeHeader(tok3)["alg"], "ES256")
	checkEq(t, "ES256 kid", DecodeHeader(tok3)["kid"], kid3)

	h.RemoveKey(t, kid1)
	if got := jwksKIDs(t, h.JWKSURL()); slices.Contains(got, kid1) {
		t.Fatalf("removed kid %s still in JWKS %v", kid1, got)
	}
	checkEq(t, "signing kid after removing an old key", h.SigningKID(t), kid3)

	h.Stop()
	checkDown(t, h.JWKSURL())
	checkDown(t, h.TokenURL())
	h.Stop() // idempotent
}

func testOIDCProvider(t *testing.T) {
	const id, secret = "sts-client", "sts-client-secret"
	cfg := OIDCProviderConfig{Clients: []OIDCClient{
		{
			ID: id, Secret: secret,
			Resources: []string{"https://sts.test", "https://other.test"},
			Scopes:    []string{"read", "write"},
			ExtraClaims: map[string]any{
				"groups": []string{"admins", "dev"},
				"tenant": "acme",
			},
		},
		{
			// Keycloak-like service account token.
			ID: "kc-client", Secret: "kc-secret",
			Audience: "account",
			Scopes:   []string{"profile", "email"},
			ExtraClaims: map[string]any{
				"sub":                "7c6b2f0e-0d4a-4f8e-9d1e-3f1a2b3c4d5e",
				"azp":                "kc-client",
				"typ":                "Bearer",
				"preferred_username": "service-account-kc-client",
				"realm_access":       map[string]any{"roles": []string{"offline_access", "sts-writer"}},
				"resource_access":    map[string]any{"account": map[string]any{"roles": []string{"view-profile"}}},
			},
		},
	}}
	start := time.Now()
	p := StartOIDCProvider(t, cfg)
	t.Logf("oidc-provider ready in %s at %s", time.Since(start).Round(time.Millisecond), p.Issuer())

	tok := p.Token(t, id, secret, "", []string{"read", "write", "admin"})
	hdr, claims := DecodeHeader(tok), DecodeClaims(tok)
	t.Logf("oidc-provider header: %v", jsonString(hdr))
	t.Logf("oidc-provider claims: %v", jsonString(claims))
	checkEq(t, "alg", hdr["alg"], "RS256")
	checkEq(t, "typ", hdr["typ"], "at+jwt")
	kid1, _ := hdr["kid"].(string)
	checkEq(t, "kid", kid1, p.SigningKID())
	if strings.HasSuffix(p.Issuer(), "/") {
		t.Errorf("oidc-provider issuer %q: want no trailing slash", p.Issuer())
	}
	checkEq(t, "iss", claims["iss"], p.Issuer())
	checkEq(t, "aud", claims["aud"], "https://sts.test")
	checkEq(t, "sub", claims["sub"], id)
	checkEq(t, "client_id", claims["client_id"], id)
	checkEq(t, "scope", claims["scope"], "read write")
	checkEq(t, "groups", claims["groups"], []any{"admins", "dev"})
	checkEq(t, "tenant", claims["tenant"], "acme")
	checkExp(t, claims)

	tokOther := p.Token(t, id, secret, "https://other.test", []string{"write"})
	checkEq(t, "aud (explicit resource)", DecodeClaims(tokOther)["aud"], "https://other.test")
	checkEq(t, "scope (explicit resource)", DecodeClaims(tokOther)["scope"], "write")

	kc := DecodeClaims(p.Token(t, "kc-client", "kc-secret", "", []string{"profile"}))
	t.Logf("oidc-provider keycloak-like claims: %v", jsonString(kc))
	checkEq(t, "kc aud", kc["aud"], "account")
	checkEq(t, "kc sub", kc["sub"], "7c6b2f0e-0d4a-4f8e-9d1e-3f1a2b3c4d5e")
	checkEq(t, "kc realm_access", kc["realm_access"], map[string]any{"roles": []any{"offline_access", "sts-writer"}})

	disc := discovery(t, p.DiscoveryURL())
	checkEq(t, "discovery issuer", disc["issuer"], p.Issuer())
	checkEq(t, "discovery jwks_uri", disc["jwks_uri"], p.JWKSURL())
	checkEq(t, "discovery token_endpoint", disc["token_endpoint"], p.TokenURL())
	if got := jwksKIDs(t, p.JWKSURL()); !slices.Contains(got, kid1) {
		t.Fatalf("kid %s not in JWKS %v", kid1, got)
	}

	kid2 := p.RotateKey(t)
	tok2 := p.Token(t, id, secret, "", nil)
	checkEq(t, "rotated kid", DecodeHeader(tok2)["kid"], kid2)
	if kid2 == kid1 {
		t.Fatalf("kid did not change: %s", kid2)
	}
	checkEq(t, "JWKS after rotation", jwksKIDs(t, p.JWKSURL()), []string{kid2, kid1})
	checkEq(t, "iss after rotation", DecodeClaims(tok2)["iss"], p.Issuer())

	// IdP down, then up again on the same address with the same keys.
	issuer := p.Issuer()
	p.Stop()
	checkDown(t, p.JWKSURL())
	p.Stop() // idempotent
	p.Start(t)
	checkEq(t, "issuer after restart", p.Issuer(), issuer)
	checkEq(t, "JWKS after restart", jwksKIDs(t, p.JWKSURL()), []string{kid2, kid1})
	checkEq(t, "kid after restart", DecodeHeader(p.Token(t, id, secret, "", nil))["kid"], kid2)

	p.RemoveKey(t, kid1)
	checkEq(t, "JWKS after RemoveKey", jwksKIDs(t, p.JWKSURL()), []string{kid2})

	p.Stop()
	checkDown(t, p.JWKSURL())
	checkDown(t, p.TokenURL())
}

func testOIDCProviderES256(t *testing.T) {
	p := StartOIDCProvider(t, OIDCProviderConfig{
		SigningAlg: "ES256",
		TokenTTL:   5 * time.Minute,
		Clients:    []OIDCClient{{ID: "es", Secret: "es-secret", Scopes: []string{"read"}}},
	})
	tok := p.Token(t, "es", "es-secret", "", []string{"read"})
	hdr, claims := DecodeHeader(tok), DecodeClaims(tok)
	checkEq(t, "alg", hdr["alg"], "ES256")
	checkEq(t, "typ", hdr["typ"], "at+jwt")
	checkEq(t, "aud", claims["aud"], DefaultOIDCResource)
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	checkEq(t, "exp-iat", exp-iat, float64(300))
	kid2 := p.RotateKey(t)
	if !strings.HasPrefix(kid2, "es256-") {
		t.Errorf("rotated kid %q: want an ES256 key", kid2)
	}
	for _, k := range jwks(t, p.JWKSURL()) {
		checkEq(t, "kty", k["kty"], "EC")
		checkEq(t, "crv", k["crv"], "P-256")
		if _, private := k["d"]; private {
			t.Fatalf("JWKS publishes a private key: %v", k)
		}
	}
}

// --- helpers ---

func checkEq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func checkExp(t *testing.T, claims map[string]any) {
	t.Helper()
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	now := float64(time.Now().Unix())
	if exp <= now || exp > now+2*3600 || iat > now+60 || iat < now-60 {
		t.Errorf("exp %v / iat %v not around now %v", exp, iat, now)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func discovery(t *testing.T, u string) map[string]any {
	t.Helper()
	var d map[string]any
	if err := getJSON(newHTTPClient(), u, &d); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return d
}

func jwks(t *testing.T, u string) []map[string]any {
	t.Helper()
	keys, err := fetchJWKS(context.Background(), newHTTPClient(), u)
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	return keys
}

func jwksKIDs(t *testing.T, u string) []string {
	t.Helper()
	return kids(jwks(t, u))
}

func checkDown(t *testing.T, u string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(u)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s still answers %d after Stop", u, resp.StatusCode)
	}
}
