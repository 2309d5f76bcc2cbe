package usage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxLineBytes is the longest line Scan reads; a longer one is counted as
// malformed and skipped. The registry's request lines are well under 4 KiB.
const MaxLineBytes = 1 << 20

// maxDocumentBytes bounds a pretty-printed notification envelope (the
// registry indents the ones it sends).
const maxDocumentBytes = 64 << 20

// Stats counts what Scan read.
type Stats struct {
	Lines     int64 // lines read, blank ones included
	Events    int64 // events handed on
	Skipped   int64 // log lines and notification events that are no request regsql keeps
	Malformed int64 // lines that are no registry log line or notification
	// First and Last are the earliest and latest times of the events
	// handed on; zero when there were none.
	First, Last time.Time
	// LastError describes the last malformed line, for the user to look at.
	LastError error
}

func (s *Stats) saw(ev Event) {
	s.Events++
	if s.First.IsZero() || ev.Time.Before(s.First) {
		s.First = ev.Time
	}
	if ev.Time.After(s.Last) {
		s.Last = ev.Time
	}
}

func (s *Stats) malformed(line int64, err error) {
	s.Malformed++
	s.LastError = fmt.Errorf("line %d: %w", line, err)
}

// ScanOptions tunes Scan.
type ScanOptions struct {
	// Progress, when set, is called every ProgressEvery lines with the
	// counts so far.
	Progress      func(Stats)
	ProgressEvery int64 // 0: every 100000 lines
}

// Scan reads r, a registry log or a stream of notifications, and hands each
// event to fn in order. r may be gzip-compressed (it is told by its first
// bytes). Each line is a text or JSON log line, or a notification envelope or
// event on one line; an envelope may also be pretty-printed, starting with a
// line "{" and ending with a line "}", as the registry sends them. Lines it
// cannot read are counted in Stats.Malformed and skipped. Scan stops at the
// first error from reading r or from fn, or when ctx is done.
func Scan(ctx context.Context, r io.Reader, opts ScanOptions, fn func(Event) error) (Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(r, MaxLineBytes)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return st, fmt.Errorf("read gzip stream: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, MaxLineBytes)
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 100_000
	}
	var (
		doc      []byte // a pretty-printed envelope being gathered
		docStart int64
		inDoc    bool
	)
	hand := func(events []Event) error {
		for _, ev := range events {
			st.saw(ev)
			if err := fn(ev); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, ErrLineTooLong) {
				st.Lines++
				st.malformed(st.Lines, err)
				continue
			}
			return st, fmt.Errorf("read line %d: %w", st.Lines+1, err)
		}
		st.Lines++
		if st.Lines%every == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			if opts.Progress != nil {
				opts.Progress(st)
			}
		}
		trimmed := bytes.TrimRight(line, " \t\r\n")
		switch {
		case inDoc:
			doc = append(doc, line...)
			doc = append(doc, '\n')
			if len(doc) > maxDocumentBytes {
				st.malformed(docStart, fmt.Errorf("%w: JSON document over %d bytes", ErrMalformed, maxDocumentBytes))
				inDoc, doc = false, nil
				continue
			}
			if string(trimmed) != "}" {
				continue
			}
			inDoc = false
			events, skipped, perr := ParseEnvelope(doc)
			doc = doc[:0]
			st.Skipped += int64(skipped)
			if perr != nil {
				st.malformed(docStart, perr)
				continue
			}
			if err := hand(events); err != nil {
				return st, err
			}
		case len(bytes.TrimSpace(trimmed)) == 0:
		case string(trimmed) == "{":
			inDoc, docStart = true, st.Lines
			doc = append(doc[:0], "{\n"...)
		case trimmed[0] == '{' && !bytes.Contains(trimmed, []byte(`"msg":`)):
			events, skipped, perr := ParseEnvelope(trimmed)
			st.Skipped += int64(skipped)
			if perr != nil {
				st.malformed(st.Lines, perr)
				continue
			}
			if err := hand(events); err != nil {
				return st, err
			}
		default:
			ev, ok, perr := ParseLogLine(trimmed)
			switch {
			case perr != nil:
				st.malformed(st.Lines, perr)
			case !ok:
				st.Skipped++
			default:
				if err := hand([]Event{ev}); err != nil {
					return st, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if inDoc {
		st.malformed(docStart, fmt.Errorf("%w: JSON document not closed by a line \"}\"", ErrMalformed))
	}
	if opts.Progress != nil {
		opts.Progress(st)
	}
	return st, ctx.Err()
}

// readLine returns the next line without its newline. A line longer than
// the reader's buffer is consumed and reported as ErrLineTooLong.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, ErrLineTooLong
	}
	return bytes.TrimSuffix(line, []byte("\n")), err
}
