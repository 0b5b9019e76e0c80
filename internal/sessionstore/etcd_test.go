package sessionstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/opa-sts/opa-sts/internal/sessionstore"
	"github.com/opa-sts/opa-sts/internal/sessionstore/sessionstoretest"

	"github.com/opa-sts/opa-sts/test/e2e/freeport"
)

func freePort(t *testing.T) int {
	return freeport.Port(t)
}

// startEtcd runs a single-node etcd (Debian's etcd-server) on loopback.
func startEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd is not installed: .ci/run installs Debian's etcd-server")
	}
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--name", "n1", "--data-dir", filepath.Join(dir, "n1.etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "n1="+peer, "--initial-cluster-state", "new", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	cli := etcdClient(t, client)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cli.Close()
	return client
}

func etcdClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func TestEtcdConformance(t *testing.T) {
	endpoint := startEtcd(t)
	n := 0
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store {
		n++
		return sessionstore.OpenEtcd(etcdClient(t, endpoint), sessionstore.EtcdOptions{Prefix: fmt.Sprintf("/conformance-%d/", n)})
	})
}

func TestEtcdFollowReachesOtherReplicas(t *testing.T) {
	endpoint := startEtcd(t)
	a := sessionstore.OpenEtcd(etcdClient(t, endpoint), sessionstore.EtcdOptions{})
	b := sessionstore.OpenEtcd(etcdClient(t, endpoint), sessionstore.EtcdOptions{})
	defer a.Close()
	defer b.Close()
	view := sessionstore.NewRevocationView()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Follow(ctx, view, t.Logf)
	now := time.Now()
	s := sessionstore.Session{ID: "s1", Subject: "alice", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
	if view.IsRevoked(s) {
		t.Fatal("revoked before any revocation")
	}
	if err := a.Revoke(context.Background(), sessionstore.Revocation{Kind: sessionstore.KindSubject, Value: "alice", At: now}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !view.IsRevoked(s) {
		if time.Now().After(deadline) {
			t.Fatal("a revocation on replica a did not reach replica b's view")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
