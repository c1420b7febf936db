package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	const rev = "cc755777799c0123456789abcdef0123456789ab"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "CGO_ENABLED", Value: "0"},
			{Key: "GOARCH", Value: "arm64"},
			{Key: "GOOS", Value: "darwin"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-21T23:43:27Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	bi := func(version string, settings []debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.27.4", Main: debug.Module{Path: "airlock.dev/airlock", Version: version}, Settings: settings}
	}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     string
		line     string
	}{
		{"tagged", bi("v1.2.0", vcs("false")), "", "v1.2.0", "v1.2.0 (commit cc755777799c, go1.27.4, darwin/arm64)"},
		{"pseudo-version", bi("v0.0.0-20261121234327-cc755777799c+dirty", vcs("true")), "",
			"v0.0.0-20261121234327-cc755777799c+dirty", "v0.0.0-20261121234327-cc755777799c+dirty (commit cc755777799c, modified, go1.27.4, darwin/arm64)"},
		{"linker override wins", bi("v1.2.0", vcs("false")), "1.2.0-rc1", "1.2.0-rc1", ""},
		{"override dev is no override", bi("v1.2.0", vcs("false")), "dev", "v1.2.0", ""},
		{"devel with commit", bi("(devel)", vcs("true")), "", "devel-cc755777799c+dirty", ""},
		{"devel without vcs", bi("(devel)", nil), "", "dev", ""},
		{"no build info", nil, "", "dev", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FromBuildInfo(tc.bi, tc.override)
			if got.Version != tc.want {
				t.Errorf("Version = %q, want %q", got.Version, tc.want)
			}
			if tc.line != "" && got.String() != tc.line {
				t.Errorf("String() = %q, want %q", got.String(), tc.line)
			}
			if tc.bi != nil && tc.bi.Settings != nil {
				if got.Commit != rev || got.CommitTime != "2026-11-21T23:43:27Z" || !got.TrimPath || got.CGO || got.OS != "darwin" || got.Arch != "arm64" {
					t.Errorf("settings not read: %+v", got)
				}
			}
		})
	}
}

// TestRead: a test binary has build information, at least the Go version.
func TestRead(t *testing.T) {
	i := Read("")
	if i.GoVersion == "" || i.OS == "" || i.Arch == "" || i.Version == "" {
		t.Fatalf("incomplete: %+v", i)
	}
}
