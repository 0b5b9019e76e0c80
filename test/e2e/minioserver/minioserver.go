// Package minioserver starts the real MinIO community server (its last
// community commit, built from the Go module proxy by
// scripts/build-tools.sh) as a separate process for end-to-end tests and
// benchmarks. MinIO is AGPL: it is only ever run, never imported.
package minioserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// Version is the MinIO module version the tests pin (scripts/build-tools.sh).
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Root credentials of every test server.
const (
	RootUser     = "minio-root-user"
	RootPassword = "minio-root-password-for-tests"
)

// Binary returns the cached MinIO binary.
func Binary(t testing.TB) string {
	return opasts.ToolBinary(t, "minio-"+Version, "minio")
}

// Server is a running MinIO.
type Server struct {
	// Addr is the S3 (and STS) endpoint, host:port; URL is http://Addr,
	// or https://Addr for a server StartTLS started.
	Addr, URL string
	// CA is the file of the CA that issued a StartTLS server's
	// certificate ("" for plain HTTP).
	CA string
	// Client is an HTTP client for URL (it trusts CA).
	Client *http.Client
	cmd    *exec.Cmd
	logs   *opasts.SyncBuffer
	done   chan struct{}
}

// TLS names the PEM files a server serves HTTPS with: its certificate
// (for 127.0.0.1) and private key, and the CA that issued them
// (test/e2e/testpki's PKI: Cert ServerCert, Key ServerKey, CA CA).
type TLS struct {
	Cert, Key, CA string
}

// Start runs `minio server` over a fresh directory under dir with env
// (MINIO_* settings, "KEY=VALUE") on free loopback ports, and returns once
// /minio/health/ready answers 200. It is killed at cleanup; its log is
// printed when the test failed.
func Start(t testing.TB, dir string, env ...string) *Server {
	t.Helper()
	return start(t, dir, nil, env)
}

// StartTLS is Start for a server that serves HTTPS (only) with the
// certificate of cert: MinIO serves TLS when its --certs-dir holds
// public.crt and private.key.
func StartTLS(t testing.TB, dir string, cert TLS, env ...string) *Server {
	t.Helper()
	return start(t, dir, &cert, env)
}

func start(t testing.TB, dir string, cert *TLS, env []string) *Server {
	t.Helper()
	data, err := os.MkdirTemp(dir, "minio-data-")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	console := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	args := []string{"server", data, "--address", addr, "--console-address", console, "--quiet"}
	s := &Server{Addr: addr, URL: "http://" + addr, logs: &opasts.SyncBuffer{}, done: make(chan struct{}),
		Client: &http.Client{Transport: &http.Transport{Proxy: nil}}}
	if cert != nil {
		certs, err := os.MkdirTemp(dir, "minio-certs-")
		if err != nil {
			t.Fatal(err)
		}
		for from, to := range map[string]string{cert.Cert: "public.crt", cert.Key: "private.key"} {
			raw, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(certs, to), raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		ca, err := os.ReadFile(cert.CA)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			t.Fatalf("no certificate in %s", cert.CA)
		}
		args = append(args, "--certs-dir", certs)
		s.URL, s.CA = "https://"+addr, cert.CA
		s.Client.Transport = &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append([]string{
		"HOME=" + dir,
		"PATH=" + os.Getenv("PATH"),
		"MINIO_ROOT_USER=" + RootUser,
		"MINIO_ROOT_PASSWORD=" + RootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on",
	}, env...)
	s.cmd = cmd
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("MinIO log:\n%s", s.Logs())
		}
	})
	if err := s.waitReady(60 * time.Second); err != nil {
		t.Fatalf("MinIO not ready: %v\n%s", err, s.Logs())
	}
	return s
}

func (s *Server) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		select {
		case <-s.done:
			return fmt.Errorf("minio exited")
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/minio/health/ready", nil)
		resp, err := s.Client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no 200 from /minio/health/ready: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Logs returns what MinIO printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// PID is the server's process id (for RSS measurements).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop kills the server and waits for it (idempotent).
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// MCVersion is the version of MinIO's client the tests pin.
const MCVersion = "v0.0.0-20250313080218-cf909e1063a9"

// MC runs MinIO's client (`mc --json args...`, AGPL, only ever run) with
// the aliases given as alias → "http://ACCESS:SECRET[:TOKEN]@host:port"
// (MC_HOST_<alias>) and a throwaway configuration directory. It returns
// the output and the error of the run.
func MC(t testing.TB, aliases map[string]string, args ...string) (string, error) {
	t.Helper()
	bin := opasts.ToolBinary(t, "mc-"+MCVersion, "mc")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--json", "--no-color", "--config-dir", t.TempDir()}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for alias, url := range aliases {
		cmd.Env = append(cmd.Env, "MC_HOST_"+alias+"="+url)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// RootAlias is MC's alias URL for the server's root credentials (https://
// for a StartTLS server: mc must then trust CA, e.g. by SSL_CERT_FILE).
func (s *Server) RootAlias() string {
	scheme, _, _ := strings.Cut(s.URL, "://")
	return scheme + "://" + RootUser + ":" + RootPassword + "@" + s.Addr
}
