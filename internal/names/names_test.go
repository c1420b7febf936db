package names

import "testing"

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"pci-east", true},
		{"a", true},
		{"app-01.example_x", true},
		{"0day", true},
		{"", false},
		{"-lead", false},
		{".hidden", false},
		{"Upper", false},
		{"has space", false},
		{"slash/inside", false},
		{"x23456789012345678901234567890123456789012345678901234567890123", true},
		{"x234567890123456789012345678901234567890123456789012345678901234", false},
	} {
		if got := Valid(tc.name); got != tc.ok {
			t.Errorf("Valid(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
