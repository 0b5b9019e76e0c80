package enforce_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/opa-sts/opa-sts/test/e2e/awscli"
)

// TestAWSClientsThroughVersitygw: web identity at opa-sts, then S3 through
// versitygw, with aws-sdk-go-v2 (stscreds feeding an S3 client) and with
// the AWS CLI (assume-role-with-web-identity, then s3 cp and s3 ls).
func TestAWSClientsThroughVersitygw(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	tok := e.hydra.Token(t, client, secret, []string{"sts"}, nil)
	tokenFile := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(tokenFile, []byte(tok), 0o600))

	// aws-sdk-go-v2
	stsClient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.stsAddr), Credentials: aws.AnonymousCredentials{}})
	provider := stscreds.NewWebIdentityRoleProvider(stsClient, "arn:aws:iam::000000000000:role/e2e", stscreds.IdentityTokenFile(tokenFile),
		func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = "sdk" })
	s3c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + e.s3Addr), UsePathStyle: true,
		Credentials: aws.NewCredentialsCache(provider),
	})
	key := "home/" + client + "/sdk.txt"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("sdk"))}); err != nil {
		t.Fatalf("sdk put: %v", err)
	}
	got, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	must(t, err)
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(body) != "sdk" {
		t.Fatalf("sdk get: %q", body)
	}
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("elsewhere/sdk.txt"), Body: bytes.NewReader([]byte("x"))})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
		t.Fatalf("sdk put outside the grant: %v", err)
	}

	// The AWS CLI
	out := awscli.MustRun(t, nil, "sts", "assume-role-with-web-identity", "--endpoint-url", "http://"+e.stsAddr,
		"--role-arn", "arn:aws:iam::000000000000:role/e2e", "--role-session-name", "cli", "--web-identity-token", tok)
	var resp struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	must(t, json.Unmarshal([]byte(out), &resp))
	creds := []string{
		"AWS_ACCESS_KEY_ID=" + resp.Credentials.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY=" + resp.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + resp.Credentials.SessionToken,
	}
	src := filepath.Join(t.TempDir(), "cli.txt")
	must(t, os.WriteFile(src, []byte("from the aws cli"), 0o600))
	dst := "s3://" + bucket + "/home/" + client + "/cli.txt"
	awscli.MustRun(t, creds, "s3", "cp", src, dst, "--endpoint-url", "http://"+e.s3Addr)
	listing := awscli.MustRun(t, creds, "s3", "ls", "s3://"+bucket+"/home/"+client+"/", "--endpoint-url", "http://"+e.s3Addr)
	if !strings.Contains(listing, "cli.txt") || !strings.Contains(listing, "sdk.txt") {
		t.Fatalf("aws s3 ls: %s", listing)
	}
	_, stderr, err := awscli.Run(t, creds, "s3", "cp", src, "s3://"+bucket+"/elsewhere/cli.txt", "--endpoint-url", "http://"+e.s3Addr)
	if err == nil || !strings.Contains(stderr, "AccessDenied") {
		t.Fatalf("aws s3 cp outside the grant: %v %s", err, stderr)
	}
}
