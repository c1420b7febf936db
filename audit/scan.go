package audit

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"airlock.dev/airlock/internal/capped"
)

// fileRef is one entry found under a scanned folder.
type fileRef struct {
	path string      // as opened
	rel  string      // relative to the folder, forward slashes
	d    fs.DirEntry // nil when err is set for an unreadable entry
	err  error       // the walk could not read this entry
}

// scanFiles walks root (not following symlinks) and calls fn for every
// non-directory entry on workers goroutines. Results come back in walk
// order (lexical), whatever order the workers finish in. Unreadable
// subfolders reach fn as a fileRef with err set; an unreadable root is an
// error.
func scanFiles[T any](ctx context.Context, root string, workers int, fn func(fileRef) T) ([]T, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a folder", root)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type job struct {
		i int
		f fileRef
	}
	type result struct {
		i int
		v T
	}
	jobs := make(chan job, 2*workers)
	results := make(chan result, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				results <- result{j.i, fn(j.f)}
			}
		})
	}
	var walkErr error
	go func() {
		defer close(jobs)
		n := 0
		send := func(f fileRef) error {
			select {
			case jobs <- job{n, f}:
				n++
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		walkErr = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == root {
					return err
				}
				if serr := send(fileRef{path: p, rel: relSlash(root, p), err: err}); serr != nil {
					return serr
				}
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return ctx.Err()
			}
			return send(fileRef{path: p, rel: relSlash(root, p), d: d})
		})
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	var out []T
	for r := range results {
		if r.i >= len(out) {
			out = append(out, make([]T, r.i+1-len(out))...)
		}
		out[r.i] = r.v
	}
	// jobs is closed (walk done) before the workers end and results closes.
	if walkErr != nil {
		return nil, fmt.Errorf("walk %s: %w", root, walkErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// relSlash is p relative to root, with forward slashes, in its own memory
// (filepath.Rel returns a part of p, which would keep all of p alive in
// every record).
func relSlash(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		rel = p
	}
	return strings.Clone(filepath.ToSlash(rel))
}

// readHead reads at most n bytes from the start of a file.
func readHead(path string, n int) ([]byte, error) {
	f, _, err := capped.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(n)))
}
