package builtins

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"

	"github.com/opa-sts/opa-sts/internal/testkeys"
)

// The benchmarks compare, in one run, for RS256 and ES256 tokens:
//
//   - raw/jws.Verify, raw/jwt.Parse: jwx v2 alone, the key already parsed;
//   - sts/fresh: one policy evaluation of sts.verify_token on a token it has
//     not seen (warm key set cache, verified-token cache always missing);
//   - sts/repeat: the same token presented again (verified-token cache hit);
//   - stock/library-defaults: io.jwt.decode_verify given the JWKS as a
//     string, as opa eval and opa test run it (no inter-query cache);
//   - stock/server-mode: the same with the server's inter-query value cache.
//
// Run: go test ./builtins -run '^$' -bench BenchmarkVerify -benchmem

const (
	benchIssuer = "https://idp.example/realms/bench"
	benchPolicy = `package bench

sts_result := sts.verify_token(input.token, data.provider)

stock_result := io.jwt.decode_verify(input.token, {"cert": data.provider.jwks_string, "iss": data.provider.issuer, "aud": "sts"})
`
)

func benchToken(b *testing.B, k *testkeys.Key, jti int) string {
	return k.Sign(b, map[string]any{
		"iss": benchIssuer, "sub": "9f0a6b4e-2c1d-4d7e-8c55-3c0f1c2f6d10", "aud": []string{"sts", "account"},
		"azp": "workload-a", "client_id": "workload-a", "scope": "openid profile s3",
		"realm_access": map[string]any{"roles": []string{"s3-read", "s3-write"}},
		"iat":          time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": fmt.Sprintf("jti-%d", jti),
	}, nil)
}

func prepare(b *testing.B, k *testkeys.Key, query string, opts ...func(*rego.Rego)) rego.PreparedEvalQuery {
	jwksDoc := testkeys.JWKS(k.PublicJWK(b, true))
	var provider map[string]any
	_ = json.Unmarshal([]byte(fmt.Sprintf(`{"issuer": %q, "audiences": ["sts"], "jwks": %s, "jwks_string": %q}`,
		benchIssuer, jwksDoc, jwksDoc)), &provider)
	store := inmem.NewFromObjectWithOpts(map[string]any{"provider": provider}, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	opts = append(opts, rego.Query(query), rego.Module("bench.rego", benchPolicy), rego.Store(store))
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return pq
}

func evalValid(b *testing.B, pq rego.PreparedEvalQuery, token string, opts ...rego.EvalOption) {
	input := ast.NewObject(ast.Item(ast.StringTerm("token"), ast.StringTerm(token)))
	rs, err := pq.Eval(context.Background(), append(opts, rego.EvalParsedInput(input))...)
	if err != nil {
		b.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Expressions[0].Value != true {
		b.Fatalf("token not valid: %v", rs)
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		k := testkeys.New(b, alg, "bench-key")
		pub := k.Private.Public()
		tokens := [2]string{benchToken(b, k, 1), benchToken(b, k, 2)}

		b.Run(alg+"/raw/jws.Verify", func(b *testing.B) {
			rawVerify(b, alg, pub, tokens[0], false)
		})
		b.Run(alg+"/raw/jwt.Parse", func(b *testing.B) {
			rawVerify(b, alg, pub, tokens[0], true)
		})
		b.Run(alg+"/sts/fresh", func(b *testing.B) {
			// A verified-token cache of one entry, fed two alternating
			// tokens, never hits: every evaluation verifies from scratch.
			defer useState(newState(1))()
			pq := prepare(b, k, "data.bench.sts_result.valid")
			evalValid(b, pq, tokens[0]) // warm the provider and key caches
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evalValid(b, pq, tokens[i&1])
			}
		})
		b.Run(alg+"/sts/repeat", func(b *testing.B) {
			defer useState(newState(verifiedTokenCacheSize))()
			pq := prepare(b, k, "data.bench.sts_result.valid")
			evalValid(b, pq, tokens[0])
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evalValid(b, pq, tokens[0])
			}
		})
		b.Run(alg+"/stock/library-defaults", func(b *testing.B) {
			pq := prepare(b, k, "data.bench.stock_result[0]")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evalValid(b, pq, tokens[0])
			}
		})
		b.Run(alg+"/stock/server-mode", func(b *testing.B) {
			cfg, err := cache.ParseCachingConfig(nil)
			if err != nil {
				b.Fatal(err)
			}
			vc := cache.NewInterQueryValueCache(context.Background(), cfg)
			ic := cache.NewInterQueryCache(cfg)
			pq := prepare(b, k, "data.bench.stock_result[0]")
			opts := []rego.EvalOption{rego.EvalInterQueryBuiltinValueCache(vc), rego.EvalInterQueryBuiltinCache(ic)}
			evalValid(b, pq, tokens[0], opts...)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evalValid(b, pq, tokens[0], opts...)
			}
		})
	}
}

// useState makes the registered built-in use st until the returned function
// restores the previous state. (A per-query rego.Function2 cannot override a
// globally registered built-in.)
func useState(st *state) (restore func()) {
	keys, verifier, providers := shared.keys, shared.verifier, shared.providers
	shared.keys, shared.verifier, shared.providers = st.keys, st.verifier, st.providers
	return func() { shared.keys, shared.verifier, shared.providers = keys, verifier, providers }
}

func rawVerify(b *testing.B, alg string, pub crypto.PublicKey, token string, parseClaims bool) {
	buf := []byte(token)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if parseClaims {
			_, err = jwt.Parse(buf, jwt.WithKey(jwa.SignatureAlgorithm(alg), pub), jwt.WithValidate(true),
				jwt.WithIssuer(benchIssuer), jwt.WithAudience("sts"))
		} else {
			_, err = jws.Verify(buf, jws.WithKey(jwa.SignatureAlgorithm(alg), pub))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
