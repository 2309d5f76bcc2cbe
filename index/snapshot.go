package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// A graph snapshot is the graph the derived tables were computed from,
// kept in a file beside the index (snapshotPath) so that an incremental
// build need not read it from the tables again: on a registry of 100k
// manifests that read is most of derive (1.5 s of CPU, and hundreds of MB
// of pages when they are not cached), while the snapshot is some tens of
// MB read at once. An incremental build patches it with the rows it
// changed (graph.patch) and computes every derived table from the result,
// as a full build does.
//
// A snapshot holds what the tables held at one commit, and says which:
// the device and inode of the database file and the file change counter
// of its header, which SQLite increments on every commit that writes the
// file (in rollback-journal mode, the only one regsql uses). Any other
// write to the index (an ingest of usage data, a hand edit) changes the
// counter and so retires the snapshot: the next incremental build reads
// the tables, and leaves a new one. The snapshot is a cache; deleting it
// costs one slower update.

// snapshotPath is where the snapshot of the index at dbPath is kept.
func snapshotPath(dbPath string) string { return dbPath + "-graph" }

// dbStamp names one committed state of an index file.
type dbStamp struct {
	dev, ino uint64
	counter  uint32 // the header's file change counter
}

// stampOf returns the stamp of the database file at path, or false when it
// has none a snapshot can trust: not a rollback-journal database (a WAL
// one's counter does not change on commit), or a system without inode
// numbers.
func stampOf(path string) (dbStamp, bool) {
	f, err := os.Open(path)
	if err != nil {
		return dbStamp{}, false
	}
	defer f.Close()
	var h [28]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return dbStamp{}, false
	}
	if string(h[:16]) != "SQLite format 3\x00" || h[18] != 1 || h[19] != 1 {
		return dbStamp{}, false
	}
	fi, err := f.Stat()
	if err != nil {
		return dbStamp{}, false
	}
	dev, ino, ok := fileID(fi)
	return dbStamp{dev: dev, ino: ino, counter: binary.BigEndian.Uint32(h[24:28])}, ok
}

// next is the stamp the file has after one more commit.
func (s dbStamp) next() dbStamp {
	s.counter++
	return s
}

// snapshotMagic starts every snapshot; its last byte is the format's
// version, changed whenever what the snapshot holds changes.
const snapshotMagic = "regsql graph\x00\x00\x00\x01"

// The header: the magic, then the stamp (dev, ino, counter), the length
// of the payload and its CRC-32C.
const (
	stampOffset  = len(snapshotMagic)
	headerLength = stampOffset + 8 + 8 + 4 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func putStamp(b []byte, s dbStamp) {
	binary.LittleEndian.PutUint64(b[0:], s.dev)
	binary.LittleEndian.PutUint64(b[8:], s.ino)
	binary.LittleEndian.PutUint32(b[16:], s.counter)
}

func getStamp(b []byte) dbStamp {
	return dbStamp{
		dev:     binary.LittleEndian.Uint64(b[0:]),
		ino:     binary.LittleEndian.Uint64(b[8:]),
		counter: binary.LittleEndian.Uint32(b[16:]),
	}
}

// writeSnapshot writes g to a new file at path, stamped with the zero
// stamp, which no index has: stampSnapshot stamps it once the index it
// belongs to is committed.
func writeSnapshot(path string, g *graph) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write graph snapshot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write graph snapshot: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.Seek(int64(headerLength), io.SeekStart); err != nil {
		return fmt.Errorf("write graph snapshot: %w", err)
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(f, crc), 256<<10)
	e := &encoder{w: bw}
	g.encode(e)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write graph snapshot: %w", err)
	}
	h := make([]byte, headerLength)
	copy(h, snapshotMagic)
	binary.LittleEndian.PutUint64(h[stampOffset+20:], uint64(e.n))
	binary.LittleEndian.PutUint32(h[stampOffset+28:], crc.Sum32())
	if _, err := f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("write graph snapshot: %w", err)
	}
	return nil
}

// stampSnapshot stamps the snapshot at path as the one of the index in the
// state s, if it is stamped was; it says whether it did.
func stampSnapshot(path string, was, s dbStamp) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("stamp graph snapshot: %w", err)
	}
	defer f.Close()
	h := make([]byte, headerLength)
	if _, err := f.ReadAt(h, 0); err != nil || string(h[:stampOffset]) != snapshotMagic || getStamp(h[stampOffset:]) != was {
		return false, nil
	}
	putStamp(h[stampOffset:], s)
	if _, err := f.WriteAt(h[stampOffset:stampOffset+20], int64(stampOffset)); err != nil {
		return false, fmt.Errorf("stamp graph snapshot: %w", err)
	}
	return true, f.Close()
}

// errNoSnapshot is why readSnapshot returned no graph when the snapshot
// was not there, or was not of the index's state.
var errNoSnapshot = errors.New("no graph snapshot of this state of the index")

// readSnapshot reads the graph in the snapshot at path, if it is the one of
// the index in the state s, its digests ready to look up.
func readSnapshot(path string, s dbStamp) (*graph, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoSnapshot
	}
	if err != nil {
		return nil, fmt.Errorf("read graph snapshot: %w", err)
	}
	if len(b) < headerLength || string(b[:stampOffset]) != snapshotMagic || getStamp(b[stampOffset:]) != s {
		return nil, errNoSnapshot
	}
	payload := b[headerLength:]
	if binary.LittleEndian.Uint64(b[stampOffset+20:]) != uint64(len(payload)) ||
		crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[stampOffset+28:]) {
		return nil, fmt.Errorf("graph snapshot %s is damaged", filepath.Base(path))
	}
	d := &decoder{b: payload}
	g := decodeGraph(d)
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("bytes after the end")
	}
	if d.err != nil {
		return nil, fmt.Errorf("graph snapshot %s is damaged: %w", filepath.Base(path), d.err)
	}
	g.d.rebuild()
	return g, nil
}

// encode writes the rows of the graph: every digest, the blobs, the
// repositories each with its revisions and tags, and the manifests each
// with its references. What the lookups need, link computes again.
func (g *graph) encode(e *encoder) {
	n := g.d.len()
	e.u32(uint32(n))
	for id := range int32(n) {
		if g.d.isText[id] {
			e.u8(1)
			e.str(g.d.texts[id])
		} else {
			e.u8(0)
			e.bytes(g.d.keys[id][:])
		}
	}
	for id := range n {
		e.i64(g.blobSize[id])
		e.i64(g.blobMTime[id])
	}
	e.u32(uint32(len(g.repos)))
	for _, r := range g.repos {
		e.i64(r.id)
		e.str(r.name)
		e.bool(r.listed)
		e.bool(r.hasTags)
		e.u32(uint32(len(r.revs)))
		for _, vi := range r.revs {
			e.i32(g.revs[vi].digest)
			e.i32(g.revs[vi].target)
		}
		e.u32(uint32(len(r.tagRows)))
		for _, ti := range r.tagRows {
			t := &g.tags[ti]
			e.str(t.name)
			e.i32(t.digest)
			e.i64(t.pushedAt)
		}
	}
	var ms uint32
	for _, mi := range g.mIdx {
		if mi >= 0 {
			ms++
		}
	}
	e.u32(ms)
	for id, mi := range g.mIdx {
		if mi < 0 {
			continue
		}
		m := &g.manifests[mi]
		e.i32(int32(id))
		e.bool(m.row)
		e.i64(m.created)
		e.i32(m.subject)
		e.u32(uint32(m.refEnd - m.refStart))
		for _, r := range g.refs[m.refStart:m.refEnd] {
			e.i32(r.digest)
			e.u8(r.kind)
			e.i32(r.position)
		}
	}
}

// decodeGraph reads what encode wrote, checking every id it reads.
func decodeGraph(d *decoder) *graph {
	n := int(d.count(1 + 32))
	g := &graph{repoIdx: map[int64]int32{}, d: &digests{texts: map[int32]string{},
		keys: make([][32]byte, 0, n), isText: make([]bool, 0, n)}}
	for id := range n {
		if d.u8() == 1 {
			g.d.texts[int32(id)] = d.str()
			g.d.keys = append(g.d.keys, [32]byte{})
			g.d.isText = append(g.d.isText, true)
		} else {
			var k [32]byte
			copy(k[:], d.bytes(32))
			g.d.keys = append(g.d.keys, k)
			g.d.isText = append(g.d.isText, false)
		}
	}
	id := func() int32 {
		v := d.i32()
		if v < 0 || int(v) >= n {
			d.fail("digest id %d out of range", v)
			return 0
		}
		return v
	}
	g.blobSize, g.blobMTime = make([]int64, n), make([]int64, n)
	for i := range n {
		g.blobSize[i], g.blobMTime[i] = d.i64(), d.i64()
	}
	g.repos = make([]repo, d.count(8+4+2+8))
	for ri := range g.repos {
		r := &g.repos[ri]
		r.id, r.name, r.listed, r.hasTags = d.i64(), d.str(), d.bool(), d.bool()
		g.repoIdx[r.id] = int32(ri)
		for range d.count(8) {
			r.revs = append(r.revs, int32(len(g.revs)))
			g.revs = append(g.revs, revision{repo: int32(ri), digest: id(), target: id()})
		}
		for range d.count(4 + 4 + 8) {
			r.tagRows = append(r.tagRows, int32(len(g.tags)))
			g.tags = append(g.tags, tagRow{repo: int32(ri), name: d.str(), digest: id(), pushedAt: d.i64()})
		}
		if d.err != nil {
			return nil
		}
	}
	g.mIdx = make([]int32, n)
	for i := range g.mIdx {
		g.mIdx[i] = -1
	}
	ms := d.count(4 + 1 + 8 + 4 + 4)
	g.manifests = make([]manifest, 0, ms)
	for range ms {
		mid := id()
		m := manifest{row: d.bool(), created: d.i64(), subject: d.i32(), refStart: int32(len(g.refs))}
		if m.subject < -1 || int(m.subject) >= n {
			d.fail("subject id %d out of range", m.subject)
		}
		for range d.count(4 + 1 + 4) {
			g.refs = append(g.refs, ref{digest: id(), kind: d.u8(), position: d.i32()})
		}
		m.refEnd = int32(len(g.refs))
		if d.err != nil {
			return nil
		}
		if g.mIdx[mid] >= 0 {
			d.fail("manifest %d twice", mid)
			return nil
		}
		g.mIdx[mid] = int32(len(g.manifests))
		g.manifests = append(g.manifests, m)
	}
	return g
}

// encoder writes little-endian values to w, counting the bytes.
type encoder struct {
	w   *bufio.Writer
	n   int
	buf [8]byte
}

func (e *encoder) bytes(b []byte) { n, _ := e.w.Write(b); e.n += n } // bufio keeps the first error; Flush returns it
func (e *encoder) u8(v uint8)     { _ = e.w.WriteByte(v); e.n++ }
func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.bytes(e.buf[:4]) }
func (e *encoder) i32(v int32)  { e.u32(uint32(v)) }
func (e *encoder) i64(v int64) {
	binary.LittleEndian.PutUint64(e.buf[:], uint64(v))
	e.bytes(e.buf[:8])
}
func (e *encoder) str(s string) { e.u32(uint32(len(s))); n, _ := e.w.WriteString(s); e.n += n }

// decoder reads what an encoder wrote; past the end, or after fail, every
// value is zero and err says what went wrong.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.b = nil
}

func (d *decoder) bytes(n int) []byte {
	if len(d.b) < n {
		d.fail("truncated")
		return make([]byte, n)
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) u8() uint8   { return d.bytes(1)[0] }
func (d *decoder) bool() bool  { return d.u8() != 0 }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.bytes(4)) }
func (d *decoder) i32() int32  { return int32(d.u32()) }
func (d *decoder) i64() int64  { return int64(binary.LittleEndian.Uint64(d.bytes(8))) }
func (d *decoder) str() string { return string(d.bytes(int(d.count(1)))) }

// count reads a count of items of at least min bytes each, refusing one
// the rest of the payload cannot hold.
func (d *decoder) count(min int) int {
	n := int(d.u32())
	if n*min > len(d.b) {
		d.fail("a count of %d is more than the rest holds", n)
		return 0
	}
	return n
}

// keepSnapshot puts the snapshot writeSnapshot wrote at tmp in place at
// path, stamped s, if the index is stamped s (stamped). Otherwise, or if
// it cannot, it removes it: a snapshot not in place is no use.
func keepSnapshot(tmp, path string, s dbStamp, stamped bool) {
	if stamped {
		if ok, err := stampSnapshot(tmp, dbStamp{}, s); ok && err == nil && os.Rename(tmp, path) == nil {
			return
		}
	}
	_ = os.Remove(tmp)
}

// restampSnapshot stamps the snapshot of the index at dbPath with the
// index's state after a commit of rows the graph does not hold, if the
// snapshot was of the state was that commit started from and the commit
// was the only one since.
func restampSnapshot(dbPath string, was dbStamp) {
	if now, ok := stampOf(dbPath); ok && now == was.next() {
		_, _ = stampSnapshot(snapshotPath(dbPath), was, now)
	}
}
