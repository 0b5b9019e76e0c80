package enforce_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// etcdNode is one etcd (Debian's etcd-server) on loopback, restartable on
// the same ports and data.
type etcdNode struct {
	t                 *testing.T
	dir, client, peer string
	cmd               *exec.Cmd
}

func startEtcd(t *testing.T) *etcdNode {
	t.Helper()
	n := &etcdNode{t: t, dir: filepath.Join(t.TempDir(), "etcd"),
		client: fmt.Sprintf("http://127.0.0.1:%d", opasts.FreePort(t)),
		peer:   fmt.Sprintf("http://127.0.0.1:%d", opasts.FreePort(t))}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *etcdNode) start() {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		n.t.Fatal("etcd is not installed: .ci/run installs Debian's etcd-server")
	}
	n.cmd = exec.Command(bin, "--name", "n1", "--data-dir", n.dir,
		"--listen-client-urls", n.client, "--advertise-client-urls", n.client,
		"--listen-peer-urls", n.peer, "--initial-advertise-peer-urls", n.peer,
		"--initial-cluster", "n1="+n.peer, "--initial-cluster-state", "new", "--log-level", "error")
	must(n.t, n.cmd.Start())
	waitFor(n.t, func() bool {
		resp, err := http.Get(n.client + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (n *etcdNode) stop() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// sessionsOnEtcd is plugins.sts_sessions of every replica: the same
// issuer, the same key files, the same etcd.
func sessionsOnEtcd(keysDir string, n *etcdNode) map[string]any {
	return map[string]any{
		"issuer": stsIssuer,
		"keys":   map[string]any{"dir": keysDir},
		"store": map[string]any{"type": "etcd", "etcd": map[string]any{
			"endpoints": []string{n.client}, "request_timeout_seconds": 2, "dial_timeout_seconds": 1}},
	}
}

// enforcementReplica is an opa-sts that runs only s3_iam next to a
// versitygw: no STS listener, no dev issuer, only the session authority
// and the request-time policy. Its persistence directory (and so its
// snapshot of the revocations) is dir.
func startEnforcementReplica(t *testing.T, dir, socket, keysDir string, n *etcdNode) *opasts.Server {
	t.Helper()
	policyDir := filepath.Join(dir, "policy")
	must(t, os.MkdirAll(policyDir, 0o700))
	must(t, policies.WriteDefault(policyDir))
	cfg := filepath.Join(dir, "config.json")
	writeJSON(t, cfg, map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{
			"sts_sessions": sessionsOnEtcd(keysDir, n),
			"s3_iam":       map[string]any{"socket": socket, "access_key": gwAK, "secret_key_file": gatewaySecretFile(t, dir)},
		},
	})
	srv := opasts.Start(t, dir, "-c", cfg, policyDir)
	waitFor(t, func() bool { _, err := os.Stat(socket); return err == nil })
	return srv
}

func pluginsHealth(t *testing.T, apiURL string) int {
	t.Helper()
	resp, err := http.Get(apiURL + "/health?plugins")
	must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// The deployment docs/deployment.md describes: an STS replica and, next
// to versitygw, a replica that runs only enforcement, sharing the keys
// and an etcd. Sessions minted by the one are enforced by the other,
// allowed and denied by policy; a revocation written through the STS
// replica reaches the enforcement replica by etcd's watch; the
// enforcement replica restarted while etcd is down still enforces it
// (local snapshot), and one that has never seen the revocations refuses
// every session and is not healthy.
func TestEnforcementReplicaOnEtcd(t *testing.T) {
	etcd := startEtcd(t)
	h := idp.StartHydra(t)
	h.CreateClient(t, client, secret, []string{"sts"}, nil)
	dir := t.TempDir()
	keysDir := filepath.Join(dir, "keys")
	_, err := keyring.EnsureFiles(keysDir)
	must(t, err)

	// The STS replica: sessions on etcd, no enforcement.
	stsDir := filepath.Join(dir, "sts")
	stsPolicy := filepath.Join(stsDir, "policy")
	must(t, os.MkdirAll(stsPolicy, 0o700))
	must(t, policies.WriteDefault(stsPolicy))
	writeEnforceData(t, stsPolicy, h)
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	writeJSON(t, filepath.Join(stsDir, "config.json"), map[string]any{
		"persistence_directory": stsDir,
		"plugins": map[string]any{
			"sts_sessions": sessionsOnEtcd(keysDir, etcd),
			"sts":          map[string]any{"addr": stsAddr},
		},
	})
	stsSrv := opasts.Start(t, stsDir, "-c", filepath.Join(stsDir, "config.json"), stsPolicy)
	waitFor(t, func() bool { return pluginsHealth(t, stsSrv.URL) == http.StatusOK })

	// The enforcement replica and its versitygw.
	enfDir := filepath.Join(dir, "enforce")
	socket := filepath.Join(enfDir, "iam.sock")
	enf := startEnforcementReplica(t, enfDir, socket, keysDir, etcd)
	waitFor(t, func() bool { return pluginsHealth(t, enf.URL) == http.StatusOK })
	s3Addr := startVersitygw(t, enfDir, socket, func() string { return enf.Logs() })
	ctx := context.Background()
	rootCli, err := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(rootAK, rootSK, ""), Region: "us-east-1"})
	must(t, err)
	must(t, rootCli.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}))

	tok := h.Token(t, client, secret, []string{"sts"}, nil)
	type creds struct{ akid, token string }
	session := func() (*minio.Client, string, creds) {
		p, err := miniocreds.NewSTSClientGrants("http://"+stsAddr, func() (*miniocreds.ClientGrantsToken, error) {
			return &miniocreds.ClientGrantsToken{Token: tok}, nil
		})
		must(t, err)
		v, err := p.GetWithContext(nil)
		must(t, err)
		c, err := minio.New(s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken), Region: "us-east-1"})
		must(t, err)
		return c, sessionID(t, v.SessionToken), creds{v.AccessKeyID, v.SessionToken}
	}
	put := func(c *minio.Client, key string) error {
		body := []byte("replica")
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		return err
	}
	get := func(c *minio.Client, key string) error {
		_, err := io.ReadAll(mustObj(c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})))
		return err
	}
	own := "home/" + client + "/replica.txt"
	revoked, revokedID, _ := session()
	kept, _, kc := session()

	// Allowed and denied by the enforcement replica's policy.
	must(t, put(revoked, own))
	must(t, get(kept, own))
	expectCode(t, put(kept, "home/someone-else/x.txt"), "AccessDenied")

	// Revoked through the STS replica; enforced by the other one.
	revoke(t, stsSrv.URL, "session", revokedID)
	waitFor(t, func() bool { return get(revoked, own) != nil })
	expectRefused(t, get(revoked, own))
	must(t, get(kept, own))

	// Restarted while etcd is down: the snapshot still knows the revocation.
	enf.Stop()
	etcd.stop()
	enf = startEnforcementReplica(t, enfDir, socket, keysDir, etcd)
	if code := pluginsHealth(t, enf.URL); code != http.StatusOK {
		t.Fatalf("/health?plugins = %d after a restart with a snapshot, want 200:\n%s", code, enf.Logs())
	}
	expectRefused(t, get(revoked, own))
	must(t, get(kept, own))

	// A replica that has never loaded the revocations (no snapshot, etcd
	// down) verifies nothing and says it is not ready.
	freshDir := filepath.Join(dir, "fresh")
	fresh := startEnforcementReplica(t, freshDir, filepath.Join(freshDir, "iam.sock"), keysDir, etcd)
	if code := pluginsHealth(t, fresh.URL); code == http.StatusOK {
		t.Fatal("/health?plugins = 200 without revocations")
	}
	r := opasts.VerifySession(t, fresh.URL, kc.akid, kc.token)
	if r["valid"] != false || r["error"].(map[string]any)["code"] != "not_ready" {
		t.Fatalf("a replica without revocations verified a session: %v", r)
	}

	// etcd back: the fresh replica loads the revocations and turns ready.
	etcd.start()
	waitFor(t, func() bool { return pluginsHealth(t, fresh.URL) == http.StatusOK })
	r = opasts.VerifySession(t, fresh.URL, kc.akid, kc.token)
	if r["valid"] != true {
		t.Fatalf("after etcd came back: %v", r)
	}
}
