package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/usage"
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
	// requests, when set, counts the requests to the storage so far.
	requests func() walker.Requests
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
	req := ""
	if p.requests != nil {
		req = fmt.Sprintf(", %d requests", p.requests().Total())
	}
	fmt.Fprintf(p.w, "\r\033[Kindexing: %d repos, %d manifests, %d blobs, %d problems%s (%.0fs)",
		pr.Repos, pr.Manifests, pr.Blobs, pr.Problems, req, time.Since(p.start).Seconds())
	p.drawn = true
}

// line writes a line of its own, above the bar when one is drawn.
func (p *progressBar) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintln(p.w, s)
}

func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// lineBar draws ingest progress on stderr, only on a terminal.
type lineBar struct {
	p    *progressBar
	name string
}

func newLineBar(w io.Writer, quiet bool, name string) *lineBar {
	return &lineBar{p: newProgressBar(w, quiet), name: name}
}

func (b *lineBar) update(st usage.Stats, c index.UsageCounts) {
	if !b.p.on {
		return
	}
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	fmt.Fprintf(b.p.w, "\r\033[K%s: %d lines, %d pulls, %d malformed (%.0fs)",
		b.name, st.Lines, c.Pulls, st.Malformed, time.Since(b.p.start).Seconds())
	b.p.drawn = true
}

func (b *lineBar) done() { b.p.done() }
