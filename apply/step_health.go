package apply

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
)

// A health-check step (key check) polls the zone's own service, without
// a shell, until it answers as wanted or the check's timeout passes: an
// HTTP GET of a URL (any 2xx status, or the one named, and optionally a
// text in the body) or a TCP connection. The applier reaches only what the step names: no
// proxy from the environment, no redirect followed (a 3xx is an answer).

const (
	// minAttemptTimeout is the least time one attempt may take; an attempt
	// otherwise takes at most the interval, and never beyond the timeout.
	minAttemptTimeout = 5 * time.Second
	// maxHealthBody caps the body read to look for check.contains.
	maxHealthBody = 1 << 20
	// maxCAFile caps check.caFile.
	maxCAFile = 1 << 20
)

// healthStep runs a health-check step and records its result in r.rs.
func (a *applier) healthStep(r *stepRun) bool {
	rs := r.rs
	rs.Started = a.o.Now().UTC()
	c, err := r.step.Check.Resolve(r.vars.expand)
	if err != nil {
		return r.fail(a.o.Now(), fmt.Errorf("check: %w", err))
	}
	rs.Check = r.masker.String(c.HTTP + c.TCP)
	probe, err := newProbe(c)
	if err != nil {
		return r.fail(a.o.Now(), err)
	}
	fmt.Fprintf(a.o.Stdout, "checking %s every %s for up to %s\n", printable.String(rs.Check), time.Duration(c.Interval), time.Duration(c.Timeout))
	res := poll(r.ctx, time.Duration(c.Timeout), time.Duration(c.Interval), probe)
	rs.Attempts, rs.LastStatus, rs.Duration = res.attempts, res.status, res.duration.Round(time.Millisecond).String()
	if res.err != nil {
		return r.fail(a.o.Now(), fmt.Errorf("%s is not healthy after %d attempts in %s: %w", c.HTTP+c.TCP, res.attempts, rs.Duration, res.err))
	}
	fmt.Fprintf(a.o.Stdout, "%s is healthy (attempt %d, %s)\n", printable.String(rs.Check), res.attempts, rs.Duration)
	rs.Finished, rs.Result = a.o.Now().UTC(), receipt.StepSucceeded
	return true
}

// A probe makes one attempt: the HTTP status it got (0 for none), and why
// the service is not healthy (nil when it is).
type probe func(ctx context.Context) (status int, err error)

// pollResult is how a check ended.
type pollResult struct {
	attempts int
	status   int // of the last attempt that got one
	duration time.Duration
	err      error // of the last attempt; nil when healthy
}

// poll calls probe every interval (from the start of one attempt to the
// next) until it reports healthy, the timeout has passed, or ctx ends.
func poll(ctx context.Context, timeout, interval time.Duration, p probe) pollResult {
	start := time.Now()
	deadline := start.Add(timeout)
	var res pollResult
	for {
		begun := time.Now()
		until := begun.Add(max(interval, minAttemptTimeout))
		if until.After(deadline) {
			until = deadline
		}
		actx, cancel := context.WithDeadline(ctx, until)
		status, err := p(actx)
		cancel()
		res.attempts++
		if status != 0 {
			res.status = status
		}
		res.err = err
		if err == nil {
			break
		}
		next := begun.Add(interval)
		if ctx.Err() != nil || !next.Before(deadline) {
			if ctx.Err() != nil {
				res.err = fmt.Errorf("%w (%w)", err, ctx.Err())
			}
			break
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	res.duration = time.Since(start)
	return res
}

// newProbe returns the probe of a resolved check.
func newProbe(c *bundle.HealthCheck) (probe, error) {
	if c.TCP != "" {
		return func(ctx context.Context) (int, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", c.TCP)
			if err != nil {
				return 0, err
			}
			return 0, conn.Close()
		}, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := capped.ReadFile(c.CAFile, maxCAFile)
		if err != nil {
			return nil, fmt.Errorf("check: caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("check: caFile %s holds no PEM certificate", c.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlsConfig, DisableKeepAlives: true,
			DialContext: (&net.Dialer{}).DialContext, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HTTP, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("User-Agent", "airlock-check")
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the message names the URL once
			}
			return 0, err
		}
		defer resp.Body.Close()
		code := resp.StatusCode
		switch {
		case c.Status == 0 && (code < 200 || code > 299):
			return code, fmt.Errorf("status %d, want 2xx", code)
		case c.Status != 0 && code != c.Status:
			return code, fmt.Errorf("status %d, want %d", code, c.Status)
		case c.Contains == "":
			return code, nil
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
		if err != nil {
			return code, fmt.Errorf("status %d, reading the body: %w", code, err)
		}
		if !bytes.Contains(body, []byte(c.Contains)) {
			return code, fmt.Errorf("status %d, but the first %d bytes of the body do not contain the text of check.contains", code, len(body))
		}
		return code, nil
	}, nil
}
