// Package progresstest records what an operation reports to a
// progress.Reporter, for tests.
package progresstest

import "sync"

// Stage is one stage as reported: its name, the total it announced and
// the bytes added to it.
type Stage struct {
	Name  string
	Total int64
	Done  int64
}

// Recorder is a progress.Reporter that keeps every stage.
type Recorder struct {
	mu     sync.Mutex
	stages []Stage
}

func (r *Recorder) Stage(name string, total int64) {
	r.mu.Lock()
	r.stages = append(r.stages, Stage{Name: name, Total: total})
	r.mu.Unlock()
}

// Add counts n bytes to the current stage; bytes added before any stage
// go to one named "(none)", which a test can then refuse.
func (r *Recorder) Add(n int64) {
	r.mu.Lock()
	if len(r.stages) == 0 {
		r.stages = append(r.stages, Stage{Name: "(none)"})
	}
	r.stages[len(r.stages)-1].Done += n
	r.mu.Unlock()
}

// Stages returns the stages reported so far.
func (r *Recorder) Stages() []Stage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Stage(nil), r.stages...)
}
