package enforce_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// BenchmarkGetThroughVersitygw: a 1 KiB GET on versitygw, with the
// gateway's built-in root credentials and with opa-sts session credentials
// (every request: derive-signing-key and evaluate-policy over the unix
// socket, the Rego decision), in the same run; and, as the floor under any
// IAM service, the same GET on a second versitygw whose IAM service is a
// stub that answers without doing any work.
//
//	go test ./test/e2e/enforce -run '^$' -bench GetThroughVersitygw -benchtime 3s
func BenchmarkGetThroughVersitygw(b *testing.B) {
	e := startEnv(b)
	ctx := context.Background()
	tok := e.hydra.Token(b, client, secret, []string{"sts"}, nil)
	sts, err := miniocreds.NewSTSClientGrants("http://"+e.stsAddr, func() (*miniocreds.ClientGrantsToken, error) {
		return &miniocreds.ClientGrantsToken{Token: tok}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	v, err := sts.GetWithContext(nil)
	if err != nil {
		b.Fatal(err)
	}
	root, _ := minio.New(e.s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(rootAK, rootSK, ""), Region: "us-east-1"})
	user, _ := minio.New(e.s3Addr, &minio.Options{Creds: miniocreds.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken), Region: "us-east-1"})
	key := "home/" + client + "/bench.bin"
	data := bytes.Repeat([]byte("x"), 1024)
	if _, err := root.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		b.Fatal(err)
	}
	stubAddr := startStubIAMGateway(b)
	stubRoot, _ := minio.New(stubAddr, &minio.Options{Creds: miniocreds.NewStaticV4(rootAK, rootSK, ""), Region: "us-east-1"})
	if err := stubRoot.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := stubRoot.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		b.Fatal(err)
	}
	stubUser, _ := minio.New(stubAddr, &minio.Options{Creds: miniocreds.NewStaticV4(stubAK, stubSK, stubToken), Region: "us-east-1"})
	get := func(b *testing.B, c *minio.Client) {
		for i := 0; i < b.N; i++ {
			o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, o)
			o.Close()
			if err != nil || n != int64(len(data)) {
				b.Fatalf("get: %d bytes, %v", n, err)
			}
		}
	}
	b.Run("root-credentials", func(b *testing.B) { get(b, root) })
	b.Run("opa-sts-session", func(b *testing.B) { get(b, user) })
	b.Run("stub-iam-floor", func(b *testing.B) { get(b, stubUser) })
}
