// End-to-end tests of sts.verify_token against real identity providers
// (ory/hydra and panva/oidc-provider) issuing client_credentials JWT access
// tokens on loopback, in-process and through the opa-sts binary.
package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
)

// verify evaluates sts.verify_token in-process, as opa eval would.
func verify(t *testing.T, token string, provider map[string]any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := rego.New(
		rego.Query(`sts.verify_token(input.token, input.provider)`),
		rego.Input(map[string]any{"token": token, "provider": provider}),
	).Eval(ctx)
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	return rs[0].Expressions[0].Value.(map[string]any)
}

func mustBeValid(t *testing.T, res map[string]any) (header, claims map[string]any) {
	t.Helper()
	if res["valid"] != true {
		t.Fatalf("token not valid: %v", res["error"])
	}
	return res["header"].(map[string]any), res["claims"].(map[string]any)
}

func mustFail(t *testing.T, res map[string]any, code string) {
	t.Helper()
	if res["valid"] != false {
		t.Fatalf("want %s, token was valid", code)
	}
	if got := res["error"].(map[string]any)["code"]; got != code {
		t.Fatalf("want %s, got %v", code, res["error"])
	}
}

func stats() jwks.Stats { return builtins.JWKSCache().Stats() }

func TestHydraTokens(t *testing.T) {
	h := idp.StartHydra(t)
	const client, secret = "workload-a", "workload-a-secret-0123456789"
	h.CreateClient(t, client, secret, []string{"sts"}, []string{"s3.read", "s3.write"})
	provider := map[string]any{"issuer": h.Issuer(), "discovery_url": h.DiscoveryURL(), "audiences": []string{"sts"}}

	// Discovery, then a real token.
	tok1 := h.Token(t, client, secret, []string{"sts"}, []string{"s3.read"})
	before := stats()
	header, claims := mustBeValid(t, verify(t, tok1, provider))
	if header["alg"] != "RS256" || claims["client_id"] != client || claims["iss"] != h.Issuer() {
		t.Fatalf("unexpected token: header %v claims %v", header, claims)
	}
	if got := stats().Fetches - before.Fetches; got != 1 {
		t.Fatalf("want one key set fetch (discovery + JWKS), got %d", got)
	}
	kid1 := header["kid"].(string)

	// Presenting tokens again costs no fetch.
	tokB := h.Token(t, client, secret, []string{"sts"}, nil)
	mustBeValid(t, verify(t, tokB, provider))
	mustBeValid(t, verify(t, tok1, provider))
	if got := stats().Fetches - before.Fetches; got != 1 {
		t.Fatalf("warm cache fetched again: %d fetches", got)
	}

	// A token for another audience, and a provider for another issuer.
	mustFail(t, verify(t, tok1, map[string]any{"issuer": h.Issuer(), "discovery_url": h.DiscoveryURL(), "audiences": []string{"other"}}), "wrong_audience")
	mustFail(t, verify(t, tok1, map[string]any{"issuer": h.Issuer() + "x", "jwks_url": h.JWKSURL(), "audiences": []string{"sts"}}), "wrong_issuer")

	// Key rotation at the IdP: new kid -> one refetch -> valid.
	kid2 := h.RotateKey(t)
	tok2 := h.Token(t, client, secret, []string{"sts"}, []string{"s3.write"})
	rot := stats()
	header2, _ := mustBeValid(t, verify(t, tok2, provider))
	if header2["kid"] != kid2 || kid2 == kid1 {
		t.Fatalf("rotated token kid %v, want %s (old %s)", header2["kid"], kid2, kid1)
	}
	after := stats()
	if after.RefetchUnknownKID-rot.RefetchUnknownKID != 1 || after.Fetches-rot.Fetches != 1 {
		t.Fatalf("rotation: want exactly one refetch, got %+v -> %+v", rot, after)
	}

	// A flood of tokens with unknown kids does not become a flood of fetches.
	forgedKIDs := stats()
	for range 50 {
		mustFail(t, verify(t, tamperKID(t, tok2), provider), "unknown_key")
	}
	if got := stats().Fetches - forgedKIDs.Fetches; got > 1 {
		t.Fatalf("50 unknown kids caused %d fetches", got)
	}

	// The IdP goes down: cached keys keep working for new tokens.
	tok3 := h.Token(t, client, secret, []string{"sts"}, nil)
	h.Stop()
	mustBeValid(t, verify(t, tok3, provider))

	// A cold cache with the IdP down: idp_unreachable.
	h2 := idp.StartHydra(t)
	h2.CreateClient(t, client, secret, []string{"sts"}, nil)
	cold := h2.Token(t, client, secret, []string{"sts"}, nil)
	h2.Stop()
	mustFail(t, verify(t, cold, map[string]any{"issuer": h2.Issuer(), "discovery_url": h2.DiscoveryURL(), "audiences": []string{"sts"}}), "idp_unreachable")
}

func TestOIDCProviderTokens(t *testing.T) {
	const client, secret = "workload-b", "workload-b-secret-0123456789"
	p := idp.StartOIDCProvider(t, idp.OIDCProviderConfig{
		SigningAlg: "ES256",
		Clients: []idp.OIDCClient{{
			ID: client, Secret: secret, Resources: []string{"https://sts.opa-sts.test"}, Scopes: []string{"s3"},
			ExtraClaims: map[string]any{"groups": []string{"analytics"}, "realm_access": map[string]any{"roles": []string{"s3-read"}}},
		}, {
			// Keycloak-like: aud is "account", the client is in azp.
			ID: "keycloak-like", Secret: secret, Audience: "account", Resources: []string{"https://sts.opa-sts.test"},
			ExtraClaims: map[string]any{"azp": "sts-client"},
		}},
	})
	provider := map[string]any{"issuer": p.Issuer(), "discovery_url": p.DiscoveryURL(), "audiences": []string{"https://sts.opa-sts.test"}}

	tok := p.Token(t, client, secret, "", []string{"s3"})
	header, claims := mustBeValid(t, verify(t, tok, provider))
	if header["typ"] != "at+jwt" || header["alg"] != "ES256" || claims["aud"] != "https://sts.opa-sts.test" {
		t.Fatalf("unexpected token shape: %v %v", header, claims)
	}
	if claims["realm_access"].(map[string]any)["roles"].([]any)[0] != "s3-read" {
		t.Fatalf("custom claims lost: %v", claims)
	}

	// azp fallback for Keycloak-shaped tokens.
	kc := p.Token(t, "keycloak-like", secret, "", nil)
	azpProvider := map[string]any{"issuer": p.Issuer(), "jwks_url": p.JWKSURL(), "audiences": []string{"sts-client"}}
	mustFail(t, verify(t, kc, azpProvider), "wrong_audience")
	azpProvider["azp_fallback"] = true
	mustBeValid(t, verify(t, kc, azpProvider))

	// Rotation: the IdP restarts with a new signing key.
	oldKID := header["kid"]
	newKID := p.RotateKey(t)
	tok2 := p.Token(t, client, secret, "", nil)
	before := stats()
	header2, _ := mustBeValid(t, verify(t, tok2, provider))
	if header2["kid"] != newKID || newKID == oldKID {
		t.Fatalf("kid %v after rotation, want %s", header2["kid"], newKID)
	}
	if got := stats().RefetchUnknownKID - before.RefetchUnknownKID; got != 1 {
		t.Fatalf("rotation caused %d unknown-kid refetches, want 1", got)
	}

	// Down: cached keys keep working; up again: still fine.
	tok3 := p.Token(t, client, secret, "", nil)
	p.Stop()
	mustBeValid(t, verify(t, tok3, provider))
	p.Start(t)
	mustBeValid(t, verify(t, p.Token(t, client, secret, "", nil), provider))
}

func TestOIDCProviderExpiredToken(t *testing.T) {
	const client, secret = "short-lived", "short-lived-secret-0123456789"
	p := idp.StartOIDCProvider(t, idp.OIDCProviderConfig{
		TokenTTL: time.Second,
		Clients:  []idp.OIDCClient{{ID: client, Secret: secret}},
	})
	provider := map[string]any{"issuer": p.Issuer(), "jwks_url": p.JWKSURL(), "audiences": []string{idp.DefaultOIDCResource}, "leeway_seconds": 0}
	tok := p.Token(t, client, secret, "", nil)
	mustBeValid(t, verify(t, tok, provider))
	time.Sleep(2100 * time.Millisecond)
	mustFail(t, verify(t, tok, provider), "expired")
}

// tamperKID replaces the kid in a token's header (the signature no longer
// matters: the key lookup fails first).
func tamperKID(t *testing.T, token string) string {
	t.Helper()
	h := idp.DecodeHeader(token)
	h["kid"] = "unknown-" + randomHex(t)
	return reencodeHeader(t, token, h)
}
