package builtins_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	_ "github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/testkeys"
)

func eval(t *testing.T, query string, input map[string]any) (any, error) {
	t.Helper()
	rs, err := rego.New(rego.Query(query), rego.Input(input), rego.StrictBuiltinErrors(true)).Eval(context.Background())
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 {
		return nil, nil
	}
	return rs[0].Expressions[0].Value, nil
}

func provider(t *testing.T, k *testkeys.Key) map[string]any {
	return map[string]any{
		"issuer":    "https://idp.example",
		"jwks":      json.RawMessage(testkeys.JWKS(k.PublicJWK(t, true))),
		"audiences": []string{"sts"},
	}
}

func token(t *testing.T, k *testkeys.Key, extra map[string]any) string {
	c := map[string]any{"iss": "https://idp.example", "aud": "sts", "sub": "svc", "exp": time.Now().Unix() + 300, "scope": "read"}
	for key, v := range extra {
		c[key] = v
	}
	return k.Sign(t, c, nil)
}

func TestVerifyTokenResultShape(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	got, err := eval(t, `sts.verify_token(input.token, input.provider)`, map[string]any{"token": token(t, k, nil), "provider": provider(t, k)})
	if err != nil {
		t.Fatal(err)
	}
	res := got.(map[string]any)
	if res["valid"] != true {
		t.Fatalf("not valid: %v", res)
	}
	if res["claims"].(map[string]any)["sub"] != "svc" || res["header"].(map[string]any)["kid"] != "k1" {
		t.Fatalf("claims or header missing: %v", res)
	}
	if _, ok := res["error"]; ok {
		t.Fatal("valid result carries an error")
	}
}

func TestVerifyTokenFailureIsAValue(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	expired := token(t, k, map[string]any{"exp": time.Now().Unix() - 3600})
	got, err := eval(t, `sts.verify_token(input.token, input.provider)`, map[string]any{"token": expired, "provider": provider(t, k)})
	if err != nil {
		t.Fatal(err)
	}
	res := got.(map[string]any)
	e := res["error"].(map[string]any)
	if res["valid"] != false || e["code"] != "expired" {
		t.Fatalf("got %v", res)
	}
	if strings.Contains(e["message"].(string), expired[:20]) {
		t.Fatal("message contains the token")
	}
}

func TestVerifyTokenInvalidProvider(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	for name, p := range map[string]map[string]any{
		"no audiences":    {"issuer": "i", "jwks": json.RawMessage(testkeys.JWKS(k.PublicJWK(t, true)))},
		"bad type":        {"issuer": "i", "audiences": 5, "jwks": json.RawMessage(testkeys.JWKS(k.PublicJWK(t, true)))},
		"hmac allowed":    {"issuer": "i", "audiences": "a", "algorithms": []string{"HS256"}, "jwks": json.RawMessage(testkeys.JWKS(k.PublicJWK(t, true)))},
		"plain http":      {"issuer": "i", "audiences": "a", "jwks_url": "http://idp.example/keys"},
		"negative leeway": {"issuer": "i", "audiences": "a", "leeway_seconds": -1, "jwks": json.RawMessage(testkeys.JWKS(k.PublicJWK(t, true)))},
		"jwks number":     {"issuer": "i", "audiences": "a", "jwks": 1},
		"jwks bad string": {"issuer": "i", "audiences": "a", "jwks": "{"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := eval(t, `sts.verify_token(input.token, input.provider)`, map[string]any{"token": token(t, k, nil), "provider": p})
			if err != nil {
				t.Fatal(err)
			}
			res := got.(map[string]any)
			if res["valid"] != false || res["error"].(map[string]any)["code"] != "invalid_provider" {
				t.Fatalf("got %v", res)
			}
		})
	}
}

// One misconfigured entry in a provider list fails the tokens of its own
// issuer only; an entry that names no issuer fails the whole list (it
// cannot be told apart from the others), and so does nothing else.
func TestVerifyTokenOneBrokenProviderDoesNotStopTheOthers(t *testing.T) {
	k := testkeys.New(t, "RS256", "k1")
	other := testkeys.New(t, "ES256", "k2")
	brokenIss := "https://broken.example"
	list := []any{
		map[string]any{"issuer": brokenIss, "audiences": []string{"sts"}, "jwks": map[string]any{"keys": []any{}}},
		provider(t, k),
		map[string]any{"issuer": "https://twice.example", "audiences": []string{"sts"}, "jwks": json.RawMessage(testkeys.JWKS(other.PublicJWK(t, true)))},
		map[string]any{"issuer": "https://twice.example", "audiences": []string{"sts"}, "jwks": json.RawMessage(testkeys.JWKS(other.PublicJWK(t, true)))},
	}
	verify := func(tok string, providers any) map[string]any {
		t.Helper()
		got, err := eval(t, `sts.verify_token(input.token, input.providers)`, map[string]any{"token": tok, "providers": providers})
		if err != nil {
			t.Fatal(err)
		}
		return got.(map[string]any)
	}
	if res := verify(token(t, k, nil), list); res["valid"] != true {
		t.Fatalf("a good provider next to a broken one: %v", res)
	}
	for name, iss := range map[string]string{"broken entry": brokenIss, "issuer listed twice": "https://twice.example"} {
		res := verify(token(t, other, map[string]any{"iss": iss}), list)
		e, _ := res["error"].(map[string]any)
		if res["valid"] != false || e["code"] != "invalid_provider" || !strings.Contains(e["message"].(string), iss) {
			t.Errorf("%s: got %v", name, res)
		}
	}
	noIssuer := append([]any{map[string]any{"audiences": []string{"sts"}, "jwks_url": "https://x.example/keys"}}, list[1])
	res := verify(token(t, k, nil), noIssuer)
	if e, _ := res["error"].(map[string]any); res["valid"] != false || e["code"] != "invalid_provider" {
		t.Fatalf("an entry without an issuer: %v", res)
	}
}

func TestVerifyTokenJWKSAsString(t *testing.T) {
	k := testkeys.New(t, "RS256", "k1")
	p := provider(t, k)
	p["jwks"] = string(testkeys.JWKS(k.PublicJWK(t, true)))
	got, err := eval(t, `sts.verify_token(input.token, input.provider).valid`, map[string]any{"token": token(t, k, nil), "provider": p})
	if err != nil || got != true {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestVerifyTokenTypeErrors(t *testing.T) {
	for _, q := range []string{
		`sts.verify_token(1, {})`,
		`sts.verify_token("a.b.c", "provider")`,
		`sts.verify_token("a.b.c", ["issuer"])`,
	} {
		if _, err := eval(t, q, nil); err == nil {
			t.Errorf("%s: want a type error", q)
		}
	}
}

func TestVerifyTokenUnknownProviderMembersIgnored(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	p := provider(t, k)
	p["groups_claim"] = "groups"
	p["roles"] = map[string]any{"admin": []string{"x"}}
	got, err := eval(t, `sts.verify_token(input.token, input.provider).valid`, map[string]any{"token": token(t, k, nil), "provider": p})
	if err != nil || got != true {
		t.Fatalf("got %v, %v", got, err)
	}
}
