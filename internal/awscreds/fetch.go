package awscreds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// maxResponseBytes bounds what the IdP and the STS may answer.
const maxResponseBytes = 1 << 20

// DefaultTimeout bounds one fetch (token and exchange together).
const DefaultTimeout = 30 * time.Second

// Fetcher obtains new credentials for one Settings.
type Fetcher struct {
	settings Settings
	timeout  time.Duration
	http     *http.Client
	sts      *sts.Client
	now      func() time.Time
}

// NewFetcher validates s and prepares the HTTP clients. timeout bounds
// each Fetch (0: DefaultTimeout).
func NewFetcher(s Settings, timeout time.Duration) (*Fetcher, error) {
	s, err := s.Validate()
	if err != nil {
		return nil, err
	}
	if timeout < 0 {
		return nil, errors.New("--timeout may not be negative")
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", s.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	client := &http.Client{
		Transport: limitedTransport{transport},
		Timeout:   timeout,
		// A redirect would carry the client secret or the identity token
		// somewhere else: refuse to follow any.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	f := &Fetcher{settings: s, timeout: timeout, http: client, now: time.Now}
	if s.Action == WebIdentity {
		f.sts = sts.New(sts.Options{
			Region:       "us-east-1", // AssumeRoleWithWebIdentity is not signed: any region does
			BaseEndpoint: aws.String(s.STS),
			Credentials:  aws.AnonymousCredentials{},
			HTTPClient:   client,
		})
	}
	return f, nil
}

// Settings are the validated settings, defaults filled in.
func (f *Fetcher) Settings() Settings { return f.settings }

// Fetch gets an identity token and exchanges it at the STS.
func (f *Fetcher) Fetch(ctx context.Context) (Credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var token, secret string
	var err error
	if f.settings.TokenFile != "" {
		token, err = readTokenFile(f.settings.TokenFile)
	} else {
		token, secret, err = f.clientCredentials(ctx)
	}
	if err != nil {
		return Credentials{}, err
	}
	obtained := f.now()
	var c Credentials
	if f.settings.Action == WebIdentity {
		c, err = f.webIdentity(ctx, token, secret)
	} else {
		c, err = f.clientGrants(ctx, token, secret)
	}
	if err != nil {
		return Credentials{}, err
	}
	c.Obtained = obtained
	if !c.complete() {
		return Credentials{}, &STSError{URL: f.settings.STS, Action: f.settings.Action,
			Cause: errors.New("the answer lacks the access key id, the secret access key, the session token or the expiration")}
	}
	if !c.Expiration.After(f.now()) {
		return Credentials{}, &STSError{URL: f.settings.STS, Action: f.settings.Action,
			Cause: fmt.Errorf("the credentials it issued expired at %s (is a clock wrong?)", c.Expiration.UTC().Format(time.RFC3339))}
	}
	return c, nil
}

func (f *Fetcher) webIdentity(ctx context.Context, token, secret string) (Credentials, error) {
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(f.settings.RoleARN),
		RoleSessionName:  aws.String(f.settings.SessionName),
		WebIdentityToken: aws.String(token),
	}
	if d := f.settings.DurationSeconds; d > 0 {
		in.DurationSeconds = aws.Int32(int32(d))
	}
	out, err := f.sts.AssumeRoleWithWebIdentity(ctx, in)
	if err != nil {
		e := &STSError{URL: f.settings.STS, Action: WebIdentity}
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			e.Status = re.HTTPStatusCode()
			e.RequestID = scrub(re.ServiceRequestID())
		}
		var ae smithy.APIError
		var oe *net.OpError
		switch {
		case errors.As(err, &ae) && ae.ErrorCode() != "":
			e.Code = scrub(ae.ErrorCode(), token, secret)
			e.Message = scrub(ae.ErrorMessage(), token, secret)
		case errors.As(err, &oe):
			e.Cause = scrubError(fmt.Errorf("unreachable: %w", oe), token, secret)
		default:
			e.Cause = scrubError(err, token, secret)
		}
		return Credentials{}, e
	}
	if out.Credentials == nil {
		return Credentials{}, nil
	}
	c := Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
	}
	if out.Credentials.Expiration != nil {
		c.Expiration = out.Credentials.Expiration.UTC()
	}
	return c, nil
}

// clientGrants is MinIO's AssumeRoleWithClientGrants, through minio-go.
func (f *Fetcher) clientGrants(ctx context.Context, token, secret string) (Credentials, error) {
	status := new(int)
	client := *f.http
	client.Transport = statusTransport{client.Transport, status}
	cg := &miniocreds.STSClientGrants{
		Client:      &client,
		STSEndpoint: f.settings.STS,
		GetClientGrantsTokenExpiry: func() (*miniocreds.ClientGrantsToken, error) {
			// Expiry is sent as DurationSeconds; 0 lets the STS decide.
			return &miniocreds.ClientGrantsToken{Token: token, Expiry: f.settings.DurationSeconds}, nil
		},
	}
	v, err := cg.RetrieveWithCredContext(&miniocreds.CredContext{Client: &client, Context: ctx})
	if err != nil {
		e := &STSError{URL: f.settings.STS, Action: ClientGrants, Status: *status}
		var er miniocreds.ErrorResponse
		var oe *net.OpError
		switch {
		case errors.As(err, &er) && er.STSError.Code != "":
			e.Code = scrub(er.STSError.Code, token, secret)
			e.Message = scrub(er.STSError.Message, token, secret)
			e.RequestID = scrub(er.RequestID)
		case errors.As(err, &oe):
			e.Cause = scrubError(fmt.Errorf("unreachable: %w", oe), token, secret)
		default:
			e.Cause = scrubError(err, token, secret)
		}
		return Credentials{}, e
	}
	return Credentials{
		AccessKeyID:     v.AccessKeyID,
		SecretAccessKey: v.SecretAccessKey,
		SessionToken:    v.SessionToken,
		Expiration:      v.Expiration.UTC(),
	}, nil
}

// limitedTransport cuts every response body at maxResponseBytes.
type limitedTransport struct{ base http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	read int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if b.read > maxResponseBytes {
		return 0, fmt.Errorf("the answer is larger than %d bytes", maxResponseBytes)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// statusTransport records the status of the last response.
type statusTransport struct {
	base   http.RoundTripper
	status *int
}

func (t statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if resp != nil {
		*t.status = resp.StatusCode
	}
	return resp, err
}
