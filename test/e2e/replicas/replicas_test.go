// Several opa-sts replicas on a real 3-node etcd cluster (Debian's
// etcd-server on loopback): credentials issued by one work through the
// other, a revocation on one is enforced by the other, killing the etcd
// leader loses no session and issuance continues, and with etcd gone
// issuance fails closed while issued sessions keep verifying.
package replicas_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

const client, secret = "replica-client", "replica-client-secret-0123456789"

type etcdNode struct {
	name, client string
	cmd          *exec.Cmd
}

func startCluster(t *testing.T) []*etcdNode {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd is not installed: .ci/run installs Debian's etcd-server")
	}
	dir := t.TempDir()
	var nodes []*etcdNode
	var peers []string
	peerURL := map[string]string{}
	for i := 1; i <= 3; i++ {
		n := &etcdNode{name: fmt.Sprintf("n%d", i), client: fmt.Sprintf("http://127.0.0.1:%d", opasts.FreePort(t))}
		peerURL[n.name] = fmt.Sprintf("http://127.0.0.1:%d", opasts.FreePort(t))
		peers = append(peers, n.name+"="+peerURL[n.name])
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		n.cmd = exec.Command(bin, "--name", n.name, "--data-dir", filepath.Join(dir, n.name),
			"--listen-client-urls", n.client, "--advertise-client-urls", n.client,
			"--listen-peer-urls", peerURL[n.name], "--initial-advertise-peer-urls", peerURL[n.name],
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "opa-sts-e2e", "--log-level", "error")
		must(t, n.cmd.Start())
		cmd := n.cmd
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	cli := etcdClient(t, nodes)
	defer cli.Close()
	waitForWrites(t, "the etcd cluster", cli)
	return nodes
}

// waitForWrites waits until etcd accepts a write through cli.
func waitForWrites(t *testing.T, what string, cli *clientv3.Client) {
	t.Helper()
	waitUntil(t, what, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := cli.Put(ctx, "/health", "ok")
		return err == nil
	})
}

func endpoints(nodes []*etcdNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.client)
	}
	return out
}

func etcdClient(t *testing.T, nodes []*etcdNode) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints(nodes), DialTimeout: 3 * time.Second})
	must(t, err)
	return cli
}

func startReplica(t *testing.T, h *idp.Hydra, nodes []*etcdNode, keysDir, name string) (api, sts string) {
	t.Helper()
	return startReplicaOn(t, h, map[string]any{"endpoints": endpoints(nodes), "request_timeout_seconds": 2}, keysDir, name)
}

// startReplicaOn starts a replica with the given plugins.sts_sessions.store.etcd.
func startReplicaOn(t *testing.T, h *idp.Hydra, etcdCfg map[string]any, keysDir, name string) (api, sts string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	policyDir := filepath.Join(dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	writeJSON(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": h.Issuer(), "discovery_url": h.DiscoveryURL(), "audiences": []string{"sts"}}},
		"bindings":  []any{map[string]any{"role": "r", "issuer": h.Issuer(), "clients": []string{client}}},
		"roles":     map[string]any{"r": map[string]any{"statements": []any{}}},
	}})
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{
			"sts_sessions": map[string]any{
				"issuer": "https://sts.replicas.opa-sts.test",
				"keys":   map[string]any{"dir": keysDir},
				"store":  map[string]any{"type": "etcd", "etcd": etcdCfg},
			},
			"sts": map[string]any{"addr": stsAddr},
		},
	})
	srv := opasts.Start(t, dir, "-c", filepath.Join(dir, "config.json"), policyDir)
	waitUntil(t, name+"'s STS listener", 15*time.Second, func() bool {
		resp, err := http.Get("http://" + stsAddr + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return srv.URL, "http://" + stsAddr
}

type creds struct{ akid, token, sessionID, subject string }

func assume(t *testing.T, stsURL, tok string) (int, creds) {
	t.Helper()
	form := url.Values{"Action": {"AssumeRoleWithClientGrants"}, "Version": {"2011-06-15"}, "Token": {tok}}
	resp, err := http.PostForm(stsURL+"/", form)
	if err != nil {
		return 0, creds{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, creds{}
	}
	between := func(s, a, z string) string {
		i := strings.Index(s, a)
		j := strings.Index(s, z)
		if i < 0 || j < 0 {
			return ""
		}
		return s[i+len(a) : j]
	}
	c := creds{akid: between(string(b), "<AccessKeyId>", "</AccessKeyId>"), token: between(string(b), "<SessionToken>", "</SessionToken>")}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(c.token, ".")[1])
	var claims struct{ Jti, Sub string }
	_ = json.Unmarshal(payload, &claims)
	c.sessionID, c.subject = claims.Jti, claims.Sub
	return 200, c
}

// verify asks a replica's OPA API to verify a session token.
func verify(t *testing.T, api string, c creds) map[string]any {
	t.Helper()
	return opasts.VerifySession(t, api, c.akid, c.token)
}

func sessionCount(t *testing.T, nodes []*etcdNode) int64 {
	cli := etcdClient(t, nodes)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/opa-sts/sessions/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	must(t, err)
	return resp.Count
}

func TestReplicasOnEtcd(t *testing.T) {
	nodes := startCluster(t)
	h := idp.StartHydra(t)
	h.CreateClient(t, client, secret, []string{"sts"}, nil)
	keysDir := filepath.Join(t.TempDir(), "keys")
	_, err := keyring.EnsureFiles(keysDir) // shared key files
	must(t, err)
	api1, sts1 := startReplica(t, h, nodes, keysDir, "replica-1")
	api2, sts2 := startReplica(t, h, nodes, keysDir, "replica-2")
	tok := h.Token(t, client, secret, []string{"sts"}, nil)

	// Issued by one, valid through the other; registered in etcd.
	status, a := assume(t, sts1, tok)
	if status != 200 {
		t.Fatalf("issue on replica 1: %d", status)
	}
	if r := verify(t, api2, a); r["valid"] != true {
		t.Fatalf("replica 2 does not accept replica 1's credentials: %v", r)
	}
	if n := sessionCount(t, nodes); n != 1 {
		t.Fatalf("%d sessions in etcd, want 1", n)
	}

	// A revocation on replica 1 is enforced by replica 2 (watch).
	_, b := assume(t, sts2, tok)
	revokeBody, _ := json.Marshal(map[string]string{"kind": "session", "value": b.sessionID, "reason": "e2e"})
	resp, err := http.Post(api1+"/v1/sts/revocations", "application/json", bytes.NewReader(revokeBody))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	waitUntil(t, "replica 2 to enforce the revocation", 5*time.Second, func() bool {
		r := verify(t, api2, b)
		e, _ := r["error"].(map[string]any)
		return r["valid"] == false && e["code"] == "revoked"
	})
	if r := verify(t, api2, a); r["valid"] != true {
		t.Fatalf("an unrevoked session was refused: %v", r)
	}

	// The subject revoked on replica 2 and issued new credentials on
	// replica 1 at once, within the same second: the old session is
	// refused everywhere, the new one is valid everywhere.
	revokeBody, _ = json.Marshal(map[string]string{"kind": "subject", "value": a.subject, "reason": "e2e: signed in again"})
	resp, err = http.Post(api2+"/v1/sts/revocations", "application/json", bytes.NewReader(revokeBody))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke the subject: %d", resp.StatusCode)
	}
	status, fresh := assume(t, sts1, tok)
	if status != 200 {
		t.Fatalf("issue after the subject's revocation: %d", status)
	}
	waitUntil(t, "both replicas to enforce the subject's revocation", 5*time.Second, func() bool {
		r1, r2 := verify(t, api1, a), verify(t, api2, a)
		return r1["valid"] == false && r2["valid"] == false
	})
	for _, api := range []string{api1, api2} {
		if r := verify(t, api, fresh); r["valid"] != true {
			t.Fatalf("credentials issued right after the subject's revocation were refused: %v", r)
		}
	}

	// Kill the etcd leader: no session is lost and issuance continues.
	leader := findLeader(t, nodes)
	_ = leader.cmd.Process.Kill()
	_ = leader.cmd.Wait()
	var c creds
	waitUntil(t, "issuance after the leader died", 20*time.Second, func() bool {
		var status int
		status, c = assume(t, sts2, tok)
		return status == 200
	})
	var alive []*etcdNode
	for _, n := range nodes {
		if n != leader {
			alive = append(alive, n)
		}
	}
	if n := sessionCount(t, alive); n < 3 {
		t.Fatalf("%d sessions in etcd after the leader died, want at least 3", n)
	}

	// etcd unreachable: issuance fails closed, issued sessions still verify.
	for _, n := range alive {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}
	start := time.Now()
	if status, _ := assume(t, sts1, tok); status != http.StatusServiceUnavailable {
		t.Fatalf("issuance with etcd down: status %d, want 503", status)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("issuance took %s to fail with etcd down", d)
	}
	for _, api := range []string{api1, api2} {
		if r := verify(t, api, c); r["valid"] != true {
			t.Fatalf("an issued session stopped verifying with etcd down: %v", r)
		}
	}
}

func findLeader(t *testing.T, nodes []*etcdNode) *etcdNode {
	t.Helper()
	cli := etcdClient(t, nodes)
	defer cli.Close()
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, n.client)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return n
		}
	}
	t.Fatal("no etcd leader")
	return nil
}

func writeJSON(t *testing.T, path string, v any) {
	b, err := json.Marshal(v)
	must(t, err)
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	must(t, os.WriteFile(path, b, 0o600))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
