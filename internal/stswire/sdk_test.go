package stswire

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opa-sts/opa-sts/internal/sigv4"
)

const (
	sdkAKID   = "AKIAIOSFODNN7EXAMPLE"
	sdkSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// signedServer is what the plugin will do for the signed actions: read the
// raw body, parse it, verify the signature over it, answer with this
// package's XML. It records the parsed requests.
type signedServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*Request
}

func newSignedServer(t *testing.T, res Result, id CallerIdentity) *signedServer {
	s := &signedServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, e := ReadBody(r, Limits{})
		if e != nil {
			WriteError(w, e, "req-1")
			return
		}
		req, e := ParseRequestBody(r, body, Limits{})
		if e != nil {
			WriteError(w, e, "req-1")
			return
		}
		a, err := sigv4.Parse(r, "sts")
		if err == nil {
			if a.AccessKeyID != sdkAKID {
				err = sigv4.InvalidClientTokenID()
			} else {
				err = a.Verify(r, body, sdkSecret, time.Now())
			}
		}
		if err != nil {
			WriteError(w, SignatureError(err), "req-1")
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		switch req.Action {
		case GetCallerIdentity:
			err = WriteCallerIdentity(w, id, "req-1")
		default:
			res.Action = req.Action
			res.SourceIdentity = req.SourceIdentity
			err = WriteResult(w, res, "req-1")
		}
		if err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *signedServer) last() *Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return nil
	}
	return s.reqs[len(s.reqs)-1]
}

func assumeRoleResult() Result {
	size := 7
	return Result{
		Credentials: Credentials{AccessKeyID: "ASIAOPASTS0000000001", SecretAccessKey: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAx",
			SessionToken: "eyJhbGciOiJFZERTQSJ9.c2Vzc2lvbg.c2ln", Expiration: fixedExpiration},
		AssumedRoleArn: "arn:aws:sts::123456789012:assumed-role/demo/s1", AssumedRoleID: "AROAOPASTS:s1",
		PackedPolicySize: &size,
		// Ignored for AssumeRole: AWS's AssumeRoleResult has none of them.
		Subject: "alice", Audience: "aud", Provider: "https://idp",
	}
}

// The real aws-sdk-go-v2 STS client, signing with SigV4, against ReadBody +
// ParseRequestBody + internal/sigv4 + WriteResult/WriteCallerIdentity: the
// request it builds parses to what it meant, its signature verifies over
// the raw body, and its own deserializer decodes the answers.
func TestAWSSDKAssumeRoleAndGetCallerIdentity(t *testing.T) {
	srv := newSignedServer(t, assumeRoleResult(), CallerIdentity{Arn: "arn:aws:sts::123456789012:assumed-role/demo/s1", UserID: "AROAOPASTS:s1", Account: "123456789012"})
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider(sdkAKID, sdkSecret, "")})
	ctx := context.Background()

	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(testRoleArn), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3600),
		ExternalId: aws.String("ext-id-0123"), SourceIdentity: aws.String("alice@example.com"), Policy: aws.String(testPolicy),
		PolicyArns:        []ststypes.PolicyDescriptorType{{Arn: aws.String(testRoleArn + "p")}},
		Tags:              []ststypes.Tag{{Key: aws.String("Project"), Value: aws.String("Unicorn")}, {Key: aws.String("Cost Center"), Value: aws.String("")}},
		TransitiveTagKeys: []string{"Project"}, MinimumSessionTokenSize: aws.Int32(512),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	want := &Request{Action: AssumeRole, Version: APIVersion, RoleArn: testRoleArn, RoleSessionName: "s1", DurationSeconds: 3600,
		ExternalID: "ext-id-0123", SourceIdentity: "alice@example.com", Policy: testPolicy, PolicyArns: []string{testRoleArn + "p"},
		Tags: []Tag{{"Project", "Unicorn"}, {"Cost Center", ""}}, TransitiveTagKeys: []string{"Project"}, MinimumSessionTokenSize: 512}
	if got := srv.last(); !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n got  %#v\n want %#v", got, want)
	}
	res := assumeRoleResult()
	c, u := out.Credentials, out.AssumedRoleUser
	if *c.AccessKeyId != res.Credentials.AccessKeyID || *c.SecretAccessKey != res.Credentials.SecretAccessKey ||
		*c.SessionToken != res.Credentials.SessionToken || !c.Expiration.Equal(fixedExpiration) ||
		*u.Arn != res.AssumedRoleArn || *u.AssumedRoleId != res.AssumedRoleID || *out.PackedPolicySize != 7 ||
		*out.SourceIdentity != "alice@example.com" {
		t.Errorf("decoded %+v %+v %+v", *c, *u, out)
	}
	if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || id != "req-1" {
		t.Errorf("request id %q", id)
	}

	gci, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *gci.Arn != "arn:aws:sts::123456789012:assumed-role/demo/s1" || *gci.UserId != "AROAOPASTS:s1" || *gci.Account != "123456789012" {
		t.Errorf("decoded %+v", gci)
	}

	// The presigned GetCallerIdentity (a GET).
	pre, err := sts.NewPresignClient(client).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Get(pre.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || srv.last().Action != GetCallerIdentity {
		t.Errorf("presigned: %d", resp.StatusCode)
	}

	// Refusals, as the SDK reports them.
	for _, tc := range []struct {
		name   string
		client *sts.Client
		code   string
	}{
		{"wrong secret", sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
			Credentials: credentials.NewStaticCredentialsProvider(sdkAKID, "wrong", "")}), CodeSignatureDoesNotMatch},
		{"unknown key", sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
			Credentials: credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", sdkSecret, "")}), CodeInvalidClientTokenID},
		{"anonymous", sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client(),
			Credentials: aws.AnonymousCredentials{}}), CodeMissingAuthenticationToken},
	} {
		_, err := tc.client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	var ae smithy.APIError
	_, err = client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(testRoleArn), RoleSessionName: aws.String("s1"),
		Tags: []ststypes.Tag{{Key: aws.String("k"), Value: aws.String("a")}, {Key: aws.String("K"), Value: aws.String("b")}}})
	if !errors.As(err, &ae) || ae.ErrorCode() != CodeInvalidParameterValue || !strings.Contains(ae.ErrorMessage(), "Duplicate tag keys") {
		t.Errorf("duplicate tags: %v", err)
	}
}

// minio-go's STSAssumeRole: signs its request (the header form), and
// decodes AssumeRoleResponse (it requires the namespace).
func TestMinioGoAssumeRole(t *testing.T) {
	srv := newSignedServer(t, assumeRoleResult(), CallerIdentity{})
	c, err := miniocreds.NewSTSAssumeRole(srv.URL, miniocreds.STSAssumeRoleOptions{
		AccessKey: sdkAKID, SecretKey: sdkSecret, Location: "us-east-1",
		RoleARN: testRoleArn, RoleSessionName: "s1", DurationSeconds: 900, ExternalID: "ext-id-0123", Policy: testPolicy, TokenRevokeType: "all",
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.GetWithContext(&miniocreds.CredContext{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	res := assumeRoleResult()
	if v.AccessKeyID != res.Credentials.AccessKeyID || v.SecretAccessKey != res.Credentials.SecretAccessKey ||
		v.SessionToken != res.Credentials.SessionToken || !v.Expiration.Equal(fixedExpiration) {
		t.Errorf("decoded %+v", v)
	}
	want := &Request{Action: AssumeRole, Version: APIVersion, RoleArn: testRoleArn, RoleSessionName: "s1", DurationSeconds: 900,
		ExternalID: "ext-id-0123", Policy: testPolicy, TokenRevokeType: "all"}
	if got := srv.last(); !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n got  %#v\n want %#v", got, want)
	}

	// A refusal reaches minio-go as an error with the code.
	c, _ = miniocreds.NewSTSAssumeRole(srv.URL, miniocreds.STSAssumeRoleOptions{AccessKey: sdkAKID, SecretKey: "wrong", RoleARN: testRoleArn, RoleSessionName: "s1"})
	if _, err := c.GetWithContext(&miniocreds.CredContext{Client: srv.Client()}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestWriteResultAssumeRole(t *testing.T) {
	res := assumeRoleResult()
	res.Action = AssumeRole
	res.SourceIdentity = "alice"
	rec := writeResult(t, res, "4a3a-id")
	checkHeaders(t, rec, 200, "4a3a-id")
	want := xmlDecl + `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>` +
		`<AccessKeyId>ASIAOPASTS0000000001</AccessKeyId><SecretAccessKey>c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAx</SecretAccessKey>` +
		`<SessionToken>eyJhbGciOiJFZERTQSJ9.c2Vzc2lvbg.c2ln</SessionToken><Expiration>` + fixedExpiration.Format(expirationLayout) + `</Expiration></Credentials>` +
		`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/demo/s1</Arn><AssumedRoleId>AROAOPASTS:s1</AssumedRoleId></AssumedRoleUser>` +
		`<PackedPolicySize>7</PackedPolicySize><SourceIdentity>alice</SourceIdentity></AssumeRoleResult>` +
		`<ResponseMetadata><RequestId>4a3a-id</RequestId></ResponseMetadata></AssumeRoleResponse>`
	if got := rec.Body.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestWriteCallerIdentity(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := WriteCallerIdentity(rec, CallerIdentity{Arn: "arn:aws:iam::1:user/a<b", UserID: "AIDA", Account: "1"}, "id-1"); err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, rec, 200, "id-1")
	want := xmlDecl + `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Arn>arn:aws:iam::1:user/a&lt;b</Arn><UserId>AIDA</UserId><Account>1</Account></GetCallerIdentityResult>` +
		`<ResponseMetadata><RequestId>id-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if got := rec.Body.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	rec = httptest.NewRecorder()
	if err := WriteCallerIdentity(rec, CallerIdentity{Arn: "a", UserID: "u"}, "x"); err != nil || strings.Contains(rec.Body.String(), "Account") {
		t.Errorf("no account: %v %s", err, rec.Body.String())
	}
	for _, id := range []CallerIdentity{{UserID: "u"}, {Arn: "a"}} {
		rec := httptest.NewRecorder()
		if err := WriteCallerIdentity(rec, id, "x"); err != ErrIncompleteResult || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
			t.Errorf("%+v: %v", id, err)
		}
	}
}

func TestSignatureError(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{sigv4.InvalidClientTokenID(), 403, CodeInvalidClientTokenID},
		{&sigv4.Error{Code: sigv4.CodeRequestExpired, Message: "m"}, 400, CodeRequestExpired},
		{&sigv4.Error{Code: sigv4.CodeSignatureDoesNotMatch, Message: "m\x00"}, 403, CodeSignatureDoesNotMatch},
		{errors.New("other"), 500, CodeInternalError},
		{nil, 500, CodeInternalError},
	} {
		e := SignatureError(tc.err)
		if e.Status != tc.status || e.Code != tc.code || strings.ContainsRune(e.Message, 0) {
			t.Errorf("%v: %+v", tc.err, e)
		}
	}
}
