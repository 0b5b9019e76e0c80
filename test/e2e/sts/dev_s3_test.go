package sts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// devRun is a running `opa-sts dev` with its S3 endpoint.
type devRun struct {
	cmd    *exec.Cmd
	out    *opasts.SyncBuffer
	banner string
}

func startDevWithS3(t *testing.T, dir string, ports [3]string) *devRun {
	t.Helper()
	cmd := exec.Command(opasts.Binary(t), "dev", "--addr", ports[0], "--sts-addr", ports[1], "--s3-addr", ports[2], "--data-dir", filepath.Join(dir, "state"))
	cmd.Dir = dir
	d := &devRun{cmd: cmd, out: &opasts.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	must(t, cmd.Start())
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("opa-sts dev output:\n%s", d.out.String())
		}
	})
	d.banner = waitForBanner(t, d.out)
	if !strings.Contains(d.banner, "S3 endpoint") {
		t.Fatalf("no S3 endpoint in the banner:\n%s", d.banner)
	}
	return d
}

func (d *devRun) stop() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Signal(os.Interrupt)
		_ = d.cmd.Wait()
	}
}

// bannerCommands returns the banner's shell lines of step n (those that
// start with "export", "aws", "echo" or "go run"), comments removed.
func bannerCommands(banner string, step int) []string {
	var cmds []string
	in := false
	for _, line := range strings.Split(banner, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, strconv.Itoa(step)+". ") {
			in = true
			continue
		}
		if in && len(trimmed) > 2 && trimmed[0] >= '1' && trimmed[0] <= '9' && trimmed[1] == '.' || strings.HasPrefix(trimmed, "=====") {
			in = false
		}
		if !in {
			continue
		}
		if i := strings.Index(trimmed, "   #"); i >= 0 {
			trimmed = strings.TrimSpace(trimmed[:i])
		}
		for _, p := range []string{"export ", "aws ", "echo ", "go run ", "-"} {
			if strings.HasPrefix(trimmed, p) {
				if p == "-" && len(cmds) > 0 { // a continuation line
					cmds[len(cmds)-1] = strings.TrimSuffix(strings.TrimSpace(cmds[len(cmds)-1]), "\\") + " " + trimmed
				} else if p != "-" {
					cmds = append(cmds, trimmed)
				}
				break
			}
		}
	}
	return cmds
}

// shell runs the banner's lines in one bash, each after the exports, in
// dir; it returns each command's exit status and output.
func shell(t *testing.T, dir string, exports []string, cmd string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := strings.Join(append(append([]string{}, exports...), cmd), "\n")
	c := exec.CommandContext(ctx, "bash", "-c", script)
	c.Dir = dir
	c.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestDevModeS3 follows the banner's step 4 as printed: S3 through the AWS
// CLI's credential_process profile, the allowed and the refused requests
// with their reasons on the console; then an edit of the development data
// that applies without a restart and survives one; then the client-grants
// example with the printed flags.
func TestDevModeS3(t *testing.T) {
	dir := t.TempDir()
	free := func() string { return "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t)) }
	ports := [3]string{free(), free(), free()}
	d := startDevWithS3(t, dir, ports)

	steps := bannerCommands(d.banner, 4)
	if len(steps) < 7 || !strings.HasPrefix(steps[0], "export AWS_CONFIG_FILE=") {
		t.Fatalf("step 4 of the banner: %q", steps)
	}
	exports, cmds := steps[:1], steps[1:]
	want := []struct {
		ok     bool
		reason string
	}{
		{true, ""}, {true, ""}, {true, ""}, {true, ""},
		{false, "DENIED: no statement allows it"},
		{false, "DENIED by an explicit Deny"},
	}
	if len(cmds) != len(want) {
		t.Fatalf("step 4 has %d commands, want %d: %q", len(cmds), len(want), cmds)
	}
	for i, c := range cmds {
		code, out := shell(t, dir, exports, c)
		if (code == 0) != want[i].ok {
			t.Fatalf("%s: exit %d, want ok=%v\n%s", c, code, want[i].ok, out)
		}
		if !want[i].ok && !strings.Contains(out, "AccessDenied") {
			t.Fatalf("%s: refused without AccessDenied:\n%s", c, out)
		}
		if want[i].reason != "" && !strings.Contains(d.out.String(), want[i].reason) {
			t.Fatalf("%s: the console does not say %q", c, want[i].reason)
		}
	}
	if code, out := shell(t, dir, exports, "aws --endpoint-url http://"+ports[2]+" s3 ls s3://dev-demo/"); code != 0 || !strings.Contains(out, "hello.txt") {
		t.Fatalf("ls: %d %s", code, out)
	}
	// A presigned URL from the dev profile works without credentials.
	code, url := shell(t, dir, exports, "aws --endpoint-url http://"+ports[2]+" s3 presign s3://dev-demo/hello.txt --expires-in 300")
	if code != 0 || !strings.Contains(url, "X-Amz-Signature=") {
		t.Fatalf("presign: exit %d: %s", code, url)
	}
	for _, line := range strings.Split(url, "\n") {
		if strings.HasPrefix(line, "http://") {
			url = line
		}
	}
	resp, err := http.Get(url)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello") {
		t.Fatalf("GET of the presigned URL: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(d.out.String(), "dev-client-secret\n") && strings.Count(d.out.String(), "dev-client-secret") > 4 {
		t.Error("the client secret is printed beyond the banner")
	}

	// Edit the development data: shared becomes writable at once.
	dataFile := filepath.Join(dir, "state", "policy", "data.json")
	edit := func() {
		raw, err := os.ReadFile(dataFile)
		must(t, err)
		var doc map[string]any
		must(t, json.Unmarshal(raw, &doc))
		role := doc["opa_sts"].(map[string]any)["roles"].(map[string]any)["developer"].(map[string]any)
		role["statements"] = append(role["statements"].([]any), map[string]any{"Sid": "SharedWritable", "Effect": "Allow",
			"Action": []string{"s3:PutObject"}, "Resource": []string{"arn:aws:s3:::shared/*"}})
		out, _ := json.MarshalIndent(doc, "", "  ")
		must(t, os.WriteFile(dataFile, out, 0o600))
	}
	edit()
	shared := "aws --endpoint-url http://" + ports[2] + " s3 cp hello.txt s3://shared/hello.txt"
	deadline := time.Now().Add(20 * time.Second)
	for {
		if strings.Contains(d.out.String(), "policy and data reloaded") {
			if code, _ := shell(t, dir, exports, shared); code == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the edit of data.json did not apply without a restart (or the console did not say so)")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A restart keeps the edit (and the keys, sessions and objects).
	d.stop()
	d = startDevWithS3(t, dir, ports)
	if code, out := shell(t, dir, exports, shared); code != 0 {
		t.Fatalf("after a restart the edit is gone: %s", out)
	}

	// Step 5: the client-grants example, with the printed flags.
	ex := bannerCommands(d.banner, 5)
	if len(ex) != 1 || !strings.HasPrefix(ex[0], "go run ./examples/client-grants ") {
		t.Fatalf("step 5: %q", ex)
	}
	bin := opasts.BuildExample(t, "client-grants")
	code, out := shell(t, dir, nil, bin+" "+strings.TrimPrefix(ex[0], "go run ./examples/client-grants "))
	if code != 0 || !strings.Contains(out, "6. deleted") {
		t.Fatalf("the client-grants example: %d\n%s", code, out)
	}
}
