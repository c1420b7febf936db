package steprun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// psPrelude makes PowerShell stop at the first error, including a failing
// native command (PowerShell 7.3 and later; older versions ignore it).
const psPrelude = "$ErrorActionPreference = 'Stop'\n$PSNativeCommandUseErrorActionPreference = $true\n"

// invocation is the process to start for a step.
type invocation struct {
	path    string   // resolved shell binary
	args    []string // argv including argv[0]
	cmdLine string   // Windows only: raw command line, overrides args (cmd.exe)
}

// invocation resolves the shell and builds the command line for goos.
func (c *Command) invocation(goos string, lookPath func(string) (string, error)) (invocation, error) {
	script := ""
	if c.Script != "" {
		var err error
		if script, err = c.scriptPath(); err != nil {
			return invocation{}, err
		}
	}
	shell := c.Shell
	if shell == "" {
		shell = defaultShell(goos, script, lookPath)
	}
	if shell == "cmd" && goos != "windows" {
		return invocation{}, errors.New("shell cmd is only available on Windows")
	}
	args, err := shellArgs(shell, c.Inline, script)
	if err != nil {
		return invocation{}, err
	}
	path, err := lookPath(shell)
	if err != nil {
		return invocation{}, fmt.Errorf("find shell %s: %w", shell, err)
	}
	inv := invocation{path: path, args: append([]string{shell}, args...)}
	if shell == "cmd" {
		inv.cmdLine = cmdLine(path, c.Inline, script)
	}
	return inv, nil
}

// scriptPath returns the absolute path of c.Script, checking that it is a
// regular file so that a missing script is reported before anything runs.
func (c *Command) scriptPath() (string, error) {
	p := c.Script
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.Dir, p)
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("script %q: %w", c.Script, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("script: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("script %q is not a regular file", c.Script)
	}
	return p, nil
}

// defaultShell picks the shell when Command.Shell is "".
func defaultShell(goos, script string, lookPath func(string) (string, error)) string {
	switch strings.ToLower(filepath.Ext(script)) {
	case ".sh":
		return "sh"
	case ".ps1":
		if _, err := lookPath("pwsh"); err == nil {
			return "pwsh"
		}
		return "powershell"
	case ".cmd", ".bat":
		return "cmd"
	}
	if goos == "windows" {
		return "powershell"
	}
	return "sh"
}

// shellArgs returns the arguments after argv[0] for an inline command or a
// script (exactly one is set).
func shellArgs(shell, inline, script string) ([]string, error) {
	ps := []string{"-NoProfile", "-NonInteractive"}
	switch {
	case shell == "sh" && inline != "":
		return []string{"-e", "-c", inline}, nil
	case shell == "bash" && inline != "":
		return []string{"-e", "-o", "pipefail", "-c", inline}, nil
	case shell == "sh" || shell == "bash":
		return []string{script}, nil
	case (shell == "pwsh" || shell == "powershell") && inline != "":
		return append(ps, "-Command", psPrelude+inline), nil
	case shell == "pwsh":
		return append(ps, "-File", script), nil
	case shell == "powershell":
		// The bundle's signature, not the execution policy, decides what runs;
		// a policy set by Group Policy still takes precedence.
		return append(ps, "-ExecutionPolicy", "Bypass", "-File", script), nil
	case shell == "cmd" && inline != "":
		return []string{"/D", "/S", "/C", inline}, nil
	case shell == "cmd":
		return []string{"/D", "/S", "/C", `"` + script + `"`}, nil
	}
	return nil, fmt.Errorf("unknown shell %q", shell)
}

// cmdLine builds the raw command line for cmd.exe, whose quoting rules differ
// from the C runtime's: with /S, cmd strips the first and last quote of the
// text after /C and runs the rest verbatim. /D skips AutoRun commands.
func cmdLine(path, inline, script string) string {
	text := inline
	if script != "" {
		text = `"` + script + `"`
	}
	return `"` + path + `" /D /S /C "` + text + `"`
}
