package sts

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/grant"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/testkeys"
)

func BenchmarkIssuanceParts(b *testing.B) {
	const iss = "https://idp.example/realms/bench"
	idpKey := testkeys.New(b, "RS256", "idp-key")
	kr, _ := keyring.Generate()
	minter, _ := credentials.NewMinter("https://sts.example", kr)
	pq := prepareDefaultDecision(b, iss, idpKey)
	tok := signToken(b, idpKey, iss, 0)
	input := ast.NewObject(item("token", ast.StringTerm(tok)), item("duration_seconds", ast.IntNumberTerm(0)))
	var dec map[string]any
	b.Run("decide-cached-token", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(input))
			if err != nil {
				b.Fatal(err)
			}
			dec = rs[0].Expressions[0].Value.(map[string]any)
		}
	})
	g, _ := grant.FromDecision(dec)
	b.Run("grant", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			g, _ = grant.FromDecision(dec)
		}
	})
	b.Run("mint", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := minter.Mint(g, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
