package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/opa-sts/opa-sts/policies"
)

func newPoliciesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policies",
		Short: "The policy library built into opa-sts",
	}
	cmd.AddCommand(newPoliciesWriteCommand())
	return cmd
}

func newPoliciesWriteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "write DIR",
		Short: "Write the built-in policy library (the STS decision, MinIO's plugin contract, S3 enforcement, OPA API protection) into DIR",
		Long: `Writes the Rego policies opa-sts runs with (those 'opa-sts dev' serves)
into DIR, keeping their paths, for 'opa-sts run --server ... DIR data.json'
or for a bundle. DIR must be empty or absent: the library is written
whole, never merged into other files.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			dir := filepath.Clean(args[0])
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fmt.Errorf("%s is not empty", dir)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := policies.WriteDefault(dir); err != nil {
				return err
			}
			n := 0
			_ = fs.WalkDir(policies.Default, ".", func(_ string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					n++
				}
				return nil
			})
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d policy files into %s\n", n, dir)
			return nil
		},
	}
}
