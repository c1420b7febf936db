package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"airlock.dev/airlock/internal/pkcs11key"
	"airlock.dev/airlock/internal/softhsmtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"airlock": func() { os.Exit(runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script: what users type.
func TestScripts(t *testing.T) {
	example, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("EXAMPLES", example)
			env.Setenv("AIRLOCK_LEDGER", filepath.Join(env.WorkDir, "ledger"))
			// A zone whose trust.yaml names no host takes the system's
			// host name, which its receipt files then carry.
			host, err := os.Hostname()
			if err != nil {
				return err
			}
			env.Setenv("HOST", strings.ToLower(host))
			return setupSoftHSM(env)
		},
		Condition: func(cond string) (bool, error) {
			if cond != "softhsm" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			return softhsmReady()
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":    cmdExits,
			"flipbyte": cmdFlipByte,
			"cpdir":    cmdCopyDir,
		},
	})
}

// setupSoftHSM gives every script a fresh SoftHSM2 token, when SoftHSM2
// and PKCS#11 support are there: SOFTHSM2_CONF, and SOFTHSM_MODULE for
// the URIs scripts write.
func setupSoftHSM(env *testscript.Env) error {
	if ok, _ := softhsmReady(); !ok {
		return nil
	}
	tk, err := softhsmtest.Init(filepath.Join(env.WorkDir, ".softhsm"))
	if err != nil {
		return err
	}
	env.Setenv("SOFTHSM2_CONF", tk.Conf)
	env.Setenv("SOFTHSM_MODULE", tk.Module)
	return nil
}

// softhsmReady is the [softhsm] condition: SoftHSM2 is installed and this
// build has PKCS#11 support. With AIRLOCK_REQUIRE_SOFTHSM=1 their absence
// is an error rather than a skipped script.
func softhsmReady() (bool, error) {
	_, missing := softhsmtest.Find()
	if missing == "" && !pkcs11key.Supported {
		missing = "this test binary was built without cgo: no PKCS#11 support"
	}
	if missing == "" {
		return true, nil
	}
	if os.Getenv(softhsmtest.RequireEnv) == "1" {
		return false, fmt.Errorf("%s (%s=1)", missing, softhsmtest.RequireEnv)
	}
	return false, nil
}

// exits N command args... runs a command and checks its exit code exactly.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if code != want {
		ts.Fatalf("exit code %d, want %d", code, want)
	}
}

// flipbyte FILE OFFSET inverts one byte (negative offsets count from the end).
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0xff
	ts.Check(os.WriteFile(p, b, 0o644))
}

// cpdir SRC DST copies a directory tree.
func cmdCopyDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cpdir SRC DST")
	}
	ts.Check(os.CopyFS(ts.MkAbs(args[1]), os.DirFS(ts.MkAbs(args[0]))))
}
