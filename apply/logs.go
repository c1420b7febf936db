package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"

	"airlock.dev/airlock/internal/agekeys"
	"airlock.dev/airlock/receipt"
)

// logSink writes the full, masked output of every step, encrypted to the
// zone's auditors, beside the receipt. Only auditors can read it; the
// receipt names its digest.
type logSink struct {
	f *os.File
	w io.WriteCloser
}

func (a *applier) logPath() string {
	return a.chain.SidePath(receipt.LogName(a.chain.Name(a.j.Receipt.Seq)))
}

func (a *applier) openLogs() error {
	if len(a.o.Trust.Auditors) == 0 {
		return nil
	}
	var rs []age.Recipient
	for _, s := range a.o.Trust.Auditors {
		r, err := agekeys.ParseRecipient(s, agekeys.TerminalUI(a.o.Stderr))
		if err != nil {
			return fmt.Errorf("trust.yaml auditors: %w", err)
		}
		rs = append(rs, r)
	}
	f, err := os.OpenFile(a.logPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w, err := age.Encrypt(f, rs...)
	if err != nil {
		f.Close()
		return fmt.Errorf("encrypt step log: %w", err)
	}
	a.logs = &logSink{f: f, w: w}
	a.stepOut = io.MultiWriter(a.o.Stdout, w)
	a.stepErr = io.MultiWriter(a.o.StepStderr, w)
	return nil
}

func (a *applier) logf(format string, args ...any) {
	if a.logs != nil {
		fmt.Fprintf(a.logs.w, format, args...)
	}
}

// closeLogs finishes the encrypted log and names it in the receipt.
func (a *applier) closeLogs() error {
	if a.logs == nil {
		return nil
	}
	l := a.logs
	a.logs = nil
	a.stepOut, a.stepErr = a.o.Stdout, a.o.StepStderr
	err := l.w.Close()
	if err == nil {
		err = l.f.Sync()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(l.f.Name())
		return err
	}
	data, err := os.ReadFile(l.f.Name())
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	a.j.Receipt.Logs = &receipt.LogRef{Name: filepath.Base(l.f.Name()), SHA256: hex.EncodeToString(sum[:])}
	return nil
}
