package enforce_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAWSSDKForJavaScript: the AWS SDK for JavaScript v3 (pinned, from
// npm) gets credentials with AssumeRoleWithWebIdentity and uses them on
// versitygw: put, get, list and delete in the granted prefix work, a put
// outside it is AccessDenied, a tampered token is InvalidIdentityToken.
func TestAWSSDKForJavaScript(t *testing.T) {
	dir, err := filepath.Abs("../../clients/aws-sdk-js")
	must(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "client-sts")); err != nil {
		t.Fatalf("the AWS SDK for JavaScript is not installed (%v): run bash scripts/build-tools.sh aws-sdk-js", err)
	}
	e := startEnv(t)
	cmd := exec.Command("node", "flow.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"STS_URL=http://"+e.stsAddr, "S3_URL=http://"+e.s3Addr, "BUCKET="+bucket, "PREFIX=home/"+client+"/",
		"TOKEN="+e.hydra.Token(t, client, secret, []string{"sts"}, nil))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("node flow.mjs did not finish:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("node flow.mjs: %v\n%s\n%s", err, out, stderr.String())
	}
	type step struct {
		OK     bool   `json:"ok"`
		Value  any    `json:"value"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	var got map[string]step
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	expect := func(name string, ok bool, errName string) {
		t.Helper()
		s := got[name]
		if s.OK != ok || (!ok && s.Error != errName) {
			t.Errorf("%s: %+v, want ok=%v %s", name, s, ok, errName)
		}
	}
	expect("assume", true, "")
	expect("badToken", false, "InvalidIdentityTokenException")
	expect("put", true, "")
	expect("get", true, "")
	expect("list", true, "")
	expect("putOutside", false, "AccessDenied")
	expect("delete", true, "")
	if v, _ := got["get"].Value.(string); v != "from the AWS SDK for JavaScript" {
		t.Errorf("get returned %q", v)
	}
	if l, _ := got["list"].Value.([]any); len(l) != 1 || l[0] != "home/"+client+"/js.txt" {
		t.Errorf("list returned %v", got["list"].Value)
	}
}
