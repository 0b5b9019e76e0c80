package enforce_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// TestMutualTLSTransport connects versitygw to opa-sts over TCP with client
// certificates: session credentials work, and a client without a
// certificate cannot even complete the handshake.
func TestMutualTLSTransport(t *testing.T) {
	e := startEnvWith(t, true)
	ctx := context.Background()
	tok := e.hydra.Token(t, client, secret, []string{"sts"}, nil)
	sts, err := miniocreds.NewSTSClientGrants("http://"+e.stsAddr, func() (*miniocreds.ClientGrantsToken, error) {
		return &miniocreds.ClientGrantsToken{Token: tok}, nil
	})
	must(t, err)
	v, err := sts.GetWithContext(nil)
	must(t, err)
	user, _ := minio.New(e.s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken), Region: "us-east-1"})
	content := []byte("over mTLS")
	if _, err := user.PutObject(ctx, bucket, "home/"+client+"/mtls.txt", bytes.NewReader(content), int64(len(content)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put with the IAM service over mTLS: %v", err)
	}

	// Without a client certificate the IAM service is unreachable.
	conn, err := tls.Dial("tcp", e.iamEndpoint, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // probing the server's client-auth requirement
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Write([]byte("POST /private/version HTTP/1.1\r\nHost: x\r\n\r\n"))
		if err == nil {
			buf := make([]byte, 1)
			_, err = conn.Read(buf)
		}
		conn.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
}
