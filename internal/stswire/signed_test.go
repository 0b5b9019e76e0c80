package stswire

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// ar and gci are valid minimal AssumeRole and GetCallerIdentity requests.
var (
	ar  = enc("Action", "AssumeRole", "Version", APIVersion, "RoleArn", testRoleArn, "RoleSessionName", "s1")
	gci = enc("Action", "GetCallerIdentity", "Version", APIVersion)
)

const (
	testExternalID = "ext-id-secret-0123456789"
	testSTSToken   = "IQoJb3JpZ2luX2VjEFAaCXVzLWVhc3QtMSJHMEUCIQ-session-token"
)

func tags(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "&Tags.member.%d.Key=k%d&Tags.member.%d.Value=v%d", i, i, i, i)
	}
	return b.String()
}

func transitive(keys ...string) string {
	var b strings.Builder
	for i, k := range keys {
		fmt.Fprintf(&b, "&TransitiveTagKeys.member.%d=%s", i+1, url.QueryEscape(k))
	}
	return b.String()
}

// parseSigned parses r as a caller that verifies signatures does.
func parseSigned(r *http.Request) (*Request, *Error) {
	body, e := ReadBody(r, Limits{})
	if e != nil {
		return nil, e
	}
	return ParseRequestBody(r, body, Limits{})
}

// ParseRequest, which does not hand out the body, answers the signed
// actions as it always has: unsupported, and GET not allowed. Only a
// caller that can verify their signature (ParseRequestBody) gets them.
func TestParseRequestRefusesSignedActions(t *testing.T) {
	for _, tc := range []struct {
		method, query, body string
		status              int
		msg                 string
	}{
		{http.MethodPost, "", ar, 400, "Unsupported action AssumeRole"},
		{http.MethodPost, gci, "", 400, "Unsupported action GetCallerIdentity"},
		{http.MethodGet, gci, "", 405, ""},
		{http.MethodGet, ar, "", 405, ""},
	} {
		ct := ""
		if tc.body != "" {
			ct = formCT
		}
		req, e := ParseRequest(mkReq(tc.method, tc.query, tc.body, ct), Limits{})
		if e == nil || e.Status != tc.status || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s %s%s: %v %v", tc.method, tc.query, tc.body, req, e)
		}
		if req, e := parseSigned(mkReq(tc.method, tc.query, tc.body, ct)); e != nil {
			t.Errorf("ParseRequestBody: %v %v", req, e)
		}
	}
}

// Negative cases first.
func TestParseSignedRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		method string
		query  string
		body   string
		status int
		code   string
		msg    string
	}{
		// Methods.
		{name: "GET web identity", method: http.MethodGet, query: wi, status: 405, code: CodeMethodNotAllowed},
		{name: "GET without an action", method: http.MethodGet, query: "Version=" + APIVersion, status: 405, code: CodeMethodNotAllowed},
		{name: "GET with a malformed query", method: http.MethodGet, query: gci + "&a=%zz", status: 405, code: CodeMethodNotAllowed},
		{name: "GET with a body", method: http.MethodGet, query: gci, body: "x=1", status: 400, code: CodeInvalidParameterValue, msg: "GET request must not have a body"},
		{name: "PUT AssumeRole", method: http.MethodPut, query: ar, status: 405, code: CodeMethodNotAllowed},
		{name: "HEAD GetCallerIdentity", method: http.MethodHead, query: gci, status: 405, code: CodeMethodNotAllowed},

		// Parameters the action does not take.
		{name: "GetCallerIdentity with RoleArn", body: gci + "&RoleArn=" + url.QueryEscape(testRoleArn), status: 400, code: CodeInvalidParameterValue, msg: "Parameter RoleArn is not valid for GetCallerIdentity"},
		{name: "GetCallerIdentity with an empty RoleArn", body: gci + "&RoleArn=", status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "GetCallerIdentity with an unknown parameter", body: gci + "&Foo=1", status: 400, code: CodeInvalidParameterValue, msg: "Unknown parameter Foo for GetCallerIdentity"},
		{name: "GetCallerIdentity with PolicyArns", body: gci + "&PolicyArns.member.1.arn=" + url.QueryEscape(testRoleArn), status: 400, code: CodeInvalidParameterValue, msg: "no parameters"},
		{name: "GetCallerIdentity with Tags", body: gci + tags(1), status: 400, code: CodeInvalidParameterValue},
		{name: "GetCallerIdentity with a token", body: gci + "&WebIdentityToken=" + testToken, status: 400, code: CodeInvalidParameterValue, msg: "WebIdentityToken is not valid"},
		{name: "AssumeRole with WebIdentityToken", body: ar + "&WebIdentityToken=" + testToken, status: 400, code: CodeInvalidParameterValue, msg: "WebIdentityToken is not valid for AssumeRole"},
		{name: "AssumeRole with ProviderId", body: ar + "&ProviderId=www.amazon.com", status: 400, code: CodeInvalidParameterValue, msg: "ProviderId"},
		{name: "AssumeRole with an unknown parameter", body: ar + "&DurationMinutes=60", status: 400, code: CodeInvalidParameterValue, msg: "Unknown parameter DurationMinutes"},
		{name: "AssumeRole with an unknown name that is a secret", body: ar + "&ExternalId=" + testExternalID + "&" + testExternalID + "=1", status: 400, code: CodeInvalidParameterValue, msg: "unknown parameter"},
		{name: "AssumeRole with an odd unknown name", body: ar + "&%3Cscript%3E=1", status: 400, code: CodeInvalidParameterValue, msg: "unknown parameter"},
		{name: "lower-case parameter name", body: ar + "&roleArn=x", status: 400, code: CodeInvalidParameterValue, msg: "roleArn"},
		{name: "X-Amz-Signature in the body", body: ar + "&X-Amz-Signature=" + long(64), status: 400, code: CodeInvalidParameterValue, msg: "query string only"},
		{name: "X-Amz-Security-Token in the body", body: gci + "&X-Amz-Security-Token=" + testSTSToken, status: 400, code: CodeInvalidParameterValue, msg: "query string only"},
		{name: "SigV4 parameter twice in the query", query: gci + "&X-Amz-Date=1&X-Amz-Date=1", status: 400, code: CodeInvalidParameterValue, msg: "X-Amz-Date is given more than once"},

		// Repetition.
		{name: "RoleArn twice", body: ar + "&RoleArn=" + url.QueryEscape(testRoleArn), status: 400, code: CodeInvalidParameterValue, msg: "RoleArn is given more than once"},
		{name: "tag key twice", body: ar + tags(1) + "&Tags.member.1.Key=k1", status: 400, code: CodeInvalidParameterValue, msg: "Tags.member.1.Key is given more than once"},
		{name: "tag value twice", body: ar + tags(1) + "&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Tags.member.1.Value is given more than once"},
		{name: "transitive key twice", body: ar + tags(1) + "&TransitiveTagKeys.member.1=k1&TransitiveTagKeys.member.1=k1", status: 400, code: CodeInvalidParameterValue, msg: "TransitiveTagKeys.member.1 is given more than once"},

		// Required parameters.
		{name: "no RoleArn", body: enc("Action", "AssumeRole", "Version", APIVersion, "RoleSessionName", "s1"), status: 400, code: CodeMissingParameter, msg: "RoleArn"},
		{name: "empty RoleArn", body: enc("Action", "AssumeRole", "Version", APIVersion, "RoleArn", "", "RoleSessionName", "s1"), status: 400, code: CodeMissingParameter, msg: "RoleArn"},
		{name: "no RoleSessionName", body: enc("Action", "AssumeRole", "Version", APIVersion, "RoleArn", testRoleArn), status: 400, code: CodeMissingParameter, msg: "RoleSessionName"},
		{name: "wrong Version", body: enc("Action", "AssumeRole", "Version", "2012-01-01"), status: 400, code: CodeMissingParameter, msg: "Invalid STS API version"},

		// RoleArn, RoleSessionName.
		{name: "RoleArn 19 characters", body: strings.Replace(ar, url.QueryEscape(testRoleArn), long(19), 1), status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "RoleArn 2049 characters", body: strings.Replace(ar, url.QueryEscape(testRoleArn), long(2049), 1), status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "RoleArn control character", body: strings.Replace(ar, url.QueryEscape(testRoleArn), url.QueryEscape(testRoleArn+"\x01"), 1), status: 400, code: CodeInvalidParameterValue, msg: "RoleArn"},
		{name: "RoleSessionName 1 character", body: strings.Replace(ar, "s1", "s", 1), status: 400, code: CodeInvalidParameterValue, msg: "RoleSessionName"},
		{name: "RoleSessionName 65 characters", body: strings.Replace(ar, "s1", long(65), 1), status: 400, code: CodeInvalidParameterValue, msg: "RoleSessionName"},
		{name: "RoleSessionName with a colon", body: strings.Replace(ar, "s1", "a%3Ab", 1), status: 400, code: CodeInvalidParameterValue, msg: "RoleSessionName"},
		{name: "RoleSessionName with a space", body: strings.Replace(ar, "s1", "a+b", 1), status: 400, code: CodeInvalidParameterValue},

		// DurationSeconds.
		{name: "duration 899", body: ar + "&DurationSeconds=899", status: 400, code: CodeInvalidParameterValue, msg: "between 900 and 43200"},
		{name: "duration 0", body: ar + "&DurationSeconds=0", status: 400, code: CodeInvalidParameterValue, msg: "DurationSeconds"},
		{name: "duration 43201", body: ar + "&DurationSeconds=43201", status: 400, code: CodeInvalidParameterValue},
		{name: "duration negative", body: ar + "&DurationSeconds=-900", status: 400, code: CodeInvalidParameterValue},
		{name: "duration fraction", body: ar + "&DurationSeconds=900.0", status: 400, code: CodeInvalidParameterValue},
		{name: "duration overflow", body: ar + "&DurationSeconds=99999999999999999999", status: 400, code: CodeInvalidParameterValue},

		// Policy and PolicyArns, as for the other actions.
		{name: "policy not JSON", body: ar + "&Policy=" + url.QueryEscape("x"+testPolicy), status: 400, code: CodeMalformedPolicyDocument},
		{name: "policy too large", body: ar + "&Policy=" + url.QueryEscape(`{"a":"`+long(2100)+`"}`), status: 400, code: CodePackedPolicyTooLarge},
		{name: "PolicyArns gap", body: ar + "&PolicyArns.member.2.arn=" + url.QueryEscape(testRoleArn), status: 400, code: CodeInvalidParameterValue, msg: "consecutively"},
		{name: "PolicyArns 11", body: ar + policyArns(11), status: 400, code: CodeInvalidParameterValue, msg: "more than 10"},

		// Tags.
		{name: "51 tags", body: ar + tags(51), status: 400, code: CodeInvalidParameterValue, msg: "Tags has more than 50 members"},
		{name: "tags from 2", body: ar + "&Tags.member.2.Key=k&Tags.member.2.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Tags members must be numbered consecutively from 1"},
		{name: "tags with a gap", body: ar + tags(1) + "&Tags.member.3.Key=k&Tags.member.3.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "consecutively"},
		{name: "tag index 0", body: ar + "&Tags.member.0.Key=k&Tags.member.0.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "tag index leading zero", body: ar + "&Tags.member.01.Key=k&Tags.member.01.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "tag index huge", body: ar + "&Tags.member.99999999999.Key=k", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "tag index sign", body: ar + "&Tags.member.%2B1.Key=k", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "tag field lower case", body: ar + "&Tags.member.1.key=k&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "tag other field", body: ar + "&Tags.member.1.Name=k", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "tag without member", body: ar + "&Tags.1.Key=k", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "bare Tags with a value", body: ar + "&Tags=k%3Dv", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
		{name: "tag without a value", body: ar + "&Tags.member.1.Key=k", status: 400, code: CodeMissingParameter, msg: "Tags.member.1.Value"},
		{name: "tag without a key", body: ar + "&Tags.member.1.Value=v", status: 400, code: CodeMissingParameter, msg: "Tags.member.1.Key"},
		{name: "tag with an empty key", body: ar + "&Tags.member.1.Key=&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Tags.member.1.Key must be 1 to 128"},
		{name: "tag key 129 characters", body: ar + "&Tags.member.1.Key=" + long(129) + "&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Key must be"},
		{name: "tag key with a comma", body: ar + "&Tags.member.1.Key=a%2Cb&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "Key must be"},
		{name: "tag key with a tab", body: ar + "&Tags.member.1.Key=a%09b&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue},
		{name: "tag key with invalid UTF-8", body: ar + "&Tags.member.1.Key=a%C3&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue},
		{name: "tag key aws:", body: ar + "&Tags.member.1.Key=aws%3Ax&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "aws:"},
		{name: "tag key AWS:", body: ar + "&Tags.member.1.Key=AWS%3Ax&Tags.member.1.Value=v", status: 400, code: CodeInvalidParameterValue, msg: "aws:"},
		{name: "tag value 257 characters", body: ar + "&Tags.member.1.Key=k&Tags.member.1.Value=" + long(257), status: 400, code: CodeInvalidParameterValue, msg: "Tags.member.1.Value must be"},
		{name: "tag value with a control character", body: ar + "&Tags.member.1.Key=k&Tags.member.1.Value=a%00", status: 400, code: CodeInvalidParameterValue, msg: "Value"},
		{name: "tag value with a quote", body: ar + "&Tags.member.1.Key=k&Tags.member.1.Value=%22", status: 400, code: CodeInvalidParameterValue, msg: "Value"},
		{name: "duplicate tag keys", body: ar + "&Tags.member.1.Key=Dept&Tags.member.1.Value=a&Tags.member.2.Key=Dept&Tags.member.2.Value=b", status: 400, code: CodeInvalidParameterValue, msg: "Duplicate tag keys"},
		{name: "duplicate tag keys differing in case", body: ar + "&Tags.member.1.Key=Dept&Tags.member.1.Value=a&Tags.member.2.Key=dEPT&Tags.member.2.Value=b", status: 400, code: CodeInvalidParameterValue, msg: "case insensitive"},
		{name: "duplicate non-ASCII tag keys differing in case", body: ar + "&Tags.member.1.Key=%C3%89t%C3%A9&Tags.member.1.Value=a&Tags.member.2.Key=%C3%A9T%C3%89&Tags.member.2.Value=b", status: 400, code: CodeInvalidParameterValue, msg: "Duplicate"},

		// TransitiveTagKeys.
		{name: "transitive key not a tag", body: ar + tags(2) + transitive("k3"), status: 400, code: CodeInvalidParameterValue, msg: "TransitiveTagKeys.member.1 must be the key of one of the Tags"},
		{name: "transitive key without tags", body: ar + transitive("k1"), status: 400, code: CodeInvalidParameterValue, msg: "one of the Tags"},
		{name: "transitive keys repeated", body: ar + tags(2) + transitive("k1", "K1"), status: 400, code: CodeInvalidParameterValue, msg: "repeats"},
		{name: "transitive keys gap", body: ar + tags(2) + "&TransitiveTagKeys.member.2=k1", status: 400, code: CodeInvalidParameterValue, msg: "consecutively"},
		{name: "51 transitive keys", body: ar + tags(50) + "&TransitiveTagKeys.member.51=k1", status: 400, code: CodeInvalidParameterValue, msg: "TransitiveTagKeys has more than 50"},
		{name: "transitive key empty", body: ar + tags(1) + "&TransitiveTagKeys.member.1=", status: 400, code: CodeInvalidParameterValue, msg: "TransitiveTagKeys.member.1 must be 1 to 128"},
		{name: "transitive key malformed name", body: ar + tags(1) + "&TransitiveTagKeys.member.1.Key=k1", status: 400, code: CodeInvalidParameterValue, msg: "Malformed TransitiveTagKeys"},
		{name: "transitive key without member", body: ar + tags(1) + "&TransitiveTagKeys.1=k1", status: 400, code: CodeInvalidParameterValue, msg: "Malformed TransitiveTagKeys"},
		{name: "bare TransitiveTagKeys with a value", body: ar + tags(1) + "&TransitiveTagKeys=k1", status: 400, code: CodeInvalidParameterValue, msg: "Malformed TransitiveTagKeys"},
		{name: "body's tags replace the query's, transitive keys from the query", query: ar + tags(2), body: "Tags.member.1.Key=x&Tags.member.1.Value=y" + transitive("k2"), status: 400, code: CodeInvalidParameterValue, msg: "one of the Tags"},

		// ExternalId, SourceIdentity, MinimumSessionTokenSize.
		{name: "ExternalId 1 character", body: ar + "&ExternalId=x", status: 400, code: CodeInvalidParameterValue, msg: "ExternalId"},
		{name: "ExternalId 1225 characters", body: ar + "&ExternalId=" + long(1225), status: 400, code: CodeInvalidParameterValue, msg: "ExternalId"},
		{name: "ExternalId with a space", body: ar + "&ExternalId=" + testExternalID + "+x", status: 400, code: CodeInvalidParameterValue, msg: "ExternalId"},
		{name: "ExternalId non-ASCII", body: ar + "&ExternalId=" + url.QueryEscape("caf\u00e9-id"), status: 400, code: CodeInvalidParameterValue},
		{name: "SourceIdentity 1 character", body: ar + "&SourceIdentity=x", status: 400, code: CodeInvalidParameterValue, msg: "SourceIdentity"},
		{name: "SourceIdentity 65 characters", body: ar + "&SourceIdentity=" + long(65), status: 400, code: CodeInvalidParameterValue, msg: "SourceIdentity"},
		{name: "SourceIdentity aws:", body: ar + "&SourceIdentity=aws%3Aalice", status: 400, code: CodeInvalidParameterValue, msg: "cannot begin with aws:"},
		{name: "SourceIdentity Aws:", body: ar + "&SourceIdentity=Aws%3Aalice", status: 400, code: CodeInvalidParameterValue, msg: "aws:"},
		{name: "SourceIdentity with a slash", body: ar + "&SourceIdentity=a%2Fb", status: 400, code: CodeInvalidParameterValue, msg: "SourceIdentity"},
		{name: "MinimumSessionTokenSize 4097", body: ar + "&MinimumSessionTokenSize=4097", status: 400, code: CodeInvalidParameterValue, msg: "MinimumSessionTokenSize"},
		{name: "MinimumSessionTokenSize negative", body: ar + "&MinimumSessionTokenSize=-1", status: 400, code: CodeInvalidParameterValue},

		// Not supported.
		{name: "MFA serial number", body: ar + "&SerialNumber=arn%3Aaws%3Aiam%3A%3A123456789012%3Amfa%2Falice", status: 400, code: CodeInvalidParameterValue, msg: "MFA is not supported"},
		{name: "MFA token code", body: ar + "&TokenCode=123456", status: 400, code: CodeInvalidParameterValue, msg: "MFA"},
		{name: "ProvidedContexts", body: ar + "&ProvidedContexts.member.1.ProviderArn=arn%3Aaws%3Aiam%3A%3Aaws%3AcontextProvider%2FIdentityCenter&ProvidedContexts.member.1.ContextAssertion=x", status: 400, code: CodeInvalidParameterValue, msg: "ProvidedContexts is not supported"},
		{name: "bare ProvidedContexts with a value", body: ar + "&ProvidedContexts=x", status: 400, code: CodeInvalidParameterValue, msg: "ProvidedContexts"},

		// Web identity and client grants take no request tags.
		{name: "web identity with Tags", body: wi + tags(1), status: 400, code: CodeInvalidParameterValue, msg: "https://aws.amazon.com/tags"},
		{name: "web identity with TransitiveTagKeys", body: wi + "&TransitiveTagKeys.member.1=k", status: 400, code: CodeInvalidParameterValue, msg: "does not take Tags"},
		{name: "web identity with a bare Tags value", body: wi + "&Tags=x", status: 400, code: CodeInvalidParameterValue},
		{name: "client grants with Tags in the query", query: cg + tags(1), status: 400, code: CodeInvalidParameterValue, msg: "AssumeRoleWithClientGrants does not take Tags"},
		{name: "web identity with a malformed Tags name", body: wi + "&Tags.member.x.Key=k", status: 400, code: CodeInvalidParameterValue, msg: "Malformed Tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			ct := ""
			if tt.body != "" {
				ct = formCT
			}
			req, e := parseSigned(mkReq(method, tt.query, tt.body, ct))
			if e == nil {
				t.Fatalf("accepted: %v", req)
			}
			if req != nil {
				t.Error("a request with an error")
			}
			if e.Status != tt.status || e.Code != tt.code {
				t.Errorf("got %d %s (%q), want %d %s", e.Status, e.Code, e.Message, tt.status, tt.code)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q lacks %q", e.Message, tt.msg)
			}
			checkSafe(t, e)
			for _, s := range []string{testExternalID, testSTSToken} {
				if strings.Contains(e.Message, s) {
					t.Errorf("message %q reveals a secret", e.Message)
				}
			}
		})
	}
}

func TestParseSignedAccepts(t *testing.T) {
	base := Request{Action: AssumeRole, Version: APIVersion, RoleArn: testRoleArn, RoleSessionName: "s1"}
	with := func(f func(*Request)) Request { r := base; f(&r); return r }
	fifty := make([]Tag, 50)
	for i := range fifty {
		fifty[i] = Tag{Key: "k" + strconv.Itoa(i+1), Value: "v" + strconv.Itoa(i+1)}
	}
	sdkQuery := "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261128%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261128T202612Z" +
		"&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=" + testSTSToken + "&X-Amz-Signature=" + strings.Repeat("0", 64)
	tests := []struct {
		name   string
		method string
		query  string
		body   string
		want   Request
	}{
		{name: "minimal AssumeRole", body: ar, want: base},
		{name: "GetCallerIdentity", body: gci, want: Request{Action: GetCallerIdentity, Version: APIVersion}},
		{name: "GetCallerIdentity in the query, POST", query: gci, want: Request{Action: GetCallerIdentity, Version: APIVersion}},
		{name: "presigned GetCallerIdentity, GET", method: http.MethodGet, query: gci + sdkQuery, want: Request{Action: GetCallerIdentity, Version: APIVersion}},
		{name: "presigned AssumeRole, GET", method: http.MethodGet, query: ar + sdkQuery, want: base},
		{name: "aws-sdk-go-v2's full AssumeRole", body: "Action=AssumeRole&DurationSeconds=3600&ExternalId=" + testExternalID + "&MinimumSessionTokenSize=1024" +
			"&Policy=" + url.QueryEscape(testPolicy) + "&PolicyArns.member.1.arn=" + url.QueryEscape(testRoleArn+"p") +
			"&RoleArn=" + url.QueryEscape(testRoleArn) + "&RoleSessionName=s1&SourceIdentity=alice%40example.com" +
			"&Tags.member.1.Key=Project&Tags.member.1.Value=Unicorn&Tags.member.2.Key=Cost%20Center&Tags.member.2.Value=" +
			"&TransitiveTagKeys.member.1=project&Version=2011-06-15",
			want: with(func(r *Request) {
				r.DurationSeconds, r.ExternalID, r.MinimumSessionTokenSize, r.Policy, r.PolicyArns = 3600, testExternalID, 1024, testPolicy, []string{testRoleArn + "p"}
				r.SourceIdentity, r.Tags, r.TransitiveTagKeys = "alice@example.com", []Tag{{"Project", "Unicorn"}, {"Cost Center", ""}}, []string{"project"}
			})},
		{name: "minio-go's AssumeRole (TokenRevokeType)", body: ar + "&DurationSeconds=900&ExternalId=" + testExternalID + "&TokenRevokeType=all",
			want: with(func(r *Request) { r.DurationSeconds, r.ExternalID, r.TokenRevokeType = 900, testExternalID, "all" })},
		{name: "duration bounds", body: ar + "&DurationSeconds=43200", want: with(func(r *Request) { r.DurationSeconds = 43200 })},
		{name: "fifty tags", body: ar + tags(50), want: with(func(r *Request) { r.Tags = fifty })},
		{name: "tags out of order, value first", body: ar + "&Tags.member.2.Value=v2&Tags.member.1.Value=v1&Tags.member.2.Key=k2&Tags.member.1.Key=k1",
			want: with(func(r *Request) { r.Tags = fifty[:2] })},
		{name: "tag characters", body: ar + "&Tags.member.1.Key=" + url.QueryEscape("a_.:/=+-@ 1\u00e9\u4e2d") + "&Tags.member.1.Value=" + url.QueryEscape("\u0663\u00a0x"),
			want: with(func(r *Request) { r.Tags = []Tag{{"a_.:/=+-@ 1\u00e9\u4e2d", "\u0663\u00a0x"}} })},
		{name: "tag key of 128 and value of 256 characters", body: ar + "&Tags.member.1.Key=" + strings.Repeat("\u00e9", 128) + "&Tags.member.1.Value=" + strings.Repeat("v", 256),
			want: with(func(r *Request) { r.Tags = []Tag{{strings.Repeat("\u00e9", 128), strings.Repeat("v", 256)}} })},
		{name: "transitive keys match case-insensitively", body: ar + tags(3) + transitive("K3", "k1"),
			want: with(func(r *Request) { r.Tags, r.TransitiveTagKeys = fifty[:3], []string{"K3", "k1"} })},
		{name: "empty lists", body: ar + "&Tags=&TransitiveTagKeys=&PolicyArns=&ProvidedContexts=", want: base},
		{name: "body's tags replace the query's", query: ar + tags(3), body: "Tags.member.1.Key=k1&Tags.member.1.Value=v1",
			want: with(func(r *Request) { r.Tags = fifty[:1] })},
		{name: "empty body list clears the query's", query: ar + tags(3) + transitive("k1"), body: "Tags=&TransitiveTagKeys=", want: base},
		{name: "empty optional values are absent", body: ar + "&DurationSeconds=&ExternalId=&SourceIdentity=&SerialNumber=&TokenCode=&MinimumSessionTokenSize=&Policy=", want: base},
		{name: "ExternalId every allowed character", body: ar + "&ExternalId=" + url.QueryEscape("aZ09_+=,.@:/-"), want: with(func(r *Request) { r.ExternalID = "aZ09_+=,.@:/-" })},
		{name: "SourceIdentity containing aws", body: ar + "&SourceIdentity=awsome", want: with(func(r *Request) { r.SourceIdentity = "awsome" })},
		{name: "web identity ignores ExternalId, as before", body: wi + "&ExternalId=x", want: Request{Action: AssumeRoleWithWebIdentity, Version: APIVersion, Token: testToken}},
		{name: "web identity takes empty tag lists", body: wi + "&Tags=&TransitiveTagKeys=", want: Request{Action: AssumeRoleWithWebIdentity, Version: APIVersion, Token: testToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			ct := ""
			if tt.body != "" {
				ct = formCT
			}
			req, e := parseSigned(mkReq(method, tt.query, tt.body, ct))
			if e != nil {
				t.Fatalf("rejected: %v", e)
			}
			if !reflect.DeepEqual(*req, tt.want) {
				t.Errorf("got  %#v\nwant %#v", *req, tt.want)
			}
			for _, out := range []string{fmt.Sprint(req), fmt.Sprintf("%#v", req), fmt.Sprintf("%+v", *req)} {
				if req.ExternalID != "" && strings.Contains(out, req.ExternalID) {
					t.Errorf("formatted request reveals the external id: %s", out)
				}
			}
		})
	}
}

// ReadBody hands out the body exactly as received; ParseRequestBody
// answers as ParseRequest does.
func TestReadBodyAndParseRequestBody(t *testing.T) {
	body := ar + "&Tags.member.1.Key=a%20b&Tags.member.1.Value=x+y"
	raw, e := ReadBody(mkReq(http.MethodPost, "", body, formCT), Limits{})
	if e != nil || string(raw) != body {
		t.Fatalf("%q %v", raw, e)
	}
	r := mkReq(http.MethodPost, "", "", formCT)
	got, e := ParseRequestBody(r, raw, Limits{})
	want, e2 := parseSigned(mkReq(http.MethodPost, "", body, formCT))
	if e != nil || e2 != nil || !reflect.DeepEqual(got, want) || len(got.Tags) != 1 {
		t.Fatalf("%v %v\n%v\n%v", e, e2, got, want)
	}
	// For the token actions, both entry points agree.
	got, e = ParseRequestBody(r, []byte(wi), Limits{})
	want, e2 = ParseRequest(mkReq(http.MethodPost, "", wi, formCT), Limits{})
	if e != nil || e2 != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%v %v\n%v\n%v", e, e2, got, want)
	}
	if raw, e := ReadBody(mkReq(http.MethodPost, gci, "", ""), Limits{}); e != nil || raw != nil {
		t.Errorf("empty body: %q %v", raw, e)
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		body string
		code string
	}{
		{"over the cap", mkReq(http.MethodPost, "", "", formCT), ar + "&Pad=" + strings.Repeat("x", 2000), CodeRequestEntityTooLarge},
		{"not a form", mkReq(http.MethodPost, "", "", "application/json"), ar, CodeInvalidParameterValue},
		{"no content type", mkReq(http.MethodPost, "", "", ""), ar, CodeInvalidParameterValue},
		{"PUT", mkReq(http.MethodPut, "", "", formCT), ar, CodeMethodNotAllowed},
		{"GET with a body", mkReq(http.MethodGet, gci, "", formCT), "x=1", CodeInvalidParameterValue},
	} {
		if _, e := ParseRequestBody(tc.r, []byte(tc.body), Limits{MaxBodyBytes: 1024}); e == nil || e.Code != tc.code {
			t.Errorf("%s: got %v, want %s", tc.name, e, tc.code)
		}
	}
	if _, e := ReadBody(mkReq(http.MethodPut, "", ar, formCT), Limits{}); e == nil || e.Code != CodeMethodNotAllowed {
		t.Errorf("ReadBody PUT: %v", e)
	}
	if _, e := ReadBody(mkReq(http.MethodPost, "", ar, "text/plain"), Limits{}); e == nil || e.Code != CodeInvalidParameterValue {
		t.Errorf("ReadBody text/plain: %v", e)
	}
	if _, e := ReadBody(nil, Limits{}); e == nil || e.Status != 500 {
		t.Errorf("nil: %v", e)
	}
	if _, e := ParseRequestBody(nil, nil, Limits{}); e == nil || e.Status != 500 {
		t.Errorf("nil: %v", e)
	}
}

func TestActionSigned(t *testing.T) {
	for a, want := range map[Action]bool{AssumeRole: true, GetCallerIdentity: true, AssumeRoleWithWebIdentity: false, AssumeRoleWithClientGrants: false, "": false} {
		if a.Signed() != want {
			t.Errorf("%s: %v", a, !want)
		}
	}
}
