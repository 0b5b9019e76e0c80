package stswire

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// fuzzSecret replaces the placeholder SECRET in the fuzzer's input, so the
// target knows a secret value wherever the fuzzer moves the placeholder.
const fuzzSecret = "fz7Qx9Kp2Vb8Lm4Nw0Rt"

// FuzzParseRequest feeds arbitrary query strings, bodies and content types.
// ParseRequest must not panic; every error is a well-formed 4xx/5xx with a
// code; no message and no formatted Request contains a secret.
func FuzzParseRequest(f *testing.F) {
	seeds := [][3]string{
		{"", wi, formCT},
		{cg, "", ""},
		{"", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=SECRET&WebIdentityAccessToken=SECRET", formCT},
		{"Action=AssumeRoleWithClientGrants&Version=2011-06-15&Token=SECRET&DurationSeconds=0", "", ""},
		{"Action=SECRET&Version=2011-06-15&Token=SECRET", "", ""},
		{"Action=AssumeRoleWithClientGrants&Version=SECRET&Token=SECRET", "", ""},
		{"Action=0&Version=SECRET", "", ""}, // the placeholder outside a secret parameter is not a secret
		{"Action=AssumeRoleWithClientGrants&Version=2011-06-15", "Token=SECRET&Token=SECRET", formCT + "; charset=utf-8"},
		{"", "SECRET&SECRET", formCT},
		{"", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=SECRET&Policy=%7B%22a%22%3ASECRET%7D", formCT},
		{"", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=SECRET&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp&PolicyArns.member.2.arn=x", formCT},
		{"", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=SECRET&RoleSessionName=SECRET&RoleArn=SECRET&ProviderId=SECRET", formCT},
		{"a=%zz", "b=%", "text/plain"},
		{"", "\x00\xff\x1f\x8b", formCT},
		{"Action=AssumeRoleWithWebIdentity;Version=2011-06-15", "", ""},
		{"", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=SECRET&DurationSeconds=99999999999", formCT},
		// The signed actions.
		{"", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=s1", formCT},
		{"", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=s1&DurationSeconds=3600" +
			"&Tags.member.1.Key=Project&Tags.member.1.Value=Unicorn&Tags.member.2.Key=Cost+Center&Tags.member.2.Value=&TransitiveTagKeys.member.1=project" +
			"&ExternalId=SECRET&SourceIdentity=alice%40example.com&MinimumSessionTokenSize=512&PolicyArns.member.1.arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Apolicy%2Fp", formCT},
		{"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=s1&X-Amz-Security-Token=SECRET&X-Amz-Signature=SECRET", "Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.2.Key=A&Tags.member.2.Value=c", formCT},
		{"Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261128%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261128T202612Z&X-Amz-SignedHeaders=host&X-Amz-Security-Token=SECRET&X-Amz-Signature=SECRET", "", ""},
		{"", "Action=GetCallerIdentity&Version=2011-06-15&SECRET=1", formCT},
		{"", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=s1&TokenCode=SECRET&SerialNumber=x&ProvidedContexts.member.1.ProviderArn=p", formCT},
		{"", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=SECRET&Tags.member.1.Key=k&Tags.member.1.Value=v", formCT},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, query, body, ct string) {
		query = strings.ReplaceAll(query, "SECRET", fuzzSecret)
		body = strings.ReplaceAll(body, "SECRET", fuzzSecret)
		// The secrets are the values of the secret parameters: the
		// placeholder wherever it lands in one of them, and any such value
		// long enough (and unlike the fixed text of a message, which has
		// "application/x-www-form-urlencoded") not to occur by chance.
		// A placeholder elsewhere, say in Version, is not a secret.
		var secrets []string
		for _, src := range []string{query, body} {
			vals, _ := url.ParseQuery(src)
			for _, k := range []string{"Token", "WebIdentityToken", "WebIdentityAccessToken", "WebIdentityRefreshToken", "Policy",
				"ExternalId", "TokenCode", "X-Amz-Security-Token", "X-Amz-Signature"} {
				for _, v := range vals[k] {
					if strings.Contains(v, fuzzSecret) {
						secrets = append(secrets, fuzzSecret)
					}
					if v = strings.TrimSpace(v); len(v) >= 24 && !strings.ContainsAny(v, " /") {
						secrets = append(secrets, v)
					}
				}
			}
		}

		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/", RawQuery: query}, Header: http.Header{}, Body: http.NoBody}
		if body != "" {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		}
		if ct != "" {
			r.Header["Content-Type"] = []string{ct}
		}
		// ParseRequestBody, which also parses the signed actions, agrees
		// with ParseRequest on everything else; ParseRequest never hands
		// out a signed action.
		req0, e0 := ParseRequest(r, Limits{MaxBodyBytes: 64 << 10})
		r.Body = http.NoBody
		req, e := ParseRequestBody(r, []byte(body), Limits{MaxBodyBytes: 64 << 10})
		if req0 != nil && req0.Action.Signed() {
			t.Fatalf("ParseRequest accepted %v", req0)
		}
		// (The action's name is left out of the message when it contains a
		// secret-looking value of the request: "lerI" in GetCallerIdentity.)
		signedRefused := e0 != nil && strings.HasPrefix(e0.Message, "Unsupported action") &&
			(req != nil && req.Action.Signed() || e != nil && e0.Message != e.Message)
		if !signedRefused {
			if !reflect.DeepEqual(req0, req) || !reflect.DeepEqual(e0, e) {
				t.Fatalf("entry points disagree: %v %v / %v %v", req0, e0, req, e)
			}
		}
		if e != nil {
			if req != nil {
				t.Fatal("request and error")
			}
			if e.Status < 400 || e.Status > 599 || e.Code == "" || (e.Type != TypeSender && e.Type != TypeReceiver) {
				t.Fatalf("malformed error %#v", e)
			}
			for _, s := range secrets {
				if strings.Contains(e.Message, s) {
					t.Fatalf("message %q reveals %q", e.Message, s)
				}
			}
			for _, c := range e.Message {
				if c < 0x20 || c == 0x7f {
					t.Fatalf("control character in %q", e.Message)
				}
			}
			return
		}
		if req.Version != APIVersion {
			t.Fatalf("accepted %v", req)
		}
		switch req.Action {
		case AssumeRoleWithClientGrants, AssumeRoleWithWebIdentity:
			if len(req.Token) < MinTokenBytes || len(req.Token) > DefaultMaxTokenBytes || req.DurationSeconds < 0 || len(req.PolicyArns) > MaxPolicyArns ||
				len(req.Tags) != 0 || len(req.TransitiveTagKeys) != 0 {
				t.Fatalf("accepted out of bounds: %v", req)
			}
		case AssumeRole:
			checkAssumeRole(t, req)
		case GetCallerIdentity:
			if !reflect.DeepEqual(*req, Request{Action: GetCallerIdentity, Version: APIVersion}) {
				t.Fatalf("GetCallerIdentity with parameters: %v", req)
			}
		default:
			t.Fatalf("accepted %v", req)
		}
		for _, out := range []string{fmt.Sprintf("%v", req), fmt.Sprintf("%+v", req), fmt.Sprintf("%#v", req), fmt.Sprintf("%d", *req)} {
			for _, s := range []string{req.Token, req.AccessToken, req.ExternalID} {
				if len(s) >= 24 && strings.Contains(out, s) {
					t.Fatalf("formatted request reveals a token: %s", out)
				}
			}
		}
	})
}

// checkAssumeRole asserts what an accepted AssumeRole always is.
func checkAssumeRole(t *testing.T, req *Request) {
	t.Helper()
	if req.Token != "" || req.AccessToken != "" || req.ProviderID != "" || !isSessionName(req.RoleSessionName) ||
		!isTextParam(req.RoleArn, minArnChars, maxArnChars) || len(req.PolicyArns) > MaxPolicyArns ||
		req.DurationSeconds != 0 && (req.DurationSeconds < 900 || req.DurationSeconds > 43200) ||
		req.MinimumSessionTokenSize < 0 || req.MinimumSessionTokenSize > MaxMinimumSessionTokenSize ||
		req.ExternalID != "" && !isExternalID(req.ExternalID) || req.SourceIdentity != "" && !isSessionName(req.SourceIdentity) ||
		len(req.Tags) > MaxTags || len(req.TransitiveTagKeys) > len(req.Tags) {
		t.Fatalf("accepted out of bounds: %v", req)
	}
	for i, tag := range req.Tags {
		if !isTagText(tag.Key, 1, 128) || !isTagText(tag.Value, 0, 256) || strings.HasPrefix(strings.ToLower(tag.Key), "aws:") {
			t.Fatalf("accepted tag %q", tag)
		}
		for _, prev := range req.Tags[:i] {
			if strings.EqualFold(prev.Key, tag.Key) {
				t.Fatalf("accepted duplicate tag keys %q", req.Tags)
			}
		}
	}
	for _, k := range req.TransitiveTagKeys {
		found := false
		for _, tag := range req.Tags {
			found = found || strings.EqualFold(tag.Key, k)
		}
		if !found {
			t.Fatalf("accepted transitive key %q not among the tags", k)
		}
	}
}
