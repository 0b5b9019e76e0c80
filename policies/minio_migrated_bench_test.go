package policies_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	_ "github.com/opa-sts/opa-sts/builtins" // sts.* built-ins
	"github.com/opa-sts/opa-sts/internal/miniomigrate"
	mt "github.com/opa-sts/opa-sts/internal/miniomigrate/miniomigratetest"
	"github.com/opa-sts/opa-sts/policies"
)

// The deployment is internal/miniomigrate/miniomigratetest's: 100 canned
// policies, 1,000 mappings, one claim-based OpenID provider; the same one
// BenchmarkMigrate translates.

// migratedData is the generated deployment migrated, as `opa-sts run`
// reads the data.json `opa-sts migrate minio` writes.
func migratedData(tb testing.TB) map[string]any {
	tb.Helper()
	res, err := miniomigrate.Migrate(miniomigrate.Input{
		Providers: []miniomigrate.Provider{{ConfigURL: mt.ConfigURL, ClientID: "minio", ClaimName: "policy", Enabled: true}},
		Issuers:   map[string]string{mt.ConfigURL: mt.Issuer}, IAM: mt.IAM(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if s := res.Report.Summary; s.Roles != mt.Policies || s.Bindings != 2*mt.Policies || s.Users != 900 || s.Groups != 50 || s.Untranslated != 0 {
		tb.Fatalf("summary %+v", s)
	}
	b, err := res.JSON()
	if err != nil {
		tb.Fatal(err)
	}
	var data map[string]any
	if err := util.UnmarshalJSON(b, &data); err != nil {
		tb.Fatal(err)
	}
	return data
}

// handWrittenData is what an operator writing opa-sts data would have for
// the same deployment: the same provider, roles (statement for statement)
// and minio users and groups, but one binding per role on the token's
// groups (even roles) or scopes (odd roles) instead of the migration's two
// per role on MinIO's policy claim (claim_lists, with the client as aud or
// azp).
func handWrittenData(tb testing.TB) map[string]any {
	tb.Helper()
	data := migratedData(tb)
	doc := data["opa_sts"].(map[string]any)
	var bindings []any
	for i := range mt.Policies {
		b := map[string]any{"role": mt.PolicyName(i), "issuer": mt.Issuer}
		if i%2 == 0 {
			b["groups"] = []any{"/storage/" + mt.PolicyName(i)}
		} else {
			b["scopes"] = []any{mt.PolicyName(i)}
		}
		bindings = append(bindings, b)
	}
	doc["bindings"] = bindings
	return data
}

// A MinIO plugin request. MinIO sends its conditions with every request;
// these are those of an S3 request over HTTPS. username is MinIO's (the
// user, or the parent of a session), principal its principal type.
func minioRequest(account, username, principal, action, bucket, object string, claims map[string]any) ast.Value {
	v, err := ast.InterfaceToValue(map[string]any{
		"account": account, "groups": nil, "action": action, "originalAction": action,
		"bucket": bucket, "object": object, "owner": false, "denyOnly": false, "claims": claims,
		"conditions": map[string]any{
			"CurrentTime": []any{"2026-11-28T20:26:12Z"}, "EpochTime": []any{"1795897572"},
			"SourceIp": []any{"10.1.2.3"}, "SecureTransport": []any{"true"}, "UserAgent": []any{"aws-sdk-go-v2/1.48.0"},
			"authType": []any{"REST-HEADER"}, "signatureversion": []any{"AWS4-HMAC-SHA256"},
			"principaltype": []any{principal}, "userid": []any{username}, "username": []any{username},
			"versionid": []any{""}, "Referer": []any{""},
		},
	})
	if err != nil {
		panic(err)
	}
	return v
}

type minioCase struct {
	name  string
	input ast.Value
	allow bool
	roles []string // the decision's roles: the mapping found the session's two
}

// minioCases are an OpenID session whose policy claim names pol-005
// (${aws:username} home: MinIO's parent user of the session) and pol-046
// (${jwt:sub} home from 10/8), allowed a GET in its ${jwt:sub} home and
// denied a PUT in its ${aws:username} home by the locked/ Deny; and the MinIO
// user user-010, mapped to pol-001 and pol-070 and in no group, allowed a
// GET in its home and denied one in another user's (no statement allows).
func minioCases(handWritten bool) []minioCase {
	const sub = "6b1f0c2e-alice"
	claims := map[string]any{"iss": mt.Issuer, "sub": sub, "aud": "minio", "azp": "minio",
		"preferred_username": "alice", "exp": 4102444800, "accessKey": "ABCDEFGHIJKLMNOPQRST"}
	if handWritten {
		// MinIO's STS still wants a policy claim naming one of its
		// policies (docs/minio.md); the roles come from groups and scopes.
		claims["policy"] = "readonly"
		claims["scope"] = "openid profile pol-005"
		claims["groups"] = []any{"/storage/pol-046"}
	} else {
		claims["policy"] = "pol-005,pol-046"
	}
	// MinIO names an OpenID session's parent user after its sub and iss.
	h := sha256.Sum256([]byte("openid:" + sub + ":" + mt.Issuer))
	parent := base64.RawURLEncoding.EncodeToString(h[:])
	openid := func(action, bucket, object string) ast.Value {
		return minioRequest("ABCDEFGHIJKLMNOPQRST", parent, "AssumedRole", action, bucket, object, claims)
	}
	user := func(action, bucket, object string) ast.Value {
		return minioRequest("user-010", "user-010", "User", action, bucket, object, map[string]any{})
	}
	sessionRoles, userRoles := []string{"pol-005", "pol-046"}, []string{"pol-001", "pol-070"}
	return []minioCase{
		{"openid/allowed", openid("s3:GetObject", "home-046", sub+"/report.csv"), true, sessionRoles},
		{"openid/denied", openid("s3:PutObject", "home-005", parent+"/locked/report.csv"), false, sessionRoles},
		{"user/allowed", user("s3:GetObject", "home-070", "user-010/notes.txt"), true, userRoles},
		{"user/denied", user("s3:GetObject", "home-070", "user-011/notes.txt"), false, userRoles},
	}
}

func prepareMinIOContract(tb testing.TB, data map[string]any, query string) rego.PreparedEvalQuery {
	tb.Helper()
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	opts := []func(*rego.Rego){rego.Query(query), rego.Store(store)}
	for _, f := range []string{"sts/mapping.rego", "httpapi/authz/authz.rego"} {
		src, err := fs.ReadFile(policies.Default, f)
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, rego.Module(f, string(src)))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return pq
}

// benchMinIOContractData measures data.httpapi.authz.allow for each case
// on data, after checking the decision and its roles once.
func benchMinIOContractData(b *testing.B, data map[string]any, cases []minioCase) {
	allow := prepareMinIOContract(b, data, "data.httpapi.authz.allow")
	decision := prepareMinIOContract(b, data, "data.httpapi.authz.decision")
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rs, err := decision.Eval(context.Background(), rego.EvalParsedInput(c.input))
			if err != nil || len(rs) != 1 {
				b.Fatalf("decision: %v %v", rs, err)
			}
			d := rs[0].Expressions[0].Value.(map[string]any)
			var roles []string
			for _, r := range d["roles"].([]any) {
				roles = append(roles, r.(string))
			}
			if d["allow"] != c.allow || !slices.Equal(roles, c.roles) {
				b.Fatalf("decision %v, want allow %v for roles %v", d, c.allow, c.roles)
			}
			eval := func() {
				rs, err := allow.Eval(context.Background(), rego.EvalParsedInput(c.input))
				if err != nil || len(rs) != 1 || rs[0].Expressions[0].Value != c.allow {
					b.Fatalf("allow: %v %v, want %v", rs, err, c.allow)
				}
			}
			eval()
			b.ReportAllocs()
			for b.Loop() {
				eval()
			}
		})
	}
}

// BenchmarkMinIOContractMigrated is MinIO's plugin decision on the data
// `opa-sts migrate minio` makes of 100 canned policies and 1,000 mappings
// (claim_lists bindings on the policy claim, MinIO users with their
// groups' policies, LDAP users and groups); BenchmarkMinIOContractHandWritten
// is the same decision on hand-written data of the same size.
//
//	go test ./policies -run '^$' -bench 'MinIOContract(Migrated|HandWritten)' -benchmem -count 6 > mig.txt
//	benchstat -col .name mig.txt
func BenchmarkMinIOContractMigrated(b *testing.B) {
	benchMinIOContractData(b, migratedData(b), minioCases(false))
}

func BenchmarkMinIOContractHandWritten(b *testing.B) {
	benchMinIOContractData(b, handWrittenData(b), minioCases(true))
}
