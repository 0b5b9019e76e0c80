// End-to-end enforcement: credentials from the STS (hydra token, minio-go)
// used for S3 object operations on a real versitygw v1.8.0 whose
// --iam-standalone-endpoint is opa-sts's s3_iam plugin.
package enforce_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
	"github.com/opa-sts/opa-sts/test/e2e/testpki"
	"github.com/opa-sts/opa-sts/test/e2e/versitygw"
)

const (
	client, secret = "workload-s3", "workload-s3-secret-0123456789"
	shortClient    = "workload-short"
	rootAK, rootSK = "ROOTACCESSKEY0000001", "root-secret-key-0123456789abcdef"
	gwAK, gwSK     = "GATEWAYIAMCLIENT0001", "gateway-iam-secret-0123456789abcdef"
	stsIssuer      = "https://sts.enforce.opa-sts.test"
	bucket         = "e2e"
	bundleRevision = "enforce-e2e-1"
)

// gatewaySecretFile writes the gateway's IAM secret (versitygw's
// --iam-standalone-secret) where plugins.s3_iam.secret_key_file names it.
func gatewaySecretFile(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "gateway-iam-secret")
	must(t, os.MkdirAll(dir, 0o700))
	must(t, os.WriteFile(path, []byte(gwSK+"\n"), 0o600))
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t testing.TB, path string, v any) {
	b, err := json.Marshal(v)
	must(t, err)
	must(t, os.WriteFile(path, b, 0o600))
}

// env is opa-sts (STS and s3_iam) in front of versitygw, with a hydra IdP.
type env struct {
	iamEndpoint string
	hydra       *idp.Hydra
	srv         *opasts.Server
	stsAddr     string
	s3Addr      string
}

func startEnv(t testing.TB) *env { return startEnvWith(t, false) }

// startEnvWith connects versitygw to opa-sts over the unix socket, or, with
// mtls, over TCP with client certificates.
func startEnvWith(t testing.TB, mtls bool) *env {
	t.Helper()
	h := idp.StartHydra(t)
	h.CreateClient(t, client, secret, []string{"sts"}, nil)
	h.CreateClient(t, shortClient, secret, []string{"sts"}, nil)
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	writeEnforceData(t, policyDir, h)
	socket := filepath.Join(dir, "iam.sock")
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	keysDir := filepath.Join(dir, "keys")
	cfg := filepath.Join(dir, "config.json")
	iamCfg := map[string]any{"socket": socket, "access_key": gwAK, "secret_key_file": gatewaySecretFile(t, dir)}
	endpoint := socket
	var gwTLS []string
	if mtls {
		pki := testpki.New(t, filepath.Join(dir, "pki"))
		endpoint = "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
		delete(iamCfg, "socket")
		iamCfg["addr"] = endpoint
		iamCfg["tls"] = map[string]any{"cert_file": pki.ServerCert, "key_file": pki.ServerKey, "client_ca_file": pki.CA}
		gwTLS = []string{"--iam-standalone-client-cert", pki.ClientCert, "--iam-standalone-client-cert-key", pki.ClientKey, "--iam-standalone-server-ca", pki.CA}
	}
	writeJSON(t, cfg, map[string]any{
		"persistence_directory": dir,
		"decision_logs":         map[string]any{"console": true},
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": stsIssuer, "keys": map[string]any{"dir": keysDir, "generate": true}, "store": map[string]any{"type": "memory"}},
			"sts":          map[string]any{"addr": stsAddr},
			"s3_iam":       iamCfg,
		},
	})
	// Loaded as a bundle, so its revision is stamped into sessions and
	// decision-log entries.
	writeJSON(t, filepath.Join(policyDir, ".manifest"), map[string]any{"revision": bundleRevision})
	srv := opasts.Start(t, dir, "-c", cfg, "--bundle", policyDir)
	if !mtls {
		waitFor(t, func() bool { _, err := os.Stat(socket); return err == nil })
	}

	// The gateway secret is read from its file and never shown by OPA.
	opasts.ExpectConfigWithout(t, srv.URL, gwSK)

	// versitygw over a POSIX directory, asking opa-sts about every non-root request.
	s3Addr := startVersitygw(t, dir, endpoint, srv.Logs, gwTLS...)

	ctx := context.Background()
	root, err := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(rootAK, rootSK, ""), Region: "us-east-1"})
	must(t, err)
	must(t, root.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}))
	return &env{hydra: h, srv: srv, stsAddr: stsAddr, s3Addr: s3Addr, iamEndpoint: endpoint}
}

// writeEnforceData writes the STS policy data of the enforcement tests:
// the hydra provider, and the home role (own prefix under home/<sub>/)
// bound to the workload clients.
func writeEnforceData(t testing.TB, policyDir string, h *idp.Hydra) {
	home := "arn:aws:s3:::" + bucket + "/home/${jwt:sub}/*"
	writeJSON(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": h.Issuer(), "discovery_url": h.DiscoveryURL(), "audiences": []string{"sts"}}},
		"bindings": []any{
			map[string]any{"role": "home", "issuer": h.Issuer(), "clients": []string{client, shortClient}},
			map[string]any{"role": "short-lived", "issuer": h.Issuer(), "clients": []string{shortClient}},
		},
		"durations": map[string]any{"min": 60},
		"roles": map[string]any{"home": map[string]any{"statements": []any{
			map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, "Resource": home},
			map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::" + bucket,
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": "home/${jwt:sub}/*"}}},
		}}, "short-lived": map[string]any{"max_duration_seconds": 60, "statements": []any{}}},
	}})
}

// startVersitygw starts versitygw over a POSIX directory in dir, with the
// standalone IAM service at iamEndpoint, and returns its S3 address once
// it answers. iamLogs adds the IAM service's log to a failed test's output.
func startVersitygw(t testing.TB, dir, iamEndpoint string, iamLogs func() string, extra ...string) string {
	t.Helper()
	return versitygw.Start(t, dir, versitygw.Options{RootAccess: rootAK, RootSecret: rootSK, IAMAccess: gwAK, IAMSecret: gwSK,
		IAMEndpoint: iamEndpoint, Extra: extra, IAMLogs: iamLogs}).Addr
}

func TestVersitygwEnforcesSTSCredentials(t *testing.T) {
	e := startEnv(t)
	h, stsAddr, s3Addr := e.hydra, e.stsAddr, e.s3Addr
	ctx := context.Background()

	// Credentials for the workload, from its client_credentials token.
	tok := h.Token(t, client, secret, []string{"sts"}, nil)
	sts, err := miniocreds.NewSTSClientGrants("http://"+stsAddr, func() (*miniocreds.ClientGrantsToken, error) {
		return &miniocreds.ClientGrantsToken{Token: tok}, nil
	})
	must(t, err)
	v, err := sts.GetWithContext(nil)
	must(t, err)
	if !strings.HasPrefix(v.AccessKeyID, "ASIA") {
		t.Fatalf("access key %q is not a session key", v.AccessKeyID)
	}
	user, err := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken), Region: "us-east-1"})
	must(t, err)

	own := "home/" + client + "/hello.txt"
	content := []byte("hello from opa-sts")
	if _, err := user.PutObject(ctx, bucket, own, bytes.NewReader(content), int64(len(content)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put into the granted prefix: %v", err)
	}
	obj, err := user.GetObject(ctx, bucket, own, minio.GetObjectOptions{})
	must(t, err)
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("get: %q, %v", got, err)
	}
	var listed []string
	for o := range user.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "home/" + client + "/", Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list own prefix: %v", o.Err)
		}
		listed = append(listed, o.Key)
	}
	if len(listed) != 1 || listed[0] != own {
		t.Fatalf("listed %v", listed)
	}

	// Outside the grant: AccessDenied.
	_, err = user.PutObject(ctx, bucket, "home/someone-else/x.txt", bytes.NewReader(content), int64(len(content)), minio.PutObjectOptions{})
	expectCode(t, err, "AccessDenied")
	for o := range user.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "home/", Recursive: true}) {
		expectCode(t, o.Err, "AccessDenied")
		break
	}

	// A key that climbs out of the granted prefix is authorized as the key
	// it resolves to.
	secretData := []byte("someone else's")
	_, err = root(e).PutObject(ctx, bucket, "home/someone-else/secret.txt", bytes.NewReader(secretData), int64(len(secretData)), minio.PutObjectOptions{})
	must(t, err)
	for _, key := range []string{"home/" + client + "/../someone-else/secret.txt", "home/" + client + "//../someone-else/secret.txt"} {
		b, err := io.ReadAll(mustObj(user.GetObject(ctx, bucket, key, minio.GetObjectOptions{})))
		if err == nil || bytes.Equal(b, secretData) {
			t.Fatalf("GET %q read another user's object", key)
		}
	}

	// A tampered session token, and the credentials of one session with the token of another.
	parts := strings.Split(v.SessionToken, ".")
	forged, _ := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, parts[0]+"."+parts[1]+"x."+parts[2]), Region: "us-east-1"})
	_, err = io.ReadAll(mustObj(forged.GetObject(ctx, bucket, own, minio.GetObjectOptions{})))
	expectRefused(t, err)
	// A second session (minio-go caches credentials per provider).
	sts2, _ := miniocreds.NewSTSClientGrants("http://"+stsAddr, func() (*miniocreds.ClientGrantsToken, error) {
		return &miniocreds.ClientGrantsToken{Token: tok}, nil
	})
	w, err := sts2.GetWithContext(nil)
	must(t, err)
	mixed, _ := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, w.SessionToken), Region: "us-east-1"})
	_, err = io.ReadAll(mustObj(mixed.GetObject(ctx, bucket, own, minio.GetObjectOptions{})))
	expectRefused(t, err)
	// Revocation through the OPA API: the next S3 request is refused.
	revoke(t, e.srv.URL, "session", sessionID(t, w.SessionToken))
	second, _ := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(w.AccessKeyID, w.SecretAccessKey, w.SessionToken), Region: "us-east-1"})
	_, err = io.ReadAll(mustObj(second.GetObject(ctx, bucket, own, minio.GetObjectOptions{})))
	expectRefused(t, err)
	// The first session is untouched, until its subject is revoked.
	if _, err := io.ReadAll(mustObj(user.GetObject(ctx, bucket, own, minio.GetObjectOptions{}))); err != nil {
		t.Fatalf("an unrevoked session was refused: %v", err)
	}
	revoke(t, e.srv.URL, "client", client)
	_, err = io.ReadAll(mustObj(user.GetObject(ctx, bucket, own, minio.GetObjectOptions{})))
	expectRefused(t, err)

	// A session minted by another STS: its own keys, the same issuer name
	// and a grant that would allow everything. Refused.
	otherKeys, err := keyring.Generate()
	must(t, err)
	otherSTS, err := credentials.NewMinter(stsIssuer, otherKeys)
	must(t, err)
	details, _ := json.Marshal(map[string]any{"subject": client, "duration_seconds": 3600,
		"permissions": []any{map[string]any{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}})
	fc, err := otherSTS.Mint(credentials.Grant{Subject: client, Duration: time.Hour, Details: details}, time.Now())
	must(t, err)
	foreign, _ := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(fc.AccessKeyID, fc.SecretAccessKey, fc.SessionToken), Region: "us-east-1"})
	_, err = io.ReadAll(mustObj(foreign.GetObject(ctx, bucket, own, minio.GetObjectOptions{})))
	expectRefused(t, err)

	// A made-up key without a session token has no identity.
	stranger, _ := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4("ASIASTRANGER00000000", "x", ""), Region: "us-east-1"})
	_, err = io.ReadAll(mustObj(stranger.GetObject(ctx, bucket, own, minio.GetObjectOptions{})))
	expectRefused(t, err)

	// What happened shows on OPA's /metrics: keys derived, decisions of
	// each kind, refused tokens; and no secret in any of it.
	metrics := httpGet(t, e.srv.URL+"/metrics")
	for _, want := range []string{
		`opa_sts_s3iam_requests_total{endpoint="derive-signing-key",outcome="ok"} `,
		`opa_sts_s3iam_requests_total{endpoint="derive-signing-key",outcome="InvalidToken"} `,
		`opa_sts_s3iam_requests_total{endpoint="derive-signing-key",outcome="NoSuchIdentity"} `,
		`opa_sts_s3iam_requests_total{endpoint="evaluate-policy",outcome="ok"} `,
		`opa_sts_s3iam_decisions_total{decision="allow"} `,
		`opa_sts_s3iam_decisions_total{decision="no_match"} `,
		`opa_sts_s3iam_request_duration_seconds_count{endpoint="evaluate-policy"} `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	for _, secret := range []string{v.SecretAccessKey, v.SessionToken, w.SessionToken, v.AccessKeyID} {
		if strings.Contains(metrics, secret) {
			t.Error("/metrics contains a credential")
		}
	}

	// The decision log has the refusals (by default only those), with the
	// session token as a fingerprint; no secret is anywhere in the log.
	entries := s3iamDecisionLogs(t, e.srv.Logs())
	var sawNoMatch, sawRevoked bool
	for _, en := range entries {
		result, _ := en["result"].(map[string]any)
		if errObj, ok := result["error"].(map[string]any); ok && errObj["code"] == "InvalidToken" && strings.Contains(fmt.Sprint(errObj["message"]), "revoked") {
			sawRevoked = true
		}
		allAllowed := result["error"] == nil
		for _, row := range asSlice(result["decisions"]) {
			for _, d := range asSlice(row) {
				if d != "allow" {
					allAllowed = false
				}
				if d == "no_match" {
					sawNoMatch = true
				}
			}
		}
		if allAllowed {
			t.Errorf("an allowed request was logged without decision_logs.allowed: %v", en)
		}
		if !strings.Contains(fmt.Sprint(en["bundles"]), bundleRevision) {
			t.Errorf("an entry without the bundle revision: %v", en)
		}
	}
	if !sawNoMatch || !sawRevoked {
		t.Errorf("decision log: a no_match answer logged %v, a revoked session logged %v; entries:\n%v", sawNoMatch, sawRevoked, entries)
	}
	logs := e.srv.Logs()
	for _, secret := range []string{v.SecretAccessKey, w.SecretAccessKey, v.SessionToken, w.SessionToken} {
		if strings.Contains(logs, secret) {
			t.Error("the opa-sts log contains a secret key or a session token")
		}
	}
}

// s3iamDecisionLogs returns the decision-log entries of the s3_iam plugin
// in an opa-sts log (decision_logs.console).
func s3iamDecisionLogs(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var en map[string]any
		if json.Unmarshal([]byte(line), &en) != nil || en["msg"] != "Decision Log" {
			continue
		}
		if custom, _ := en["custom"].(map[string]any); custom["s3_iam"] != nil {
			out = append(out, en)
		}
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	return string(b)
}

// root is a client with versitygw's built-in root credentials.
func root(e *env) *minio.Client {
	c, _ := minio.New(e.s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(rootAK, rootSK, ""), Region: "us-east-1"})
	return c
}

func mustObj(o *minio.Object, err error) io.Reader {
	if err != nil {
		return errReader{err}
	}
	return o
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func expectCode(t *testing.T, err error, code string) {
	t.Helper()
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func expectRefused(t *testing.T, err error) {
	t.Helper()
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("want a 4xx refusal, got %v", err)
	}
}

func waitFor(t testing.TB, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func revoke(t *testing.T, apiURL, kind, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"kind": kind, "value": value, "reason": "e2e"})
	resp, err := http.Post(apiURL+"/v1/sts/revocations", "application/json", bytes.NewReader(body))
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("revoke %s %s: %d %s", kind, value, resp.StatusCode, b)
	}
}

func sessionID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var c struct {
		Jti string `json:"jti"`
	}
	must(t, json.Unmarshal(payload, &c))
	return c.Jti
}
