package enforce_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

func runExample(t *testing.T, bin string, e *env, clientID, prefix string, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{
		"-token-url", e.hydra.TokenURL(), "-client-id", clientID, "-audience", "sts",
		"-sts", "http://" + e.stsAddr, "-s3", e.s3Addr, "-bucket", bucket, "-prefix", prefix,
	}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CLIENT_SECRET="+secret)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestClientGrantsExample runs the example program against hydra, opa-sts
// and versitygw: the granted prefix works end to end, writing outside it
// is AccessDenied, and short-lived credentials are refused once expired.
func TestClientGrantsExample(t *testing.T) {
	e := startEnv(t)
	bin := opasts.BuildExample(t, "client-grants")

	out, err := runExample(t, bin, e, client, "home/"+client+"/")
	if err != nil || !strings.Contains(out, "6. deleted") || !strings.Contains(out, "done") {
		t.Fatalf("example: %v\n%s", err, out)
	}
	t.Logf("example output:\n%s", out)
	if strings.Contains(out, "eyJ") {
		t.Fatal("the example printed a token")
	}

	out, err = runExample(t, bin, e, client, "elsewhere/")
	if err == nil || !strings.Contains(out, "Access Denied") && !strings.Contains(out, "AccessDenied") {
		t.Fatalf("outside the grant: %v\n%s", err, out)
	}

	out, err = runExample(t, bin, e, shortClient, "home/"+shortClient+"/", "-wait-expiry")
	if err != nil || !strings.Contains(out, "8. expired credentials refused") {
		t.Fatalf("expiry: %v\n%s", err, out)
	}
}
