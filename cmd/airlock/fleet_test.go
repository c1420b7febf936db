package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/zone"
)

// RequireAnsibleEnv set to 1 makes TestFleetAnsible fail, not skip, when
// ansible-playbook is missing; RequireSSHEnv set to 1, when sshd is (the
// test then reaches the hosts with the local connection). CI sets both.
const (
	RequireAnsibleEnv = "AIRLOCK_REQUIRE_ANSIBLE"
	RequireSSHEnv     = "AIRLOCK_REQUIRE_SSH"
)

// sshd is where Debian's openssh-server installs the server.
const sshd = "/usr/sbin/sshd"

// TestFleetAnsible runs the fleet example with Ansible (Debian's ansible)
// against four hosts on this machine, each behind an sshd of its own on
// its own loopback address, reached with Ansible's ssh connection —
// scripts/fleet-demo.sh, what make fleet-demo runs: shop 1.0 to the web
// hosts, then 1.1, whose health check fails on app-02. app-02 rolls back;
// the rollout stops there (serial 1, max_fail_percentage 0: app-03 is
// never reached) or goes on (serial 2, max_fail_percentage 50); every
// host's receipts come back into one media folder, and the audit with the
// zone register names what happened on each host. Without sshd (Debian:
// openssh-server) the hosts are reached with the local connection.
func TestFleetAnsible(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		if os.Getenv(RequireAnsibleEnv) == "1" {
			t.Fatalf("ansible-playbook not found (%s=1)", RequireAnsibleEnv)
		}
		t.Skip("ansible-playbook not found (Debian: apt-get install ansible)")
	}
	if testing.Short() {
		t.Skip("runs Ansible")
	}
	connection := "ssh"
	if _, err := os.Stat(sshd); err != nil {
		if os.Getenv(RequireSSHEnv) == "1" {
			t.Fatalf("%s not found (%s=1; Debian: apt-get install openssh-server)", sshd, RequireSSHEnv)
		}
		t.Logf("%s not found (Debian: openssh-server): the hosts are reached with Ansible's local connection", sshd)
		connection = "local"
	}
	bin, err := exec.LookPath("airlock") // the test binary (see TestMain)
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../scripts/fleet-demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, serial, maxFail string
		stops                 bool // the rollout of 1.1 stops at app-02: app-03 is never reached
	}{
		{"stops at the first failure", "1", "0", true},
		{"goes on past a failed host", "2", "50", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(script, bin)
			// Built with -race, airlock sleeps a second at every exit (for
			// reports still being written) unless told not to: the demo runs
			// it about 40 times.
			gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
			cmd.Env = append(os.Environ(), "FLEET_DIR="+dir, "FLEET_SERIAL="+tc.serial, "FLEET_MAX_FAIL="+tc.maxFail, "GORACE="+gorace,
				"FLEET_CONNECTION="+connection)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("fleet demo: %v\n%s", err, out)
			}
			if connection == "ssh" {
				checkSSH(t, dir, out)
			}
			if !bytes.Contains(out, []byte("rollout exit code: 2")) || !bytes.Contains(out, []byte("health check failed on app-02")) {
				t.Errorf("the 1.1 rollout did not fail on app-02:\n%s", out)
			}
			// Where each web host is: app-02 rolled back to 1.0, app-03 has
			// 1.1 only when the rollout went on.
			app03 := "releases/1.1"
			if tc.stops {
				app03 = "releases/1.0"
			}
			for host, want := range map[string]string{"app-01": "releases/1.1", "app-02": "releases/1.0", "app-03": app03} {
				if got, _ := os.Readlink(filepath.Join(dir, "srv", host, "current")); got != want {
					t.Errorf("%s: current -> %q, want %q", host, got, want)
				}
			}
			_, err = os.Stat(filepath.Join(dir, "zone", "hosts", "app-03", "inbox", "shop-1.1.airlock"))
			if reached := err == nil; reached == tc.stops {
				t.Errorf("app-03 reached by the 1.1 rollout: %v", reached)
			}
			// The values for the role and the host reached each host.
			page, _ := os.ReadFile(filepath.Join(dir, "srv", "app-01", "current", "index.html"))
			if !bytes.Contains(page, []byte("shop 1.1 on app-01: hello from the web tier")) {
				t.Errorf("app-01 serves:\n%s", page)
			}
			if _, err := os.Stat(filepath.Join(dir, "srv", "db-01")); !os.IsNotExist(err) {
				t.Errorf("db-01 (role db) got a release of the web hosts: %v", err)
			}
			checkMediaCopies(t, dir)
			r := auditFleet(t, dir)
			if !r.OK() {
				t.Errorf("audit failed: %s", r.Verdict())
			}
			checkLedgerHosts(t, r, "1.0", audit.StatusApplied, map[string]string{"app-01": "applied", "app-02": "applied", "app-03": "applied"})
			want := map[string]string{"app-01": "applied", "app-02": "rolled-back", "app-03": "applied"}
			var wantMissed []string
			if tc.stops {
				want["app-03"], wantMissed = audit.NotApplied, []string{"app-03"}
			}
			checkLedgerHosts(t, r, "1.1", audit.StatusPartial, want)
			if got := findingHosts(r, audit.KindNotAppliedOnHost); !slices.Equal(got, wantMissed) {
				t.Errorf("not-applied-on-host for %v, want %v", got, wantMissed)
			}
			if got := findingHosts(r, audit.KindRolledBack); !slices.Equal(got, []string{"app-02"}) {
				t.Errorf("rolled-back on %v, want app-02", got)
			}
		})
	}
}

// checkSSH checks that every host was reached over SSH — its own sshd
// logged the demo's client key logging in, from its own address — and
// that no sshd of the demo is left running.
func checkSSH(t *testing.T, dir string, out []byte) {
	t.Helper()
	if !bytes.Contains(out, []byte("reached with Ansible's ssh connection")) {
		t.Errorf("the demo did not start its hosts' sshds:\n%s", out)
	}
	for i, host := range []string{"app-01", "app-02", "app-03", "db-01"} {
		log, err := os.ReadFile(filepath.Join(dir, "ssh", host, "sshd.log"))
		if err != nil {
			t.Error(err)
			continue
		}
		listen := fmt.Sprintf("Server listening on 127.0.0.%d port ", 11+i)
		if !bytes.Contains(log, []byte(listen)) || !bytes.Contains(log, []byte("Accepted publickey for ")) {
			t.Errorf("%s: its sshd did not listen on its own address or let the client in:\n%s", host, log)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(filepath.Join(dir, "ssh"))) {
			t.Errorf("left running: %s", bytes.ReplaceAll(b, []byte{0}, []byte(" ")))
		}
	}
}

// checkLedgerHosts checks what the audit says became of shop VERSION on
// each host it is for (the web hosts: db-01 has role db).
func checkLedgerHosts(t *testing.T, r *audit.Report, version, status string, want map[string]string) {
	t.Helper()
	i := slices.IndexFunc(r.Ledger.Bundles, func(b audit.LedgerBundle) bool { return b.Version == version })
	if i < 0 {
		t.Fatalf("shop %s is not in the ledger", version)
	}
	b := r.Ledger.Bundles[i]
	got := map[string]string{}
	for _, h := range b.Hosts {
		got[h.Host] = h.Result
	}
	if b.Status != status || !maps.Equal(got, want) {
		t.Errorf("shop %s: %s on %v, want %s on %v", version, b.Status, got, status, want)
	}
}

// findingHosts returns the hosts of the findings of a kind, in order.
func findingHosts(r *audit.Report, kind string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f.Host)
		}
	}
	return out
}

// checkMediaCopies checks that the media folder holds every receipt of
// every host's state directory, byte for byte, and nothing else.
func checkMediaCopies(t *testing.T, dir string) {
	t.Helper()
	media := filepath.Join(dir, "media", "receipts")
	n := 0
	hosts, _ := filepath.Glob(filepath.Join(dir, "zone", "hosts", "*"))
	for _, h := range hosts {
		state, _ := filepath.Glob(filepath.Join(h, "state", "receipts", "receipt-*"))
		for _, p := range state {
			a, _ := os.ReadFile(p)
			b, err := os.ReadFile(filepath.Join(media, filepath.Base(p)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("media copy of %s: %v", filepath.Base(p), err)
			}
			n++
		}
	}
	got, _ := os.ReadDir(media)
	if len(hosts) != 4 || len(got) != n {
		t.Errorf("%d hosts; the media holds %d files, the hosts %d", len(hosts), len(got), n)
	}
}

// auditFleet audits the media folder as an auditor does: the register and
// the builder's ledger, no receipt key.
func auditFleet(t *testing.T, dir string) *audit.Report {
	t.Helper()
	reg, err := zone.ReadRegister(filepath.Join(dir, "zone", zone.RegisterFile))
	if err != nil {
		t.Fatal(err)
	}
	r, err := audit.Run(t.Context(), audit.Options{Dir: filepath.Join(dir, "media", "receipts"), Registers: []*zone.Register{reg},
		LedgerDir: filepath.Join(dir, "ledger")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Zones) != 1 || len(r.Zones[0].Chains) != 4 || !strings.Contains(r.Verdict(), "in 1 zone") {
		t.Errorf("zones %+v", r.Zones)
	}
	return r
}
