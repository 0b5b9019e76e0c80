// Package dev_test measures the S3 endpoint of `opa-sts dev`: a 1 KiB GET
// through versitygw with credentials the development STS issued (every
// request asks opa-sts), against the same gateway with its own root
// credentials (no IAM call), in one run.
package dev_test

import (
	"bytes"
	"context"
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

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// startDev runs `opa-sts dev` on free loopback ports and returns the STS
// URL, the S3 address and the data directory once the banner is printed.
func startDev(b *testing.B) (stsURL, s3Addr, dir string) {
	b.Helper()
	dir = b.TempDir()
	free := func() string { return "127.0.0.1:" + strconv.Itoa(opasts.FreePort(b)) }
	sts, s3 := free(), free()
	cmd := exec.Command(opasts.Binary(b), "dev", "--addr", free(), "--sts-addr", sts, "--s3-addr", s3, "--data-dir", dir)
	out := &opasts.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(out.String(), "=====") < 2 {
		if time.Now().After(deadline) {
			b.Fatalf("opa-sts dev did not start:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "S3 endpoint") {
		b.Fatalf("opa-sts dev has no S3 endpoint:\n%s", out.String())
	}
	return "http://" + sts, s3, dir
}

// issued gets credentials the way the banner says: a token from the
// development issuer, then AssumeRoleWithClientGrants (minio-go).
func issued(b *testing.B, stsURL string) miniocreds.Value {
	b.Helper()
	getToken := func() (*miniocreds.ClientGrantsToken, error) {
		req, _ := http.NewRequest(http.MethodPost, stsURL+"/dev/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("dev-client", "dev-client-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		tok := string(raw)
		i := strings.Index(tok, `"access_token":"`)
		if i < 0 {
			b.Fatalf("no token: %s", raw)
		}
		tok = tok[i+len(`"access_token":"`):]
		return &miniocreds.ClientGrantsToken{Token: tok[:strings.IndexByte(tok, '"')]}, nil
	}
	c, err := miniocreds.NewSTSClientGrants(stsURL, getToken)
	if err != nil {
		b.Fatal(err)
	}
	v, err := c.GetWithContext(nil)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func BenchmarkDevGatewayGet1KiB(b *testing.B) {
	stsURL, s3Addr, dir := startDev(b)
	rootSecret, err := os.ReadFile(filepath.Join(dir, "s3-root.credentials"))
	if err != nil {
		b.Fatal(err)
	}
	v := issued(b, stsURL)
	clients := map[string]*minio.Client{}
	for name, creds := range map[string]*miniocreds.Credentials{
		"root":   miniocreds.NewStaticV4("DEVGATEWAYROOT000001", strings.TrimSpace(string(rootSecret)), ""),
		"issued": miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken),
	} {
		c, err := minio.New(s3Addr, &minio.Options{Creds: creds, Region: "us-east-1"})
		if err != nil {
			b.Fatal(err)
		}
		clients[name] = c
	}
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1024)
	if _, err := clients["issued"].PutObject(ctx, "home", "dev/1k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		b.Fatalf("put as the issued credentials: %v", err)
	}
	for _, name := range []string{"root", "issued"} {
		c := clients[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				o, err := c.GetObject(ctx, "home", "dev/1k", minio.GetObjectOptions{})
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, o)
				o.Close()
				if err != nil || n != 1024 {
					b.Fatalf("get: %d bytes, %v", n, err)
				}
			}
		})
	}
}
