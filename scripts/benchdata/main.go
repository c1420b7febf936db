// Command benchdata writes a release for benchmarks, deterministic for a
// given size: by default about 1 GiB of files shaped like a real deployment
// (incompressible artefacts, log-like text and a source tree of many small
// files); with -files N, N source-like files of 1–4 KiB in folders of 100.
//
//	go run ./scripts/benchdata -o DIR [-mib 1024 | -files 50000]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "", "release directory to create")
	mib := flag.Int("mib", 1024, "approximate size in MiB")
	files := flag.Int("files", 0, "write this many small files instead of -mib of mixed data")
	flag.Parse()
	if *out == "" {
		log.Fatal("benchdata: -o DIR is required")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pkg := filepath.Join(*out, "dist")
	if *files > 0 {
		must(smallFiles(rng, filepath.Join(pkg, "src"), *files, 1024, 4096, -1))
	} else {
		// 38% incompressible (binaries, images), 49% text (logs, data), 13% small files.
		total := int64(*mib) << 20
		must(randomFiles(rng, filepath.Join(pkg, "blobs"), total*38/100, 8<<20))
		must(textFiles(rng, filepath.Join(pkg, "data"), total*49/100, 64<<20))
		must(smallFiles(rng, filepath.Join(pkg, "src"), -1, 2048, 2048+24576, total*13/100))
	}
	yaml := `apiVersion: airlock/v1
name: bench
version: "1.0.0"
targets: [zone:bench]
packages:
  - name: dist
    path: dist
variables:
  Root: { value: /nonexistent }
steps:
  - name: install
    deploy: dist
    to: "#{Root}"
`
	must(os.WriteFile(filepath.Join(*out, "airlock.yaml"), []byte(yaml), 0o644))
}

func randomFiles(rng *rand.Rand, dir string, total, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := 0; total > 0; i++ {
		n := min(size, total)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("blob-%03d.bin", i)))
		if err != nil {
			return err
		}
		for left := n; left > 0; left -= int64(len(buf)) {
			for j := 0; j < len(buf); j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8; k++ {
					buf[j+k] = byte(v >> (8 * k))
				}
			}
			if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
		total -= n
	}
	return nil
}

var words = []string{"payment", "authorised", "declined", "card", "merchant", "terminal", "batch", "settlement",
	"INFO", "WARN", "DEBUG", "request", "latency_ms", "status", "user", "session", "token", "refund", "amount", "currency"}

func textFiles(rng *rand.Rand, dir string, total, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; total > 0; i++ {
		n := min(size, total)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("log-%02d.txt", i)))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		var written int64
		for line := 0; written < n; line++ {
			s := fmt.Sprintf("2026-11-%02dT%02d:%02d:%02d.%03dZ %s %s=%d %s %s id=%08x\n", 1+line%28, line%24, line%60, rng.IntN(60), rng.IntN(1000),
				words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(100000), words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.Uint32())
			if written+int64(len(s)) > n {
				s = s[:n-written]
			}
			w.WriteString(s)
			written += int64(len(s))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		total -= n
	}
	return nil
}

// smallFiles writes source-like files of lo to hi bytes, 100 per folder:
// count of them, or (count < 0) until total bytes are written.
func smallFiles(rng *rand.Rand, dir string, count, lo, hi int, total int64) error {
	for i := 0; count > 0 && i < count || count < 0 && total > 0; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("pkg%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		n := int64(lo + rng.IntN(hi-lo))
		if count < 0 {
			n = min(n, total)
		}
		var b []byte
		for int64(len(b)) < n {
			b = fmt.Appendf(b, "func %s%d(%s int) error { return check(%s, %d) }\n", words[rng.IntN(len(words))], i, words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1000))
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("file%05d.go.txt", i)), b[:n], 0o644); err != nil {
			return err
		}
		total -= n
	}
	return nil
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
