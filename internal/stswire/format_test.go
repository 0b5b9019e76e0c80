package stswire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func secretRequest() *Request {
	return &Request{
		Action: AssumeRoleWithWebIdentity, Version: APIVersion,
		Token: testToken, AccessToken: testAccessToken,
		DurationSeconds: 3600, Policy: testPolicy, RoleArn: testRoleArn, RoleSessionName: "sess",
		ProviderID: "www.amazon.com", PolicyArns: []string{testRoleArn + "1"}, TokenRevokeType: "all",
	}
}

func checkMasked(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range []string{testToken, testToken[:12], testToken[len(testToken)-12:], testAccessToken, testAccessToken[:12]} {
		if strings.Contains(out, s) {
			t.Errorf("%s reveals a secret: %s", what, out)
			return
		}
	}
	if !strings.Contains(out, "redacted") {
		t.Errorf("%s does not show the mask: %s", what, out)
	}
}

func TestRequestNeverPrintsTokens(t *testing.T) {
	req := secretRequest()
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%10.3v", "%-v", "%t", "%e"}
	for _, v := range verbs {
		checkMasked(t, v+" pointer", fmt.Sprintf(v, req))
		checkMasked(t, v+" value", fmt.Sprintf(v, *req))
		checkMasked(t, v+" in a slice", fmt.Sprintf(v, []*Request{req}))
		checkMasked(t, v+" in a map", fmt.Sprintf(v, map[string]Request{"r": *req}))
		checkMasked(t, v+" in an exported field", fmt.Sprintf(v, struct{ R Request }{*req}))
	}
	checkMasked(t, "Sprint", fmt.Sprint(req, *req))
	checkMasked(t, "Sprintln", fmt.Sprintln(req))
	checkMasked(t, "String", req.String())
	checkMasked(t, "GoString", req.GoString())
	if p := fmt.Sprintf("%p", req); strings.Contains(p, testToken) {
		t.Errorf("%%p: %s", p)
	}
	if out := fmt.Sprintf("%v", *req); strings.Contains(out, testPolicy) {
		t.Errorf("policy text printed: %s", out)
	}
	// The other fields are shown.
	out := fmt.Sprintf("%+v", req)
	for _, s := range []string{"AssumeRoleWithWebIdentity", testRoleArn, "sess", "3600", "www.amazon.com", "all"} {
		if !strings.Contains(out, s) {
			t.Errorf("%%+v lacks %s: %s", s, out)
		}
	}
	if got := fmt.Sprintf("%T", req); got != "*stswire.Request" {
		t.Errorf("%%T: %s", got)
	}
	var nilReq *Request
	if got := fmt.Sprintf("%v", nilReq); got != "<nil>" {
		t.Errorf("nil: %s", got)
	}
}

func TestRequestGoStringIsGoSyntax(t *testing.T) {
	got := fmt.Sprintf("%#v", Request{Action: AssumeRoleWithClientGrants, Version: APIVersion, Token: "abcd"})
	want := `stswire.Request{Action:"AssumeRoleWithClientGrants", Version:"2011-06-15", Token:"<redacted 4 bytes>", AccessToken:"", DurationSeconds:0, ` +
		`Policy:"", RoleArn:"", RoleSessionName:"", ProviderID:"", PolicyArns:[]string(nil), TokenRevokeType:"", ` +
		`Tags:[]stswire.Tag(nil), TransitiveTagKeys:[]string(nil), ExternalID:"", SourceIdentity:"", MinimumSessionTokenSize:0}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRequestSlogAndJSON(t *testing.T) {
	req := secretRequest()
	for _, mk := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		l := slog.New(mk(&buf))
		l.Info("sts", "request", req, "value", *req, slog.Any("any", req))
		checkMasked(t, "slog", buf.String())
		if !strings.Contains(buf.String(), "role_arn") || !strings.Contains(buf.String(), "policy_bytes") {
			t.Errorf("slog lacks fields: %s", buf.String())
		}
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{testToken, testAccessToken} {
		if strings.Contains(string(b), s) {
			t.Errorf("json reveals a secret: %s", b)
		}
	}
	if !strings.Contains(string(b), testRoleArn) {
		t.Errorf("json: %s", b)
	}
	// The minimal request logs only what is set.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "r", Request{Action: AssumeRoleWithClientGrants, Version: APIVersion, Token: "abcd"})
	if strings.Contains(buf.String(), "role_arn") || !strings.Contains(buf.String(), `"token":"<redacted 4 bytes>"`) {
		t.Errorf("minimal: %s", buf.String())
	}
}
