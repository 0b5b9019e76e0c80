package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	opacmd "github.com/open-policy-agent/opa/cmd"
	"github.com/spf13/cobra"

	"github.com/opa-sts/opa-sts/internal/miniomigrate"
)

func newMigrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Translate another system's identity and policy configuration into opa-sts data",
	}
	cmd.AddCommand(newMigrateMinIOCommand())
	return cmd
}

// Exit statuses of migrate minio.
const (
	exitMigrateStrict = 3 // --strict and the report holds untranslated or changed items
)

func newMigrateMinIOCommand() *cobra.Command {
	var envFiles, configFiles, issuers []string
	var policyDir, export, out string
	var strict bool
	cmd := &cobra.Command{
		Use:   "minio --out DIR [--env FILE] [--config FILE] [--policies DIR] [--iam-export ZIP|DIR]",
		Short: "Translate MinIO's OpenID settings, canned policies and policy mappings into opa-sts data",
		Long: `Reads a MinIO deployment's identity and policy configuration and writes
opa-sts data for MinIO's access-management plugin (docs/migrate-minio.md):

  --env FILE         MINIO_IDENTITY_OPENID_* settings (MinIO's environment file)
  --config FILE      the output of 'mc admin config get ALIAS identity_openid'
  --policies DIR     canned policies: one JSON file per policy ('mc admin policy
                     info ALIAS NAME > DIR/NAME.json', or its --json output)
  --iam-export FILE  'mc admin cluster iam export ALIAS' (the zip, or unpacked):
                     policies, users, groups, mappings, service accounts

It writes DIR/data.json (load DIR as data next to opa-sts's policies) and
DIR/migration-report.json, and prints the report: what it could not carry
over (untranslated: fails closed), what means something else than in MinIO
on purpose (changed), what it rewrote to keep MinIO's meaning (translated).
No secret of the export (user and service-account secret keys, client
secrets) is read into either file. Each provider's issuer is read from its
discovery document unless --issuer CONFIG_URL=ISSUER gives it.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			if out == "" {
				return errors.New("--out DIR is required")
			}
			if len(envFiles) == 0 && len(configFiles) == 0 && policyDir == "" && export == "" {
				return errors.New("nothing to migrate: give --env, --config, --policies and/or --iam-export")
			}
			in := miniomigrate.Input{IAM: &miniomigrate.IAM{}}
			for _, f := range envFiles {
				ps, items, err := readWith(f, miniomigrate.ParseEnv)
				if err != nil {
					return err
				}
				in.Providers, in.Items = append(in.Providers, ps...), append(in.Items, items...)
			}
			for _, f := range configFiles {
				ps, items, err := readWith(f, miniomigrate.ParseConfig)
				if err != nil {
					return err
				}
				in.Providers, in.Items = append(in.Providers, ps...), append(in.Items, items...)
			}
			if err := uniqueProviders(in.Providers); err != nil {
				return err
			}
			if export != "" {
				iam, err := miniomigrate.ReadIAMExport(filepath.Clean(export))
				if err != nil {
					return fmt.Errorf("--iam-export: %w", err)
				}
				in.IAM = iam
			}
			if policyDir != "" {
				pols, err := miniomigrate.ReadPolicyDir(filepath.Clean(policyDir))
				if err != nil {
					return fmt.Errorf("--policies: %w", err)
				}
				if in.IAM.Policies == nil {
					in.IAM.Policies = map[string]json.RawMessage{}
				}
				for _, name := range slices.Sorted(maps.Keys(pols)) {
					if prev, ok := in.IAM.Policies[name]; ok && !sameJSON(prev, pols[name]) {
						in.Items = append(in.Items, miniomigrate.Item{Kind: miniomigrate.KindNote, Subject: "policy " + name,
							Reason: "--policies gives it, as well as --iam-export, written differently: the --policies one is migrated"})
					}
					in.IAM.Policies[name] = pols[name]
				}
			}
			known := map[string]string{}
			for _, kv := range issuers {
				u, iss, ok := strings.Cut(kv, "=")
				if !ok || u == "" || iss == "" {
					return fmt.Errorf("--issuer %q: want CONFIG_URL=ISSUER", kv)
				}
				known[u] = iss
			}
			var err error
			in.Issuers, err = miniomigrate.ResolveIssuers(cmd.Context(), &http.Client{Timeout: 15 * time.Second}, in.Providers, known)
			if err != nil {
				return err
			}
			res, err := miniomigrate.Migrate(in)
			if err != nil {
				return err
			}
			if err := writeMigration(out, res); err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), res.Report.Text())
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(out, "data.json"), filepath.Join(out, "migration-report.json"))
			if strict && (res.Report.Summary.Untranslated > 0 || res.Report.Summary.Changed > 0) {
				fmt.Fprintln(cmd.ErrOrStderr(), "--strict: the report holds untranslated or changed items")
				cmd.SilenceErrors = true
				return &opacmd.ExitError{Exit: exitMigrateStrict}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&envFiles, "env", nil, "an environment file with MINIO_IDENTITY_OPENID_* settings (repeatable)")
	f.StringArrayVar(&configFiles, "config", nil, "the output of 'mc admin config get ALIAS identity_openid' (repeatable)")
	f.StringVar(&policyDir, "policies", "", "a folder of canned policy JSON files")
	f.StringVar(&export, "iam-export", "", "the zip of 'mc admin cluster iam export', or the folder it was unpacked into")
	f.StringArrayVar(&issuers, "issuer", nil, "CONFIG_URL=ISSUER: a provider's issuer, instead of reading its discovery document (repeatable)")
	f.StringVar(&out, "out", "", "the folder to write data.json and migration-report.json into")
	f.BoolVar(&strict, "strict", false, "exit with status 3 when the report holds untranslated or changed items")
	return cmd
}

func readWith[T any](name string, parse func(io.Reader) (T, []miniomigrate.Item, error)) (T, []miniomigrate.Item, error) {
	var zero T
	f, err := os.Open(filepath.Clean(name))
	if err != nil {
		return zero, nil, err
	}
	defer f.Close()
	v, items, err := parse(f)
	if err != nil {
		return zero, nil, fmt.Errorf("%s: %w", name, err)
	}
	return v, items, nil
}

func uniqueProviders(ps []miniomigrate.Provider) error {
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			if p.Name == "" {
				return errors.New("the default identity_openid provider is given twice (in --env and --config?)")
			}
			return fmt.Errorf("identity_openid:%s is given twice", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

func writeMigration(dir string, res *miniomigrate.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := res.JSON()
	if err != nil {
		return err
	}
	report, err := json.MarshalIndent(res.Report, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"data.json": data, "migration-report.json": report} {
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
