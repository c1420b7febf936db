// Command release signs what `make dist` built (scripts/dist.sh runs it):
// SHA256SUMS into SHA256SUMS.sig (as cosign sign-blob writes it) and
// SHA256SUMS.sigstore.json (a Sigstore bundle of the same signature), and
// the SLSA provenance of every file SHA256SUMS lists, and of SHA256SUMS
// itself, into provenance.intoto.jsonl — all with the release key (a key
// file, or a pkcs11: URI when built with cgo).
//
//	go run ./scripts/release -dir STAGE -key KEY -commit SHA -version V \
//	    -targets "linux/amd64 …" -param NAME=VALUE… -dep URI[=sha256:HEX]…
//
// The key's password comes from -password-file, else AIRLOCK_PASSWORD,
// else the terminal.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"airlock.dev/airlock/internal/blobsig"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/provenance"
	"airlock.dev/airlock/internal/sigbundle"
)

// The build this provenance describes: make dist, from the repository's
// own script. Its parameters are documented in doc/design.md
// (Reproducible releases).
const (
	buildType = "https://airlock.dev/release/make-dist/v1"
	builderID = "https://airlock.dev/release/scripts/dist.sh"
	sourceURI = "git+https://airlock.dev/airlock"
)

// Files written next to SHA256SUMS.
const (
	sumsFile       = "SHA256SUMS"
	sigFile        = "SHA256SUMS.sig"
	bundleFile     = "SHA256SUMS.sigstore.json"
	provenanceFile = "provenance.intoto.jsonl"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run() error {
	var params, deps multi
	dir := flag.String("dir", "", "the release folder, holding SHA256SUMS")
	key := flag.String("key", "", "the release key: a key file or a pkcs11: URI")
	pwFile := flag.String("password-file", "", "the key's password (first line)")
	commit := flag.String("commit", "", "the git commit built")
	version := flag.String("version", "", "the version stamped into the binaries")
	targets := flag.String("targets", "", "the targets built, space-separated")
	flag.Var(&params, "param", "NAME=VALUE: a fixed setting of the build (repeatable)")
	flag.Var(&deps, "dep", "URI[=sha256:HEX]: a tool or input the build used (repeatable)")
	flag.Parse()
	if *dir == "" || *key == "" || *commit == "" {
		return errors.New("usage: release -dir DIR -key KEY -commit SHA [-version V] [-targets T] [-param N=V]… [-dep URI]…")
	}

	sums, err := os.ReadFile(filepath.Join(*dir, sumsFile))
	if err != nil {
		return err
	}
	subjects, err := subjectsOf(sums)
	if err != nil {
		return err
	}
	pred := provenance.Predicate{
		BuildDefinition: provenance.BuildDefinition{
			BuildType: buildType,
			ExternalParameters: map[string]any{
				"source":  map[string]any{"uri": sourceURI, "digest": map[string]string{"gitCommit": *commit}},
				"version": *version,
				"targets": strings.Fields(*targets),
			},
			InternalParameters: map[string]any{},
			ResolvedDependencies: []provenance.ResourceDescriptor{
				{URI: sourceURI + "@" + *commit, Digest: map[string]string{"gitCommit": *commit}},
			},
		},
		RunDetails: provenance.RunDetails{Builder: provenance.Builder{ID: builderID}},
	}
	for _, p := range params {
		name, value, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("-param %q: want NAME=VALUE", p)
		}
		pred.BuildDefinition.InternalParameters[name] = value
	}
	for _, d := range deps {
		uri, digest, _ := strings.Cut(d, "=")
		rd := provenance.ResourceDescriptor{URI: uri}
		if digest != "" {
			alg, hex, ok := strings.Cut(digest, ":")
			if !ok {
				return fmt.Errorf("-dep %q: want URI=ALG:HEX", d)
			}
			rd.Digest = map[string]string{alg: hex}
		}
		pred.BuildDefinition.ResolvedDependencies = append(pred.BuildDefinition.ResolvedDependencies, rd)
	}

	signer, err := keys.LoadPrivate(*key, password(*pwFile))
	if err != nil {
		return err
	}
	defer signer.Close()
	sig, err := blobsig.Sign(signer, bytes.NewReader(sums))
	if err != nil {
		return err
	}
	bundle, err := sigbundle.New(signer.Public(), sums, sig)
	if err != nil {
		return err
	}
	prov, err := provenance.Sign(signer, subjects, pred)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{sigFile: sig, bundleFile: bundle, provenanceFile: prov} {
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "release: signed %s (%s, %s) and the provenance of %d files (%s) with key %s\n",
		sumsFile, sigFile, bundleFile, len(subjects), provenanceFile, signer.Public().ID())
	return nil
}

// subjectsOf returns every file SHA256SUMS lists, by its digest, and
// SHA256SUMS itself.
func subjectsOf(sums []byte) ([]intoto.Subject, error) {
	var out []intoto.Subject
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		digest, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(digest) != 64 || name == "" {
			return nil, fmt.Errorf("%s: line %q is not \"SHA256  NAME\"", sumsFile, sc.Text())
		}
		out = append(out, intoto.SHA256(name, digest))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return append(out, intoto.SHA256(sumsFile, sha256Hex(sums))), nil
}

// password answers the key's request for its password: from the file,
// else AIRLOCK_PASSWORD, else the terminal.
func password(file string) keys.PasswordFunc {
	return func(p keys.Prompt) ([]byte, error) {
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			line, _, _ := bytes.Cut(b, []byte("\n"))
			return bytes.TrimSuffix(line, []byte("\r")), nil
		}
		if v, ok := os.LookupEnv("AIRLOCK_PASSWORD"); ok && p.Secret == keys.SecretPassword {
			return []byte(v), nil
		}
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return nil, fmt.Errorf("%s: no %s (set DIST_PASSWORD_FILE or AIRLOCK_PASSWORD, or run in a terminal)", p.For, p.Secret)
		}
		fmt.Fprintf(os.Stderr, "%s for %s: ", p.Secret, p.For)
		defer fmt.Fprintln(os.Stderr)
		return term.ReadPassword(int(os.Stdin.Fd()))
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
