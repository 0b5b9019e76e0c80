package stswire

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// A JWT-shaped token; the tests look for it in every message.
const (
	testToken       = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJlLXNlY3JldC1wYXJ0"
	testAccessToken = "at-0123456789-secret-access-token-value"
	testRoleArn     = "arn:aws:iam::123456789012:role/opa-sts"
	testPolicy      = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`
	formCT          = "application/x-www-form-urlencoded"
)

// countingReader counts the bytes handed out.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// mkReq builds a server-side request: ContentLength as a server sets it.
func mkReq(method, query, body, ct string) *http.Request {
	r := &http.Request{
		Method:     method,
		URL:        &url.URL{Path: "/", RawQuery: query},
		Header:     http.Header{},
		Body:       http.NoBody,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}
	if body != "" {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func enc(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

// wi and cg are valid minimal requests, to which tests append.
var (
	wi = enc("Action", "AssumeRoleWithWebIdentity", "Version", APIVersion, "WebIdentityToken", testToken)
	cg = enc("Action", "AssumeRoleWithClientGrants", "Version", APIVersion, "Token", testToken)
)

func checkSafe(t *testing.T, e *Error) {
	t.Helper()
	if e.Status < 400 || e.Status > 599 || e.Code == "" || (e.Type != TypeSender && e.Type != TypeReceiver) {
		t.Errorf("malformed error %+v", e)
	}
	for _, s := range []string{testToken, testToken[:20], testToken[len(testToken)-20:], testAccessToken, testPolicy} {
		if strings.Contains(e.Message, s) {
			t.Errorf("message %q reveals a secret", e.Message)
		}
	}
	for _, r := range e.Message {
		if r < 0x20 || r == 0x7f {
			t.Errorf("message %q has a control character", e.Message)
		}
	}
	if len(e.Message) > maxMessageBytes {
		t.Errorf("message is %d bytes", len(e.Message))
	}
}

func TestParseRequestRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		method string
		query  string
		body   string
		ct     string
		hdr    map[string][]string
		limits Limits
		status int
		code   string
		msg    string // substring of the message
	}{
		// Transport.
		{name: "GET", method: http.MethodGet, query: wi, status: 405, code: CodeMethodNotAllowed},
		{name: "PUT", method: http.MethodPut, body: wi, ct: formCT, status: 405, code: CodeMethodNotAllowed},
		{name: "HEAD", method: http.MethodHead, query: wi, status: 405, code: CodeMethodNotAllowed},
		{name: "lower-case post", method: "post", query: wi, status: 405, code: CodeMethodNotAllowed},
		{name: "json body", body: `{"Action":"AssumeRoleWithWebIdentity"}`, ct: "application/json", status: 400, code: CodeInvalidParameterValue, msg: "Content-Type"},
		{name: "body without content type", body: wi, status: 400, code: CodeInvalidParameterValue, msg: "Content-Type"},
		{name: "multipart body", body: wi, ct: "multipart/form-data; boundary=x", status: 400, code: CodeInvalidParameterValue},
		{name: "content type prefix only", body: wi, ct: formCT + "x", status: 400, code: CodeInvalidParameterValue},
		{name: "two content types", body: wi, hdr: map[string][]string{"Content-Type": {formCT, formCT}}, status: 400, code: CodeInvalidParameterValue},
		{name: "gzip body", body: wi, ct: formCT, hdr: map[string][]string{"Content-Encoding": {"gzip"}}, status: 400, code: CodeInvalidParameterValue, msg: "Content-Encoding"},
		{name: "body over cap", body: wi + "&Pad=" + long(2000), ct: formCT, limits: Limits{MaxBodyBytes: 1024}, status: 413, code: CodeRequestEntityTooLarge},
		{name: "query over cap", query: wi + "&Pad=" + long(2000), limits: Limits{MaxBodyBytes: 1024}, status: 400, code: CodeInvalidParameterValue, msg: "query string"},
		{name: "binary garbage body", body: "\x00\xff\x1f\x8b\x08\x00%\xfe", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "form encoding"},
		{name: "bad percent in value", body: wi + "&RoleArn=%zz", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "truncated percent", query: wi + "&X=%4", status: 400, code: CodeInvalidParameterValue, msg: "form encoding"},
		{name: "percent at end", query: wi + "&X=%", status: 400, code: CodeInvalidParameterValue},
		{name: "bad percent in name", query: wi + "&%g1=x", status: 400, code: CodeInvalidParameterValue, msg: "parameter name"},
		{name: "semicolon separator", query: "Action=AssumeRoleWithWebIdentity;Version=" + APIVersion + "&WebIdentityToken=" + testToken, status: 400, code: CodeInvalidParameterValue, msg: "';'"},
		{name: "too many parameters", query: wi + strings.Repeat("&X-Amz-Foo=1", 0) + manyParams(MaxParameters), status: 400, code: CodeInvalidParameterValue, msg: "more than " + strconv.Itoa(MaxParameters)},

		// Parameter pollution.
		{name: "repeated Action in query", query: wi + "&Action=AssumeRoleWithClientGrants", status: 400, code: CodeInvalidParameterValue, msg: "Action is given more than once"},
		{name: "repeated token in body", body: wi + "&WebIdentityToken=other-token", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "WebIdentityToken is given more than once"},
		{name: "repeated empty Version", body: wi + "&Version=", ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "repeated unknown parameter", body: wi + "&X-Foo=1&X-Foo=2", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "A parameter"},
		{name: "repeated SigV4 parameter", body: wi + "&X-Amz-Date=1&X-Amz-Date=2", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "X-Amz-Date is given more than once"},
		{name: "repeated unknown, name not echoed", body: wi + "&" + testToken + "&" + testToken, ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "repeated PolicyArns member", body: wi + "&PolicyArns.member.1.arn=" + testRoleArn + "&PolicyArns.member.1.arn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "PolicyArns.member.1.arn"},
		{name: "percent-encoded name repeats", body: wi + "&Actio%6E=AssumeRoleWithWebIdentity", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "Action"},

		// Action and Version.
		{name: "empty request", status: 400, code: CodeMissingParameter, msg: "Action"},
		{name: "empty body, no query", body: "", ct: formCT, status: 400, code: CodeMissingParameter, msg: "Action"},
		{name: "Action missing", query: enc("Version", APIVersion, "WebIdentityToken", testToken), status: 400, code: CodeMissingParameter, msg: "parameter Action"},
		{name: "Action empty", query: enc("Action", "", "Version", APIVersion), status: 400, code: CodeMissingParameter, msg: "parameter Action"},
		{name: "action lower case is not Action", query: enc("action", "AssumeRoleWithWebIdentity", "Version", APIVersion), status: 400, code: CodeMissingParameter},
		{name: "Version missing", query: enc("Action", "AssumeRoleWithWebIdentity", "WebIdentityToken", testToken), status: 400, code: CodeMissingParameter, msg: "Invalid STS API version , expecting 2011-06-15"},
		{name: "Version wrong", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", "2010-01-01", "WebIdentityToken", testToken), status: 400, code: CodeMissingParameter, msg: "Invalid STS API version 2010-01-01, expecting 2011-06-15"},
		{name: "Version with control characters", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", "2011-06-15\r\nX-Evil: 1"), status: 400, code: CodeMissingParameter, msg: "(not shown)"},
		{name: "Version is the token", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", testToken, "WebIdentityToken", testToken), status: 400, code: CodeMissingParameter, msg: "(not shown)"},
		{name: "Version long", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", long(5000)), status: 400, code: CodeMissingParameter, msg: "(not shown)"},
		{name: "Version short, in the token by chance", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", "1", "WebIdentityToken", testToken), status: 400, code: CodeMissingParameter, msg: "Invalid STS API version 1, expecting"},
		{name: "Version containing the token", query: enc("Action", "AssumeRoleWithClientGrants", "Version", "v-abcd", "Token", "abcd"), status: 400, code: CodeMissingParameter, msg: "(not shown)"},
		{name: "Version part of the token", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", "eyJhbGciOiJSUzI1NiIs", "WebIdentityToken", testToken), status: 400, code: CodeMissingParameter, msg: "(not shown)"},
		{name: "unknown action", query: enc("Action", "GetSessionToken", "Version", APIVersion), status: 400, code: CodeInvalidParameterValue, msg: "Unsupported action GetSessionToken"},
		{name: "AssumeRole through ParseRequest", query: enc("Action", "AssumeRole", "Version", APIVersion), status: 400, code: CodeInvalidParameterValue, msg: "Unsupported action AssumeRole"},
		{name: "unknown action, signed-looking", query: enc("Action", "AssumeRoleWithSAML", "Version", APIVersion), status: 400, code: CodeInvalidParameterValue, msg: "Unsupported action AssumeRoleWithSAML"},
		{name: "unknown action, odd characters", query: enc("Action", "<script>\x00alert", "Version", APIVersion), status: 400, code: CodeInvalidParameterValue, msg: "Unsupported action"},
		{name: "unknown action is the token", query: enc("Action", testToken, "Version", APIVersion, "WebIdentityToken", testToken), status: 400, code: CodeInvalidParameterValue},
		{name: "unknown action, long", query: enc("Action", long(10000), "Version", APIVersion), status: 400, code: CodeInvalidParameterValue},
		{name: "action case matters", query: enc("Action", "assumerolewithwebidentity", "Version", APIVersion), status: 400, code: CodeInvalidParameterValue},

		// Tokens.
		{name: "web identity token missing", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", APIVersion), status: 400, code: CodeMissingParameter, msg: "WebIdentityToken"},
		{name: "web identity with Token only", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", APIVersion, "Token", testToken), status: 400, code: CodeMissingParameter, msg: "WebIdentityToken"},
		{name: "client grants token missing", body: enc("Action", "AssumeRoleWithClientGrants", "Version", APIVersion), ct: formCT, status: 400, code: CodeMissingParameter, msg: "parameter Token"},
		{name: "client grants with WebIdentityToken only", body: enc("Action", "AssumeRoleWithClientGrants", "Version", APIVersion, "WebIdentityToken", testToken), ct: formCT, status: 400, code: CodeMissingParameter, msg: "parameter Token"},
		{name: "token only white space", body: enc("Action", "AssumeRoleWithClientGrants", "Version", APIVersion, "Token", " \n "), ct: formCT, status: 400, code: CodeMissingParameter},
		{name: "token too short", body: enc("Action", "AssumeRoleWithClientGrants", "Version", APIVersion, "Token", "abc"), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "between 4 and 20000"},
		{name: "token too long", body: enc("Action", "AssumeRoleWithWebIdentity", "Version", APIVersion, "WebIdentityToken", long(20001)), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "WebIdentityToken must be between"},
		{name: "token over custom limit", body: wi, ct: formCT, limits: Limits{MaxTokenBytes: 50}, status: 400, code: CodeInvalidParameterValue, msg: "between 4 and 50"},
		{name: "access token too short", body: wi + "&WebIdentityAccessToken=abc", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "WebIdentityAccessToken"},
		{name: "access token too long", body: wi + "&WebIdentityAccessToken=" + long(20001), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "WebIdentityAccessToken"},

		// DurationSeconds.
		{name: "duration not a number", body: wi + "&DurationSeconds=abc", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "DurationSeconds"},
		{name: "duration negative", body: wi + "&DurationSeconds=-900", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "DurationSeconds"},
		{name: "duration plus sign", body: wi + "&DurationSeconds=%2B900", ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "duration fraction", body: wi + "&DurationSeconds=900.5", ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "duration hex", body: wi + "&DurationSeconds=0x384", ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "duration space", body: wi + "&DurationSeconds=+900", ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "duration over a year", body: wi + "&DurationSeconds=31536001", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "31536000"},
		{name: "duration overflow", body: wi + "&DurationSeconds=99999999999999999999999", ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "duration over custom limit", body: wi + "&DurationSeconds=43201", ct: formCT, limits: Limits{MaxDurationSeconds: 43200}, status: 400, code: CodeInvalidParameterValue, msg: "43200"},

		// Policy.
		{name: "policy too large", body: wi + "&Policy=" + url.QueryEscape(`{"a":"`+long(2100)+`"}`), ct: formCT, status: 400, code: CodePackedPolicyTooLarge},
		{name: "policy one byte too large", body: wi + "&Policy=" + url.QueryEscape(`{"a":"`+long(2048-8+1)+`"}`), ct: formCT, status: 400, code: CodePackedPolicyTooLarge},
		{name: "policy not JSON", body: wi + "&Policy=" + url.QueryEscape("not json "+testPolicy), ct: formCT, status: 400, code: CodeMalformedPolicyDocument},
		{name: "policy JSON array", body: wi + "&Policy=" + url.QueryEscape("["+testPolicy+"]"), ct: formCT, status: 400, code: CodeMalformedPolicyDocument},
		{name: "policy JSON string", body: wi + "&Policy=%22x%22", ct: formCT, status: 400, code: CodeMalformedPolicyDocument},
		{name: "policy truncated", body: wi + "&Policy=" + url.QueryEscape(testPolicy[:50]), ct: formCT, status: 400, code: CodeMalformedPolicyDocument},
		{name: "policy trailing garbage", body: wi + "&Policy=" + url.QueryEscape(testPolicy+"x"), ct: formCT, status: 400, code: CodeMalformedPolicyDocument},
		{name: "policy invalid UTF-8", body: wi + "&Policy=" + url.QueryEscape("{\"a\":\"\xff\"}"), ct: formCT, status: 400, code: CodeMalformedPolicyDocument},

		// Other parameters.
		{name: "RoleArn too short", body: wi + "&RoleArn=arn:aws:iam::1:r", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "RoleArn too long", body: wi + "&RoleArn=" + long(2049), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "RoleArn control character", body: wi + "&RoleArn=" + url.QueryEscape(testRoleArn+"\x00"), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "RoleArn invalid UTF-8", body: wi + "&RoleArn=" + url.QueryEscape(testRoleArn+"\xc3"), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "RoleSessionName too short", body: wi + "&RoleSessionName=a", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleSessionName"},
		{name: "RoleSessionName too long", body: wi + "&RoleSessionName=" + long(65), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleSessionName"},
		{name: "RoleSessionName space", body: wi + "&RoleSessionName=my+session", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleSessionName"},
		{name: "RoleSessionName slash", body: wi + "&RoleSessionName=a%2Fb", ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "RoleSessionName non-ASCII word", body: wi + "&RoleSessionName=" + url.QueryEscape("caf\u00e9"), ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "ProviderId too short", body: wi + "&ProviderId=abc", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "ProviderId"},
		{name: "ProviderId too long", body: wi + "&ProviderId=" + long(2049), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "ProviderId"},
		{name: "TokenRevokeType too long", body: wi + "&TokenRevokeType=" + long(257), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "TokenRevokeType"},
		{name: "TokenRevokeType control", body: cg + "&TokenRevokeType=a%0Ab", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "TokenRevokeType"},
		{name: "PolicyArns gap", body: wi + "&PolicyArns.member.1.arn=" + testRoleArn + "&PolicyArns.member.3.arn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "consecutively"},
		{name: "PolicyArns not from 1", body: wi + "&PolicyArns.member.2.arn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "consecutively"},
		{name: "PolicyArns 11", body: wi + policyArns(11), ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "more than 10"},
		{name: "PolicyArns zero index", body: wi + "&PolicyArns.member.0.arn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "Malformed PolicyArns"},
		{name: "PolicyArns leading zero", body: wi + "&PolicyArns.member.01.arn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "Malformed PolicyArns"},
		{name: "PolicyArns huge index", body: wi + "&PolicyArns.member.99999999999999999999.arn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue},
		{name: "PolicyArns other member", body: wi + "&PolicyArns.member.1.Arn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "Malformed PolicyArns"},
		{name: "PolicyArns bare with value", body: wi + "&PolicyArns=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "Malformed PolicyArns"},
		{name: "PolicyArns member too short", body: wi + "&PolicyArns.member.1.arn=arn:short", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "PolicyArns.member.1.arn"},
		{name: "PolicyArns member empty", body: wi + "&PolicyArns.member.1.arn=", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "PolicyArns.member.1.arn"},

		// Merging: the body's bad value wins over the query's good one.
		{name: "body wins with a bad value", query: wi + "&DurationSeconds=900", body: "DurationSeconds=x", ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "DurationSeconds"},
		{name: "repeated across body only", query: wi, body: "RoleArn=" + testRoleArn + "&RoleArn=" + testRoleArn, ct: formCT, status: 400, code: CodeInvalidParameterValue, msg: "RoleArn is given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := mkReq(method, tt.query, tt.body, tt.ct)
			for k, vs := range tt.hdr {
				r.Header[k] = vs
			}
			req, e := ParseRequest(r, tt.limits)
			if e == nil {
				t.Fatalf("accepted: %v", req)
			}
			if req != nil {
				t.Errorf("got a request with an error")
			}
			if e.Status != tt.status || e.Code != tt.code {
				t.Errorf("got %d %s (%q), want %d %s", e.Status, e.Code, e.Message, tt.status, tt.code)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q lacks %q", e.Message, tt.msg)
			}
			checkSafe(t, e)
		})
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("&P")
		b.WriteString(strconv.Itoa(i))
		b.WriteString("=1")
	}
	return b.String()
}

func policyArns(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("&PolicyArns.member." + strconv.Itoa(i) + ".arn=" + url.QueryEscape(testRoleArn+strconv.Itoa(i)))
	}
	return b.String()
}

func TestParseRequestAccepts(t *testing.T) {
	base := func(a Action) Request { return Request{Action: a, Version: APIVersion, Token: testToken} }
	with := func(r Request, f func(*Request)) Request { f(&r); return r }
	arns := make([]string, 10)
	for i := range arns {
		arns[i] = testRoleArn + strconv.Itoa(i+1)
	}
	tests := []struct {
		name   string
		query  string
		body   string
		ct     string
		limits Limits
		want   Request
	}{
		{name: "web identity, form body", body: wi, ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "client grants, form body", body: cg, ct: formCT, want: base(AssumeRoleWithClientGrants)},
		{name: "web identity, query only", query: wi, want: base(AssumeRoleWithWebIdentity)},
		{name: "client grants, query only", query: cg, want: base(AssumeRoleWithClientGrants)},
		{name: "query only with a content type", query: cg, ct: formCT, want: base(AssumeRoleWithClientGrants)},
		{name: "query only with a foreign content type and no body", query: cg, ct: "application/json", want: base(AssumeRoleWithClientGrants)},
		{name: "charset suffix", body: wi, ct: formCT + "; charset=utf-8", want: base(AssumeRoleWithWebIdentity)},
		{name: "upper-case content type", body: wi, ct: "Application/X-WWW-Form-URLEncoded;charset=UTF-8", want: base(AssumeRoleWithWebIdentity)},
		{name: "identity content encoding", body: wi, ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "split between query and body", query: enc("Action", "AssumeRoleWithWebIdentity", "Version", APIVersion), body: enc("WebIdentityToken", testToken), ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "body wins on conflict", query: cg + "&DurationSeconds=100&RoleArn=" + url.QueryEscape(testRoleArn+"q"), body: enc("Action", "AssumeRoleWithWebIdentity", "WebIdentityToken", testToken, "DurationSeconds", "3600"), ct: formCT,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.DurationSeconds = 3600; r.RoleArn = testRoleArn + "q" })},
		{name: "same parameter in both sources", query: wi, body: wi, ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "minio-go client grants sends DurationSeconds=0", body: cg + "&DurationSeconds=0", ct: formCT, want: base(AssumeRoleWithClientGrants)},
		{name: "short duration is the policy's business", body: cg + "&DurationSeconds=300", ct: formCT, want: with(base(AssumeRoleWithClientGrants), func(r *Request) { r.DurationSeconds = 300 })},
		{name: "duration with leading zeros", body: cg + "&DurationSeconds=0900", ct: formCT, want: with(base(AssumeRoleWithClientGrants), func(r *Request) { r.DurationSeconds = 900 })},
		{name: "duration at the maximum", body: cg + "&DurationSeconds=31536000", ct: formCT, want: with(base(AssumeRoleWithClientGrants), func(r *Request) { r.DurationSeconds = 31536000 })},
		{name: "empty optional values are absent", body: wi + "&DurationSeconds=&Policy=&RoleArn=&RoleSessionName=&ProviderId=&TokenRevokeType=&WebIdentityAccessToken=&PolicyArns=", ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "token trailing newline trimmed", body: enc("Action", "AssumeRoleWithWebIdentity", "Version", APIVersion, "WebIdentityToken", testToken+"\n"), ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "token of 4 bytes", body: enc("Action", "AssumeRoleWithClientGrants", "Version", APIVersion, "Token", "abcd"), ct: formCT, want: with(base(AssumeRoleWithClientGrants), func(r *Request) { r.Token = "abcd" })},
		{name: "token at custom limit", body: wi, ct: formCT, limits: Limits{MaxTokenBytes: len(testToken)}, want: base(AssumeRoleWithWebIdentity)},
		{name: "aws-sdk-go-v2 full request", ct: formCT,
			body: "Action=AssumeRoleWithWebIdentity&DurationSeconds=900&Policy=" + url.QueryEscape(testPolicy) + "&PolicyArns.member.1.arn=" + url.QueryEscape(arns[0]) + "&PolicyArns.member.2.arn=" + url.QueryEscape(arns[1]) +
				"&ProviderId=www.amazon.com&RoleArn=" + url.QueryEscape(testRoleArn) + "&RoleSessionName=1732823172000000000&Version=2011-06-15&WebIdentityToken=" + testToken,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) {
				r.DurationSeconds, r.Policy, r.PolicyArns, r.ProviderID, r.RoleArn, r.RoleSessionName = 900, testPolicy, arns[:2], "www.amazon.com", testRoleArn, "1732823172000000000"
			})},
		{name: "minio-go web identity request", ct: formCT,
			body: enc("Action", "AssumeRoleWithWebIdentity", "RoleArn", "arn:minio:iam:::role/dummy-internal", "RoleSessionName", "1732823172000000000", "WebIdentityToken", testToken,
				"WebIdentityAccessToken", testAccessToken, "WebIdentityRefreshToken", "refresh-secret", "DurationSeconds", "3600", "Version", APIVersion, "TokenRevokeType", "all"),
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) {
				r.RoleArn, r.RoleSessionName, r.AccessToken, r.DurationSeconds, r.TokenRevokeType = "arn:minio:iam:::role/dummy-internal", "1732823172000000000", testAccessToken, 3600, "all"
			})},
		{name: "client grants ignores WebIdentityAccessToken", body: cg + "&WebIdentityAccessToken=" + testAccessToken, ct: formCT, want: base(AssumeRoleWithClientGrants)},
		{name: "ten PolicyArns in order", body: wi + policyArns(10), ct: formCT, want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.PolicyArns = arns })},
		{name: "PolicyArns out of order", body: wi + "&PolicyArns.member.2.arn=" + url.QueryEscape(arns[1]) + "&PolicyArns.member.1.arn=" + url.QueryEscape(arns[0]), ct: formCT,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.PolicyArns = arns[:2] })},
		{name: "body PolicyArns replace query's", query: wi + policyArns(3), body: "PolicyArns.member.1.arn=" + url.QueryEscape(arns[9]), ct: formCT,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.PolicyArns = arns[9:] })},
		{name: "empty body PolicyArns list clears query's", query: wi + policyArns(3), body: "PolicyArns=", ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "unknown parameters ignored", query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x%2Fy&X-Amz-Signature=abc", body: wi + "&Foo=1&Foo.Bar=2&=3&&", ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "same unknown parameter in both sources", query: wi + "&X-Amz-Date=1", body: "X-Amz-Date=2", ct: formCT, want: base(AssumeRoleWithWebIdentity)},
		{name: "percent-encoded names", body: "Act%69on=AssumeRoleWithClientGrants&Version=2011-06-15&Token=" + testToken, ct: formCT, want: base(AssumeRoleWithClientGrants)},
		{name: "policy with white space", body: wi + "&Policy=" + url.QueryEscape(" \n"+testPolicy+"\n"), ct: formCT, want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.Policy = " \n" + testPolicy + "\n" })},
		{name: "policy at the limit", body: wi + "&Policy=" + url.QueryEscape(`{"a":"`+strings.Repeat("a", 2048-8)+`"}`), ct: formCT,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.Policy = `{"a":"` + strings.Repeat("a", 2048-8) + `"}` })},
		{name: "non-ASCII RoleArn", body: wi + "&RoleArn=" + url.QueryEscape("arn:aws:iam::123456789012:role/r\u00f4le"), ct: formCT,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.RoleArn = "arn:aws:iam::123456789012:role/r\u00f4le" })},
		{name: "RoleSessionName every allowed character", body: wi + "&RoleSessionName=" + url.QueryEscape("aZ09_+=,.@-"), ct: formCT,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.RoleSessionName = "aZ09_+=,.@-" })},
		{name: "RoleSessionName 64", body: wi + "&RoleSessionName=" + strings.Repeat("s", 64), ct: formCT,
			want: with(base(AssumeRoleWithWebIdentity), func(r *Request) { r.RoleSessionName = strings.Repeat("s", 64) })},
		{name: "plus as space decodes", body: cg + "&TokenRevokeType=a+b", ct: formCT, want: with(base(AssumeRoleWithClientGrants), func(r *Request) { r.TokenRevokeType = "a b" })},
		{name: "body at the cap", body: wi + "&Pad=" + strings.Repeat("p", 1024-len(wi)-5), ct: formCT, limits: Limits{MaxBodyBytes: 1024}, want: base(AssumeRoleWithWebIdentity)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, e := ParseRequest(mkReq(http.MethodPost, tt.query, tt.body, tt.ct), tt.limits)
			if e != nil {
				t.Fatalf("rejected: %v", e)
			}
			if !reflect.DeepEqual(*req, tt.want) {
				t.Errorf("got  %#v\nwant %#v", *req, tt.want)
				if req.Token != tt.want.Token || req.AccessToken != tt.want.AccessToken {
					t.Errorf("token differs")
				}
			}
		})
	}
}

// The body is never read beyond the cap, and not at all when its declared
// length is over it.
func TestParseRequestBodyCap(t *testing.T) {
	const limit = 4096
	big := wi + "&Pad=" + strings.Repeat("x", 1<<20)
	t.Run("declared length over the cap", func(t *testing.T) {
		cr := &countingReader{r: strings.NewReader(big)}
		r := mkReq(http.MethodPost, "", "x", formCT)
		r.Body, r.ContentLength = io.NopCloser(cr), int64(len(big))
		_, e := ParseRequest(r, Limits{MaxBodyBytes: limit})
		if e == nil || e.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %v", e)
		}
		if cr.n != 0 {
			t.Errorf("read %d bytes", cr.n)
		}
	})
	for _, tc := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"unknown length", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: tc.wrap(strings.NewReader(big))}
			r := mkReq(http.MethodPost, "", "x", formCT)
			r.Body, r.ContentLength = io.NopCloser(cr), -1
			_, e := ParseRequest(r, Limits{MaxBodyBytes: limit})
			if e == nil || e.Status != http.StatusRequestEntityTooLarge || e.Code != CodeRequestEntityTooLarge {
				t.Fatalf("got %v", e)
			}
			if cr.n > limit {
				t.Errorf("read %d bytes, cap %d", cr.n, limit)
			}
		})
	}
	t.Run("declared length under the real length", func(t *testing.T) {
		// A client-built request may lie; we stop at the declared length.
		cr := &countingReader{r: strings.NewReader(wi + "&Pad=" + strings.Repeat("x", 10000))}
		r := mkReq(http.MethodPost, "", "x", formCT)
		r.Body, r.ContentLength = io.NopCloser(cr), int64(len(wi))
		req, e := ParseRequest(r, Limits{MaxBodyBytes: limit})
		if e != nil {
			t.Fatal(e)
		}
		if req.Action != AssumeRoleWithWebIdentity || cr.n != int64(len(wi)) {
			t.Errorf("read %d bytes", cr.n)
		}
	})
	t.Run("unknown length under the cap", func(t *testing.T) {
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.DataErrReader, iotest.HalfReader} {
			r := mkReq(http.MethodPost, "", "x", formCT)
			r.Body, r.ContentLength = io.NopCloser(wrap(strings.NewReader(wi))), -1
			if _, e := ParseRequest(r, Limits{MaxBodyBytes: limit}); e != nil {
				t.Fatal(e)
			}
		}
	})
	t.Run("client request with ContentLength 0 and a body", func(t *testing.T) {
		r := mkReq(http.MethodPost, "", "x", formCT)
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(cg)), 0
		if req, e := ParseRequest(r, Limits{}); e != nil || req.Action != AssumeRoleWithClientGrants {
			t.Fatal(e)
		}
	})
	t.Run("MaxBytesReader upstream", func(t *testing.T) {
		r := mkReq(http.MethodPost, "", big, formCT)
		r.ContentLength = -1
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 100)
		if _, e := ParseRequest(r, Limits{}); e == nil || e.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("read error", func(t *testing.T) {
		r := mkReq(http.MethodPost, "", wi, formCT)
		r.Body = io.NopCloser(iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader(wi))))
		r.ContentLength = -1
		if _, e := ParseRequest(r, Limits{}); e == nil || e.Status != 400 || e.Code != CodeInvalidParameterValue {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("short body", func(t *testing.T) {
		r := mkReq(http.MethodPost, "", wi, formCT)
		r.Body = io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF))
		if _, e := ParseRequest(r, Limits{}); e == nil || e.Status != 400 {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("stalled reader", func(t *testing.T) {
		r := mkReq(http.MethodPost, "", wi, formCT)
		r.Body, r.ContentLength = io.NopCloser(stallReader{}), -1
		if _, e := ParseRequest(r, Limits{}); e == nil || e.Status != 400 {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("nil body and nil URL", func(t *testing.T) {
		r := &http.Request{Method: http.MethodPost, Header: http.Header{}}
		if _, e := ParseRequest(r, Limits{}); e == nil || e.Code != CodeMissingParameter {
			t.Fatalf("got %v", e)
		}
		if _, e := ParseRequest(nil, Limits{}); e == nil || e.Status != 500 {
			t.Fatalf("got %v", e)
		}
	})
}

type stallReader struct{}

func (stallReader) Read([]byte) (int, error) { return 0, nil }

func TestDefaultLimits(t *testing.T) {
	want := Limits{MaxBodyBytes: 256 << 10, MaxTokenBytes: 20000, MaxPolicyBytes: 2048, MaxDurationSeconds: 365 * 24 * 3600}
	if got := DefaultLimits(); got != want {
		t.Errorf("got %+v", got)
	}
	if got := (Limits{MaxBodyBytes: -1, MaxTokenBytes: -1, MaxPolicyBytes: -5, MaxDurationSeconds: -1}).withDefaults(); got != want {
		t.Errorf("negative limits: got %+v", got)
	}
}

// Through a real HTTP server and client: both encodings, and the errors as
// a client sees them.
func TestParseRequestOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, e := ParseRequest(r, Limits{MaxBodyBytes: 8192})
		if e != nil {
			WriteError(w, e, "req-1")
			return
		}
		size := len(req.Policy)
		if err := WriteResult(w, Result{
			Action:      req.Action,
			Credentials: Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s3cr3t", SessionToken: "st", Expiration: fixedExpiration},
			Subject:     "alice", PackedPolicySize: &size,
		}, "req-1"); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()

	post := func(query, ct, body string) *http.Response {
		t.Helper()
		resp, err := http.Post(srv.URL+"/?"+query, ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, tc := range []struct{ name, query, ct, body string }{
		{"form", "", formCT, wi},
		{"query", wi, "", ""},
		{"charset", "", formCT + "; charset=utf-8", cg},
	} {
		resp := post(tc.query, tc.ct, tc.body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "<AccessKeyId>AKIAIOSFODNN7EXAMPLE</AccessKeyId>") {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
	}

	resp := post("", formCT, wi+"&Pad="+strings.Repeat("x", 10000))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), "<Code>RequestEntityTooLarge</Code>") {
		t.Errorf("oversized: %d %s", resp.StatusCode, b)
	}

	resp, err := http.Get(srv.URL + "/?" + wi)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" || !strings.Contains(string(b), "<Code>MethodNotAllowed</Code>") {
		t.Errorf("GET: %d %v %s", resp.StatusCode, resp.Header, b)
	}
}

func TestErrorError(t *testing.T) {
	if got := MissingParameter("x").Error(); got != "MissingParameter: x" {
		t.Error(got)
	}
	if got := (&Error{Code: "C"}).Error(); got != "C" {
		t.Error(got)
	}
	var e *Error
	if got := e.Error(); got != "<nil>" {
		t.Error(got)
	}
	var err error = InternalError()
	var se *Error
	if !errors.As(err, &se) || se.Status != 500 {
		t.Error("errors.As")
	}
}
