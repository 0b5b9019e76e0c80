package enforce_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
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
	out := awsCLI(t, nil, "sts", "assume-role-with-web-identity", "--endpoint-url", "http://"+e.stsAddr,
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
	awsCLI(t, creds, "s3", "cp", src, dst, "--endpoint-url", "http://"+e.s3Addr)
	listing := awsCLI(t, creds, "s3", "ls", "s3://"+bucket+"/home/"+client+"/", "--endpoint-url", "http://"+e.s3Addr)
	if !strings.Contains(listing, "cli.txt") || !strings.Contains(listing, "sdk.txt") {
		t.Fatalf("aws s3 ls: %s", listing)
	}
	_, stderr, err := awsCLIResult(t, creds, "s3", "cp", src, "s3://"+bucket+"/elsewhere/cli.txt", "--endpoint-url", "http://"+e.s3Addr)
	if err == nil || !strings.Contains(stderr, "AccessDenied") {
		t.Fatalf("aws s3 cp outside the grant: %v %s", err, stderr)
	}
}

func awsCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, stderr, err := awsCLIResult(t, env, args...)
	if err != nil {
		t.Fatalf("aws %v: %v\n%s", args[:2], err, stderr)
	}
	return out
}

func awsCLIResult(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	const cli = "/usr/bin/aws"
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("the AWS CLI is not installed at %s: .ci/run installs Debian's awscli", cli)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, append(args, "--region", "us-east-1", "--output", "json")...)
	cmd.Env = append(append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER="), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
