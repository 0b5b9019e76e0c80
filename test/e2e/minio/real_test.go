// The real MinIO community server with opa-sts as its policy plugin
// (every request decided by policies/httpapi/authz) and its identity plugin
// (AssumeRoleWithCustomToken decided by data.sts.minio.identity), with
// hydra as MinIO's OpenID provider, the panva oidc-provider issuing the
// custom tokens, and real clients: the client-grants example (minio-go),
// the AWS CLI, minio-go's custom-token credentials.
package minio_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/awscli"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/minioserver"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

const (
	hydraSecret  = "hydra-client-secret-0123456789"
	oidcSecret   = "oidc-client-secret-0123456789"
	minioClient  = "minio" // MinIO's OpenID client id: the audience of hydra tokens
	identityRole = "arn:minio:iam:::role/idmp-opa-sts"
	// MinIO insists that a claim-based token's policy claim names one of
	// its policies even when its policy plugin decides everything
	// (cmd/sts-handlers.go): hydra's scp claim carries a built-in name,
	// which nothing reads.
	policyScope = "readonly"
)

type realEnv struct {
	dir         string
	hydra       *idp.Hydra
	oidc        *idp.OIDCProvider
	opa         *opasts.Server
	minio       *minioserver.Server
	root        *minio.Client
	authTokens  []string // the plugins' auth tokens
	adminToken  string   // opa-sts's administrator token
	secretsSeen []string // every token and secret the test handled
}

func randomToken(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, path string, v any) {
	t.Helper()
	var raw []byte
	if s, ok := v.(string); ok {
		raw = []byte(s)
	} else {
		var err error
		raw, err = json.Marshal(v)
		must(t, err)
	}
	must(t, os.WriteFile(path, raw, 0o600))
}

// startReal starts the IdPs, then opa-sts, then MinIO (the documented
// order: MinIO started while its policy plugin is down serves root under
// its own IAM).
func startReal(t *testing.T) *realEnv {
	t.Helper()
	e := &realEnv{dir: t.TempDir()}
	e.hydra = idp.StartHydra(t)
	for _, c := range []string{"app", "cli", "stranger"} {
		e.hydra.CreateClient(t, c, hydraSecret, []string{minioClient}, []string{policyScope})
	}
	e.oidc = idp.StartOIDCProvider(t, idp.OIDCProviderConfig{Clients: []idp.OIDCClient{
		{ID: "analyst", Secret: oidcSecret, ExtraClaims: map[string]any{"sub": "analyst-1", "groups": []string{"/analysts"}}},
		{ID: "intern", Secret: oidcSecret, ExtraClaims: map[string]any{"sub": "intern-1", "groups": []string{"/interns"}}},
	}})

	policyDir := filepath.Join(e.dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	home := "arn:aws:s3:::data/home/${jwt:sub}/*"
	identityToken, policyToken, adminToken := randomToken(t), randomToken(t), randomToken(t)
	e.authTokens = []string{identityToken, policyToken, adminToken}
	e.adminToken = adminToken
	adminHash := sha256.Sum256([]byte(adminToken))
	writeFile(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"api": map[string]any{"admin_token_sha256": []string{hex.EncodeToString(adminHash[:])}},
		"providers": []any{
			map[string]any{"issuer": e.hydra.Issuer(), "discovery_url": e.hydra.DiscoveryURL(), "audiences": []string{minioClient}},
			map[string]any{"issuer": e.oidc.Issuer(), "discovery_url": e.oidc.DiscoveryURL(), "audiences": []string{idp.DefaultOIDCResource}},
		},
		"bindings": []any{
			map[string]any{"role": "home", "issuer": e.hydra.Issuer(), "clients": []string{"app", "cli"}},
			map[string]any{"role": "home", "issuer": e.oidc.Issuer(), "groups": []string{"/analysts"}},
			map[string]any{"role": "readers", "issuer": e.oidc.Issuer(), "groups": []string{"/analysts"}},
		},
		"roles": map[string]any{
			"home": map[string]any{"statements": []any{
				map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, "Resource": home},
				map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
					"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": "home/${jwt:sub}/*"}}},
				map[string]any{"Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": "arn:aws:s3:::data"},
				map[string]any{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::data/home/*/locked/*"},
			}},
			"readers": map[string]any{"statements": []any{
				map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"},
			}},
			"carol-files": map[string]any{"statements": []any{
				map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject"}, "Resource": "arn:aws:s3:::data/carol/*"},
			}},
		},
		"minio": minioData("allow"),
	}})

	tokenFile := filepath.Join(e.dir, "minio-identity.token")
	writeFile(t, tokenFile, identityToken+"\n")
	identityAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	cfg := filepath.Join(e.dir, "config.json")
	writeFile(t, cfg, map[string]any{
		"decision_logs": map[string]any{"console": true},
		"plugins": map[string]any{
			"minio_identity": map[string]any{"addr": identityAddr, "auth_token_file": tokenFile},
		},
	})
	e.opa = opasts.Start(t, e.dir, "-c", cfg, "--authentication=token", "--authorization=basic", policyDir)
	opasts.ExpectConfigWithoutAs(t, e.opa.URL, adminToken, identityToken)

	e.minio = minioserver.Start(t, e.dir,
		"MINIO_IDENTITY_OPENID_CONFIG_URL="+e.hydra.DiscoveryURL(),
		"MINIO_IDENTITY_OPENID_CLIENT_ID="+minioClient,
		"MINIO_IDENTITY_OPENID_CLAIM_NAME=scp",
		"MINIO_POLICY_PLUGIN_URL="+e.opa.URL+"/v1/data/httpapi/authz/allow",
		"MINIO_POLICY_PLUGIN_AUTH_TOKEN=Bearer "+policyToken,
		"MINIO_IDENTITY_PLUGIN_URL=http://"+identityAddr+"/minio/identity",
		"MINIO_IDENTITY_PLUGIN_AUTH_TOKEN=Bearer "+identityToken,
		"MINIO_IDENTITY_PLUGIN_ROLE_POLICY=decided-by-opa-sts",
		"MINIO_IDENTITY_PLUGIN_ROLE_ID=opa-sts",
	)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("opa-sts log:\n%s", e.opa.Logs())
		}
	})

	// Root is MinIO's owner, allowed by the default data: it sets up the buckets.
	var err error
	e.root, err = minio.New(e.minio.Addr, &minio.Options{Creds: miniocreds.NewStaticV4(minioserver.RootUser, minioserver.RootPassword, ""), Region: "us-east-1"})
	must(t, err)
	ctx := context.Background()
	for _, b := range []string{"data", "shared"} {
		must(t, e.root.MakeBucket(ctx, b, minio.MakeBucketOptions{}))
	}
	report := []byte("quarter,revenue\nq3,42\n")
	_, err = e.root.PutObject(ctx, "shared", "report.csv", bytes.NewReader(report), int64(len(report)), minio.PutObjectOptions{})
	must(t, err)
	return e
}

// minioData is data.opa_sts.minio: root's access, and roles for MinIO's
// own users and groups.
func minioData(owner string) map[string]any {
	return map[string]any{"owner": owner, "users": map[string]any{"carol": []string{"carol-files"}},
		"groups": map[string]any{"auditors": []string{"readers"}}}
}

// mc runs MinIO's client and fails the test when it fails.
func mc(t *testing.T, aliases map[string]string, args ...string) string {
	t.Helper()
	out, err := minioserver.MC(t, aliases, args...)
	if err != nil {
		t.Fatalf("mc %v: %v\n%s", args[:min(4, len(args))], err, out)
	}
	return out
}

// s3As is a minio-go client with temporary credentials.
func (e *realEnv) s3As(t *testing.T, v miniocreds.Value) *minio.Client {
	t.Helper()
	e.secretsSeen = append(e.secretsSeen, v.SecretAccessKey, v.SessionToken)
	c, err := minio.New(e.minio.Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken), Region: "us-east-1"})
	must(t, err)
	return c
}

func put(c *minio.Client, bucket, key string) error {
	body := []byte("content of " + key)
	_, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
	return err
}

func get(c *minio.Client, bucket, key string) error {
	o, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer o.Close()
	_, err = io.ReadAll(o)
	return err
}

func expectDenied(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed, want AccessDenied", what)
		return
	}
	if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
		t.Errorf("%s: %v (code %q), want AccessDenied", what, err, code)
	}
}

func expectAllowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// webIdentity runs `aws sts assume-role-with-web-identity` against MinIO.
func (e *realEnv) webIdentity(t *testing.T, token string, extra ...string) miniocreds.Value {
	t.Helper()
	e.secretsSeen = append(e.secretsSeen, token)
	out := awscli.MustRun(t, nil, append([]string{"sts", "assume-role-with-web-identity", "--endpoint-url", e.minio.URL,
		"--role-arn", "arn:minio:iam:::role/any", "--role-session-name", "e2e", "--web-identity-token", token}, extra...)...)
	var resp struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	must(t, json.Unmarshal([]byte(out), &resp))
	if resp.Credentials.AccessKeyId == "" {
		t.Fatalf("no credentials: %s", out)
	}
	return miniocreds.Value{AccessKeyID: resp.Credentials.AccessKeyId, SecretAccessKey: resp.Credentials.SecretAccessKey, SessionToken: resp.Credentials.SessionToken}
}

func (e *realEnv) awsS3(t *testing.T, v miniocreds.Value, args ...string) (string, error) {
	t.Helper()
	env := []string{"AWS_ACCESS_KEY_ID=" + v.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + v.SecretAccessKey, "AWS_SESSION_TOKEN=" + v.SessionToken}
	out, stderr, err := awscli.Run(t, env, append([]string{"s3"}, append(args, "--endpoint-url", e.minio.URL)...)...)
	return out + stderr, err
}

// customToken is AssumeRoleWithCustomToken with minio-go: MinIO asks
// opa-sts's identity plugin who the token's bearer is.
func (e *realEnv) customToken(t *testing.T, token string) (miniocreds.Value, error) {
	t.Helper()
	e.secretsSeen = append(e.secretsSeen, token)
	creds, err := miniocreds.NewCustomTokenCredentials(e.minio.URL, token, identityRole)
	must(t, err)
	return creds.GetWithContext(nil)
}

// customTokenRaw is the same call by hand, to read MinIO's error message.
func (e *realEnv) customTokenRaw(t *testing.T, token string) (int, string) {
	t.Helper()
	e.secretsSeen = append(e.secretsSeen, token)
	q := url.Values{"Action": {"AssumeRoleWithCustomToken"}, "Version": {"2011-06-15"}, "RoleArn": {identityRole}, "Token": {token}}
	resp, err := http.Post(e.minio.URL+"/?"+q.Encode(), "application/x-www-form-urlencoded", nil)
	must(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestRealMinIO(t *testing.T) {
	e := startReal(t)
	ctx := context.Background()

	t.Run("client-grants example", func(t *testing.T) {
		bin := opasts.BuildExample(t, "client-grants")
		run := func(prefix string) (string, error) {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(cctx, bin, "-token-url", e.hydra.TokenURL(), "-client-id", "app", "-audience", minioClient, "-scope", policyScope,
				"-sts", e.minio.URL, "-s3", e.minio.Addr, "-bucket", "data", "-prefix", prefix)
			cmd.Env = append(os.Environ(), "CLIENT_SECRET="+hydraSecret)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		out, err := run("home/app/")
		if err != nil || !strings.Contains(out, "6. deleted") || !strings.Contains(out, "done") {
			t.Fatalf("example against MinIO: %v\n%s", err, out)
		}
		out, err = run("home/cli/")
		if err == nil || !strings.Contains(out, "Access Denied") {
			t.Fatalf("another's home: %v\n%s", err, out)
		}
	})

	t.Run("web identity with the AWS CLI, ${jwt:sub} homes", func(t *testing.T) {
		v := e.webIdentity(t, e.hydra.Token(t, "cli", hydraSecret, []string{minioClient}, []string{policyScope}))
		src := filepath.Join(t.TempDir(), "notes.txt")
		writeFile(t, src, "notes")
		if out, err := e.awsS3(t, v, "cp", src, "s3://data/home/cli/notes.txt"); err != nil {
			t.Fatalf("cp to own home: %v\n%s", err, out)
		}
		if out, err := e.awsS3(t, v, "ls", "s3://data/home/cli/"); err != nil || !strings.Contains(out, "notes.txt") {
			t.Fatalf("ls own home: %v\n%s", err, out)
		}
		if out, err := e.awsS3(t, v, "cp", src, "s3://data/home/app/notes.txt"); err == nil || !strings.Contains(out, "AccessDenied") {
			t.Fatalf("cp to another's home: %v\n%s", err, out)
		}
		if out, err := e.awsS3(t, v, "ls", "s3://data/home/app/"); err == nil || !strings.Contains(out, "AccessDenied") {
			t.Fatalf("ls another's home: %v\n%s", err, out)
		}
	})

	t.Run("a session policy only narrows", func(t *testing.T) {
		policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::data/home/cli/public/*"},{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}`
		c := e.s3As(t, e.webIdentity(t, e.hydra.Token(t, "cli", hydraSecret, []string{minioClient}, []string{policyScope}), "--policy", policy))
		expectAllowed(t, "put inside the session policy and the role", put(c, "data", "home/cli/public/a.txt"))
		expectDenied(t, "put inside the role, outside the session policy", put(c, "data", "home/cli/private.txt"))
		expectDenied(t, "get inside the session policy, outside the role", get(c, "shared", "report.csv"))
	})

	t.Run("explicit deny", func(t *testing.T) {
		c := e.s3As(t, e.webIdentity(t, e.hydra.Token(t, "cli", hydraSecret, []string{minioClient}, []string{policyScope})))
		expectAllowed(t, "put under locked/", put(c, "data", "home/cli/locked/keep.txt"))
		expectDenied(t, "delete under locked/", c.RemoveObject(ctx, "data", "home/cli/locked/keep.txt", minio.RemoveObjectOptions{}))
		expectAllowed(t, "delete elsewhere in the home", c.RemoveObject(ctx, "data", "home/cli/notes.txt", minio.RemoveObjectOptions{}))
	})

	t.Run("custom token with minio-go, groups", func(t *testing.T) {
		v, err := e.customToken(t, e.oidc.Token(t, "analyst", oidcSecret, "", nil))
		if err != nil {
			t.Fatalf("AssumeRoleWithCustomToken: %v", err)
		}
		c := e.s3As(t, v)
		expectAllowed(t, "get shared (group /analysts → readers)", get(c, "shared", "report.csv"))
		expectDenied(t, "put shared", put(c, "shared", "mine.csv"))
		// The token's subject, not MinIO's "custom:analyst-1", is ${jwt:sub}.
		expectAllowed(t, "put own home", put(c, "data", "home/analyst-1/a.txt"))
		expectDenied(t, "put another's home", put(c, "data", "home/cli/a.txt"))

		// The identity plugin refuses an identity with no role, with the
		// reason, before MinIO mints anything.
		if _, err = e.customToken(t, e.oidc.Token(t, "intern", oidcSecret, "", nil)); err == nil {
			t.Fatal("an unbound custom token got credentials")
		}
		// minio-go shows only the status; MinIO's answer has the reason.
		status, body := e.customTokenRaw(t, e.oidc.Token(t, "intern", oidcSecret, "", nil))
		if status == http.StatusOK || !strings.Contains(body, "no role is bound to this identity") {
			t.Fatalf("unbound custom token: %d %s", status, body)
		}
		_, err = e.customToken(t, "not-a-token")
		if err == nil {
			t.Fatal("a garbage custom token got credentials")
		}
	})

	t.Run("an unbound identity can do nothing", func(t *testing.T) {
		c := e.s3As(t, e.webIdentity(t, e.hydra.Token(t, "stranger", hydraSecret, []string{minioClient}, []string{policyScope})))
		expectDenied(t, "list buckets", func() error { _, err := c.ListBuckets(ctx); return err }())
		expectDenied(t, "get shared", get(c, "shared", "report.csv"))
		expectDenied(t, "put into its would-be home", put(c, "data", "home/stranger/x"))
	})

	t.Run("MinIO's own users and groups", func(t *testing.T) {
		const carolSecret = "carol-secret-0123456789"
		e.secretsSeen = append(e.secretsSeen, carolSecret)
		root := map[string]string{"root": e.minio.RootAlias()}
		mc(t, root, "admin", "user", "add", "root", "carol", carolSecret)
		carol := e.s3As(t, miniocreds.Value{AccessKeyID: "carol", SecretAccessKey: carolSecret})
		expectAllowed(t, "carol's own prefix (data.opa_sts.minio.users)", put(carol, "data", "carol/a.txt"))
		expectDenied(t, "outside it", put(carol, "data", "elsewhere.txt"))
		expectDenied(t, "shared", get(carol, "shared", "report.csv"))
		// MinIO sends the plugin no groups for its own users (input.groups
		// is null: it only carries LDAP groups), so joining a MinIO group
		// changes nothing here; docs/minio.md says so.
		mc(t, root, "admin", "group", "add", "root", "auditors", "carol")
		expectDenied(t, "shared as a member of MinIO's group auditors", get(carol, "shared", "report.csv"))

		// A service account root creates for carol is carol's (its parent).
		out := mc(t, root, "admin", "user", "svcacct", "add", "root", "carol")
		var sa struct{ AccessKey, SecretKey string }
		must(t, json.Unmarshal([]byte(out), &sa))
		e.secretsSeen = append(e.secretsSeen, sa.SecretKey)
		svc := e.s3As(t, miniocreds.Value{AccessKeyID: sa.AccessKey, SecretAccessKey: sa.SecretKey})
		expectAllowed(t, "carol's service account, carol's prefix", put(svc, "data", "carol/from-svc.txt"))
		expectDenied(t, "carol's service account, elsewhere", put(svc, "data", "elsewhere.txt"))
	})

	t.Run("service accounts of an STS session carry its identity", func(t *testing.T) {
		v := e.webIdentity(t, e.hydra.Token(t, "cli", hydraSecret, []string{minioClient}, []string{policyScope}))
		e.secretsSeen = append(e.secretsSeen, v.SecretAccessKey, v.SessionToken)
		sts := map[string]string{"sts": "http://" + v.AccessKeyID + ":" + v.SecretAccessKey + ":" + v.SessionToken + "@" + e.minio.Addr}
		add := func(extra ...string) *minio.Client {
			out := mc(t, sts, append([]string{"admin", "user", "svcacct", "add", "sts", v.AccessKeyID}, extra...)...)
			var sa struct{ AccessKey, SecretKey string }
			must(t, json.Unmarshal([]byte(out), &sa))
			if sa.AccessKey == "" || sa.SecretKey == "" {
				t.Fatalf("mc svcacct add: %s", out)
			}
			return e.s3As(t, miniocreds.Value{AccessKeyID: sa.AccessKey, SecretAccessKey: sa.SecretKey})
		}
		svc := add()
		expectAllowed(t, "the parent's home", put(svc, "data", "home/cli/from-svc.txt"))
		expectDenied(t, "another home", put(svc, "data", "home/app/from-svc.txt"))

		policy := filepath.Join(t.TempDir(), "svc-policy.json")
		writeFile(t, policy, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::data/home/cli/public/*"}]}`)
		narrow := add("--policy", policy)
		expectAllowed(t, "inside the embedded policy", put(narrow, "data", "home/cli/public/x.txt"))
		expectDenied(t, "outside the embedded policy, inside the parent's role", put(narrow, "data", "home/cli/private.txt"))
	})

	t.Run("root is the operator's choice", func(t *testing.T) {
		setOwner := func(owner string) {
			t.Helper()
			body, _ := json.Marshal(minioData(owner))
			req, _ := http.NewRequest(http.MethodPut, e.opa.URL+"/v1/data/opa_sts/minio", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.adminToken)
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("PUT data.opa_sts.minio: %d", resp.StatusCode)
			}
		}
		setOwner("deny")
		expectDenied(t, "root with owner: deny", put(e.root, "shared", "root.txt"))
		setOwner("allow")
		expectAllowed(t, "root with owner: allow", put(e.root, "shared", "root.txt"))
	})

	t.Run("no secret in any log", func(t *testing.T) {
		logs := e.opa.Logs() + e.minio.Logs()
		if !strings.Contains(e.opa.Logs(), `"msg":"Decision Log"`) {
			t.Fatal("no decision logs at all: the check would prove nothing")
		}
		for i, s := range append(append([]string{}, e.authTokens...), e.secretsSeen...) {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("secret #%d (%d chars) appears in the logs", i, len(s))
			}
		}
	})

	t.Run("opa-sts down: MinIO refuses everyone", func(t *testing.T) {
		c := e.s3As(t, e.webIdentity(t, e.hydra.Token(t, "cli", hydraSecret, []string{minioClient}, []string{policyScope})))
		expectAllowed(t, "before", put(c, "data", "home/cli/before.txt"))
		e.opa.Stop()
		expectDenied(t, "the same credentials", put(c, "data", "home/cli/after.txt"))
		expectDenied(t, "root", put(e.root, "data", "root.txt"))
		if _, err := e.customToken(t, e.oidc.Token(t, "analyst", oidcSecret, "", nil)); err == nil {
			t.Error("AssumeRoleWithCustomToken succeeded with the identity plugin down")
		}
	})
}
