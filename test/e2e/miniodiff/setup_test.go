package miniodiff_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/minioserver"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
	"github.com/opa-sts/opa-sts/test/e2e/testpki"
)

// env is everything the differential test runs against.
type env struct {
	dir  string
	oidc *idp.OIDCProvider
	a, b *minioserver.Server // A: MinIO's own IAM; B: opa-sts as its policy plugin
	// aTLS and bTLS (A' and B') are A and B again, serving HTTPS: the
	// same IAM (the import of A's export), OpenID settings, opa-sts (B's)
	// and objects.
	aTLS, bTLS *minioserver.Server
	opa        *opasts.Server
	roots      [4]*minio.Client // root's clients of servers(), in its order
	// client sends every request, STS calls included: it trusts the CA of
	// A' and B'.
	client   *http.Client
	seed     map[string]string // bucket/key → content
	ivyHome  string            // MinIO's parent user of ivy's OpenID sessions
	export   string            // the zip of `mc admin cluster iam export A`
	migrated string            // opa-sts migrate minio --out
	secrets  []string          // every secret key of a user or service account, root's password
	report   migrationReport
	// migratedByConfig is the migration of the same export with --config
	// (the output of `mc admin config get A identity_openid`) instead of
	// --env; configOutput is that output.
	migratedByConfig, configOutput string
}

type migrationReport struct {
	Items []struct {
		Kind    string `json:"kind"`
		Subject string `json:"subject"`
		Reason  string `json:"reason"`
	} `json:"items"`
	Summary map[string]any `json:"summary"`
}

// repoRoot is the repository root (this file is test/e2e/miniodiff/...).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// requireBinaries fails with what to run when a binary is missing:
// bin/opa-sts (make build; OPA_STS_BIN defaults to it), MinIO and mc
// (scripts/build-tools.sh), the OpenID provider (node_modules).
func requireBinaries(t *testing.T) {
	t.Helper()
	if os.Getenv("OPA_STS_BIN") == "" {
		t.Setenv("OPA_STS_BIN", filepath.Join(repoRoot(), "bin", "opa-sts"))
	}
	opasts.Binary(t)
	minioserver.Binary(t)
	opasts.ToolBinary(t, "mc-"+minioserver.MCVersion, "mc")
	out := opasts.Run(t, t.TempDir(), "migrate", "minio", "--help")
	if out.Exit != 0 {
		t.Fatalf("%s has no `migrate minio` command (exit %d): rebuild it with `make build` once internal/migrate/minio has landed.\n%s%s",
			os.Getenv("OPA_STS_BIN"), out.Exit, out.Stdout, out.Stderr)
	}
}

// mc runs MinIO's client (in dir, for the files it writes) and fails the
// test when it fails.
func mc(t *testing.T, dir string, aliases map[string]string, args ...string) string {
	t.Helper()
	out, err := mcRun(t, dir, aliases, args...)
	if err != nil {
		t.Fatalf("mc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func mcRun(t *testing.T, dir string, aliases map[string]string, args ...string) (string, error) {
	t.Helper()
	return mcExec(t, dir, aliases, append([]string{"--json"}, args...)...)
}

// mcExec runs mc without --json (for output meant for an operator).
func mcExec(t *testing.T, dir string, aliases map[string]string, args ...string) (string, error) {
	t.Helper()
	bin := opasts.ToolBinary(t, "mc-"+minioserver.MCVersion, "mc")
	cmd := exec.Command(bin, append([]string{"--no-color", "--config-dir", filepath.Join(dir, ".mc")}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	for alias, url := range aliases {
		cmd.Env = append(cmd.Env, "MC_HOST_"+alias+"="+url)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openIDEnv is MinIO's identity_openid configuration, the same for both
// servers: a claim-based provider (the policy claim, with a prefix) and a
// named role-policy provider on another client id of the same issuer.
// MinIO checks that its client id is the token's aud (or azp)
// (internal/config/identity/openid/jwt.go, Validate), so each client's
// tokens carry the client id of the provider they are meant for.
func openIDEnv(p *idp.OIDCProvider) [][2]string {
	return [][2]string{
		{"MINIO_IDENTITY_OPENID_CONFIG_URL", p.DiscoveryURL()},
		{"MINIO_IDENTITY_OPENID_CLIENT_ID", claimClientID},
		{"MINIO_IDENTITY_OPENID_CLIENT_SECRET", minioClientSecret},
		{"MINIO_IDENTITY_OPENID_CLAIM_NAME", claimName},
		{"MINIO_IDENTITY_OPENID_CLAIM_PREFIX", claimPrefix},
		{"MINIO_IDENTITY_OPENID_CONFIG_URL_" + roleProvider, p.DiscoveryURL()},
		{"MINIO_IDENTITY_OPENID_CLIENT_ID_" + roleProvider, roleClientID},
		{"MINIO_IDENTITY_OPENID_ROLE_POLICY_" + roleProvider, rolePolicy},
	}
}

func envList(kv [][2]string) []string {
	out := make([]string, 0, len(kv))
	for _, p := range kv {
		out = append(out, p[0]+"="+p[1])
	}
	return out
}

// envFile is the openid settings as an operator's MinIO environment file
// has them (/etc/default/minio): comments, `export`, both kinds of quotes,
// and the other settings of the server, its root password included.
func envFile(kv [][2]string) string {
	var b strings.Builder
	b.WriteString("# MinIO environment, as /etc/default/minio\n")
	b.WriteString("MINIO_VOLUMES=\"/srv/minio/data\"\n")
	b.WriteString("MINIO_ROOT_USER=" + minioserver.RootUser + "\n")
	b.WriteString("MINIO_ROOT_PASSWORD='" + minioserver.RootPassword + "'\n\n")
	for i, p := range kv {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "export %s=\"%s\"\n", p[0], p[1])
		case 1:
			fmt.Fprintf(&b, "%s='%s'\n", p[0], p[1])
		default:
			fmt.Fprintf(&b, "%s=%s\n", p[0], p[1])
		}
	}
	b.WriteString("MINIO_BROWSER=off\n")
	return b.String()
}

func rootClient(t *testing.T, s *minioserver.Server) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Addr, &minio.Options{Creds: miniocreds.NewStaticV4(minioserver.RootUser, minioserver.RootPassword, ""), Region: "us-east-1",
		Secure: s.CA != "", Transport: s.Client.Transport})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// servers are A, B, A', B': the index of a server's credentials in an
// identity's creds (a transport's pair is a and a+1).
func (e *env) servers() [4]*minioserver.Server {
	return [4]*minioserver.Server{e.a, e.b, e.aTLS, e.bTLS}
}

// serverName is the name of servers()[i] in messages.
func serverName(i int) string { return [4]string{"A", "B", "A'", "B'"}[i] }

// transport is a pair of servers, MinIO's own IAM (servers()[a]) and
// MinIO with opa-sts (servers()[a+1]), and how requests reach them.
type transport struct {
	name string
	a    int
}

// transports: plain HTTP (aws:SecureTransport false) and HTTPS (true).
var transports = [2]transport{{"http", 0}, {"https", 2}}

// setUp starts the OpenID provider and MinIO A, configures A's IAM with
// mc, exports it, migrates the export with opa-sts, starts opa-sts with
// the migrated data and MinIO B with opa-sts as its policy plugin, and
// imports A's IAM into B. A' and B' are A and B over HTTPS (the
// certificate of a test CA), with A's IAM imported as into B. All four
// get the same buckets and objects.
func setUp(t *testing.T) *env {
	t.Helper()
	requireBinaries(t)
	e := &env{dir: t.TempDir()}
	began, last := time.Now(), time.Now()
	phase := func(name string) {
		t.Logf("set-up: %s in %s", name, time.Since(last).Round(time.Millisecond))
		last = time.Now()
	}
	defer func() { t.Logf("set-up: %s in all", time.Since(began).Round(time.Millisecond)) }()
	e.secrets = append(e.secrets, minioserver.RootPassword, minioClientSecret)

	var clients []idp.OIDCClient
	for _, c := range oidcClients {
		aud := claimClientID
		if c.role {
			aud = roleClientID
		}
		clients = append(clients, idp.OIDCClient{ID: c.id, Secret: oidcSecret, Audience: aud, ExtraClaims: c.claims})
	}
	e.oidc = idp.StartOIDCProvider(t, idp.OIDCProviderConfig{Clients: clients})
	e.ivyHome = openIDParent("ivy", e.oidc.Issuer())
	e.seed = seedObjects(e.ivyHome)
	openid := openIDEnv(e.oidc)
	phase("the OpenID provider")

	e.a = minioserver.Start(t, e.dir, envList(openid)...)
	phase("MinIO A")
	e.configureA(t)
	phase("A's IAM with mc")
	e.exportA(t)
	phase("mc admin cluster iam export")

	// The migration, from the export and the environment file.
	envPath := filepath.Join(e.dir, "minio.env")
	writeFile(t, envPath, envFile(openid))
	e.migrated = filepath.Join(e.dir, "migrated")
	res := opasts.Run(t, e.dir, "migrate", "minio", "--out", e.migrated, "--env", envPath, "--iam-export", e.export)
	t.Logf("opa-sts migrate minio (exit %d):\n%s%s", res.Exit, res.Stdout, res.Stderr)
	if res.Exit != 0 {
		t.Fatalf("opa-sts migrate minio failed (exit %d)", res.Exit)
	}
	e.checkMigrationOutput(t, res)
	phase("opa-sts migrate minio")
	e.migrateByConfig(t)
	phase("opa-sts migrate minio --config")

	policyDir := filepath.Join(e.dir, "policy")
	if err := policies.WriteDefault(policyDir); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(e.dir, "opa-sts.json")
	writeFile(t, cfg, `{"decision_logs": {"console": true}}`)
	e.opa = opasts.Start(t, e.dir, "-c", cfg, policyDir, e.migrated)
	phase("opa-sts")

	// opa-sts first: MinIO started while its plugin is down serves root
	// under its own IAM (docs/minio.md).
	plugin := append(envList(openid), "MINIO_POLICY_PLUGIN_URL="+e.opa.URL+"/v1/data/httpapi/authz/allow")
	e.b = minioserver.Start(t, e.dir, plugin...)
	phase("MinIO B")

	// A' and B': mc trusts their CA from its configuration directory.
	pki := testpki.New(t, filepath.Join(e.dir, "pki"))
	cas := filepath.Join(e.dir, ".mc", "certs", "CAs")
	if err := os.MkdirAll(cas, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cas, "test-ca.crt"), string(ca))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("no certificate in %s", pki.CA)
	}
	e.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	cert := minioserver.TLS{Cert: pki.ServerCert, Key: pki.ServerKey, CA: pki.CA}
	e.aTLS = minioserver.StartTLS(t, e.dir, cert, envList(openid)...)
	e.bTLS = minioserver.StartTLS(t, e.dir, cert, plugin...)
	phase("MinIO A' and B' (HTTPS)")

	e.checkGroups(t, e.a)
	for _, s := range []*minioserver.Server{e.b, e.aTLS, e.bTLS} {
		e.importInto(t, s)
	}
	phase("mc admin cluster iam import into B, A' and B'")

	for i, s := range e.servers() {
		e.roots[i] = rootClient(t, s)
		e.seedObjects(t, e.roots[i])
	}
	phase("buckets and objects")
	return e
}

// configureA writes the IAM configuration into MinIO A the way an
// operator does, with mc.
func (e *env) configureA(t *testing.T) {
	t.Helper()
	root := map[string]string{"A": e.a.RootAlias()}
	work := filepath.Join(e.dir, "mc-a")
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	// Independent commands run a few at a time (each is a process).
	parallel := func(cmds [][]string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]string, len(cmds))
		sem := make(chan struct{}, 4)
		for i, args := range cmds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if out, err := mcRun(t, work, root, args...); err != nil {
					errs[i] = fmt.Sprintf("mc %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}()
		}
		wg.Wait()
		for _, msg := range errs {
			if msg != "" {
				t.Fatal(msg)
			}
		}
	}

	var cmds [][]string
	for _, name := range sortedKeys(cannedPolicies) {
		f := filepath.Join(work, name+".json")
		writeFile(t, f, cannedPolicies[name])
		cmds = append(cmds, []string{"admin", "policy", "create", "A", name, f})
	}
	for _, u := range minioUsers {
		e.secrets = append(e.secrets, u.secret)
		cmds = append(cmds, []string{"admin", "user", "add", "A", u.name, u.secret})
	}
	parallel(cmds)

	cmds = nil
	for _, g := range minioGroups {
		cmds = append(cmds, append([]string{"admin", "group", "add", "A", g.name}, g.members...))
	}
	parallel(cmds)

	cmds = nil
	for _, u := range minioUsers {
		if len(u.policies) > 0 {
			cmds = append(cmds, append(append([]string{"admin", "policy", "attach", "A"}, u.policies...), "--user", u.name))
		}
	}
	for _, g := range minioGroups {
		if len(g.policies) > 0 {
			cmds = append(cmds, append(append([]string{"admin", "policy", "attach", "A"}, g.policies...), "--group", g.name))
		}
	}
	for _, sa := range serviceAccounts {
		e.secrets = append(e.secrets, sa.secret)
		parent := sa.parent
		if parent == rootParent {
			parent = minioserver.RootUser
		}
		args := []string{"admin", "user", "svcacct", "add", "A", parent, "--access-key", sa.accessKey, "--secret-key", sa.secret}
		if sa.policy != "" {
			f := filepath.Join(work, sa.accessKey+".policy.json")
			writeFile(t, f, sa.policy)
			args = append(args, "--policy", f)
		}
		cmds = append(cmds, args)
	}
	parallel(cmds)

	// Disabled last: MinIO refuses to attach policies to a disabled user.
	cmds = nil
	for _, u := range minioUsers {
		if u.disabled {
			cmds = append(cmds, []string{"admin", "user", "disable", "A", u.name})
		}
	}
	for _, g := range minioGroups {
		if g.disabled {
			cmds = append(cmds, []string{"admin", "group", "disable", "A", g.name})
		}
	}
	parallel(cmds)
}

// exportA runs `mc admin cluster iam export A` and reads the secret keys
// out of the zip (users.json, svcaccts.json): they must not reach
// opa-sts's data.
func (e *env) exportA(t *testing.T) {
	t.Helper()
	e.export = filepath.Join(e.dir, "A-iam-info.zip")
	mc(t, e.dir, map[string]string{"A": e.a.RootAlias()}, "admin", "cluster", "iam", "export", "A", "--output", e.export)
	zr, err := zip.OpenReader(e.export)
	if err != nil {
		t.Fatalf("open the IAM export: %v", err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(f.Name)] = raw
	}
	var users map[string]struct {
		SecretKey string `json:"secretKey"`
	}
	if err := json.Unmarshal(files["users.json"], &users); err != nil || len(users) != len(minioUsers) {
		t.Fatalf("users.json of the export: %v (%d users, want %d)\n%s", err, len(users), len(minioUsers), files["users.json"])
	}
	var svcs map[string]struct {
		SecretKey string `json:"secretKey"`
	}
	if err := json.Unmarshal(files["svcaccts.json"], &svcs); err != nil || len(svcs) != len(serviceAccounts) {
		t.Fatalf("svcaccts.json of the export: %v (%d accounts, want %d)", err, len(svcs), len(serviceAccounts))
	}
	exported := 0
	for _, u := range users {
		e.secrets = append(e.secrets, u.SecretKey)
		exported++
	}
	for _, s := range svcs {
		e.secrets = append(e.secrets, s.SecretKey)
		exported++
	}
	// The export carries the secrets the test set: the check below proves something.
	for _, u := range minioUsers {
		if users[u.name].SecretKey != u.secret {
			t.Fatalf("the export has no secret key for %s: the secrets check would prove nothing", u.name)
		}
	}
	t.Logf("IAM export: %d files, %d secret keys", len(files), exported)
}

// migrateByConfig migrates the same export with --config: the output of
// `mc admin config get A identity_openid` (the alternative to --env).
func (e *env) migrateByConfig(t *testing.T) {
	t.Helper()
	out, err := mcExec(t, e.dir, map[string]string{"A": e.a.RootAlias()}, "admin", "config", "get", "A", "identity_openid")
	if err != nil {
		t.Fatalf("mc admin config get A identity_openid: %v\n%s", err, out)
	}
	e.configOutput = out
	cfg := filepath.Join(e.dir, "identity_openid.txt")
	writeFile(t, cfg, out)
	e.migratedByConfig = filepath.Join(e.dir, "migrated-by-config")
	res := opasts.Run(t, e.dir, "migrate", "minio", "--out", e.migratedByConfig, "--config", cfg, "--iam-export", e.export)
	if res.Exit != 0 {
		t.Errorf("opa-sts migrate minio --config (exit %d):\n%s%s", res.Exit, res.Stdout, res.Stderr)
	}
	for i, s := range e.secrets {
		if s != "" && strings.Contains(res.Stdout+res.Stderr, s) {
			t.Errorf("opa-sts migrate minio --config printed secret #%d", i)
		}
	}
}

// checkMigrationOutput reads the report and checks that neither the data
// nor the report nor what the command printed holds a secret key.
func (e *env) checkMigrationOutput(t *testing.T, res opasts.Result) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.migrated, "data.json"))
	if err != nil {
		t.Fatalf("the migration wrote no data.json: %v", err)
	}
	var doc struct {
		OpaSts map[string]json.RawMessage `json:"opa_sts"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.OpaSts == nil {
		t.Fatalf("data.json is not {\"opa_sts\": {...}}: %v\n%.2000s", err, data)
	}
	t.Cleanup(func() {
		if t.Failed() {
			// What a disagreement is decided from, but the roles (the
			// canned policies, as given).
			short := map[string]json.RawMessage{}
			for k, v := range doc.OpaSts {
				if k != "roles" {
					short[k] = v
				}
			}
			raw, _ := json.MarshalIndent(short, "", "  ")
			t.Logf("migrated data.json without its roles:\n%s", raw)
		}
	})
	rep, err := os.ReadFile(filepath.Join(e.migrated, "migration-report.json"))
	if err != nil {
		t.Fatalf("the migration wrote no migration-report.json: %v", err)
	}
	if err := json.Unmarshal(rep, &e.report); err != nil {
		t.Fatalf("migration-report.json: %v\n%.2000s", err, rep)
	}
	for name, content := range map[string]string{
		"data.json": string(data), "migration-report.json": string(rep),
		"its standard output": res.Stdout, "its standard error": res.Stderr,
	} {
		for i, s := range e.secrets {
			if s != "" && strings.Contains(content, s) {
				t.Errorf("the migration's %s holds secret #%d (%d characters) of the IAM export", name, i, len(s))
			}
		}
	}
	t.Logf("migrated data: %d bytes; report: %d items, summary %v", len(data), len(e.report.Items), e.report.Summary)
}

// importInto loads A's IAM into s (B, A' or B'). MinIO's import adds
// group members but not a group's status (cmd/admin-handlers-users.go,
// importIAM), so disabled groups are disabled again, as an operator moving
// servers would.
func (e *env) importInto(t *testing.T, s *minioserver.Server) {
	t.Helper()
	root := map[string]string{"S": s.RootAlias()}
	out := mc(t, e.dir, root, "admin", "cluster", "iam", "import", "S", e.export)
	if strings.Contains(out, `"failed"`) && !strings.Contains(out, `"failed":{}`) {
		t.Logf("IAM import into %s: %s", s.URL, out)
	}
	for _, g := range minioGroups {
		if g.disabled {
			mc(t, e.dir, root, "admin", "group", "disable", "S", g.name)
		}
	}
	e.checkGroups(t, s)
}

// checkGroups: every group of s has the status the fixture gives it.
func (e *env) checkGroups(t *testing.T, s *minioserver.Server) {
	t.Helper()
	alias := map[string]string{"S": s.RootAlias()}
	for _, g := range minioGroups {
		info := mc(t, e.dir, alias, "admin", "group", "info", "S", g.name)
		want := `"groupStatus":"enabled"`
		if g.disabled {
			want = `"groupStatus":"disabled"`
		}
		if !strings.Contains(info, want) {
			t.Fatalf("group %s on %s: want %s, got %s", g.name, s.URL, want, info)
		}
	}
}

func (e *env) seedObjects(t *testing.T, c *minio.Client) {
	t.Helper()
	ctx := context.Background()
	for _, b := range buckets {
		if err := c.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("make bucket %s: %v", b, err)
		}
	}
	for _, k := range sortedKeys(e.seed) {
		e.putSeed(t, c, k)
	}
}

func (e *env) putSeed(t *testing.T, c *minio.Client, bucketKey string) {
	t.Helper()
	bucket, key, _ := strings.Cut(bucketKey, "/")
	body := e.seed[bucketKey]
	if _, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("root put %s on %s: %v", bucketKey, c.EndpointURL().Host, err)
	}
}

// restore puts bucket/key back as seeded on both servers of tr (after a
// write one of them allowed), so that no request sees another's side
// effect.
func (e *env) restore(t *testing.T, tr transport, bucket, key string) {
	t.Helper()
	for _, c := range e.roots[tr.a : tr.a+2] {
		if _, ok := e.seed[bucket+"/"+key]; ok {
			e.putSeed(t, c, bucket+"/"+key)
			continue
		}
		if err := c.RemoveObject(context.Background(), bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("root remove %s/%s on %s: %v", bucket, key, c.EndpointURL().Host, err)
		}
	}
}
