package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/internal/buildinfo"
	"airlock.dev/airlock/internal/pkcs11key"
)

// version may be set with -ldflags "-X main.version=…"; without it the
// version comes from the build information (see package buildinfo).
var version string

// appVersion is airlock's version as every command reports it: in
// `airlock version`, the builder of a statement and the applier of a receipt.
func appVersion() string { return buildinfo.Read(version).Version }

func newVersionCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "Show airlock's version, the commit it was built from, and how it was built",
		Long: `Show the version, the commit (vcs.revision, and whether the tree had
uncommitted changes), the Go version, the platform, and the build settings
(cgo, -trimpath) that the Go linker recorded in this binary.`,
		Example: examples(
			"airlock version",
			"airlock version --json"),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			report(c, versionReport{buildinfo.Read(version), pkcs11key.Supported}, printVersion)
			return nil
		},
	}
	addJSONFlag(c, "version.schema.json")
	return c
}

// versionReport is what 'airlock version' reports.
type versionReport struct {
	buildinfo.Info
	PKCS11 bool `json:"pkcs11"` // keys in PKCS#11 tokens: needs cgo
}

func printVersion(w io.Writer, info versionReport) {
	fmt.Fprintf(w, "airlock   %s\n", info.Version)
	commit := info.Commit
	if commit == "" {
		commit = "unknown (built without VCS information)"
	} else if info.Modified {
		commit += " (with uncommitted changes)"
	}
	fmt.Fprintf(w, "commit    %s\n", commit)
	if info.CommitTime != "" {
		fmt.Fprintf(w, "time      %s\n", info.CommitTime)
	}
	fmt.Fprintf(w, "go        %s\n", info.GoVersion)
	fmt.Fprintf(w, "platform  %s/%s\n", info.OS, info.Arch)
	fmt.Fprintf(w, "build     cgo=%t trimpath=%t\n", info.CGO, info.TrimPath)
	pkcs11 := "supported"
	if !info.PKCS11 {
		pkcs11 = "not in this build (built without cgo; the release's airlock-linux-amd64-pkcs11 has it)"
	}
	fmt.Fprintf(w, "pkcs11    %s\n", pkcs11)
}
