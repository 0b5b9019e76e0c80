package sts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/grant"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/sigv4"
	"github.com/opa-sts/opa-sts/internal/testkeys"
)

// BenchmarkAssumeRole measures an AssumeRole as the handler performs it,
// minus HTTP and XML (parse and verify the SigV4 signature with the
// principal's derived secret, evaluate the default decision, turn it into
// a grant, mint), next to a web-identity issuance (verify an RS256 token,
// decide, mint) and a GetCallerIdentity (verify, decide), in one run.
//
// Run: go test ./plugin/sts -run '^$' -bench AssumeRole -benchmem
func BenchmarkAssumeRole(b *testing.B) {
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
	akid, _ := credentials.NewPrincipalAccessKeyID()
	secret := credentials.DerivePrincipalSecret(kr.DerivationSecret(), akid)
	pq := prepareSignedDecision(b, iss, idpKey, akid)

	b.Run("web-identity/verify+decide+mint", func(b *testing.B) {
		tokens := signTokens(b, idpKey, iss, b.N+1)
		issue(b, pq, minter, tokens[b.N])
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			issue(b, pq, minter, tokens[i])
		}
	})
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::000000000000:role/table"},
		"RoleSessionName": {"bench"}, "ExternalId": {"ext-1"}, "Tags.member.1.Key": {"table"}, "Tags.member.1.Value": {"orders"}}.Encode()
	b.Run("assume-role/sigv4+decide+mint", func(b *testing.B) {
		r, body := signedRequest(b, akid, secret, form)
		assumeRole(b, pq, minter, kr, r, body, akid)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			assumeRole(b, pq, minter, kr, r, body, akid)
		}
	})
	b.Run("get-caller-identity/sigv4+decide", func(b *testing.B) {
		r, body := signedRequest(b, akid, secret, "Action=GetCallerIdentity&Version=2011-06-15")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			d := signedDecision(b, pq, kr, r, body, akid, ast.NewObject(item("action", ast.StringTerm("GetCallerIdentity"))))
			if _, ok := callerIdentity(d); !ok {
				b.Fatalf("no caller identity: %v", d)
			}
		}
	})
}

func signedRequest(b *testing.B, akid, secret, form string) (*http.Request, []byte) {
	r, err := http.NewRequest(http.MethodPost, "http://sts.example/", strings.NewReader(form))
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(form))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, r,
		hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	return r, []byte(form)
}

// signedDecision verifies the signature as signedCaller does for a
// principal and evaluates the decision with the given input members.
func signedDecision(b *testing.B, pq rego.PreparedEvalQuery, kr *keyring.Keyring, r *http.Request, body []byte, akid string, in ast.Object) map[string]any {
	auth, err := sigv4.Parse(r, "sts")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := auth.CheckTime(now); err != nil {
		b.Fatal(err)
	}
	if err := auth.Verify(r, body, credentials.DerivePrincipalSecret(kr.DerivationSecret(), auth.AccessKeyID), now); err != nil {
		b.Fatal(err)
	}
	in.Insert(ast.StringTerm("caller"), ast.ObjectTerm(item("type", ast.StringTerm("principal")), item("access_key_id", ast.StringTerm(akid))))
	rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(in))
	if err != nil || len(rs) != 1 {
		b.Fatalf("eval: %v %v", rs, err)
	}
	return rs[0].Expressions[0].Value.(map[string]any)
}

func assumeRole(b *testing.B, pq rego.PreparedEvalQuery, m *credentials.Minter, kr *keyring.Keyring, r *http.Request, body []byte, akid string) {
	d := signedDecision(b, pq, kr, r, body, akid, ast.NewObject(
		item("action", ast.StringTerm("AssumeRole")),
		item("role_arn", ast.StringTerm("arn:aws:iam::000000000000:role/table")),
		item("role_session_name", ast.StringTerm("bench")),
		item("duration_seconds", ast.IntNumberTerm(0)),
		item("external_id", ast.StringTerm("ext-1")),
		item("tags", ast.ObjectTerm(item("table", ast.StringTerm("orders")))),
		item("transitive_tag_keys", ast.ArrayTerm()),
		item("policy_arns", ast.ArrayTerm()),
	))
	g, werr := grant.FromDecision(d)
	if werr != nil {
		b.Fatalf("denied: %v", werr)
	}
	if _, err := m.Mint(g, time.Now()); err != nil {
		b.Fatal(err)
	}
}

func prepareSignedDecision(b *testing.B, iss string, k *testkeys.Key, akid string) rego.PreparedEvalQuery {
	modules := decisionModules(b)
	doc := fmt.Sprintf(`{"opa_sts": {
		"providers": [{"issuer": %q, "jwks": %s, "audiences": ["sts"]}],
		"principals": {%q: {"name": "catalog"}},
		"roles": {
			"rw": {"statements": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::bench/*"]}]},
			"table": {"trust": [{"principals": ["catalog"], "external_id": "ext-1"}],
				"statements": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::lake/${aws:PrincipalTag/table}/*"]}]}},
		"bindings": [{"role": "rw", "issuer": %q, "clients": ["bench-client"]}]}}`, iss, testkeys.JWKS(k.PublicJWK(b, true)), akid, iss)
	var data map[string]any
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
