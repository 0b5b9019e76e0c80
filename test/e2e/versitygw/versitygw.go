// Package versitygw starts the real versitygw (v1.8.0, built by
// scripts/build-tools.sh) for end-to-end tests, with its standalone IAM
// service at an opa-sts s3_iam endpoint.
package versitygw

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// Version is the versitygw release the tests pin.
const Version = "v1.8.0"

// Binary returns the cached versitygw binary.
func Binary(t testing.TB) string {
	return opasts.ToolBinary(t, "versitygw-"+Version, "versitygw")
}

// Gateway is a running versitygw.
type Gateway struct {
	// Addr is the S3 endpoint (host:port).
	Addr string
}

// Options are the credentials of one gateway.
type Options struct {
	RootAccess, RootSecret string // versitygw's own root credential
	IAMAccess, IAMSecret   string // what it signs its IAM requests with
	IAMEndpoint            string // the s3_iam socket or address
	Extra                  []string
	// IAMLogs adds the IAM service's log to a failed test's output.
	IAMLogs func() string
}

// Start runs versitygw over a POSIX directory in dir and returns once it
// answers; it is killed at cleanup.
func Start(t testing.TB, dir string, o Options) *Gateway {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	data := filepath.Join(dir, "s3data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--access", o.RootAccess, "--secret", o.RootSecret, "--port", addr,
		"--iam-standalone-endpoint", o.IAMEndpoint, "--iam-standalone-access", o.IAMAccess, "--iam-standalone-secret", o.IAMSecret}, o.Extra...)
	gw := exec.Command(Binary(t), append(args, "posix", data)...)
	log := &opasts.SyncBuffer{}
	gw.Stdout, gw.Stderr = log, log
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = gw.Process.Kill()
		_ = gw.Wait()
		if t.Failed() {
			iam := "(none)"
			if o.IAMLogs != nil {
				iam = o.IAMLogs()
			}
			t.Logf("versitygw log:\n%s\nIAM service log:\n%s", log.String(), iam)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return &Gateway{Addr: addr}
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw not answering: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
