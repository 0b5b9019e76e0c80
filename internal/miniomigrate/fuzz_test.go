package miniomigrate

import (
	"strings"
	"testing"

	"github.com/opa-sts/opa-sts/internal/iam"
)

// FuzzTranslatePolicy feeds arbitrary documents to the policy translation:
// whatever it is given, the role it makes compiles (opa-sts can evaluate
// it; an empty Statement list grants nothing, as in MinIO), and a role that
// denies everything comes with an untranslated item saying why.
func FuzzTranslatePolicy(f *testing.F) {
	for _, seed := range []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b/*"]}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:ServerInfo","s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"s3:GetObjectVersion","NotResource":"arn:aws:s3:::${jwt:groups}/"}]}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringLike":{"s3:prefix":"${aws:username}/*"}}}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${x"}]}`,
		`[]`, `null`, `{"Statement":[1]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 4096 {
			return
		}
		role, items := translatePolicy("p", doc)
		sts, ok := role["statements"].([]any)
		if !ok {
			t.Fatalf("no statement list: %v", role)
		}
		if _, err := iam.Compile(sts); err != nil {
			t.Fatalf("the role does not compile: %v\n%s", err, doc)
		}
		denies := strings.HasPrefix(role["description"].(string), "MinIO policy not migrated")
		untranslated := false
		for _, it := range items {
			untranslated = untranslated || it.Kind == KindUntranslated
		}
		if denies != untranslated {
			t.Fatalf("deny-all %v but untranslated item %v: %+v\n%s", denies, untranslated, items, doc)
		}
	})
}
