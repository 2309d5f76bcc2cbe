package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/regsql/regsql/walker"
)

// progressBar draws a one-line walk progress on stderr, only when stderr is
// a terminal, so that logs and pipes stay clean.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	start time.Time
	drawn bool
}

func newProgressBar(w io.Writer, quiet bool) *progressBar {
	on := false
	if f, ok := w.(*os.File); ok && !quiet {
		on = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return &progressBar{w: w, on: on, start: time.Now()}
}

func (p *progressBar) update(pr walker.Progress) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[Kindexing: %d repos, %d manifests, %d blobs, %d problems (%.0fs)",
		pr.Repos, pr.Manifests, pr.Blobs, pr.Problems, time.Since(p.start).Seconds())
	p.drawn = true
}

func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
