package sigv4

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// Signatures made by aws-sdk-go-v2's signer verify, in both forms, with and
// without a session token, for any region.
func TestAcceptSDKSigner(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *http.Request
		body string
		want Auth
	}{
		{name: "header form", r: headerSigned(t, signOpts{}), body: testBody,
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"content-length", "content-type", "host", "x-amz-date"}}},
		{name: "header form, session token", r: headerSigned(t, signOpts{token: testToken}), body: testBody,
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, SessionToken: testToken, Region: "us-east-1", SignedHeaders: []string{"content-length", "content-type", "host", "x-amz-date", "x-amz-security-token"}}},
		{name: "header form, X-Amz-Content-Sha256 sent (JS SDK)", r: headerSigned(t, signOpts{before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha(testBody)) }}), body: testBody,
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"content-length", "content-type", "host", "x-amz-content-sha256", "x-amz-date"}}},
		{name: "header form, empty region (minio-go without a location)", r: headerSigned(t, signOpts{region: "-"}), body: testBody,
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, Region: "", SignedHeaders: []string{"content-length", "content-type", "host", "x-amz-date"}}},
		{name: "header form, query string and odd path", r: headerSigned(t, signOpts{target: "http://" + testHost + "/a%20b/c?Version=2011-06-15&Action=GetCallerIdentity&x=a%2Bb+c", body: "-"}),
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"host", "x-amz-date"}}},
		{name: "header form, repeated and spaced header values", r: headerSigned(t, signOpts{before: func(r *http.Request) {
			r.Header["X-Custom"] = []string{"  a   b ", "c"}
		}}), body: testBody,
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"content-length", "content-type", "host", "x-amz-date", "x-custom"}}},
		{name: "header form, default port kept as sent", r: headerSigned(t, signOpts{target: "http://sts.example.com:443/"}), body: testBody,
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"content-length", "content-type", "host", "x-amz-date"}}},
		{name: "query form", r: presigned(t, signOpts{}),
			want: Auth{Form: QueryForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"host"}}},
		{name: "query form, session token and expiry", r: presigned(t, signOpts{token: testToken, expires: 900}),
			want: Auth{Form: QueryForm, AccessKeyID: testAKID, SessionToken: testToken, Region: "us-east-1", SignedHeaders: []string{"host"}, Expires: 900 * time.Second}},
		{name: "query form, UNSIGNED-PAYLOAD", r: presigned(t, signOpts{payload: "UNSIGNED-PAYLOAD"}),
			want: Auth{Form: QueryForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"host"}}},
		{name: "query form, UNSIGNED-PAYLOAD declared", r: func() *http.Request {
			r := presigned(t, signOpts{payload: "UNSIGNED-PAYLOAD"})
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			return r
		}(), want: Auth{Form: QueryForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"host"}}},
		{name: "query form, POST with a signed body", r: presigned(t, signOpts{method: http.MethodPost, body: testBody}), body: testBody,
			want: Auth{Form: QueryForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"host"}}},
		{name: "query form, signed headers", r: presigned(t, signOpts{before: func(r *http.Request) { r.Header.Set("X-K8s-Aws-Id", "cluster-1") }}),
			want: Auth{Form: QueryForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"host", "x-k8s-aws-id"}}},
		{name: "comma without space (OPA's providers.aws signer)", r: editAuth(headerSigned(t, signOpts{}), func(s string) string { return strings.ReplaceAll(s, ", ", ",") }), body: testBody,
			want: Auth{Form: HeaderForm, AccessKeyID: testAKID, Region: "us-east-1", SignedHeaders: []string{"content-length", "content-type", "host", "x-amz-date"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse(tc.r, "sts")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Verify(tc.r, []byte(tc.body), testSecret, testNow); err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if a.Form != w.Form || a.AccessKeyID != w.AccessKeyID || a.SessionToken != w.SessionToken || a.Region != w.Region ||
				a.Service != "sts" || !a.Date.Equal(testNow) || !slices.Equal(a.SignedHeaders, w.SignedHeaders) || a.Expires != w.Expires {
				t.Errorf("got  %+v\nwant %+v", *a, w)
			}
			// Verifying twice gives the same answer (nothing is cached),
			// and so does a Signer that keeps its keys.
			if err := a.Verify(tc.r, []byte(tc.body), testSecret, testNow); err != nil {
				t.Fatal(err)
			}
			if err := a.VerifyWith(sharedSigner, tc.r, []byte(tc.body), testSecret, testNow); err != nil {
				t.Fatal(err)
			}
			if err := a.Verify(tc.r, []byte(tc.body), "another-secret", testNow); codeOf(err) != CodeSignatureDoesNotMatch {
				t.Errorf("another secret: %v", err)
			}
		})
	}
}

func sha(s string) string {
	o := signOpts{body: s}.withDefaults()
	return o.payload
}

// AuthorizationHeader is the header as aws-sdk-go-v2 writes it.
func TestAuthorizationHeader(t *testing.T) {
	r := headerSigned(t, signOpts{})
	a, err := Parse(r, "sts")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.AuthorizationHeader(); got != r.Header.Get("Authorization") {
		t.Errorf("got %q", got)
	}
	r = editAuth(r, func(s string) string { return strings.ReplaceAll(s, ", ", ",") })
	if a, _ = Parse(r, "sts"); a.AuthorizationHeader() == r.Header.Get("Authorization") {
		t.Error("the comma-only spelling is not the SDK's")
	}
	if a, _ = Parse(presigned(t, signOpts{}), "sts"); a.AuthorizationHeader() != "" {
		t.Error("query form")
	}
}

// Auth never prints the session token or the signature, whatever the verb.
func TestAuthFormat(t *testing.T) {
	r := headerSigned(t, signOpts{token: testToken})
	a, err := Parse(r, "sts")
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("auth", "auth", a, "value", *a)
	outs := []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s %q %x %d", a, a, a, a, a, a, *a), logged.String(), a.String()}
	for _, out := range outs {
		if strings.Contains(out, testToken) || strings.Contains(out, a.signature) || strings.Contains(out, testToken[:20]) {
			t.Errorf("formatted Auth reveals a secret: %s", out)
		}
		if !strings.Contains(out, testAKID) {
			t.Errorf("formatted Auth lacks the key id: %s", out)
		}
	}
}

// stsServer answers AssumeRole and GetCallerIdentity after verifying the
// signature, and records what each request carried.
type stsServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method  string
	auth    *Auth
	headers http.Header
	query   string
	err     error
}

func newSTSServer(t *testing.T, secrets map[string]string) *stsServer {
	s := &stsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a, err := Parse(r, "sts")
		if err == nil {
			if secret, ok := secrets[a.AccessKeyID]; !ok {
				err = InvalidClientTokenID()
			} else {
				err = a.Verify(r, body, secret, time.Now())
			}
		}
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{method: r.Method, auth: a, headers: r.Header.Clone(), query: r.URL.RawQuery, err: err})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		if err != nil {
			e := err.(*Error)
			w.WriteHeader(e.HTTPStatus())
			fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, e.Code, e.Message)
			return
		}
		if strings.Contains(string(body)+r.URL.RawQuery, "GetCallerIdentity") {
			fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
			return
		}
		exp := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")
		fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>`+exp+`</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/demo/s1</Arn><AssumedRoleId>AROA:s1</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *stsServer) last(t *testing.T) seenRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		t.Fatal("no request")
	}
	return s.seen[len(s.seen)-1]
}

// The real aws-sdk-go-v2 STS client: AssumeRole and GetCallerIdentity in the
// header form, with long-term and with session credentials, and a
// presigned GetCallerIdentity (the query form, as aws-iam-authenticator and
// Vault use it). What it sends is logged and pinned: no
// X-Amz-Content-Sha256, the body's hash signed.
func TestAcceptAWSSDKClient(t *testing.T) {
	srv := newSTSServer(t, map[string]string{testAKID: testSecret})
	ctx := context.Background()
	for _, token := range []string{"", testToken} {
		client := sts.New(sts.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(srv.URL),
			Credentials:  credentials.NewStaticCredentialsProvider(testAKID, testSecret, token),
			HTTPClient:   srv.Client(),
		})
		out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/demo"), RoleSessionName: aws.String("s1")})
		if err != nil {
			t.Fatalf("AssumeRole: %v", err)
		}
		seen := srv.last(t)
		t.Logf("aws-sdk-go-v2 AssumeRole: %s; headers %v", seen.auth, seen.headers)
		if seen.err != nil || seen.method != http.MethodPost || seen.auth.Form != HeaderForm || *out.Credentials.AccessKeyId != "ASIA" {
			t.Fatalf("%+v", seen)
		}
		if seen.headers.Get("X-Amz-Content-Sha256") != "" {
			t.Errorf("aws-sdk-go-v2 now sends X-Amz-Content-Sha256 to STS: %v", seen.headers)
		}
		want := []string{"amz-sdk-invocation-id", "amz-sdk-request", "content-length", "content-type", "host", "x-amz-date"}
		if token != "" {
			want = append(want, "x-amz-security-token")
		}
		if !slices.Equal(seen.auth.SignedHeaders, want) || seen.auth.SessionToken != token {
			t.Errorf("signed headers %v, token given %v", seen.auth.SignedHeaders, seen.auth.SessionToken != "")
		}

		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("GetCallerIdentity: %v", err)
		}
		if seen := srv.last(t); seen.err != nil {
			t.Fatal(seen.err)
		}

		pre, err := sts.NewPresignClient(client).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("aws-sdk-go-v2 presigned GetCallerIdentity: %s %s, headers %v", pre.Method, pre.URL, pre.SignedHeader)
		req, _ := http.NewRequest(pre.Method, pre.URL, nil)
		for k, vs := range pre.SignedHeader {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		seen = srv.last(t)
		if resp.StatusCode != 200 || seen.err != nil || seen.method != http.MethodGet || seen.auth.Form != QueryForm || seen.auth.SessionToken != token || seen.auth.Expires != 0 {
			t.Fatalf("presigned: %d %+v", resp.StatusCode, seen)
		}
	}

	// A wrong secret and an unknown key, as the SDK reports them.
	for _, tc := range []struct{ akid, secret, code string }{
		{testAKID, "wrong-secret", CodeSignatureDoesNotMatch},
		{"AKIAUNKNOWN000000000", testSecret, CodeInvalidClientTokenID},
	} {
		client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
			Credentials: credentials.NewStaticCredentialsProvider(tc.akid, tc.secret, "")})
		_, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil || !strings.Contains(err.Error(), tc.code) {
			t.Errorf("%s: %v", tc.code, err)
		}
	}
}

// minio-go's STSAssumeRole: the header form, the token header signed,
// X-Amz-Content-Sha256 removed before sending, with and without a location.
func TestAcceptMinioGo(t *testing.T) {
	srv := newSTSServer(t, map[string]string{testAKID: testSecret})
	for _, tc := range []struct{ location, token string }{{"", ""}, {"us-east-1", testToken}} {
		c, err := miniocreds.NewSTSAssumeRole(srv.URL, miniocreds.STSAssumeRoleOptions{
			AccessKey: testAKID, SecretKey: testSecret, SessionToken: tc.token, Location: tc.location,
			RoleARN: "arn:aws:iam::123456789012:role/demo", RoleSessionName: "s1", DurationSeconds: 900, ExternalID: "ext-id",
		})
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.GetWithContext(&miniocreds.CredContext{Client: srv.Client()})
		seen := srv.last(t)
		t.Logf("minio-go AssumeRole: %s; headers %v", seen.auth, seen.headers)
		if err != nil || v.AccessKeyID != "ASIA" || seen.err != nil {
			t.Fatalf("%v %v", err, seen.err)
		}
		if seen.auth.Region != tc.location || seen.auth.SessionToken != tc.token || seen.headers.Get("X-Amz-Content-Sha256") != "" {
			t.Errorf("%+v", seen)
		}
	}
}
