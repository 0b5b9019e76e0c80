// Package awscli runs Debian's AWS CLI (/usr/bin/aws) for end-to-end tests,
// isolated from the developer's own AWS configuration: no config or
// credentials file, no instance metadata, no pager, one attempt, one minute
// at most.
package awscli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// Path is where .ci/run (Debian's awscli package) installs the CLI.
const Path = "/usr/bin/aws"

// Run runs `aws args... --region us-east-1 --output json` (the region only
// when args name none) with env added to the isolated environment, and
// returns its stdout and stderr. A missing CLI
// fails the test: the suite installs it, so its absence is a set-up error,
// not a reason to skip.
func Run(t testing.TB, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Fatalf("the AWS CLI is not installed at %s: .ci/run installs Debian's awscli", Path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append(args[:len(args):len(args)], "--output", "json")
	if !slices.Contains(args, "--region") {
		args = append(args, "--region", "us-east-1")
	}
	cmd := exec.CommandContext(ctx, Path, args...)
	cmd.Env = append(append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER="), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// MustRun is Run that fails the test when the CLI fails.
func MustRun(t testing.TB, env []string, args ...string) string {
	t.Helper()
	out, stderr, err := Run(t, env, args...)
	if err != nil {
		t.Fatalf("aws %v: %v\n%s", args[:min(2, len(args))], err, stderr)
	}
	return out
}
