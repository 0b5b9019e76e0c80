package devmode

import (
	"fmt"
	"os"
	"strings"
)

// Profile is the AWS profile `opa-sts dev` writes.
const Profile = "opa-sts-dev"

// AWSConfig is an AWS shared configuration file whose profile gets its
// credentials from `opa-sts credentials` (credential_process): the AWS
// CLI and SDKs then use the STS without knowing it.
type AWSConfig struct {
	Binary, STS, TokenURL, ClientID, ClientSecretFile string
}

// Write writes the configuration file (0600: it names the secret file).
func (c AWSConfig) Write(path string) error {
	quote := func(s string) string {
		if strings.ContainsAny(s, " \t\"'\\") {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
		}
		return s
	}
	content := fmt.Sprintf(`# Written by opa-sts dev: AWS_CONFIG_FILE=%s AWS_PROFILE=%s
[profile %s]
region = us-east-1
# --no-cache: every command gets new credentials, so an edit of the
# development policy applies to the next command (a session keeps the
# grant it was issued with). Drop it to cache them until shortly before
# they expire.
credential_process = %s credentials --sts %s --token-url %s --client-id %s --client-secret-file %s --no-cache
# SigV4 for S3, presigned URLs included: the AWS CLI v1 presigns with
# SigV2 otherwise, which the S3 endpoint (versitygw) refuses.
s3 =
    signature_version = s3v4
`, path, Profile, Profile, quote(c.Binary), c.STS, c.TokenURL, c.ClientID, quote(c.ClientSecretFile))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	return nil
}
