// AssumeRole signed with SigV4 by a long-term principal (a catalog) and
// by session credentials (role chaining), GetCallerIdentity, and session
// tags at enforcement: a real opa-sts STS, versitygw enforcing through
// opa-sts, hydra for the web-identity session, and real clients
// (aws-sdk-go-v2 with stscreds, the AWS CLI, boto3).
package assumerole_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/awscli"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
	"github.com/opa-sts/opa-sts/test/e2e/versitygw"
)

const (
	rootAK, rootSK = "ROOTACCESSKEY0000001", "root-secret-key-0123456789abcdef"
	gwAK, gwSK     = "GATEWAYIAMCLIENT0001", "gateway-iam-secret-0123456789abcdef"
	externalID     = "polaris-external-id-42"
	hydraClient    = "etl-job"
	hydraSecret    = "etl-job-secret-0123456789"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type env struct {
	dir             string
	opa             *opasts.Server
	stsURL, s3URL   string
	hydra           *idp.Hydra
	adminToken      string
	principal       credentials.StaticCredentialsProvider
	principalID     string
	principalSecret string
}

func writeJSON(t *testing.T, path string, v any) {
	raw, err := json.MarshalIndent(v, "", "  ")
	must(t, err)
	must(t, os.WriteFile(path, raw, 0o600))
}

func startEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.hydra = idp.StartHydra(t)
	e.hydra.CreateClient(t, hydraClient, hydraSecret, []string{"sts"}, nil)
	policyDir := filepath.Join(e.dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	e.adminToken = "admin-token-assumerole-0123456789"
	h := sha256.Sum256([]byte(e.adminToken))
	tableStatements := []any{
		map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, "Resource": "arn:aws:s3:::lake/${aws:PrincipalTag/table}/*"},
		map[string]any{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::lake",
			"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": "${aws:PrincipalTag/table}/*"}}},
	}
	writeJSON(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"api":       map[string]any{"admin_token_sha256": []string{hex.EncodeToString(h[:])}},
		"providers": []any{map[string]any{"issuer": e.hydra.Issuer(), "discovery_url": e.hydra.DiscoveryURL(), "audiences": []string{"sts"}}},
		"bindings":  []any{map[string]any{"role": "etl", "issuer": e.hydra.Issuer(), "clients": []string{hydraClient}}},
		"roles": map[string]any{
			"table-access": map[string]any{"trust": []any{map[string]any{"principals": []string{"polaris"}, "external_id": externalID}}, "statements": tableStatements},
			"etl":          map[string]any{"statements": []any{map[string]any{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}}},
			"lake-reader": map[string]any{"trust": []any{map[string]any{"roles": []string{"etl"}}},
				"statements": []any{map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/*"}}},
		},
		"principals": map[string]any{},
	}})
	socket := filepath.Join(e.dir, "iam.sock")
	secretFile := filepath.Join(e.dir, "gateway.secret")
	must(t, os.WriteFile(secretFile, []byte(gwSK), 0o600))
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	keysDir := filepath.Join(e.dir, "keys")
	cfg := filepath.Join(e.dir, "config.json")
	writeJSON(t, cfg, map[string]any{
		"decision_logs": map[string]any{"console": true},
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": "https://sts.assumerole.test", "keys": map[string]any{"dir": keysDir, "generate": true}, "store": map[string]any{"type": "memory"}},
			"sts":          map[string]any{"addr": stsAddr, "region": "us-east-1"},
			"s3_iam":       map[string]any{"socket": socket, "access_key": gwAK, "secret_key_file": secretFile},
		},
	})
	e.opa = opasts.Start(t, e.dir, "-c", cfg, "--authentication=token", "--authorization=basic", policyDir)
	e.stsURL = "http://" + stsAddr
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no s3_iam socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	gw := versitygw.Start(t, e.dir, versitygw.Options{RootAccess: rootAK, RootSecret: rootSK, IAMAccess: gwAK, IAMSecret: gwSK,
		IAMEndpoint: socket, IAMLogs: e.opa.Logs})
	e.s3URL = "http://" + gw.Addr

	// The catalog's principal, created with the admin command and added
	// to the data through OPA's API.
	res := opasts.Run(t, e.dir, "principals", "new", "--name", "polaris", "--keys-dir", keysDir)
	if res.Exit != 0 {
		t.Fatalf("principals new: %s", res.Stderr)
	}
	var created struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Data            struct {
			OpaSTS struct {
				Principals map[string]any `json:"principals"`
			} `json:"opa_sts"`
		} `json:"data"`
	}
	must(t, json.Unmarshal([]byte(res.Stdout), &created))
	e.principalID, e.principalSecret = created.AccessKeyID, created.SecretAccessKey
	e.putData(t, "opa_sts/principals", created.Data.OpaSTS.Principals)
	e.principal = credentials.NewStaticCredentialsProvider(e.principalID, e.principalSecret, "")

	root := e.s3Client(t, credentials.NewStaticCredentialsProvider(rootAK, rootSK, ""))
	_, err := root.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("lake")})
	must(t, err)
	for _, key := range []string{"orders/part-0.parquet", "customers/part-0.parquet"} {
		_, err := root.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key), Body: strings.NewReader("data of " + key)})
		must(t, err)
	}
	return e
}

func (e *env) putData(t *testing.T, path string, v any) {
	t.Helper()
	raw, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPut, e.opa.URL+"/v1/data/"+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s: %d", path, resp.StatusCode)
	}
}

func (e *env) stsClient(p aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.stsURL), Credentials: p})
}

func (e *env) s3Client(t *testing.T, p aws.CredentialsProvider) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.s3URL), UsePathStyle: true, Credentials: p})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// vend is what a catalog does for one table: AssumeRole with an inline
// session policy limited to the table's prefix and a tag naming it.
func (e *env) vend(ctx context.Context, c *sts.Client, table string, extra func(*sts.AssumeRoleInput)) (*sts.AssumeRoleOutput, error) {
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::000000000000:role/table-access"),
		RoleSessionName: aws.String("vend-" + table),
		ExternalId:      aws.String(externalID),
		Policy:          aws.String(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],"Resource":["arn:aws:s3:::lake/%[1]s/*","arn:aws:s3:::lake"]}]}`, table)),
		Tags:            []ststypes.Tag{{Key: aws.String("table"), Value: aws.String(table)}},
		DurationSeconds: aws.Int32(900),
	}
	if extra != nil {
		extra(in)
	}
	return c.AssumeRole(ctx, in)
}

func TestAssumeRole(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	catalog := e.stsClient(e.principal)

	t.Run("refusals first", func(t *testing.T) {
		for name, c := range map[string]struct {
			creds aws.CredentialsProvider
			code  string
		}{
			"wrong secret": {credentials.NewStaticCredentialsProvider(e.principalID, e.principalSecret+"x", ""), "SignatureDoesNotMatch"},
			// A principal's secret is derived from its key id: another key id
			// signed with this secret does not verify (one that verifies but is
			// not in the data is refused by the policy, below).
			"unknown key":  {credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000001", e.principalSecret, ""), "SignatureDoesNotMatch"},
			"not a key":    {credentials.NewStaticCredentialsProvider("SOMETHINGELSE0000001", e.principalSecret, ""), "InvalidClientTokenId"},
			"forged token": {credentials.NewStaticCredentialsProvider("ASIAFORGED0000000001", e.principalSecret, "not-a-session-token"), "InvalidClientTokenId"},
		} {
			_, err := e.vend(ctx, e.stsClient(c.creds), "orders", nil)
			if got := apiCode(err); got != c.code {
				t.Errorf("%s: %v (code %q), want %s", name, err, got, c.code)
			}
		}
		// Unsigned: the SDK's anonymous credentials.
		_, err := e.vend(ctx, e.stsClient(aws.AnonymousCredentials{}), "orders", nil)
		if apiCode(err) == "" {
			t.Errorf("unsigned AssumeRole: %v", err)
		}
		for name, mutate := range map[string]func(*sts.AssumeRoleInput){
			"wrong external id": func(in *sts.AssumeRoleInput) { in.ExternalId = aws.String("guess") },
			"no external id":    func(in *sts.AssumeRoleInput) { in.ExternalId = nil },
			"untrusted role":    func(in *sts.AssumeRoleInput) { in.RoleArn = aws.String("arn:aws:iam::000000000000:role/lake-reader") },
		} {
			_, err := e.vend(ctx, catalog, "orders", mutate)
			if got := apiCode(err); got != "AccessDenied" {
				t.Errorf("%s: %v (code %q)", name, err, got)
			}
		}
		_, err = e.vend(ctx, catalog, "orders", func(in *sts.AssumeRoleInput) { in.DurationSeconds = aws.Int32(7200) })
		if got := apiCode(err); got != "ValidationError" {
			t.Errorf("a duration over the role's hour: %v (%q)", err, got)
		}
		many := make([]ststypes.Tag, 51)
		for i := range many {
			many[i] = ststypes.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
		}
		_, err = e.vend(ctx, catalog, "orders", func(in *sts.AssumeRoleInput) { in.Tags = many })
		if apiCode(err) == "" {
			t.Errorf("51 tags: %v", err)
		}
	})

	t.Run("a catalog vends per-table credentials", func(t *testing.T) {
		out, err := e.vend(ctx, catalog, "orders", nil)
		must(t, err)
		if got := aws.ToString(out.AssumedRoleUser.Arn); got != "arn:aws:sts::000000000000:assumed-role/table-access/vend-orders" {
			t.Errorf("AssumedRoleUser.Arn %q", got)
		}
		if out.PackedPolicySize == nil || *out.PackedPolicySize <= 0 || *out.PackedPolicySize > 100 {
			t.Errorf("PackedPolicySize %v", out.PackedPolicySize)
		}
		c := out.Credentials
		vended := e.s3Client(t, credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
		_, err = vended.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("orders/part-0.parquet")})
		must(t, err)
		_, err = vended.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("orders/part-1.parquet"), Body: strings.NewReader("new")})
		must(t, err)
		_, err = vended.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("orders/")})
		must(t, err)
		// As catalogs list: with a delimiter too.
		listed, err := vended.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("orders/"), Delimiter: aws.String("/")})
		must(t, err)
		if len(listed.Contents) != 2 {
			t.Errorf("listed %d objects under orders/, want 2", len(listed.Contents))
		}
		for what, err := range map[string]error{
			"get another table": func() error {
				_, err := vended.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("customers/part-0.parquet")})
				return err
			}(),
			"put another table": func() error {
				_, err := vended.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("customers/x"), Body: strings.NewReader("x")})
				return err
			}(),
			"list another table": func() error {
				_, err := vended.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("customers/")})
				return err
			}(),
			"list the whole bucket": func() error {
				_, err := vended.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake")})
				return err
			}(),
			"delete (the session policy does not allow it)": func() error {
				_, err := vended.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("orders/part-1.parquet")})
				return err
			}(),
		} {
			if apiCode(err) != "AccessDenied" {
				t.Errorf("%s: %v", what, err)
			}
		}
		// The vended credentials know who they are.
		id, err := e.stsClient(credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))).
			GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		must(t, err)
		if aws.ToString(id.Arn) != aws.ToString(out.AssumedRoleUser.Arn) || aws.ToString(id.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) || aws.ToString(id.Account) != "000000000000" {
			t.Errorf("GetCallerIdentity of the vended session: %v %v %v", aws.ToString(id.Arn), aws.ToString(id.UserId), aws.ToString(id.Account))
		}
	})

	t.Run("stscreds.AssumeRoleProvider refreshes by itself", func(t *testing.T) {
		p := stscreds.NewAssumeRoleProvider(catalog, "arn:aws:iam::000000000000:role/table-access", func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = aws.String(externalID)
			o.Tags = []ststypes.Tag{{Key: aws.String("table"), Value: aws.String("orders")}}
			o.Duration = 15 * time.Minute
		})
		c := e.s3Client(t, aws.NewCredentialsCache(p))
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("orders/part-0.parquet")})
		must(t, err)
		b, _ := io.ReadAll(obj.Body)
		if string(b) != "data of orders/part-0.parquet" {
			t.Errorf("read %q", b)
		}
	})

	t.Run("GetCallerIdentity of the principal", func(t *testing.T) {
		id, err := catalog.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		must(t, err)
		if aws.ToString(id.Arn) != "arn:aws:iam::000000000000:user/polaris" || aws.ToString(id.UserId) != e.principalID {
			t.Errorf("%s %s", aws.ToString(id.Arn), aws.ToString(id.UserId))
		}
	})

	t.Run("role chaining from a web-identity session", func(t *testing.T) {
		anon := e.stsClient(aws.AnonymousCredentials{})
		web, err := anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::000000000000:role/etl"), RoleSessionName: aws.String("etl"),
			WebIdentityToken: aws.String(e.hydra.Token(t, hydraClient, hydraSecret, []string{"sts"}, nil)),
		})
		must(t, err)
		wc := web.Credentials
		session := e.stsClient(credentials.NewStaticCredentialsProvider(aws.ToString(wc.AccessKeyId), aws.ToString(wc.SecretAccessKey), aws.ToString(wc.SessionToken)))
		_, err = session.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/lake-reader"),
			RoleSessionName: aws.String("chained"), DurationSeconds: aws.Int32(7200)})
		if apiCode(err) != "ValidationError" {
			t.Errorf("a chained session over an hour: %v", err)
		}
		chained, err := session.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/lake-reader"), RoleSessionName: aws.String("chained")})
		must(t, err)
		cc := chained.Credentials
		reader := e.s3Client(t, credentials.NewStaticCredentialsProvider(aws.ToString(cc.AccessKeyId), aws.ToString(cc.SecretAccessKey), aws.ToString(cc.SessionToken)))
		_, err = reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("customers/part-0.parquet")})
		must(t, err)
		_, err = reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("customers/x"), Body: strings.NewReader("x")})
		if apiCode(err) != "AccessDenied" {
			t.Errorf("the reader wrote: %v", err)
		}
		// The web-identity session may not assume the catalog's role.
		_, err = session.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/table-access"), RoleSessionName: aws.String("xx")})
		if apiCode(err) != "AccessDenied" {
			t.Errorf("chaining into an untrusting role: %v", err)
		}
	})

	t.Run("the AWS CLI and boto3", func(t *testing.T) {
		envv := []string{"AWS_ACCESS_KEY_ID=" + e.principalID, "AWS_SECRET_ACCESS_KEY=" + e.principalSecret}
		out := awscli.MustRun(t, envv, "sts", "assume-role", "--endpoint-url", e.stsURL, "--role-arn", "arn:aws:iam::000000000000:role/table-access",
			"--role-session-name", "cli", "--external-id", externalID, "--tags", "Key=table,Value=orders")
		var r struct {
			Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken string }
			AssumedRoleUser struct{ Arn string }
		}
		must(t, json.Unmarshal([]byte(out), &r))
		if r.AssumedRoleUser.Arn != "arn:aws:sts::000000000000:assumed-role/table-access/cli" {
			t.Errorf("CLI AssumedRoleUser %q", r.AssumedRoleUser.Arn)
		}
		who := awscli.MustRun(t, []string{"AWS_ACCESS_KEY_ID=" + r.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + r.Credentials.SecretAccessKey,
			"AWS_SESSION_TOKEN=" + r.Credentials.SessionToken}, "sts", "get-caller-identity", "--endpoint-url", e.stsURL)
		if !strings.Contains(who, "assumed-role/table-access/cli") {
			t.Errorf("get-caller-identity: %s", who)
		}
		// And S3 work with what it got: its table, not another.
		vended := []string{"AWS_ACCESS_KEY_ID=" + r.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + r.Credentials.SecretAccessKey,
			"AWS_SESSION_TOKEN=" + r.Credentials.SessionToken}
		src := filepath.Join(t.TempDir(), "part.parquet")
		must(t, os.WriteFile(src, []byte("from the CLI"), 0o600))
		if _, stderr, err := awscli.Run(t, vended, "s3", "cp", src, "s3://lake/orders/part-cli.parquet", "--endpoint-url", e.s3URL); err != nil {
			t.Errorf("aws s3 cp into the table: %v\n%s", err, stderr)
		}
		if _, stderr, err := awscli.Run(t, vended, "s3", "cp", src, "s3://lake/customers/part-cli.parquet", "--endpoint-url", e.s3URL); err == nil || !strings.Contains(stderr, "AccessDenied") {
			t.Errorf("aws s3 cp into another table: %v\n%s", err, stderr)
		}
		script := `
import boto3, sys, os
sts = boto3.client("sts", endpoint_url=os.environ["STS_URL"], region_name="us-east-1",
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"])
r = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/table-access", RoleSessionName="boto3",
    ExternalId=os.environ["EXT"], Tags=[{"Key": "table", "Value": "orders"}])
c = r["Credentials"]
s3 = boto3.client("s3", endpoint_url=os.environ["S3_URL"], region_name="us-east-1",
    aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
body = s3.get_object(Bucket="lake", Key="orders/part-0.parquet")["Body"].read().decode()
try:
    s3.get_object(Bucket="lake", Key="customers/part-0.parquet")
    print("customers readable"); sys.exit(1)
except s3.exceptions.ClientError as e:
    code = e.response["Error"]["Code"]
print(body + "|" + code)
`
		cmd := exec.Command("python3", "-c", script)
		cmd.Env = append(os.Environ(), "STS_URL="+e.stsURL, "S3_URL="+e.s3URL, "AK="+e.principalID, "SK="+e.principalSecret, "EXT="+externalID,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
		got, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != "data of orders/part-0.parquet|AccessDenied" {
			t.Errorf("boto3: %v\n%s", err, got)
		}
	})

	t.Run("a removed principal is refused", func(t *testing.T) {
		e.putData(t, "opa_sts/principals", map[string]any{})
		_, err := e.vend(ctx, catalog, "orders", nil)
		if apiCode(err) != "InvalidClientTokenId" {
			t.Errorf("after removal: %v", err)
		}
	})

	t.Run("no secret in the log", func(t *testing.T) {
		logs := e.opa.Logs()
		for _, s := range []string{e.principalSecret, externalID} {
			if strings.Contains(logs, s) {
				t.Errorf("the log contains a secret (%d chars)", len(s))
			}
		}
	})
}

// Revoking a session revokes the sessions assumed from it (role
// chaining), at any depth: they were obtained with its credentials.
func TestRevokingASessionRevokesItsChain(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	parent, pc := e.webSession(t, "parent")
	assume := func(p aws.CredentialsProvider, name string) (aws.CredentialsProvider, string) {
		t.Helper()
		out, err := e.stsClient(p).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/lake-reader"), RoleSessionName: aws.String(name)})
		must(t, err)
		c := out.Credentials
		return credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)), aws.ToString(c.SessionToken)
	}
	trustsEtl := map[string]any{"trust": []any{map[string]any{"roles": []string{"etl", "lake-reader"}}},
		"statements": []any{map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/*"}}}
	e.putData(t, "opa_sts/roles/lake-reader", trustsEtl)
	child, _ := assume(parent, "child")
	grandchild, _ := assume(child, "grandchild")
	sibling, _ := e.webSession(t, "sibling")
	for name, p := range map[string]aws.CredentialsProvider{"child": child, "grandchild": grandchild} {
		if _, err := e.stsClient(p).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("%s before the revocation: %v", name, err)
		}
	}
	jti, _ := tokenClaims(t, aws.ToString(pc.SessionToken))
	e.revoke(t, "session", jti)
	for name, p := range map[string]aws.CredentialsProvider{"parent": parent, "child": child, "grandchild": grandchild} {
		_, err := e.stsClient(p).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if got := apiCode(err); got != "InvalidClientTokenId" {
			t.Errorf("%s after its chain's root was revoked: %v (%q)", name, err, got)
		}
		_, err = e.s3Client(t, p).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("orders/part-0.parquet")})
		if err == nil {
			t.Errorf("%s still reads S3", name)
		}
	}
	if _, err := e.stsClient(sibling).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("another session of the same subject: %v", err)
	}
}
