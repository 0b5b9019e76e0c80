// End-to-end tests of signed policy bundles served by a real HTTP server
// (nginx): opa-sts pulls and verifies them, a new revision changes STS
// decisions without a restart and is stamped into credentials and decision
// logs, a bundle with a bad signature or overlapping roots is refused while
// the previous revision stays active, and persist lets opa-sts start with
// the last good bundle while the bundle server is down.
package bundles_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/testkeys"
	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

const issuer = "https://idp.bundles.test"

var roots = []string{"sts", "s3", "httpapi", "system/log", "system/authz", "opa_sts"}

type fixture struct {
	dir    string
	idpKey *testkeys.Key
	signer string // bundle signing key (PEM file)
	pubPEM string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{dir: t.TempDir(), idpKey: testkeys.New(t, "ES256", "idp-key")}
	f.signer, f.pubPEM = rsaKeyPair(t, f.dir, "bundle-signing")
	return f
}

func rsaKeyPair(t *testing.T, dir, name string) (privFile, pubPEM string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	must(t, err)
	privFile = filepath.Join(dir, name+".pem")
	must(t, os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	must(t, err)
	return privFile, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

// bundle builds and signs a bundle of the default policies plus data that
// binds the given client, with the given manifest roots and revision.
func (f *fixture) bundle(t *testing.T, rev, boundClient string, manifestRoots []string, signingKey string) []byte {
	t.Helper()
	staging := filepath.Join(f.dir, "staging-"+rev)
	must(t, policies.WriteDefault(staging))
	jwksDoc := testkeys.JWKS(f.idpKey.PublicJWK(t, true))
	var jwks any
	must(t, json.Unmarshal(jwksDoc, &jwks))
	writeJSON(t, filepath.Join(staging, "data.json"), map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": issuer, "jwks": jwks, "audiences": []string{"sts"}}},
		"roles":     map[string]any{"rw": map[string]any{"statements": []any{map[string]any{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}}},
		"bindings":  []any{map[string]any{"role": "rw", "issuer": issuer, "clients": []string{boundClient}}},
	}})
	writeJSON(t, filepath.Join(staging, ".manifest"), map[string]any{"revision": rev, "roots": manifestRoots})
	out := filepath.Join(f.dir, rev+".tar.gz")
	run(t, f.dir, "build", "-b", staging, "--signing-key", signingKey, "--signing-alg", "RS256", "-o", out)
	data, err := os.ReadFile(out)
	must(t, err)
	return data
}

// dataBundle is a signed bundle of data only, under one root.
func (f *fixture) dataBundle(t *testing.T, rev, root, signingKey string) []byte {
	t.Helper()
	staging := filepath.Join(f.dir, "staging-"+rev)
	must(t, os.MkdirAll(filepath.Join(staging, filepath.FromSlash(root)), 0o700))
	writeJSON(t, filepath.Join(staging, filepath.FromSlash(root), "data.json"), map[string]any{"note": "overlaps the sts bundle"})
	writeJSON(t, filepath.Join(staging, ".manifest"), map[string]any{"revision": rev, "roots": []string{root}})
	out := filepath.Join(f.dir, rev+".tar.gz")
	run(t, f.dir, "build", "-b", staging, "--signing-key", signingKey, "--signing-alg", "RS256", "-o", out)
	data, err := os.ReadFile(out)
	must(t, err)
	return data
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	must(t, os.WriteFile(path, b, 0o600))
}

// startSTS runs opa-sts configured to pull the "sts" bundle (and an
// "extra" one) from the bundle server, with persistence.
func (f *fixture) startSTS(t *testing.T, bundleURL, stsAddr string) *opasts.Server {
	t.Helper()
	polling := map[string]any{"min_delay_seconds": 1, "max_delay_seconds": 1}
	cfg := filepath.Join(f.dir, "config.json")
	writeJSON(t, cfg, map[string]any{
		"services": map[string]any{"web": map[string]any{"url": bundleURL}},
		"bundles": map[string]any{
			"sts":   map[string]any{"service": "web", "resource": "sts.tar.gz", "persist": true, "polling": polling, "signing": map[string]any{"keyid": "bundle-key"}},
			"extra": map[string]any{"service": "web", "resource": "extra.tar.gz", "polling": polling, "signing": map[string]any{"keyid": "bundle-key"}},
		},
		"keys":                  map[string]any{"bundle-key": map[string]any{"key": f.pubPEM, "algorithm": "RS256"}},
		"persistence_directory": filepath.Join(f.dir, "persist"),
		"decision_logs":         map[string]any{"console": true},
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": "https://sts.bundles.test", "store": map[string]any{"type": "memory"},
				"keys": map[string]any{"dir": filepath.Join(f.dir, "sts-keys"), "generate": true}},
			"sts": map[string]any{"addr": stsAddr},
		},
	})
	return opasts.Start(t, f.dir, "-c", cfg)
}

// assume asks the STS for credentials for a client; it returns the HTTP
// status and, on success, the revision stamped into the session token.
func (f *fixture) assume(t *testing.T, stsAddr, client string) (int, string) {
	t.Helper()
	tok := f.idpKey.Sign(t, map[string]any{
		"iss": issuer, "aud": "sts", "sub": "svc-" + client, "azp": client,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}, nil)
	form := url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Version": {"2011-06-15"}, "Token": {tok}}
	resp, err := http.PostForm("http://"+stsAddr+"/", form)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`<SessionToken>([^<]+)</SessionToken>`).FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		return resp.StatusCode, ""
	}
	parts := strings.Split(string(m[1]), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Rev string `json:"rev"`
	}
	_ = json.Unmarshal(payload, &claims)
	return resp.StatusCode, claims.Rev
}

func TestSignedBundlesFromNginx(t *testing.T) {
	f := newFixture(t)
	web := startNginx(t)
	web.publish(t, "sts.tar.gz", f.bundle(t, "rev-1", "app-1", roots, f.signer))
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	srv := f.startSTS(t, web.URL, stsAddr)

	// The signed bundle is pulled, verified and decides.
	waitUntil(t, "revision rev-1 to decide", 30*time.Second, func() bool {
		status, rev := f.assume(t, stsAddr, "app-1")
		return status == 200 && rev == "rev-1"
	})
	if status, _ := f.assume(t, stsAddr, "app-2"); status != 403 {
		t.Fatalf("app-2 under rev-1: status %d, want 403", status)
	}
	if !strings.Contains(srv.Logs(), `"bundles":{"sts":{"revision":"rev-1"}}`) {
		t.Fatalf("the decision log does not name the bundle revision:\n%.3000s", srv.Logs())
	}

	// A new revision changes decisions without a restart.
	web.publish(t, "sts.tar.gz", f.bundle(t, "rev-2", "app-2", roots, f.signer))
	waitUntil(t, "revision rev-2 to decide", 30*time.Second, func() bool {
		status, rev := f.assume(t, stsAddr, "app-2")
		return status == 200 && rev == "rev-2"
	})
	if status, _ := f.assume(t, stsAddr, "app-1"); status != 403 {
		t.Fatalf("app-1 under rev-2: status %d, want 403", status)
	}

	// A bundle signed with another key is refused; rev-2 stays active.
	otherKey, _ := rsaKeyPair(t, f.dir, "attacker")
	web.publish(t, "sts.tar.gz", f.bundle(t, "rev-3-forged", "app-1", roots, otherKey))
	waitUntil(t, "the forged bundle to be refused", 30*time.Second, func() bool {
		return strings.Contains(srv.Logs(), "rev-3-forged") || strings.Contains(strings.ToLower(srv.Logs()), "verif")
	})
	time.Sleep(2500 * time.Millisecond) // several polls
	if status, rev := f.assume(t, stsAddr, "app-2"); status != 200 || rev != "rev-2" {
		t.Fatalf("after a forged bundle: status %d, revision %q; want rev-2 still active", status, rev)
	}
	if status, _ := f.assume(t, stsAddr, "app-1"); status != 403 {
		t.Fatalf("the forged bundle took effect (app-1: %d)", status)
	}

	// A second bundle whose roots overlap the first is refused.
	web.publish(t, "extra.tar.gz", f.dataBundle(t, "extra-1", "opa_sts/extra", f.signer))
	waitUntil(t, "the overlapping bundle to be refused", 30*time.Second, func() bool {
		return strings.Contains(srv.Logs(), "overlap")
	})
	if status, rev := f.assume(t, stsAddr, "app-2"); status != 200 || rev != "rev-2" {
		t.Fatalf("after an overlapping bundle: status %d, revision %q", status, rev)
	}

	// persist: the bundle server goes down and opa-sts restarts with the
	// last good bundle from its persistence directory.
	web.publish(t, "sts.tar.gz", f.bundle(t, "rev-2", "app-2", roots, f.signer))
	srv.Stop()
	web.Stop()
	srv2 := f.startSTS(t, web.URL, stsAddr)
	waitUntil(t, "the persisted bundle to decide", 30*time.Second, func() bool {
		status, rev := f.assume(t, stsAddr, "app-2")
		return status == 200 && rev == "rev-2"
	})
	_ = srv2
}
