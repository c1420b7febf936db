package apply

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPoll: poll stops at the first healthy answer, or when the timeout
// leaves no room for another attempt, and keeps the last status and error.
func TestPoll(t *testing.T) {
	calls := 0
	res := poll(context.Background(), 10*time.Second, time.Millisecond, func(context.Context) (int, error) {
		calls++
		if calls < 3 {
			return 503, errors.New("down")
		}
		return 200, nil
	})
	if res.attempts != 3 || res.status != 200 || res.err != nil || calls != 3 {
		t.Errorf("healthy on the third attempt: %+v after %d calls", res, calls)
	}
	down := errors.New("down")
	res = poll(context.Background(), 300*time.Millisecond, 100*time.Millisecond, func(context.Context) (int, error) { return 0, down })
	if !errors.Is(res.err, down) || res.attempts < 2 || res.attempts > 3 || res.duration >= time.Second {
		t.Errorf("never healthy: %+v", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = poll(ctx, time.Hour, time.Minute, func(ctx context.Context) (int, error) { return 0, ctx.Err() })
	if res.attempts != 1 || !errors.Is(res.err, context.Canceled) {
		t.Errorf("cancelled: %+v", res)
	}
}
