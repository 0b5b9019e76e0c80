// Command client-grants is the complete client-grants flow, as the original
// MinIO STS documentation's full-example.go described it: a workload with a
// client id and secret gets a JWT access token from its identity provider
// (OAuth2 client_credentials), exchanges it at opa-sts for temporary S3
// credentials (AssumeRoleWithClientGrants, with minio-go), and performs
// object operations with them on an S3 server, printing what it does.
//
//	go run ./examples/client-grants -token-url http://127.0.0.1:4444/oauth2/token \
//	  -client-id app -client-secret ... -sts http://127.0.0.1:8282 -s3 127.0.0.1:7070 \
//	  -bucket data -prefix home/app/
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	var (
		tokenURL     = flag.String("token-url", "", "the identity provider's OAuth2 token endpoint")
		clientID     = flag.String("client-id", "", "OAuth2 client id")
		clientSecret = flag.String("client-secret", "", "OAuth2 client secret (or $CLIENT_SECRET)")
		audience     = flag.String("audience", "", "audience to request (hydra), optional")
		scope        = flag.String("scope", "", "scopes to request, optional")
		stsURL       = flag.String("sts", "http://127.0.0.1:8282", "opa-sts endpoint")
		s3Endpoint   = flag.String("s3", "127.0.0.1:7070", "S3 server host:port")
		bucket       = flag.String("bucket", "", "bucket to use")
		prefix       = flag.String("prefix", "", "object key prefix")
		waitExpiry   = flag.Bool("wait-expiry", false, "after the operations, wait until the credentials expire and show that they are refused")
	)
	flag.Parse()
	if *clientSecret == "" {
		*clientSecret = os.Getenv("CLIENT_SECRET")
	}
	if err := run(*tokenURL, *clientID, *clientSecret, *audience, *scope, *stsURL, *s3Endpoint, *bucket, *prefix, *waitExpiry); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(tokenURL, clientID, clientSecret, audience, scope, stsURL, s3Endpoint, bucket, prefix string, waitExpiry bool) error {
	if tokenURL == "" || clientID == "" || clientSecret == "" || bucket == "" {
		return errors.New("-token-url, -client-id, -client-secret and -bucket are required")
	}
	ctx := context.Background()

	// 1. client_credentials at the identity provider. The token is not printed.
	getToken := func() (*credentials.ClientGrantsToken, error) {
		form := url.Values{"grant_type": {"client_credentials"}}
		if audience != "" {
			form.Set("audience", audience)
		}
		if scope != "" {
			form.Set("scope", scope)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return nil, fmt.Errorf("token request: %w", err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
			return nil, fmt.Errorf("token request: status %d", resp.StatusCode)
		}
		fmt.Printf("1. got an access token from %s (expires in %d s)\n", tokenURL, body.ExpiresIn)
		return &credentials.ClientGrantsToken{Token: body.AccessToken, Expiry: body.ExpiresIn}, nil
	}

	// 2. AssumeRoleWithClientGrants at opa-sts.
	sts, err := credentials.NewSTSClientGrants(stsURL, getToken)
	if err != nil {
		return err
	}
	v, err := sts.GetWithContext(nil)
	if err != nil {
		return fmt.Errorf("AssumeRoleWithClientGrants: %w", err)
	}
	fmt.Printf("2. got temporary credentials from %s: access key %s, expires %s\n", stsURL, v.AccessKeyID, v.Expiration.Format(time.RFC3339))

	// 3. Object operations with them.
	s3, err := minio.New(s3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(v.AccessKeyID, v.SecretAccessKey, v.SessionToken), Region: "us-east-1"})
	if err != nil {
		return err
	}
	key := prefix + "hello.txt"
	content := []byte("hello from the client-grants example at " + time.Now().UTC().Format(time.RFC3339))
	if _, err := s3.PutObject(ctx, bucket, key, bytes.NewReader(content), int64(len(content)), minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		return fmt.Errorf("put s3://%s/%s: %s: %w", bucket, key, s3Code(err), err)
	}
	fmt.Printf("3. put s3://%s/%s (%d bytes)\n", bucket, key, len(content))
	n := 0
	for o := range s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list s3://%s/%s: %s: %w", bucket, prefix, s3Code(o.Err), o.Err)
		}
		fmt.Printf("   listed %s (%d bytes)\n", o.Key, o.Size)
		n++
	}
	fmt.Printf("4. listed %d object(s) under s3://%s/%s\n", n, bucket, prefix)
	obj, err := s3.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	got, err := io.ReadAll(obj)
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %s: %w", bucket, key, s3Code(err), err)
	}
	if !bytes.Equal(got, content) {
		return errors.New("read back different content")
	}
	fmt.Printf("5. got s3://%s/%s back: %q\n", bucket, key, got)
	if err := s3.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete s3://%s/%s: %s: %w", bucket, key, s3Code(err), err)
	}
	fmt.Printf("6. deleted s3://%s/%s\n", bucket, key)

	if waitExpiry {
		wait := time.Until(v.Expiration) + 6*time.Second
		fmt.Printf("7. waiting %s for the credentials to expire\n", wait.Round(time.Second))
		time.Sleep(wait)
		_, err := s3.PutObject(ctx, bucket, key, bytes.NewReader(content), int64(len(content)), minio.PutObjectOptions{})
		if err == nil {
			return errors.New("expired credentials were accepted")
		}
		fmt.Printf("8. expired credentials refused: %s\n", s3Code(err))
	}
	fmt.Println("done")
	return nil
}

// s3Code is the S3 error code of err (AccessDenied, InvalidToken...).
func s3Code(err error) string {
	if code := minio.ToErrorResponse(err).Code; code != "" {
		return code
	}
	return "error"
}
