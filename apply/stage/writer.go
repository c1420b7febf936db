package stage

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/rootdir"
)

// writer makes the staged tree in a goroutine of its own: directories,
// files, their content, modes. The extraction reads the archive, checks it
// and hashes the content while the writer waits on the file system, which
// can be slow to take new data: writing into the page cache, and the
// kernel's writeback, do not hold up the checks.
//
// Requests go through a bounded queue, in archive order, and content in a
// fixed set of buffers. The writer stops at its first failure and only
// recycles buffers after it; the extraction sees the failure at its next
// request, or at sync, which waits for everything sent so far. A file
// stays mode 0600 until the extraction has checked its digest and sent
// finish with ok; a file not finished with ok is removed.
type writer struct {
	root *os.Root
	dirs dirCache

	jobs   chan job
	free   chan []byte
	done   chan struct{}
	failed atomic.Bool
	err    error // set by the goroutine before failed; read after sync or close

	cur     *rootdir.File // the file being written
	curFile *bundle.File
	written int64
	flushed int64
	closed  bool
}

type jobKind int

const (
	jobMkdir jobKind = iota
	jobCreate
	jobData
	jobFinish // ok: the content matched the manifest
	jobSync
)

type job struct {
	kind jobKind
	f    *bundle.File
	data []byte
	ok   bool
	sync chan struct{}
}

// Buffers: enough to keep the writer busy while the extraction reads on.
const (
	writerBuffers    = 8
	writerBufferSize = 256 << 10
)

func newWriter(root *os.Root) *writer {
	w := &writer{root: root, jobs: make(chan job, 64), free: make(chan []byte, writerBuffers), done: make(chan struct{})}
	for range writerBuffers {
		w.free <- make([]byte, writerBufferSize)
	}
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	for j := range w.jobs {
		if j.kind == jobSync {
			close(j.sync)
			continue
		}
		if !w.failed.Load() {
			if err := w.do(j); err != nil {
				w.fail(err)
			}
		}
		if j.data != nil {
			w.free <- j.data[:cap(j.data)]
		}
	}
	w.abandon()
}

func (w *writer) fail(err error) {
	w.abandon()
	w.err = err
	w.failed.Store(true)
}

// abandon removes a file left unfinished.
func (w *writer) abandon() {
	if w.cur != nil {
		w.cur.Close()
		w.root.Remove(filepath.FromSlash(w.curFile.Path))
		w.cur, w.curFile = nil, nil
	}
	w.dirs.close()
}

func (w *writer) do(j job) error {
	f := j.f
	switch j.kind {
	case jobMkdir:
		return w.mkdir(f)
	case jobCreate:
		parent, err := w.dirs.open(w.root, path.Dir(f.Path))
		if err != nil {
			return fmt.Errorf("open the directory of %s: %w", f.Path, err)
		}
		out, err := parent.Create(path.Base(f.Path))
		if err != nil {
			return createError(f, err)
		}
		w.cur, w.curFile, w.written, w.flushed = out, f, 0, 0
	case jobData:
		if _, err := w.cur.Write(j.data); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		w.written += int64(len(j.data))
		// Ask the kernel to start writing the file to the disk as it goes,
		// so that the sync before the release switch has little left.
		if w.written-w.flushed >= writebackSize {
			w.cur.StartWriteback(w.flushed, w.written-w.flushed)
			w.flushed = w.written
		}
	case jobFinish:
		if !j.ok {
			w.abandon()
			return nil
		}
		out := w.cur
		// Small files are left to the sync before the switch: writing
		// them out one by one costs more than the kernel's writing many at
		// once (50,000 files: 2 s of system time more).
		if w.written >= writebackMin && w.written > w.flushed {
			out.StartWriteback(w.flushed, w.written-w.flushed)
		}
		err := out.Chmod(os.FileMode(f.Mode))
		if err != nil {
			err = fmt.Errorf("set mode of %s: %w", f.Path, err)
		}
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", f.Path, cerr)
		}
		w.cur = nil
		if err != nil {
			w.root.Remove(filepath.FromSlash(f.Path))
			w.curFile = nil
			return err
		}
		w.curFile = nil
	}
	return nil
}

// mkdir creates the listed directory f and sets its mode on the descriptor
// (the umask may have narrowed it). It is created in its parent's open
// directory, and becomes the open directory for the entries after it.
func (w *writer) mkdir(f *bundle.File) error {
	parent, err := w.dirs.open(w.root, path.Dir(f.Path))
	if err != nil {
		return fmt.Errorf("open the directory of %s: %w", f.Path, err)
	}
	d, err := parent.Mkdir(path.Base(f.Path), os.FileMode(f.Mode))
	if err != nil {
		return createError(f, err)
	}
	w.dirs.made(d, f.Path)
	if err := d.Chmod(os.FileMode(f.Mode)); err != nil {
		return fmt.Errorf("set mode of %s: %w", f.Path, err)
	}
	return nil
}

// send queues a request; it returns the writer's failure, if any, instead.
func (w *writer) send(j job) error {
	if w.failed.Load() {
		if j.data != nil {
			w.free <- j.data[:cap(j.data)]
		}
		return w.sync()
	}
	w.jobs <- j
	return nil
}

// buffer returns a free content buffer, waiting for the writer if need be.
func (w *writer) buffer() []byte { return <-w.free }

// sync waits until the writer has done everything sent so far and returns
// its failure, if any.
func (w *writer) sync() error {
	if w.closed {
		return w.err
	}
	s := make(chan struct{})
	w.jobs <- job{kind: jobSync, sync: s}
	<-s
	return w.err
}

// close stops the writer, once it has done everything sent, and returns
// its failure, if any. Anything unfinished is removed. It may be called
// more than once.
func (w *writer) close() error {
	if !w.closed {
		w.closed = true
		close(w.jobs)
		<-w.done
	}
	return w.err
}

// check verifies, after close, that every directory made is still where
// it was made.
func (w *writer) check() error {
	if !w.closed {
		return errors.New("stage: writer still running")
	}
	return w.dirs.check(w.root)
}
