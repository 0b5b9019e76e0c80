package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/keyring"
)

// principalName is what names a principal in ARNs (arn:aws:iam::<account>:user/<name>).
var principalName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

func newPrincipalsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "principals",
		Short: "Manage the long-term principals that sign AssumeRole (catalogs, CI systems)",
		Long: `A principal is a long-term access key that signs AssumeRole with SigV4.
Its secret is derived from the session authority's derivation secret and
its access key id, so no secret is stored anywhere: policy data lists the
principals (data.opa_sts.principals, by access key id), 'principals new'
hands the secret out once, and removing the entry (or "disabled": true)
revokes the key. To rotate, create a new principal, move the client to it,
then remove the old entry.`,
	}
	cmd.AddCommand(newPrincipalsNewCommand())
	return cmd
}

func newPrincipalsNewCommand() *cobra.Command {
	var name, keysDir, secretFile string
	cmd := &cobra.Command{
		Use:   "new --name NAME (--keys-dir DIR | --derivation-secret-file FILE)",
		Short: "Create a principal: print its access key id, its secret (once) and its data entry",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			if !principalName.MatchString(name) {
				return errors.New("--name: 1 to 64 characters of letters, digits and _+=,.@-")
			}
			switch {
			case secretFile == "" && keysDir == "":
				return errors.New("name the session authority's derivation secret: --keys-dir (its keys.dir) or --derivation-secret-file")
			case secretFile != "" && keysDir != "":
				return errors.New("--keys-dir and --derivation-secret-file are exclusive")
			case keysDir != "":
				secretFile = keyring.DefaultFiles(keysDir).DerivationSecret
			}
			derivation, err := keyring.LoadDerivationSecret(filepath.Clean(secretFile))
			if err != nil {
				return fmt.Errorf("principals new: %w", err)
			}
			id, err := credentials.NewPrincipalAccessKeyID()
			if err != nil {
				return err
			}
			out := map[string]any{
				"access_key_id":     id,
				"secret_access_key": credentials.DerivePrincipalSecret(derivation, id),
				"data": map[string]any{"opa_sts": map[string]any{"principals": map[string]any{
					id: map[string]any{"name": name, "created": time.Now().UTC().Format(time.RFC3339)},
				}}},
			}
			fmt.Fprintf(os.Stderr, "principal %s (%s): the secret is printed once, on stdout; add the data entry to your policy data (bundle) to enable it\n", name, id)
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the principal's name (its ARN is arn:aws:iam::<account>:user/<name>)")
	cmd.Flags().StringVar(&keysDir, "keys-dir", "", "the session authority's keys directory (plugins.sts_sessions.keys.dir)")
	cmd.Flags().StringVar(&secretFile, "derivation-secret-file", "", "the session authority's derivation secret file (keys.derivation_secret_file)")
	return cmd
}
