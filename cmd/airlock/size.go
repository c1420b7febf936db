package main

import (
	"fmt"
	"strconv"
	"strings"

	"airlock.dev/airlock/bundle"
)

// parseSplit reads --split: "" (no split), "fat32", or a size such as
// 700M, 4G (binary units: K, M, G, T, also KiB…), 25MB (decimal: KB, MB,
// GB, TB) or a plain number of bytes.
func parseSplit(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if strings.EqualFold(s, "fat32") {
		return bundle.FAT32PartSize, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
		{"B", 1},
	}
	num, mult := s, int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("--split %q: want a size such as 700M, 4G, 25MB, or fat32", s)
	}
	if n*mult < 1<<20 {
		return 0, fmt.Errorf("--split %q: parts must be at least 1 MiB", s)
	}
	return n * mult, nil
}

// humanBytes formats n in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
