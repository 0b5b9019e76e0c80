package s3iam

import (
	"context"
	"encoding/json"
	"io/fs"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/logging"
	evalmetrics "github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"

	_ "github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/sessions"
	"github.com/opa-sts/opa-sts/policies"
)

type regoEval struct{ pq rego.PreparedEvalQuery }

func (r regoEval) Eval(ctx context.Context, input ast.Value, m evalmetrics.Metrics) (map[string]any, *decision.Prepared, error) {
	rs, err := r.pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalMetrics(m))
	if err != nil || len(rs) == 0 {
		return nil, nil, err
	}
	d, _ := rs[0].Expressions[0].Value.(map[string]any)
	return d, nil, nil
}

func (regoEval) Current(context.Context) (*decision.Prepared, error) { return nil, nil }

// BenchmarkProtocol measures the two calls versitygw makes for every
// non-root S3 request, on the protocol handlers (no socket, no SigV4 of the
// gateway): derive-signing-key, and evaluate-policy of one action on one
// resource through data.s3.decision.
//
//	go test ./plugin/s3iam -run '^$' -bench Protocol -benchmem
func BenchmarkProtocol(b *testing.B) {
	const issuer = "https://sts.bench"
	kr, err := keyring.Generate()
	if err != nil {
		b.Fatal(err)
	}
	authority, err := sessions.NewForTest(issuer, kr)
	if err != nil {
		b.Fatal(err)
	}
	details, _ := json.Marshal(map[string]any{
		"subject": "alice", "duration_seconds": 3600,
		"permissions": []any{map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject"}, "Resource": "arn:aws:s3:::data/home/${jwt:sub}/*"}},
		"variables":   map[string]any{"jwt:sub": "alice"},
	})
	c, err := authority.Mint(credentials.Grant{Subject: "alice", Duration: time.Hour, Details: details}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	src, _ := fs.ReadFile(policies.Default, "s3/authz.rego")
	pq, err := rego.New(rego.Query("data.s3.decision"), rego.Module("s3.rego", string(src))).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	cfg := &Config{AccountID: "000000000000"}
	_ = cfg.Limits.defaults()
	h := &handler{cfg: cfg, authority: authority, eval: regoEval{pq}, logger: logging.NewNoOpLogger()}
	ctx := context.Background()
	derive, _ := json.Marshal(map[string]any{"accessKeyId": c.AccessKeyID, "sessionToken": c.SessionToken, "date": "20261128", "region": "us-east-1", "service": "s3"})
	evaluate, _ := json.Marshal(map[string]any{"accessKeyId": c.AccessKeyID, "sessionToken": c.SessionToken,
		"actions": []string{"s3:GetObject"}, "resources": []string{"arn:aws:s3:::data/home/alice/report.csv"},
		"condition": map[string][]string{"aws:SourceIp": {"127.0.0.1"}}})

	b.Run("derive-signing-key", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, aerr := h.deriveSigningKey(ctx, derive, &record{}); aerr != nil {
				b.Fatal(aerr.Error)
			}
		}
	})
	b.Run("evaluate-policy", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			resp, aerr := h.evaluatePolicy(ctx, evaluate, &record{})
			if aerr != nil {
				b.Fatal(aerr.Error)
			}
			if d := resp.(map[string]any)["decisions"].([][]string); d[0][0] != "allow" {
				b.Fatalf("decision %v", d)
			}
		}
	})
}
