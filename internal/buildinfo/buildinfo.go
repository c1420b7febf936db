// Package buildinfo says which airlock is running: its version, the commit
// it was built from, and how it was built, read from the build information
// the Go linker embeds (runtime/debug.ReadBuildInfo). Every place that names
// airlock's version — `airlock version`, the builder field of a bundle
// statement, the applier field of a receipt — takes it from here, so a
// plain `go build` in a git checkout reports its commit without any linker
// flags.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info describes the running binary.
type Info struct {
	// Version is the release version: the linker override (-X main.version),
	// else the main module's version (a tag, or the pseudo-version
	// v0.0.0-<time>-<commit> the go command stamps), else "devel" with the
	// commit, else "dev".
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`     // vcs.revision
	CommitTime string `json:"commitTime,omitempty"` // vcs.time (RFC 3339)
	Modified   bool   `json:"modified"`             // vcs.modified: built from a tree with uncommitted changes
	GoVersion  string `json:"go"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CGO        bool   `json:"cgo"`      // CGO_ENABLED=1
	TrimPath   bool   `json:"trimpath"` // -trimpath
	Module     string `json:"module,omitempty"`
}

// Read returns the running binary's build information. override is the
// version set with -ldflags "-X main.version=…" ("" when not set).
func Read(override string) Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return FromBuildInfo(bi, override)
}

// FromBuildInfo derives Info from bi (nil when the binary has none).
func FromBuildInfo(bi *debug.BuildInfo, override string) Info {
	info := Info{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi != nil {
		info.GoVersion = bi.GoVersion
		info.Module = bi.Main.Path
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.time":
				info.CommitTime = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			case "CGO_ENABLED":
				info.CGO = s.Value == "1"
			case "-trimpath":
				info.TrimPath = s.Value == "true"
			case "GOOS":
				info.OS = s.Value
			case "GOARCH":
				info.Arch = s.Value
			}
		}
	}
	switch {
	case override != "" && override != "dev":
		info.Version = override
	case bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		info.Version = bi.Main.Version
	case info.Commit != "":
		info.Version = "devel-" + short(info.Commit)
		if info.Modified {
			info.Version += "+dirty"
		}
	default:
		info.Version = "dev"
	}
	return info
}

// String is the one-line form: "v1.2.0 (commit 0123abcd…, go1.27.4, linux/amd64)".
func (i Info) String() string {
	var parts []string
	if i.Commit != "" {
		c := "commit " + short(i.Commit)
		if i.Modified {
			c += ", modified"
		}
		parts = append(parts, c)
	}
	parts = append(parts, i.GoVersion, i.OS+"/"+i.Arch)
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(parts, ", "))
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
