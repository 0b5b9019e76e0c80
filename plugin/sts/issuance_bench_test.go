package sts

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/grant"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/testkeys"
	"github.com/opa-sts/opa-sts/policies"
)

// BenchmarkIssuance measures one issuance as the STS handler performs it,
// minus HTTP and XML: evaluate the default decision policy on a token it
// has not seen (one RS256 verification, warm key cache), turn the decision
// into a grant, and mint the credential (one Ed25519 session-token
// signature). Next to it, in the same run, the raw cryptography: one RS256
// verification plus one Ed25519 signature.
//
// Run: go test ./plugin/sts -run '^$' -bench Issuance -benchmem
func BenchmarkIssuance(b *testing.B) {
	const iss = "https://idp.example/realms/bench"
	idpKey := testkeys.New(b, "RS256", "idp-key")
	kr, err := keyring.Generate()
	if err != nil {
		b.Fatal(err)
	}
	minter, err := credentials.NewMinter("https://sts.example", kr)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("raw-crypto/RS256-verify+Ed25519-sign", func(b *testing.B) {
		tok := []byte(signToken(b, idpKey, iss, 0))
		pub := idpKey.Private.Public()
		payload := make([]byte, 900)
		signer := kr.Signer().Private
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := jws.Verify(tok, jws.WithKey(jwa.RS256, pub)); err != nil {
				b.Fatal(err)
			}
			if _, err := signer.Sign(rand.Reader, payload, crypto.Hash(0)); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("issuance/verify+decide+mint", func(b *testing.B) {
		pq := prepareDefaultDecision(b, iss, idpKey)
		tokens := signTokens(b, idpKey, iss, b.N+1)
		issue(b, pq, minter, tokens[b.N]) // warm the key and provider caches
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			issue(b, pq, minter, tokens[i])
		}
	})

	// The same token presented again (a client refreshing credentials
	// with the JWT it still holds): the verified-token cache answers, so
	// no RS256 verification is performed; not comparable with raw-crypto.
	b.Run("issuance/repeated-token", func(b *testing.B) {
		pq := prepareDefaultDecision(b, iss, idpKey)
		tok := signToken(b, idpKey, iss, 0)
		issue(b, pq, minter, tok)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			issue(b, pq, minter, tok)
		}
	})
}

func issue(b *testing.B, pq rego.PreparedEvalQuery, m *credentials.Minter, token string) {
	input := ast.NewObject(
		item("action", ast.StringTerm("AssumeRoleWithClientGrants")),
		item("token", ast.StringTerm(token)),
		item("duration_seconds", ast.IntNumberTerm(0)),
	)
	rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(input))
	if err != nil || len(rs) != 1 {
		b.Fatalf("eval: %v %v", rs, err)
	}
	g, werr := grant.FromDecision(rs[0].Expressions[0].Value.(map[string]any))
	if werr != nil {
		b.Fatalf("denied: %v", werr)
	}
	if _, err := m.Mint(g, time.Now()); err != nil {
		b.Fatal(err)
	}
}

func prepareDefaultDecision(b *testing.B, iss string, k *testkeys.Key) rego.PreparedEvalQuery {
	modules := decisionModules(b)
	var data map[string]any
	doc := fmt.Sprintf(`{"opa_sts": {
		"providers": [{"issuer": %q, "jwks": %s, "audiences": ["sts"]}],
		"roles": {"rw": {"statements": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::bench/*"]}]}},
		"bindings": [{"role": "rw", "issuer": %q, "clients": ["bench-client"]}]}}`, iss, testkeys.JWKS(k.PublicJWK(b, true)), iss)
	if err := json.Unmarshal([]byte(doc), &data); err != nil {
		b.Fatal(err)
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	pq, err := rego.New(append(modules, rego.Query("data.sts.decision"), rego.Store(store))...).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return pq
}

// decisionModules are every module of the decision's packages (data.sts
// and below), from the embedded default policies.
func decisionModules(b *testing.B) []func(*rego.Rego) {
	var modules []func(*rego.Rego)
	err := fs.WalkDir(policies.Default, "sts", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(policies.Default, path)
		modules = append(modules, rego.Module(path, string(src)))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return modules
}

func signToken(b *testing.B, k *testkeys.Key, iss string, n int) string {
	return k.Sign(b, map[string]any{
		"iss": iss, "sub": "0c7b9f3e-service-account", "aud": []string{"sts", "account"}, "azp": "bench-client",
		"client_id": "bench-client", "scope": "profile s3", "iat": time.Now().Unix(),
		"exp": time.Now().Add(time.Hour).Unix(), "jti": fmt.Sprintf("bench-%d", n),
	}, nil)
}

// signTokens signs n distinct tokens on all cores (RSA signing is slow;
// this happens before the timer starts).
func signTokens(b *testing.B, k *testkeys.Key, iss string, n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	workers := 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				out[i] = signToken(b, k, iss, i)
			}
		}()
	}
	wg.Wait()
	return out
}
