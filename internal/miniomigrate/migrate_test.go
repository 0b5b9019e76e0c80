package miniomigrate

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string, parse func(f *os.File) ([]Provider, []Item, error)) ([]Provider, []Item) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps, items, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return ps, items
}

func hasItem(items []Item, kind Kind, subject, reason string) bool {
	return slices.ContainsFunc(items, func(it Item) bool {
		return it.Kind == kind && strings.Contains(it.Subject, subject) && strings.Contains(it.Reason, reason)
	})
}

func TestParseEnv(t *testing.T) {
	ps, items := parseFile(t, "testdata/minio.env", func(f *os.File) ([]Provider, []Item, error) { return ParseEnv(f) })
	if len(ps) != 2 {
		t.Fatalf("providers: %+v", ps)
	}
	def, partners := ps[0], ps[1]
	if def.Name != "" || def.ClientID != "minio" || def.PolicyClaim() != "policy" || def.RolePolicy != "" ||
		def.ConfigURL != "https://idp.example.com/realms/storage/.well-known/openid-configuration" {
		t.Errorf("default provider: %+v", def)
	}
	if partners.Name != "partners" || partners.ClientID != "minio-partners" || partners.RolePolicy != "readonly, listbucket" {
		t.Errorf("named provider: %+v", partners)
	}
	if !slices.Equal(def.Other, []string{"scopes"}) {
		t.Errorf("other settings: %v", def.Other)
	}
	if !hasItem(items, KindUntranslated, "MINIO_IDENTITY_OPENID_FROBNICATE", "not an identity_openid setting") ||
		!hasItem(items, KindNote, "identity_ldap", "LDAP") {
		t.Errorf("items: %+v", items)
	}
	for _, bad := range []string{"MINIO_IDENTITY_OPENID_CLIENT_ID\n", `MINIO_IDENTITY_OPENID_CLIENT_ID="minio`, `MINIO_IDENTITY_OPENID_CLIENT_ID=mi"nio`} {
		if _, _, err := ParseEnv(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestParseConfig(t *testing.T) {
	ps, items := parseFile(t, "testdata/identity_openid.txt", func(f *os.File) ([]Provider, []Item, error) { return ParseConfig(f) })
	if len(ps) != 2 {
		t.Fatalf("providers: %+v", ps)
	}
	if ps[0].PolicyClaim() != "minio_groups-policy" || ps[0].ClientID != "minio" {
		t.Errorf("default provider: %+v", ps[0])
	}
	if ps[1].Name != "partners" || ps[1].RolePolicy != "readonly" || !slices.Equal(ps[1].Other, []string{"display_name", "redirect_uri_dynamic", "scopes"}) {
		t.Errorf("named provider: %+v", ps[1])
	}
	if !hasItem(items, KindNote, "identity_openid:off", "disabled") || !hasItem(items, KindNote, "identity_openid", "claim_prefix") {
		t.Errorf("items: %+v", items)
	}
	// mc's output for an unconfigured deployment names no provider.
	ps, _, err := ParseConfig(strings.NewReader("identity_openid enable= display_name= config_url= client_id= client_secret= claim_name=policy\n"))
	if err != nil || len(ps) != 0 {
		t.Errorf("empty configuration: %+v, %v", ps, err)
	}
	if _, _, err := ParseConfig(strings.NewReader(`identity_openid config_url="https://x`)); err == nil {
		t.Error("unterminated quote accepted")
	}
	// A secret with a space, unquoted: refused without its text.
	_, _, err = ParseConfig(strings.NewReader("identity_openid client_id=x client_secret=s3cr3t half2ofsecret\n"))
	if err == nil || strings.Contains(err.Error(), "half2ofsecret") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("err = %v", err)
	}
}

func TestReadIAMExport(t *testing.T) {
	iam, err := ReadIAMExport("testdata/iam-export.zip")
	if err != nil {
		t.Fatal(err)
	}
	if len(iam.Policies) != 7 || !iam.Users["alice"] || !iam.Users["bob"] {
		t.Fatalf("policies %d, users %v", len(iam.Policies), iam.Users)
	}
	if g := iam.Groups["devs"]; !g.Enabled || !slices.Equal(g.Members, []string{"alice", "bob"}) || iam.Groups["oldies"].Enabled {
		t.Errorf("groups: %+v", iam.Groups)
	}
	if !slices.Equal(iam.UserPolicies["alice"], []string{"home"}) || !slices.Equal(iam.GroupPolicies["devs"], []string{"teams"}) {
		t.Errorf("mappings: %v %v", iam.UserPolicies, iam.GroupPolicies)
	}
	if sa := iam.ServiceAccounts["svcalice1"]; sa.Parent != "alice" || sa.EmbeddedPolicy || sa.OpenID {
		t.Errorf("service account: %+v", sa)
	}
	if _, err := ReadIAMExport("testdata/minio.env"); err == nil {
		t.Error("a file that is no zip accepted")
	}
	if _, err := ReadIAMExport("testdata/policies"); err == nil {
		t.Error("a folder without an export accepted")
	}
}

func TestReadPolicyDir(t *testing.T) {
	pols, err := ReadPolicyDir("testdata/policies")
	if err != nil {
		t.Fatal(err)
	}
	if len(pols) != 2 || pols["home"] == nil || pols["listbucket"] == nil {
		t.Fatalf("policies: %v", pols)
	}
}

func translate(t *testing.T, doc string) ([]any, []Item) {
	t.Helper()
	role, items := translatePolicy("p", json.RawMessage(doc))
	return role["statements"].([]any), items
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTranslateStatements(t *testing.T) {
	const denyAllJSON = `[{"Action":"*","Effect":"Deny","Resource":"*","Sid":"untranslated-policy"}]`
	for _, c := range []struct {
		name, doc, want string
		kind            Kind
		reason          string
	}{
		{"bucket ARN added for bucket actions",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b/*","arn:aws:s3:::c-*/*","arn:aws:s3:::h/${jwt:sub}/"]}]}`,
			`[{"Action":["s3:ListBucket"],"Effect":"Allow","Resource":["arn:aws:s3:::b/*","arn:aws:s3:::c-*/*","arn:aws:s3:::h/${jwt:sub}/","arn:aws:s3:::b","arn:aws:s3:::c-*"]}]`,
			KindTranslated, "arn:aws:s3:::b, arn:aws:s3:::c-* added"},
		{"object actions only: unchanged",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/*"}]}`,
			`[{"Action":["s3:GetObject","s3:PutObject"],"Effect":"Allow","Resource":"arn:aws:s3:::b/*"}]`, "", ""},
		{"NotResource too",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::b/*"}]}`,
			`[{"Action":"s3:*","Effect":"Deny","NotResource":["arn:aws:s3:::b/*","arn:aws:s3:::b"]}]`, KindTranslated, "NotResource"},
		{"a pattern that cannot be carried over exactly",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b?/*"}]}`,
			`[{"Action":"s3:ListBucket","Effect":"Allow","Resource":"arn:aws:s3:::b?/*"}]`, KindChanged, "cannot express exactly"},
		{"GetObjectVersion implies GetObject",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObjectVersion","Resource":"arn:aws:s3:::b/*"}]}`,
			`[{"Action":["s3:GetObjectVersion","s3:GetObject"],"Effect":"Allow","Resource":"arn:aws:s3:::b/*"}]`, KindTranslated, "s3:GetObject added"},
		{"admin actions have no resource",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:ServerInfo"],"Resource":["arn:aws:s3:::*"]}]}`,
			`[{"Action":["admin:ServerInfo"],"Effect":"Allow","Resource":"*"}]`, "", ""},
		{"admin actions with a narrower resource",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:ServerInfo"],"Resource":["arn:aws:s3:::logs"]}]}`,
			`[{"Action":["admin:ServerInfo"],"Effect":"Allow","Resource":"*"}]`, KindTranslated, "MinIO ignores the resources"},
		{"admin actions mixed with others: MinIO refuses to store it",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:ServerInfo","s3:GetObject"],"Resource":["arn:aws:s3:::logs/*"]}]}`,
			denyAllJSON, KindUntranslated, "which MinIO refuses to store"},
		{"kms without a resource",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*"]}]}`,
			`[{"Action":["kms:*"],"Effect":"Allow","Resource":"*"}]`, "", ""},
		{"a group variable",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::${jwt:groups}/*"}]}`,
			`[{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:aws:s3:::${jwt:groups}/*"}]`, KindChanged, "only the first group"},
		{"a claim MinIO does not substitute",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::${jwt:tenant}/*"}]}`,
			`[{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:aws:s3:::${jwt:tenant}/*"}]`, KindChanged, "never matched"},
		{"a variable opa-sts does not define",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::${aws:SourceIp}/*"}]}`,
			denyAllJSON, KindUntranslated, "${aws:SourceIp}"},
		{"an operator opa-sts does not know",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"BinaryEquals":{"s3:x":"eA=="}}}]}`,
			denyAllJSON, KindUntranslated, "BinaryEquals"},
		{"a principal",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
			denyAllJSON, KindUntranslated, "Principal"},
		{"not a policy", `{"Version":"2012-10-17"}`, denyAllJSON, KindUntranslated, "no Statement"},
	} {
		sts, items := translate(t, c.doc)
		if got := mustJSON(sts); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if c.kind == "" && len(items) > 0 {
			t.Errorf("%s: unexpected items %+v", c.name, items)
		}
		if c.kind != "" && !hasItem(items, c.kind, "policy p", c.reason) {
			t.Errorf("%s: no %s item with %q in %+v", c.name, c.kind, c.reason, items)
		}
	}
	// ${aws:username} is MinIO's own value at the MinIO contract: nothing to report.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${aws:username}/*"}]}`
	if _, items := translate(t, doc); len(items) != 0 {
		t.Errorf("${aws:username}: %+v", items)
	}
}

func TestMigrate(t *testing.T) {
	iam, err := ReadIAMExport("testdata/iam-export.zip")
	if err != nil {
		t.Fatal(err)
	}
	iam.GroupPolicies["cn=auditors,ou=groups,dc=example,dc=com"] = []string{"readonly", "gone"}
	iam.STSUserPolicies = map[string][]string{"uid=dora,ou=people,dc=example,dc=com": {"diagnostics"}}
	providers, items := parseFile(t, "testdata/minio.env", func(f *os.File) ([]Provider, []Item, error) { return ParseEnv(f) })
	discovery := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"issuer": "https://partners.example.org"}`))
	}))
	defer discovery.Close()
	providers[1].ConfigURL = discovery.URL + "/.well-known/openid-configuration"
	issuers, err := ResolveIssuers(t.Context(), discovery.Client(), providers, map[string]string{providers[0].ConfigURL: "https://idp.example.com/realms/storage"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Migrate(Input{Providers: providers, Issuers: issuers, IAM: iam, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	doc := res.Data["opa_sts"].(map[string]any)
	out, _ := json.Marshal(res.Data)
	report, _ := json.Marshal(res.Report)
	for _, secret := range []string{"alicesecret123", "bobsecret1234", "svcalicesecret1", "oidc-client-secret-do-not-leak", "rootpassword123"} {
		if strings.Contains(string(out), secret) || strings.Contains(string(report), secret) || strings.Contains(res.Report.Text(), secret) {
			t.Errorf("secret %q in the output", secret)
		}
	}
	users := doc["minio"].(map[string]any)["users"].(map[string][]string)
	// bob is in the disabled group oldies: MinIO gives him no policy at all.
	if !slices.Equal(users["alice"], []string{"home", "teams"}) || users["bob"] != nil ||
		!hasItem(res.Report.Items, KindNote, "user bob", "disabled group oldies") ||
		!slices.Equal(users["uid=dora,ou=people,dc=example,dc=com"], []string{"diagnostics"}) {
		t.Errorf("users: %v", users)
	}
	groups := doc["minio"].(map[string]any)["groups"].(map[string][]string)
	if len(groups) != 1 || !slices.Equal(groups["cn=auditors,ou=groups,dc=example,dc=com"], []string{"readonly"}) {
		t.Errorf("LDAP groups: %v", groups)
	}
	bindings := doc["bindings"].([]any)
	// Two claim_lists bindings (aud, azp) for each of the 7 policies, and
	// two for each of the partners' role policies ("listbucket" does not
	// exist there).
	if len(bindings) != 7*2+2 {
		t.Fatalf("bindings: %s", mustJSON(bindings))
	}
	if got := mustJSON(bindings[0]); got != `{"claim_lists":{"policy":["consoleAdmin"]},"claims":{"aud":["minio"]},"issuer":"https://idp.example.com/realms/storage","role":"consoleAdmin"}` {
		t.Errorf("first binding: %s", got)
	}
	if got := mustJSON(bindings[1]); got != `{"claim_lists":{"policy":["consoleAdmin"]},"clients":["minio"],"issuer":"https://idp.example.com/realms/storage","role":"consoleAdmin"}` {
		t.Errorf("second binding: %s", got)
	}
	if got := mustJSON(bindings[14]); got != `{"claims":{"aud":["minio-partners"]},"description":"MinIO identity_openid:partners role_policy","issuer":"https://partners.example.org","role":"readonly"}` {
		t.Errorf("role policy binding: %s", got)
	}
	if !hasItem(res.Report.Items, KindUntranslated, "role_policy listbucket", "no such canned policy") {
		t.Errorf("report: %s", res.Report.Text())
	}
	if s := res.Report.Summary; s.Providers != 2 || s.Roles != 7 || s.Users != 2 || s.Groups != 1 || s.ServiceAccounts != 1 || s.Untranslated != 2 {
		t.Errorf("summary: %+v", s)
	}
}

// An issuer that cannot be learnt is an error naming the way out.
func TestResolveIssuersFailsClosed(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusNotFound) }))
	defer down.Close()
	_, err := ResolveIssuers(t.Context(), down.Client(), []Provider{{ConfigURL: down.URL, ClientID: "x"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "--issuer") {
		t.Fatalf("err = %v", err)
	}
}

// A MinIO configured through its environment prints those settings as
// comments in "mc admin config get": they are the configuration.
func TestParseConfigEnvironmentComments(t *testing.T) {
	out := `# MINIO_IDENTITY_OPENID_CONFIG_URL=https://idp.example.com/.well-known/openid-configuration
# MINIO_IDENTITY_OPENID_CLIENT_ID=minio-claims
# MINIO_IDENTITY_OPENID_CLAIM_PREFIX=minio_
identity_openid enable= display_name= config_url= client_id= client_secret= claim_name=policy claim_userinfo= role_policy=
# MINIO_IDENTITY_OPENID_CONFIG_URL_ROLE=https://idp.example.com/.well-known/openid-configuration
# MINIO_IDENTITY_OPENID_CLIENT_ID_ROLE=minio-role
# MINIO_IDENTITY_OPENID_ROLE_POLICY_ROLE=readonly
identity_openid:role client_id=other
# identity_openid:old config_url=https://old.example.com/.well-known/openid-configuration client_id=old
`
	ps, items, err := ParseConfig(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].ClientID != "minio-claims" || ps[0].PolicyClaim() != "minio_policy" ||
		ps[1].Name != "role" || ps[1].ClientID != "minio-role" || ps[1].RolePolicy != "readonly" {
		t.Fatalf("providers: %+v", ps)
	}
	if !hasItem(items, KindNote, "identity_openid:old", "disabled") {
		t.Errorf("items: %+v", items)
	}
}
