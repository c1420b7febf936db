package main

import "testing"

func TestParseSplit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"fat32", 4294967295, true},
		{"FAT32", 4294967295, true},
		{"700M", 700 << 20, true},
		{"700MiB", 700 << 20, true},
		{"25MB", 25e6, true},
		{"4G", 4 << 30, true},
		{"2GB", 2e9, true},
		{"1048576", 1 << 20, true},
		{"1048575", 0, false}, // under 1 MiB
		{"512K", 0, false},
		{"10Q", 0, false},
		{"-5M", 0, false},
		{"M", 0, false},
		{"99999999999T", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSplit(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSplit(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1 << 30: "1.0 GiB"} {
		if got := humanBytes(in); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
