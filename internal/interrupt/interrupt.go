// Package interrupt turns the signals that ask a command to stop — SIGINT
// (Ctrl-C), SIGTERM, SIGHUP, and on Windows a console being closed, which
// Go delivers as SIGTERM — into context cancellation, all alike.
//
// The first signal cancels the command's context, with a *Signal as its
// cause: an apply stops its running step's process group and rolls back.
// The second cancels the abort context: the back-out (when: failure and
// when: always) steps that run after an interruption are stopped too. Then
// the signals get their default action again, so a third one ends the
// process at once (recovery, `apply --resume`, finishes what it left).
//
// A signal the program was started with ignored stays ignored: under nohup
// a closed terminal (SIGHUP) does not interrupt an apply, nor does Ctrl-C
// one started in the background by a shell script.
package interrupt

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// Signals are the signals that interrupt a command.
var Signals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// Signal is the cause of a context canceled by a signal.
type Signal struct {
	Sig os.Signal
}

func (s *Signal) Error() string { return "interrupted by " + Name(s.Sig) }

// ExitCode is 128 + the signal's number, as a shell reports a process the
// signal ended.
func (s *Signal) ExitCode() int {
	if n, ok := s.Sig.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 128 + int(syscall.SIGINT)
}

// Name is the signal's conventional name (SIGINT, SIGTERM, SIGHUP).
func Name(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// Cause returns the signal that canceled ctx, or nil.
func Cause(ctx context.Context) *Signal {
	var s *Signal
	if errors.As(context.Cause(ctx), &s) {
		return s
	}
	return nil
}

// Notify starts catching Signals. ctx is canceled at the first one, abort
// at the second; notice (may be nil) is told of each, with its count. stop
// stops catching and releases both contexts.
func Notify(parent context.Context, notice func(sig os.Signal, n int)) (ctx, abort context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	abort, cancelAbort := context.WithCancelCause(context.WithoutCancel(parent))
	ch := make(chan os.Signal, 2)
	var sigs []os.Signal
	for _, sig := range Signals {
		if !signal.Ignored(sig) {
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) > 0 {
		signal.Notify(ch, sigs...)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for n := 1; n <= 2; n++ {
			select {
			case sig := <-ch:
				if notice != nil {
					notice(sig, n)
				}
				if n == 1 {
					cancel(&Signal{Sig: sig})
				} else {
					cancelAbort(&Signal{Sig: sig})
					signal.Stop(ch) // a third signal has its default action
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, abort, func() {
		signal.Stop(ch)
		close(done)
		<-finished
		cancel(nil)
		cancelAbort(nil)
	}
}
