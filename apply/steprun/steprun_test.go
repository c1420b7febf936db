package steprun

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/internal/mask"
)

func newMasker(secrets ...string) *mask.Masker { return mask.New(secrets) }

func TestBackoff(t *testing.T) {
	tests := []struct {
		base time.Duration
		n    int
		want time.Duration
	}{
		{0, 1, 0},
		{time.Second, 1, time.Second},
		{time.Second, 2, 2 * time.Second},
		{time.Second, 3, 4 * time.Second},
		{time.Second, 9, 256 * time.Second},
		{time.Second, 10, MaxRetryDelay},
		{time.Second, 1000, MaxRetryDelay},
		{time.Duration(1<<62 - 1), 3, MaxRetryDelay},
		{10 * time.Minute, 1, MaxRetryDelay},
	}
	for _, tc := range tests {
		if got := backoff(tc.base, tc.n); got != tc.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", tc.base, tc.n, got, tc.want)
		}
	}
}

func TestParseOutputs(t *testing.T) {
	long := strings.Repeat("a", 128)
	tests := []struct {
		name, in string
		want     map[string]string
		errLine  string // "" means success
	}{
		{"empty", "", map[string]string{}, ""},
		{"values", "a=1\nB_2=x=y\n_c=\n", map[string]string{"a": "1", "B_2": "x=y", "_c": ""}, ""},
		{"blank and comments", "\n  \n# note\n   # indented\nx=1", map[string]string{"x": "1"}, ""},
		{"crlf", "x=1\r\ny=2\r\n", map[string]string{"x": "1", "y": "2"}, ""},
		{"later wins", "x=1\nx=2\n", map[string]string{"x": "2"}, ""},
		{"value keeps spaces", "x= a b \n", map[string]string{"x": " a b "}, ""},
		{"longest name", long + "=1", map[string]string{long: "1"}, ""},
		{"name too long", "ok=1\n" + long + "a=1", nil, "line 2"},
		{"no equals", "ok=1\n\nhunter2", nil, "line 3"},
		{"digit first", "1x=hunter2", nil, "line 1"},
		{"space in name", "my var=hunter2", nil, "line 1"},
		{"dash in name", "my-var=hunter2", nil, "line 1"},
		{"empty name", "=hunter2", nil, "line 1"},
		{"sensitive", "sensitive Token=s3cret\nplain=1\n", map[string]string{"Token": "s3cret", "plain": "1"}, ""},
		{"sensitive without name", "sensitive =x", nil, "line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, sensitive, err := parseOutputs(tc.in)
			if err == nil && len(sensitive) != strings.Count(tc.in, SensitivePrefix) {
				t.Fatalf("sensitive names %v", sensitive)
			}
			if tc.errLine == "" {
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), tc.errLine+":") {
				t.Fatalf("err = %v, want ErrOutput naming %s", err, tc.errLine)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q shows the value", err)
			}
		})
	}
}

func TestBaseEnv(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/root", "AWS_SECRET_ACCESS_KEY=x", "LANG=C.UTF-8",
		"Path=C:\\Windows", "SystemRoot=C:\\Windows", "SYSTEMROOT=C:\\Windows",
		"=C:=C:\\", "TERM=xterm", "PAYMENTS_DB_PASSWORD=hunter2", "TZ=UTC", "noequals",
	}
	unix := baseEnv(environ, false)
	wantUnix := []string{"PATH=/usr/bin", "HOME=/root", "LANG=C.UTF-8", "TERM=xterm", "TZ=UTC"}
	if !reflect.DeepEqual(unix, wantUnix) {
		t.Errorf("unix: got %q, want %q", unix, wantUnix)
	}
	win := baseEnv(environ, true)
	wantWin := []string{
		"PATH=/usr/bin", "HOME=/root", "LANG=C.UTF-8", "Path=C:\\Windows",
		"SystemRoot=C:\\Windows", "SYSTEMROOT=C:\\Windows", "TERM=xterm", "TZ=UTC",
	}
	if !reflect.DeepEqual(win, wantWin) {
		t.Errorf("windows: got %q, want %q", win, wantWin)
	}
}

func TestInvocation(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.sh", "b.ps1", "c.CMD", "d.bat", "e.py", "with space.cmd"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name     string
		goos     string
		pwsh     bool // pwsh is on PATH
		c        Command
		args     []string
		cmdLine  string
		errMatch string
		errIs    error
	}{
		{name: "default inline unix", goos: "linux", c: Command{Inline: "echo hi"},
			args: []string{"sh", "-e", "-c", "echo hi"}},
		{name: "default inline windows", goos: "windows", pwsh: true, c: Command{Inline: "echo hi"},
			args: []string{"powershell", "-NoProfile", "-NonInteractive", "-Command", psPrelude + "echo hi"}},
		{name: "bash inline", goos: "linux", c: Command{Shell: "bash", Inline: "x | y"},
			args: []string{"bash", "-e", "-o", "pipefail", "-c", "x | y"}},
		{name: "pwsh inline", goos: "linux", pwsh: true, c: Command{Shell: "pwsh", Inline: "Get-Date"},
			args: []string{"pwsh", "-NoProfile", "-NonInteractive", "-Command", psPrelude + "Get-Date"}},
		{name: "cmd inline", goos: "windows", c: Command{Shell: "cmd", Inline: `echo "a b" & exit /b 3`},
			args:    []string{"cmd", "/D", "/S", "/C", `echo "a b" & exit /b 3`},
			cmdLine: `"/bin/cmd" /D /S /C "echo "a b" & exit /b 3"`},
		{name: "sh script relative to dir", goos: "linux", c: Command{Script: "a.sh", Dir: dir},
			args: []string{"sh", abs("a.sh")}},
		{name: "ps1 with pwsh", goos: "windows", pwsh: true, c: Command{Script: abs("b.ps1")},
			args: []string{"pwsh", "-NoProfile", "-NonInteractive", "-File", abs("b.ps1")}},
		{name: "ps1 without pwsh", goos: "windows", c: Command{Script: abs("b.ps1")},
			args: []string{"powershell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", abs("b.ps1")}},
		{name: "cmd script by extension", goos: "windows", c: Command{Script: abs("with space.cmd")},
			args:    []string{"cmd", "/D", "/S", "/C", `"` + abs("with space.cmd") + `"`},
			cmdLine: `"/bin/cmd" /D /S /C ""` + abs("with space.cmd") + `""`},
		{name: "bat upper case", goos: "windows", c: Command{Script: abs("d.bat")},
			args:    []string{"cmd", "/D", "/S", "/C", `"` + abs("d.bat") + `"`},
			cmdLine: `"/bin/cmd" /D /S /C ""` + abs("d.bat") + `""`},
		{name: "explicit shell beats extension", goos: "linux", c: Command{Shell: "bash", Script: abs("c.CMD")},
			args: []string{"bash", abs("c.CMD")}},
		{name: "unknown extension unix", goos: "linux", c: Command{Script: abs("e.py")},
			args: []string{"sh", abs("e.py")}},
		{name: "unknown extension windows", goos: "windows", c: Command{Script: abs("e.py")},
			args: []string{"powershell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", abs("e.py")}},
		{name: "cmd on unix", goos: "linux", c: Command{Shell: "cmd", Inline: "dir"}, errMatch: "only available on Windows"},
		{name: "unknown shell", goos: "linux", c: Command{Shell: "zsh", Inline: "x"}, errMatch: `unknown shell "zsh"`},
		{name: "missing script", goos: "linux", c: Command{Script: abs("nope.sh")}, errMatch: "script", errIs: fs.ErrNotExist},
		{name: "script is a directory", goos: "linux", c: Command{Script: dir}, errMatch: "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookPath := func(name string) (string, error) {
				if name == "pwsh" && !tc.pwsh {
					return "", errors.New("not found")
				}
				return "/bin/" + name, nil
			}
			inv, err := tc.c.invocation(tc.goos, lookPath)
			if tc.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMatch) || tc.errIs != nil && !errors.Is(err, tc.errIs) {
					t.Fatalf("err = %v, want %q", err, tc.errMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(inv.args, tc.args) || inv.path != "/bin/"+tc.args[0] || inv.cmdLine != tc.cmdLine {
				t.Fatalf("got %q %q %q\nwant %q %q", inv.path, inv.args, inv.cmdLine, tc.args, tc.cmdLine)
			}
		})
	}
}

func TestTail(t *testing.T) {
	var tl tail
	var all []byte
	for i := range 300 {
		chunk := []byte(strings.Repeat(string(rune('a'+i%26)), i%40))
		tl.write(chunk)
		all = append(all, chunk...)
		if len(tl.b) > 2*TailSize {
			t.Fatalf("tail holds %d bytes", len(tl.b))
		}
		want := all[max(0, len(all)-TailSize):]
		if string(tl.bytes()) != string(want) {
			t.Fatalf("after %d writes: tail differs", i+1)
		}
	}
	tl.write([]byte(strings.Repeat("z", 3*TailSize)))
	if string(tl.bytes()) != strings.Repeat("z", TailSize) {
		t.Fatal("large write not cut")
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		c    Command
		want string
	}{
		{"no masker", Command{Inline: "true"}, "no masker"},
		{"neither", Command{}, "exactly one"},
		{"both", Command{Inline: "true", Script: "x.sh"}, "exactly one"},
		{"negative timeout", Command{Inline: "true", Timeout: -1}, "negative"},
		{"negative retries", Command{Inline: "true", Retries: -1}, "negative"},
	}
	for _, tc := range tests {
		if tc.name != "no masker" {
			tc.c.Mask = newMasker()
		}
		res := Run(t.Context(), tc.c)
		if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) || res.Attempts != 0 || res.ExitCode != -1 {
			t.Errorf("%s: got %+v, want error %q", tc.name, res, tc.want)
		}
	}
}
