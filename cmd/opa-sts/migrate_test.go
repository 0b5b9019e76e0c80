package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	opacmd "github.com/open-policy-agent/opa/cmd"
	"github.com/open-policy-agent/opa/v1/rego"
)

const migrateTestdata = "../../internal/miniomigrate/testdata/"

// runMigrate runs "migrate minio" in-process with args.
func runMigrate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newMigrateCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"minio"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

var offlineIssuers = []string{
	"--issuer", "https://idp.example.com/realms/storage/.well-known/openid-configuration=https://idp.example.com/realms/storage",
	"--issuer", "https://partners.example.org/.well-known/openid-configuration=https://partners.example.org",
}

func TestMigrateMinIOCommand(t *testing.T) {
	out := t.TempDir()
	args := append([]string{"--out", out, "--env", migrateTestdata + "minio.env", "--iam-export", migrateTestdata + "iam-export.zip",
		"--policies", migrateTestdata + "policies"}, offlineIssuers...)
	text, err := runMigrate(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, want := range []string{"migrated: 2 providers", "untranslated", "policy home: --policies gives it", "wrote "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	var data struct {
		OpaSts struct {
			Roles map[string]any `json:"roles"`
		} `json:"opa_sts"`
	}
	b, err := os.ReadFile(filepath.Join(out, "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &data); err != nil || data.OpaSts.Roles["listbucket"] == nil || data.OpaSts.Roles["home"] == nil {
		t.Fatalf("data.json: %v %s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "migration-report.json")); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"oidc-client-secret-do-not-leak", "rootpassword123", "alicesecret123", "svcalicesecret1"} {
		report, _ := os.ReadFile(filepath.Join(out, "migration-report.json"))
		if strings.Contains(text+string(b)+string(report), secret) {
			t.Errorf("secret %q in the output", secret)
		}
	}

	// --strict: the report holds untranslated and changed items.
	_, err = runMigrate(t, append(args, "--strict")...)
	if e, ok := errors.AsType[*opacmd.ExitError](err); !ok || e.Exit != exitMigrateStrict {
		t.Errorf("--strict: %v", err)
	}
}

func TestMigrateMinIOCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no --out", []string{"--env", migrateTestdata + "minio.env"}, "--out"},
		{"nothing to migrate", []string{"--out", dir}, "nothing to migrate"},
		{"a bad --issuer", []string{"--out", dir, "--env", migrateTestdata + "minio.env", "--issuer", "x"}, "CONFIG_URL=ISSUER"},
		{"a provider twice", append([]string{"--out", dir, "--env", migrateTestdata + "minio.env", "--env", migrateTestdata + "minio.env"}, offlineIssuers...), "given twice"},
		{"not an export", []string{"--out", dir, "--iam-export", migrateTestdata + "minio.env"}, "not a zip"},
	} {
		if _, err := runMigrate(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data.json")); err == nil {
		t.Error("a refused migration wrote data.json")
	}
}

// The migrated data and the written library run as they are: the
// decision of a migrated MinIO user.
func TestPoliciesWriteRunsWithMigratedData(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "policy")
	cmd := newPoliciesCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetArgs([]string{"write", lib})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	cmd = newPoliciesCommand()
	cmd.SetArgs([]string{"write", lib})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second write into the same folder: %v", err)
	}
	out := filepath.Join(dir, "migrated")
	if text, err := runMigrate(t, "--out", out, "--iam-export", migrateTestdata+"iam-export.zip"); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	// alice (home policy, and teams through the group devs) in MinIO's
	// plugin contract, as MinIO posts it.
	decide := func(bucket, object string) bool {
		t.Helper()
		r := rego.New(rego.Query("data.httpapi.authz.allow"), rego.Load([]string{lib, filepath.Join(out, "data.json")}, nil),
			rego.Input(map[string]any{
				"account": "alice", "action": "s3:GetObject", "bucket": bucket, "object": object, "owner": false,
				"claims": map[string]any{}, "conditions": map[string]any{"username": []string{"alice"}, "principaltype": []string{"User"}},
			}))
		rs, err := r.Eval(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return rs.Allowed()
	}
	if !decide("home", "alice/notes.txt") {
		t.Error("alice's home denied")
	}
	if decide("home", "bob/notes.txt") {
		t.Error("bob's home allowed to alice")
	}
}
