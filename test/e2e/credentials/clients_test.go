package credentials_test

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

//go:embed testdata/client.py
var boto3Client string

//go:embed testdata/client.mjs
var jsClient string

// job is what a client does: with its environment (a config file, a
// profile, container settings), put KEY, get it back, and put OUTSIDE
// (which the grant does not cover); with loop, keep putting every two
// seconds for that long, through renewals.
type job struct {
	config  string // AWS_CONFIG_FILE ("" for none)
	profile string
	env     []string
	key     string
	outside string
	loop    time.Duration
	// refusal: the job is expected to fail for want of credentials; the
	// CLI then makes one attempt, not three.
	refusal bool
}

type outcome struct {
	OK      bool   `json:"ok"`
	Value   any    `json:"value"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

type loopResult struct {
	Rounds     int      `json:"rounds"`
	Failures   []string `json:"failures"`
	AccessKeys []string `json:"access_keys"`
}

type result struct {
	Put, Get, Outside outcome
	AccessKey         outcome           `json:"access_key"`
	Loop              *loopResult       `json:"loop"`
	Versions          map[string]string `json:"versions"`
	raw, stderr       string
}

// granted fails unless the client could work in its grant and was
// refused outside it.
func (r result) granted(t testing.TB, client, want string) {
	t.Helper()
	if !r.Put.OK || !r.Get.OK || (want != "" && r.Get.Value != want) {
		t.Fatalf("%s: put %+v, get %+v\n%s", client, r.Put, r.Get, r.raw)
	}
	if r.Outside.OK || r.Outside.Error != "AccessDenied" {
		t.Fatalf("%s: a put outside the grant: %+v", client, r.Outside)
	}
}

// refused fails unless the client got no credentials (and so could not
// even try S3), and, when why is given, its error or stderr says why.
func (r result) refused(t testing.TB, client, why string) {
	t.Helper()
	if r.Put.OK || r.Get.OK || r.Outside.OK || r.AccessKey.OK {
		t.Fatalf("%s was not refused: %s", client, r.raw)
	}
	if why != "" && !strings.Contains(r.Put.Message+r.AccessKey.Message+r.stderr, why) {
		t.Errorf("%s does not say why (%q): %s\n%s", client, why, r.raw, r.stderr)
	}
}

func (e *env) jobEnv(j job) []string {
	env := append(cleanEnv(e.dir), "S3_URL="+e.s3, "BUCKET="+bucket, "KEY="+j.key, "OUTSIDE="+j.outside)
	if j.config != "" {
		env = append(env, "AWS_CONFIG_FILE="+j.config)
	} else {
		env = append(env, "AWS_CONFIG_FILE=/dev/null")
	}
	if j.profile != "" {
		env = append(env, "AWS_PROFILE="+j.profile, "PROFILE="+j.profile)
	}
	if j.loop > 0 {
		env = append(env, "LOOP_SECONDS="+strconv.Itoa(int(j.loop.Seconds())))
	}
	return append(env, j.env...)
}

// runClient runs a client program and decodes the JSON it prints.
func (e *env) runClient(t testing.TB, name string, cmd *exec.Cmd, j job) result {
	t.Helper()
	cmd.Env = e.jobEnv(j)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(j.loop + 2*time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("%s did not finish:\n%s", name, stderr.String())
	}
	e.output(name+"'s stderr", stderr.String())
	var r result
	if jerr := json.Unmarshal(stdout.Bytes(), &r); err != nil || jerr != nil {
		t.Fatalf("%s: %v %v\n%s\n%s", name, err, jerr, stdout.String(), stderr.String())
	}
	r.raw, r.stderr = stdout.String(), stderr.String()
	// Error messages are the SDK's: they may quote the helper's stderr
	// or the endpoint's answer, never a secret.
	e.output(name+"'s error messages", r.Put.Message+r.Get.Message+r.Outside.Message+r.AccessKey.Message)
	return r
}

func (e *env) boto3(t testing.TB, j job) result {
	t.Helper()
	return e.runClient(t, "boto3", exec.Command("python3", "-c", boto3Client), j)
}

func (e *env) js(t testing.TB, j job) result {
	t.Helper()
	dir, err := filepath.Abs("../../clients/aws-sdk-js")
	must(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "client-s3")); err != nil {
		t.Fatalf("the AWS SDK for JavaScript is not installed (%v): run bash scripts/build-tools.sh aws-sdk-js", err)
	}
	cmd := exec.Command("node", "--input-type=module", "-")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(jsClient)
	return e.runClient(t, "the AWS SDK for JavaScript", cmd, j)
}

func (e *env) goSDK(t testing.TB, j job) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	j.env = append(j.env, "OPA_STS_E2E_GO_CLIENT=1")
	return e.runClient(t, "aws-sdk-go-v2", cmd, j)
}

// awsCLIv1 is the AWS CLI v1 on PATH (the image's pip install), not
// Debian's v2 at /usr/bin/aws.
func awsCLIv1(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("no aws on PATH: the image's AWS CLI v1 is expected there: %v", err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "aws-cli/1.") {
		t.Fatalf("%s is not the AWS CLI v1: %s %v", path, out, err)
	}
	return path
}

// cli does the job with `aws s3 cp` (one process per step: the CLI is
// not a long-running client, so it has no loop).
func (e *env) cli(t testing.TB, j job) result {
	t.Helper()
	aws := awsCLIv1(t)
	src := writeFile(t, filepath.Join(e.dir, "cli", strconv.FormatInt(time.Now().UnixNano(), 36)), "from the aws cli")
	run := func(args ...string) outcome {
		args = append(args, "--endpoint-url", e.s3, "--region", "us-east-1")
		if j.profile != "" {
			args = append(args, "--profile", j.profile)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, aws, args...)
		cmd.Env = append(e.jobEnv(j), "AWS_MAX_ATTEMPTS=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		e.output("the AWS CLI's stderr", stderr.String())
		if err != nil {
			code := "failed"
			switch {
			case strings.Contains(stderr.String(), "Error when retrieving credentials"):
				code = "CredentialRetrievalError"
			case strings.Contains(stderr.String(), "AccessDenied"):
				code = "AccessDenied"
			}
			return outcome{Error: code, Message: stderr.String()}
		}
		return outcome{OK: true, Value: stdout.String()}
	}
	r := result{Put: run("s3", "cp", src, "s3://"+bucket+"/"+j.key)}
	if j.refusal && !r.Put.OK {
		r.Get, r.Outside = r.Put, r.Put
	} else {
		r.Get = run("s3", "cp", "s3://"+bucket+"/"+j.key, "-")
		r.Outside = run("s3", "cp", src, "s3://"+bucket+"/"+j.outside)
	}
	// The CLI cannot show its credentials: whether it had any is whether
	// the put worked.
	r.AccessKey = r.Put
	r.raw = fmt.Sprintf("%+v", r)
	return r
}

// goClient is the aws-sdk-go-v2 client: the SDK's default configuration
// (config.LoadDefaultConfig, the profile by WithSharedConfigProfile)
// from the environment, then the job. It prints the result as JSON.
func goClient() int {
	ctx := context.Background()
	opts := []func(*config.LoadOptions) error{
		// Renew credentials ten seconds before they expire rather than at
		// the last moment: a request signed just before expiry could
		// arrive just after it.
		config.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 10 * time.Second }),
	}
	if p := os.Getenv("PROFILE"); p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	out := map[string]any{}
	fail := func(err error) outcome {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return outcome{Error: ae.ErrorCode(), Message: err.Error()}
		}
		return outcome{Error: "error", Message: err.Error()}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		o := fail(err)
		out["put"], out["get"], out["outside"] = o, o, o
		_ = json.NewEncoder(os.Stdout).Encode(out)
		return 0
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(os.Getenv("S3_URL"))
		o.UsePathStyle = true
	})
	bucket, key := aws.String(os.Getenv("BUCKET")), os.Getenv("KEY")
	put := func(key, body string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: strings.NewReader(body)})
		return err
	}
	step := func(f func() (any, error)) outcome {
		v, err := f()
		if err != nil {
			return fail(err)
		}
		return outcome{OK: true, Value: v}
	}
	accessKey := func() (any, error) {
		v, err := cfg.Credentials.Retrieve(ctx)
		return v.AccessKeyID, err
	}
	out["put"] = step(func() (any, error) { return true, put(key, "from aws-sdk-go-v2") })
	out["get"] = step(func() (any, error) {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer o.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(o.Body)
		return b.String(), err
	})
	out["outside"] = step(func() (any, error) { return true, put(os.Getenv("OUTSIDE"), "x") })
	out["access_key"] = step(accessKey)
	if n, _ := strconv.Atoi(os.Getenv("LOOP_SECONDS")); n > 0 {
		l := loopResult{Failures: []string{}, AccessKeys: []string{}}
		for end := time.Now().Add(time.Duration(n) * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
			l.Rounds++
			if err := put(key, "round "+strconv.Itoa(l.Rounds)); err != nil {
				l.Failures = append(l.Failures, err.Error())
				continue
			}
			k, err := accessKey()
			if err != nil {
				l.Failures = append(l.Failures, err.Error())
			} else if !contains(l.AccessKeys, k.(string)) {
				l.AccessKeys = append(l.AccessKeys, k.(string))
			}
		}
		out["loop"] = l
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
