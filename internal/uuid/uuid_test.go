package uuid

import (
	"regexp"
	"testing"
	"time"
)

func TestNewV7(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := NewV7(t0), NewV7(t0.Add(time.Millisecond))
	if !re.MatchString(a) || !re.MatchString(b) {
		t.Fatalf("not UUIDv7: %s %s", a, b)
	}
	if a >= b {
		t.Fatalf("%s sorts after the later %s", a, b)
	}
	if NewV7(t0) == a {
		t.Fatal("two UUIDs for the same millisecond are equal")
	}
}
