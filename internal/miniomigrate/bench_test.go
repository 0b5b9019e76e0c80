package miniomigrate

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The generated deployment: 100 canned policies and 1,000 mappings (700
// users with 1 to 3 policies, 50 MinIO groups of 10 members with 1 or 2
// policies, 200 LDAP users and 50 LDAP groups with 1 or 2 policies).
// policies/minio_migrated_bench_test.go generates the same (it cannot
// import a test file): change both together.
const (
	benchPolicies   = 100
	benchUsers      = 700
	benchGroups     = 50
	benchLDAPUsers  = 200
	benchLDAPGroups = 50
	benchIssuer     = "https://idp.example.com/realms/storage"
	benchConfigURL  = benchIssuer + "/.well-known/openid-configuration"
)

type obj = map[string]any

func strs(s ...string) []string { return s }

// benchPolicy is canned policy i: five kinds in turn (a home prefix per
// MinIO user, a home prefix per token subject from an allowed network, a
// team bucket with bucket actions on "bucket/*", read-only datasets with
// a network Deny, operators' admin actions), each with 0 to 3 project
// buckets more.
func benchPolicy(i int) json.RawMessage {
	arn := func(format string) string { return "arn:aws:s3:::" + fmt.Sprintf(format, i) }
	ip := obj{"IpAddress": obj{"aws:SourceIp": strs("10.0.0.0/8", "192.168.0.0/16")}}
	var st []any
	switch i % 5 {
	case 0, 1:
		v := "${aws:username}"
		if i%5 == 1 {
			v = "${jwt:sub}"
		}
		home := obj{"Sid": "Home", "Effect": "Allow", "Action": strs("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
			"Resource": strs(arn("home-%03d/") + v + "/*")}
		if i%5 == 1 {
			home["Condition"] = ip
		}
		st = append(st, home,
			obj{"Effect": "Allow", "Action": strs("s3:ListBucket"), "Resource": strs(arn("home-%03d")),
				"Condition": obj{"StringLike": obj{"s3:prefix": strs(v+"/*", v)}}},
			obj{"Effect": "Allow", "Action": strs("s3:GetBucketLocation", "s3:ListAllMyBuckets"), "Resource": strs("arn:aws:s3:::*")},
			obj{"Effect": "Deny", "Action": strs("s3:DeleteObject", "s3:PutObject"), "Resource": strs(arn("home-%03d/*/locked/*"))})
	case 2:
		st = append(st,
			obj{"Effect": "Allow", "Action": strs("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"), "Resource": strs(arn("team-%03d/*"))},
			obj{"Effect": "Allow", "Action": strs("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"), "Resource": strs(arn("team-%03d/*")), "Condition": ip},
			obj{"Effect": "Deny", "Action": strs("s3:DeleteBucket", "s3:PutBucketPolicy"), "Resource": strs("arn:aws:s3:::*")})
	case 3:
		st = append(st,
			obj{"Effect": "Allow", "Action": strs("s3:GetObjectVersion", "s3:GetObjectTagging"), "Resource": strs(arn("data-%03d/*"), arn("shared/%03d/*"))},
			obj{"Effect": "Allow", "Action": strs("s3:ListBucket"), "Resource": strs(arn("data-%03d")),
				"Condition": obj{"StringLike": obj{"s3:prefix": strs("public/*", "reports/*")}}},
			obj{"Effect": "Deny", "Action": strs("s3:*"), "Resource": strs(arn("data-%03d/*")),
				"Condition": obj{"NotIpAddress": obj{"aws:SourceIp": strs("10.0.0.0/8")}}})
	case 4:
		st = append(st,
			obj{"Effect": "Allow", "Action": strs("admin:ServerInfo", "admin:ConsoleLog", "admin:Prometheus", "admin:ServerTrace"), "Resource": strs("arn:aws:s3:::*")},
			obj{"Effect": "Allow", "Action": strs("s3:GetObject", "s3:ListBucket"), "Resource": strs(arn("logs-%03d"), arn("logs-%03d/*"))},
			obj{"Effect": "Deny", "Action": strs("admin:ServerUpdate", "admin:ConfigUpdate"), "Resource": strs(arn("logs-%03d"))})
		if i%10 == 9 {
			st = append(st, obj{"Effect": "Allow", "Action": strs("admin:ListUsers", "s3:ListBucket"), "Resource": strs(arn("logs-%03d"))})
		}
	}
	for j := range i % 4 {
		st = append(st, obj{"Effect": "Allow", "Action": strs("s3:GetObject", "s3:ListBucket"),
			"Resource": strs(arn("proj-%03d-") + fmt.Sprintf("%d/*", j))})
	}
	b, err := json.Marshal(obj{"Version": "2012-10-17", "Statement": st})
	if err != nil {
		panic(err)
	}
	return b
}

func benchPolicyName(i int) string { return fmt.Sprintf("pol-%03d", i%benchPolicies) }

// benchPolicyList is n policies from a, 31 apart, sorted as MinIO lists them.
func benchPolicyList(a, n int) []string {
	var out []string
	for k := range n {
		out = append(out, benchPolicyName(a+31*k))
	}
	sort.Strings(out)
	return out
}

// benchIAM is the generated deployment as ReadIAMExport reads it.
func benchIAM() *IAM {
	iam := &IAM{Policies: map[string]json.RawMessage{}, Users: map[string]bool{}, Groups: map[string]Group{},
		UserPolicies: map[string][]string{}, GroupPolicies: map[string][]string{}, STSUserPolicies: map[string][]string{},
		ServiceAccounts: map[string]ServiceAccount{}}
	for i := range benchPolicies {
		iam.Policies[benchPolicyName(i)] = benchPolicy(i)
	}
	for u := range benchUsers {
		name := fmt.Sprintf("user-%03d", u)
		iam.Users[name] = true
		iam.UserPolicies[name] = benchPolicyList(7*u, 1+u%3)
	}
	for g := range benchGroups {
		name := fmt.Sprintf("group-%02d", g)
		var members []string
		for k := range 10 {
			members = append(members, fmt.Sprintf("user-%03d", 14*g+k))
		}
		iam.Groups[name] = Group{Members: members, Enabled: true}
		iam.GroupPolicies[name] = benchPolicyList(3*g+5, 1+g%2)
	}
	for u := range benchLDAPUsers {
		iam.STSUserPolicies[fmt.Sprintf("uid=ldap-%03d,ou=people,dc=example,dc=com", u)] = benchPolicyList(11*u+2, 1+u%2)
	}
	for g := range benchLDAPGroups {
		iam.GroupPolicies[fmt.Sprintf("cn=ldap-group-%02d,ou=groups,dc=example,dc=com", g)] = benchPolicyList(13*g+4, 1+g%2)
	}
	for s := range 100 {
		iam.ServiceAccounts[fmt.Sprintf("svc-%03d", s)] = ServiceAccount{Parent: fmt.Sprintf("user-%03d", 7*s)}
	}
	return iam
}

// benchProvider is one claim-based identity_openid (policy claim "policy").
var benchProvider = Provider{ConfigURL: benchConfigURL, ClientID: "minio", ClaimName: "policy", Enabled: true}

const benchEnv = "MINIO_IDENTITY_OPENID_CONFIG_URL=" + benchConfigURL + "\n" +
	"MINIO_IDENTITY_OPENID_CLIENT_ID=minio\nMINIO_IDENTITY_OPENID_CLIENT_SECRET=not-read\n" +
	"MINIO_IDENTITY_OPENID_CLAIM_NAME=policy\nMINIO_IDENTITY_OPENID_SCOPES=openid,profile\n"

// writeBenchExport writes iam as "mc admin cluster iam export" does: a
// zip of iam-assets/*.json, secret keys included.
func writeBenchExport(tb testing.TB, iam *IAM, name string) {
	tb.Helper()
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	zw := zip.NewWriter(f)
	add := func(file string, v any) {
		w, err := zw.Create("iam-assets/" + file)
		if err == nil {
			err = json.NewEncoder(w).Encode(v)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	const at = "2026-12-01T12:06:08.862452002Z"
	status := func(on bool) string {
		if on {
			return "enabled"
		}
		return "disabled"
	}
	add(filePolicies, iam.Policies)
	users := obj{}
	for u, on := range iam.Users {
		users[u] = obj{"secretKey": "secret-of-" + u, "status": status(on)}
	}
	add(fileUsers, users)
	groups := obj{}
	for g, grp := range iam.Groups {
		groups[g] = obj{"version": 1, "status": status(grp.Enabled), "members": grp.Members, "updatedAt": at}
	}
	add(fileGroups, groups)
	svc := obj{}
	for k, sa := range iam.ServiceAccounts {
		svc[k] = obj{"parent": sa.Parent, "accessKey": k, "secretKey": "secret-of-" + k, "groups": nil,
			"claims": obj{"accessKey": k, "parent": sa.Parent, "sa-policy": "inherited-policy"}, "sessionPolicy": nil, "status": "on"}
	}
	add(fileServiceAccounts, svc)
	for file, m := range map[string]map[string][]string{fileUserMappings: iam.UserPolicies, fileGroupMappings: iam.GroupPolicies, fileSTSUserMappings: iam.STSUserPolicies} {
		out := obj{}
		for name, pols := range m {
			out[name] = obj{"version": 0, "policy": strings.Join(pols, ","), "updatedAt": at}
		}
		add(file, out)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// checkBenchResult fails unless res is the migration of the whole
// generated deployment, with nothing untranslated.
func checkBenchResult(tb testing.TB, res *Result) {
	tb.Helper()
	s := res.Report.Summary
	// Two bindings per policy for the claim-based provider (its aud, its azp).
	if s.Roles != benchPolicies || s.Bindings != 2*benchPolicies || s.Providers != 1 ||
		s.Users != benchUsers+benchLDAPUsers || s.Groups != benchLDAPGroups || s.Untranslated != 0 {
		tb.Fatalf("summary %+v\n%s", s, res.Report.Text())
	}
}

// TestBenchExport keeps the generated deployment what the benchmarks say
// it is: 1,000 mappings, an export that reads back the same, every kind
// of statement translated without an untranslated item.
func TestBenchExport(t *testing.T) {
	iam := benchIAM()
	if n := len(iam.UserPolicies) + len(iam.GroupPolicies) + len(iam.STSUserPolicies); len(iam.Policies) != benchPolicies || n != 1000 {
		t.Fatalf("%d policies, %d mappings", len(iam.Policies), n)
	}
	zipName := filepath.Join(t.TempDir(), "export.zip")
	writeBenchExport(t, iam, zipName)
	back, err := ReadIAMExport(zipName)
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(back) != mustJSON(iam) {
		t.Fatal("the export does not read back as written")
	}
	res, err := Migrate(Input{Providers: []Provider{benchProvider}, Issuers: map[string]string{benchConfigURL: benchIssuer}, IAM: back})
	if err != nil {
		t.Fatal(err)
	}
	checkBenchResult(t, res)
	for _, want := range []struct {
		kind   Kind
		reason string
	}{
		{KindTranslated, "as MinIO matches bucket requests"},
		{KindTranslated, "s3:GetObject added next to s3:GetObjectVersion"},
		{KindTranslated, "MinIO ignores the resources of admin and sts actions"},
		{KindChanged, "split in two"},
	} {
		if !hasItem(res.Report.Items, want.kind, "policy pol-", want.reason) {
			t.Errorf("no %s item %q in\n%s", want.kind, want.reason, res.Report.Text())
		}
	}
}

// BenchmarkMigrate is the translation of 100 canned policies and 1,000
// mappings with one claim-based OpenID provider: in-memory is Migrate on
// the IAM as read; export-zip is the command's whole work but the network
// (the issuer given): read the environment file and the export zip,
// migrate, marshal data and report, write both files, render the report.
//
//	go test ./internal/miniomigrate -run '^$' -bench Migrate -benchmem
func BenchmarkMigrate(b *testing.B) {
	iam := benchIAM()
	in := Input{Providers: []Provider{benchProvider}, Issuers: map[string]string{benchConfigURL: benchIssuer}, IAM: iam}
	b.Run("in-memory", func(b *testing.B) {
		res, err := Migrate(in)
		if err != nil {
			b.Fatal(err)
		}
		checkBenchResult(b, res)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Migrate(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("export-zip", func(b *testing.B) {
		dir := b.TempDir()
		zipName, envName, out := filepath.Join(dir, "export.zip"), filepath.Join(dir, "minio.env"), filepath.Join(dir, "migrated")
		writeBenchExport(b, iam, zipName)
		if err := os.WriteFile(envName, []byte(benchEnv), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			b.Fatal(err)
		}
		run := func() *Result {
			f, err := os.Open(envName)
			if err != nil {
				b.Fatal(err)
			}
			providers, items, err := ParseEnv(f)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			exp, err := ReadIAMExport(zipName)
			if err != nil {
				b.Fatal(err)
			}
			res, err := Migrate(Input{Providers: providers, Issuers: map[string]string{benchConfigURL: benchIssuer}, IAM: exp, Items: items})
			if err != nil {
				b.Fatal(err)
			}
			data, err := res.JSON()
			if err != nil {
				b.Fatal(err)
			}
			report, err := json.MarshalIndent(res.Report, "", "  ")
			if err != nil {
				b.Fatal(err)
			}
			for name, content := range map[string][]byte{"data.json": data, "migration-report.json": report} {
				if err := os.WriteFile(filepath.Join(out, name), append(content, '\n'), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			_ = res.Report.Text()
			return res
		}
		checkBenchResult(b, run())
		st, err := os.Stat(zipName)
		if err != nil {
			b.Fatal(err)
		}
		data, err := os.Stat(filepath.Join(out, "data.json"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			run()
		}
		b.ReportMetric(float64(st.Size()), "export-bytes")
		b.ReportMetric(float64(data.Size()), "data-bytes")
	})
}
