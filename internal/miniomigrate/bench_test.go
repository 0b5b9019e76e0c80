package miniomigrate_test

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opa-sts/opa-sts/internal/miniomigrate"
	mt "github.com/opa-sts/opa-sts/internal/miniomigrate/miniomigratetest"
)

type obj = map[string]any

const benchEnv = "MINIO_IDENTITY_OPENID_CONFIG_URL=" + mt.ConfigURL + "\n" +
	"MINIO_IDENTITY_OPENID_CLIENT_ID=minio\nMINIO_IDENTITY_OPENID_CLIENT_SECRET=not-read\n" +
	"MINIO_IDENTITY_OPENID_CLAIM_NAME=policy\nMINIO_IDENTITY_OPENID_SCOPES=openid,profile\n"

// writeBenchExport writes iam as "mc admin cluster iam export" does: a
// zip of iam-assets/*.json, secret keys included.
func writeBenchExport(tb testing.TB, iam *miniomigrate.IAM, name string) {
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
	add("policies.json", iam.Policies)
	users := obj{}
	for u, on := range iam.Users {
		users[u] = obj{"secretKey": "secret-of-" + u, "status": status(on)}
	}
	add("users.json", users)
	groups := obj{}
	for g, grp := range iam.Groups {
		groups[g] = obj{"version": 1, "status": status(grp.Enabled), "members": grp.Members, "updatedAt": at}
	}
	add("groups.json", groups)
	svc := obj{}
	for k, sa := range iam.ServiceAccounts {
		svc[k] = obj{"parent": sa.Parent, "accessKey": k, "secretKey": "secret-of-" + k, "groups": nil,
			"claims": obj{"accessKey": k, "parent": sa.Parent, "sa-policy": "inherited-policy"}, "sessionPolicy": nil, "status": "on"}
	}
	add("svcaccts.json", svc)
	for file, m := range map[string]map[string][]string{"user_mappings.json": iam.UserPolicies, "group_mappings.json": iam.GroupPolicies, "stsuser_mappings.json": iam.STSUserPolicies} {
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
func checkBenchResult(tb testing.TB, res *miniomigrate.Result) {
	tb.Helper()
	s := res.Report.Summary
	// Two bindings per policy for the claim-based provider (its aud, its azp).
	if s.Roles != mt.Policies || s.Bindings != 2*mt.Policies || s.Providers != 1 ||
		s.Users != mt.Users+mt.LDAPUsers || s.Groups != mt.LDAPGroups || s.Untranslated != 0 {
		tb.Fatalf("summary %+v\n%s", s, res.Report.Text())
	}
}

// TestBenchExport keeps the generated deployment what the benchmarks say
// it is: 1,000 mappings, an export that reads back the same, every kind
// of statement translated without an untranslated item.
func TestBenchExport(t *testing.T) {
	iam := mt.IAM()
	if n := len(iam.UserPolicies) + len(iam.GroupPolicies) + len(iam.STSUserPolicies); len(iam.Policies) != mt.Policies || n != 1000 {
		t.Fatalf("%d policies, %d mappings", len(iam.Policies), n)
	}
	zipName := filepath.Join(t.TempDir(), "export.zip")
	writeBenchExport(t, iam, zipName)
	back, err := miniomigrate.ReadIAMExport(zipName)
	if err != nil {
		t.Fatal(err)
	}
	if b1, b2 := mustMarshal(t, back), mustMarshal(t, iam); b1 != b2 {
		t.Fatal("the export does not read back as written")
	}
	res, err := miniomigrate.Migrate(miniomigrate.Input{Providers: []miniomigrate.Provider{mt.Provider()}, Issuers: map[string]string{mt.ConfigURL: mt.Issuer}, IAM: back})
	if err != nil {
		t.Fatal(err)
	}
	checkBenchResult(t, res)
	for _, want := range []struct {
		kind   miniomigrate.Kind
		reason string
	}{
		{miniomigrate.KindTranslated, "as MinIO matches bucket requests"},
		{miniomigrate.KindTranslated, "s3:GetObject added next to s3:GetObjectVersion"},
		{miniomigrate.KindTranslated, "MinIO ignores the resources of admin and sts actions"},
	} {
		if !slices.ContainsFunc(res.Report.Items, func(it miniomigrate.Item) bool {
			return it.Kind == want.kind && strings.HasPrefix(it.Subject, "policy pol-") && strings.Contains(it.Reason, want.reason)
		}) {
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
	iam := mt.IAM()
	in := miniomigrate.Input{Providers: []miniomigrate.Provider{mt.Provider()}, Issuers: map[string]string{mt.ConfigURL: mt.Issuer}, IAM: iam}
	b.Run("in-memory", func(b *testing.B) {
		res, err := miniomigrate.Migrate(in)
		if err != nil {
			b.Fatal(err)
		}
		checkBenchResult(b, res)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := miniomigrate.Migrate(in); err != nil {
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
		run := func() *miniomigrate.Result {
			f, err := os.Open(envName)
			if err != nil {
				b.Fatal(err)
			}
			providers, items, err := miniomigrate.ParseEnv(f)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			exp, err := miniomigrate.ReadIAMExport(zipName)
			if err != nil {
				b.Fatal(err)
			}
			res, err := miniomigrate.Migrate(miniomigrate.Input{Providers: providers, Issuers: map[string]string{mt.ConfigURL: mt.Issuer}, IAM: exp, Items: items})
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

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
