// Package devgateway runs versitygw (a POSIX S3 gateway, Apache-2.0) as a
// child process for `opa-sts dev`: an S3 endpoint over a folder whose
// every request is authorized by opa-sts's s3_iam plugin. It is a child
// process, not a library: linking versitygw would put its whole
// dependency tree (cloud SDKs, message queues, LDAP...) and some 40 MB
// into every opa-sts binary, production included, for a development
// convenience.
package devgateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Version is the versitygw release opa-sts is tested with (the one
// scripts/build-tools.sh builds).
const Version = "v1.8.0"

// InstallHint says how to get versitygw.
const InstallHint = "run `make run` from a clone (it builds it), `bash scripts/build-tools.sh versitygw`, " +
	"or `go install github.com/versity/versitygw/cmd/versitygw@" + Version + "`; or name it with --versitygw PATH"

// Find returns the versitygw binary: explicit when given, else the one
// scripts/build-tools.sh caches ($OPA_STS_TOOLS/bin, default
// ~/.cache/opa-sts/tools/bin), else versitygw on PATH.
func Find(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("versitygw %s: %w", explicit, err)
		}
		return explicit, nil
	}
	dir := os.Getenv("OPA_STS_TOOLS")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "opa-sts", "tools")
		}
	}
	if dir != "" {
		cached := filepath.Join(dir, "bin", "versitygw-"+Version)
		if _, err := os.Stat(cached); err == nil {
			return cached, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", errors.New("versitygw not found: " + InstallHint)
}

// Options configure the gateway.
type Options struct {
	Binary string
	// Addr is the S3 listen address (host:port).
	Addr string
	// Root is the POSIX folder: one directory per bucket.
	Root string
	// RootAccess and RootSecret are the gateway's own root credential.
	RootAccess, RootSecret string
	// IAMSocket is opa-sts's s3_iam socket; IAMAccess and IAMSecret what
	// the gateway signs its calls to it with.
	IAMSocket, IAMAccess, IAMSecret string
	// Buckets are created (as root) once the gateway answers.
	Buckets []string
	// Log receives the gateway's output.
	Log io.Writer
}

// Gateway is a running versitygw.
type Gateway struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs versitygw and returns once it answers and the buckets exist.
// The secrets travel in its environment, not on its command line (which
// every local user can read).
func Start(ctx context.Context, o Options) (*Gateway, error) {
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, fmt.Errorf("versitygw root: %w", err)
	}
	cmd := exec.Command(o.Binary, "posix", o.Root)
	cmd.Env = append(os.Environ(),
		"VGW_PORT="+o.Addr,
		"ROOT_ACCESS_KEY_ID="+o.RootAccess,
		"ROOT_SECRET_ACCESS_KEY="+o.RootSecret,
		"VGW_IAM_STANDALONE_ENDPOINT="+o.IAMSocket,
		"VGW_IAM_STANDALONE_ACCESS="+o.IAMAccess,
		"VGW_IAM_STANDALONE_SECRET="+o.IAMSecret,
	)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	g := &Gateway{cmd: cmd, done: make(chan struct{})}
	go func() { g.err = cmd.Wait(); close(g.done) }()
	if err := g.waitReady(ctx, "http://"+o.Addr+"/", 20*time.Second); err != nil {
		g.Stop()
		return nil, err
	}
	for _, b := range o.Buckets {
		if err := createBucket(ctx, "http://"+o.Addr+"/"+b, o.RootAccess, o.RootSecret); err != nil {
			g.Stop()
			return nil, fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return g, nil
}

func (g *Gateway) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-g.done:
			return fmt.Errorf("versitygw exited: %v", g.err)
		case <-ctx.Done():
			return fmt.Errorf("versitygw did not answer at %s within %s", url, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var emptyHash = hex.EncodeToString(func() []byte { h := sha256.Sum256(nil); return h[:] }())

// createBucket PUTs a bucket as root (SigV4); one that exists already is
// fine.
func createBucket(ctx context.Context, url, access, secret string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Content-Sha256", emptyHash)
	creds := aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyHash, "s3", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "BucketAlreadyOwnedByYou") {
		return nil
	}
	return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

// Stop ends the gateway (SIGTERM, then SIGKILL after 5 s). Idempotent.
func (g *Gateway) Stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(os.Interrupt)
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// Done is closed when the gateway has exited.
func (g *Gateway) Done() <-chan struct{} { return g.done }
