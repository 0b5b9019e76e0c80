package replicas_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
	"github.com/opa-sts/opa-sts/test/e2e/testpki"
)

// TestEtcdOverMutualTLS runs the session store on an etcd that serves its
// clients over TLS and requires client certificates, configured as
// docs/deployment.md shows (store.etcd.tls: ca_file, cert_file, key_file):
// issuance registers the session in etcd; a replica whose client
// certificate etcd does not trust fails closed.
func TestEtcdOverMutualTLS(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd is not installed: .ci/run installs Debian's etcd-server")
	}
	dir := t.TempDir()
	pki := testpki.New(t, filepath.Join(dir, "pki"))
	foreign := testpki.New(t, filepath.Join(dir, "foreign-pki"))
	clientURL := fmt.Sprintf("https://127.0.0.1:%d", opasts.FreePort(t))
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", opasts.FreePort(t))
	etcd := exec.Command(bin, "--name", "tls1", "--data-dir", filepath.Join(dir, "tls1"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "tls1="+peerURL, "--initial-cluster-state", "new",
		"--cert-file", pki.ServerCert, "--key-file", pki.ServerKey,
		"--client-cert-auth", "--trusted-ca-file", pki.CA, "--log-level", "error")
	must(t, etcd.Start())
	t.Cleanup(func() { _ = etcd.Process.Kill(); _ = etcd.Wait() })

	cli := tlsClient(t, clientURL, pki)
	defer cli.Close()
	waitForWrites(t, "etcd over TLS", cli)

	h := idp.StartHydra(t)
	h.CreateClient(t, client, secret, []string{"sts"}, nil)
	keysDir := filepath.Join(dir, "keys")
	_, err = keyring.EnsureFiles(keysDir)
	must(t, err)
	store := func(p testpki.PKI) map[string]any {
		return map[string]any{"endpoints": []string{clientURL}, "request_timeout_seconds": 2,
			"tls": map[string]any{"ca_file": pki.CA, "cert_file": p.ClientCert, "key_file": p.ClientKey}}
	}

	api, sts := startReplicaOn(t, h, store(pki), keysDir, "tls-replica")
	status, c := assume(t, sts, h.Token(t, client, secret, []string{"sts"}, nil))
	if status != 200 {
		t.Fatalf("issuance with the session store on etcd over mTLS: %d", status)
	}
	if r := verify(t, api, c); r["valid"] != true {
		t.Fatalf("session not valid: %v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/opa-sts/sessions/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	must(t, err)
	if resp.Count != 1 {
		t.Fatalf("%d sessions in etcd, want 1", resp.Count)
	}

	// A client certificate from another CA: etcd refuses the connection,
	// and issuance fails closed.
	_, stsForeign := startReplicaOn(t, h, store(foreign), keysDir, "foreign-replica")
	if status, _ := assume(t, stsForeign, h.Token(t, client, secret, []string{"sts"}, nil)); status != 503 {
		t.Fatalf("issuance with an untrusted etcd client certificate: %d, want 503", status)
	}
}

func tlsClient(t *testing.T, endpoint string, p testpki.PKI) *clientv3.Client {
	t.Helper()
	caPEM, err := os.ReadFile(p.CA)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	must(t, err)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 3 * time.Second,
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	must(t, err)
	return cli
}
