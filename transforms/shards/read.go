package shards

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"realdpo/schemas"
)

// ErrTruncated marks a shard that ends early: inside a member, inside a
// header, or without the end-of-archive marker.
var ErrTruncated = errors.New("truncated shard")

// ErrChecksum marks a shard or member whose bytes do not hash to the
// recorded SHA-256.
var ErrChecksum = errors.New("checksum mismatch")

// ErrUnsafeName marks a member name that is absolute, climbs out of the
// extraction directory, or nests directories (the format is flat).
var ErrUnsafeName = errors.New("unsafe member name")

// ErrTooLarge marks a member over ReaderOptions.MaxMemberBytes.
var ErrTooLarge = errors.New("member too large")

// ReaderOptions control verification.
type ReaderOptions struct {
	// Name labels errors (the shard's file name).
	Name string
	// MaxMemberBytes rejects larger members before reading them (0:
	// DefaultMaxMemberBytes).
	MaxMemberBytes int64
	// Expect, when set, is the index entry: the whole stream must hash to
	// its SHA256 and hold its Count pairs, else Next fails at the end.
	Expect *schemas.ShardEntry
}

// Sample is one webdataset sample: the members that share a key.
type Sample struct {
	Key     string
	Members map[string][]byte // by suffix
}

// PreferencePair is a decoded pair.
type PreferencePair struct {
	Key        string
	Meta       schemas.PairMeta
	Caption    string
	Chosen     []byte   // mp4
	FirstFrame []byte   // png
	Rejected   [][]byte // mp4s, index order
}

// Reader streams samples from one shard.
type Reader struct {
	o       ReaderOptions
	cr      *countReader
	h       hash.Hash
	tr      *tar.Reader
	pending *member
	seen    map[string]bool
	count   int
	atEnd   bool // the tar's verified end was read
	done    bool
	err     error
}

type member struct {
	key, suffix string
	data        []byte
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sizeLimit reads at most left bytes and fails (as a checksum mismatch:
// the shard is not the one the index describes) if there are more.
type sizeLimit struct {
	r    io.Reader
	left int64
	name string
	read int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(l.r, one[:]); n > 0 {
			return 0, fmt.Errorf("%s: %w: longer than the %d bytes the index records", l.name, ErrChecksum, l.read)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	l.read += int64(n)
	return n, err
}

// NewReader reads a shard from r.
func NewReader(r io.Reader, o ReaderOptions) *Reader {
	if o.MaxMemberBytes <= 0 {
		o.MaxMemberBytes = DefaultMaxMemberBytes
	}
	if o.Name == "" {
		o.Name = "shard"
	}
	if o.Expect != nil {
		// Never read past what the index records (plus one byte, to see
		// that there is more): a shard that is an endless stream (a link to
		// /dev/zero) or has grown fails here.
		r = &sizeLimit{r: r, left: o.Expect.Bytes, name: o.Name}
	}
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(r, h)}
	return &Reader{o: o, cr: cr, h: h, tr: tar.NewReader(cr), seen: map[string]bool{}}
}

func (r *Reader) fail(err error) error {
	r.done, r.err = true, err
	return err
}

// CheckName validates a member name and splits it into key and suffix.
func CheckName(name string) (key, suffix string, err error) {
	switch {
	case name == "":
		return "", "", fmt.Errorf("%w: empty name", ErrUnsafeName)
	case strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || (len(name) > 1 && name[1] == ':'):
		return "", "", fmt.Errorf("%w: absolute name %q", ErrUnsafeName, name)
	case strings.ContainsRune(name, 0):
		return "", "", fmt.Errorf("%w: NUL in name %q", ErrUnsafeName, name)
	}
	for _, part := range strings.FieldsFunc(name, func(c rune) bool { return c == '/' || c == '\\' }) {
		if part == ".." {
			return "", "", fmt.Errorf("%w: path traversal in %q", ErrUnsafeName, name)
		}
	}
	if strings.ContainsAny(name, `/\`) || path.Clean(name) != name {
		return "", "", fmt.Errorf("%w: nested name %q (shards are flat)", ErrUnsafeName, name)
	}
	i := strings.IndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return "", "", fmt.Errorf("%w: %q has no KEY.SUFFIX form", ErrUnsafeName, name)
	}
	key, suffix = name[:i], name[i+1:]
	if !ValidKey(key) {
		return "", "", fmt.Errorf("%w: bad key in %q", ErrUnsafeName, name)
	}
	return key, suffix, nil
}

// readMember reads the next tar member, or returns io.EOF at a verified end.
func (r *Reader) readMember() (*member, error) {
	before := r.cr.n
	hdr, err := r.tr.Next()
	if err == io.EOF {
		// archive/tar also reports a stream cut at a member boundary, or
		// after one zero block, as a clean end: require both end blocks.
		if r.cr.n-before < 1024 {
			return nil, fmt.Errorf("%s: %w: no end-of-archive marker after %d bytes", r.o.Name, ErrTruncated, r.cr.n)
		}
		return nil, io.EOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%s: %w: header cut off at byte %d", r.o.Name, ErrTruncated, r.cr.n)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: bad tar header at byte %d: %w", r.o.Name, before, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%s: member %q is not a regular file (type %q)", r.o.Name, hdr.Name, hdr.Typeflag)
	}
	key, suffix, err := CheckName(hdr.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.o.Name, err)
	}
	if hdr.Size < 0 || hdr.Size > r.o.MaxMemberBytes {
		return nil, fmt.Errorf("%s: %w: %s is %d bytes, limit %d", r.o.Name, ErrTooLarge, hdr.Name, hdr.Size, r.o.MaxMemberBytes)
	}
	data := make([]byte, hdr.Size)
	if _, err := io.ReadFull(r.tr, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: member %s cut off", r.o.Name, ErrTruncated, hdr.Name)
		}
		return nil, fmt.Errorf("%s: reading %s: %w", r.o.Name, hdr.Name, err)
	}
	return &member{key: key, suffix: suffix, data: data}, nil
}

// finish drains the stream and checks the expected checksum and count.
func (r *Reader) finish() error {
	if _, err := io.Copy(io.Discard, r.cr); err != nil {
		return r.fail(fmt.Errorf("%s: reading the end: %w", r.o.Name, err))
	}
	if e := r.o.Expect; e != nil {
		if got := hex.EncodeToString(r.h.Sum(nil)); got != e.SHA256 {
			return r.fail(fmt.Errorf("%s: %w: sha256 %s, index says %s", r.o.Name, ErrChecksum, got, e.SHA256))
		}
		if r.cr.n != e.Bytes {
			return r.fail(fmt.Errorf("%s: %d bytes, index says %d", r.o.Name, r.cr.n, e.Bytes))
		}
		if r.count != e.Count {
			return r.fail(fmt.Errorf("%s: %d pairs, index says %d", r.o.Name, r.count, e.Count))
		}
	}
	r.done = true
	return io.EOF
}

// NextSample returns the next sample, or io.EOF once the whole shard has
// been read and verified.
func (r *Reader) NextSample() (*Sample, error) {
	if r.done {
		if r.err != nil {
			return nil, r.err
		}
		return nil, io.EOF
	}
	var s *Sample
	for {
		m := r.pending
		r.pending = nil
		if m == nil {
			var err error = io.EOF
			if !r.atEnd {
				m, err = r.readMember()
			}
			if err == io.EOF {
				r.atEnd = true
				if s != nil {
					r.count++
					return s, nil
				}
				return nil, r.finish()
			}
			if err != nil {
				return nil, r.fail(err)
			}
		}
		if s != nil && m.key != s.Key {
			r.pending = m
			r.count++
			return s, nil
		}
		if s == nil {
			if r.seen[m.key] {
				return nil, r.fail(fmt.Errorf("%s: key %s appears in two places (members of a sample must be adjacent)", r.o.Name, m.key))
			}
			r.seen[m.key] = true
			s = &Sample{Key: m.key, Members: map[string][]byte{}}
		}
		if _, dup := s.Members[m.suffix]; dup {
			return nil, r.fail(fmt.Errorf("%s: member %s.%s twice", r.o.Name, m.key, m.suffix))
		}
		s.Members[m.suffix] = m.data
	}
}

// Next returns the next preference pair, its members checked against the
// checksums in its metadata, or io.EOF after the verified end.
func (r *Reader) Next() (*PreferencePair, error) {
	s, err := r.NextSample()
	if err != nil {
		return nil, err
	}
	p, err := DecodePair(s)
	if err != nil {
		return nil, r.fail(fmt.Errorf("%s: %w", r.o.Name, err))
	}
	return p, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// DecodePair checks a sample's members and metadata.
func DecodePair(s *Sample) (*PreferencePair, error) {
	p := &PreferencePair{Key: s.Key}
	need := func(suffix string) ([]byte, error) {
		b, ok := s.Members[suffix]
		if !ok {
			return nil, fmt.Errorf("pair %s: no %s member", s.Key, suffix)
		}
		return b, nil
	}
	var err error
	if p.Chosen, err = need(SuffixChosen); err != nil {
		return nil, err
	}
	if p.FirstFrame, err = need(SuffixFirstFrame); err != nil {
		return nil, err
	}
	capt, err := need(SuffixCaption)
	if err != nil {
		return nil, err
	}
	p.Caption = string(capt)
	meta, err := need(SuffixMeta)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(meta))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p.Meta); err != nil {
		return nil, fmt.Errorf("pair %s: metadata: %w", s.Key, err)
	}
	if p.Meta.Key != s.Key {
		return nil, fmt.Errorf("pair %s: metadata names key %q", s.Key, p.Meta.Key)
	}
	var idx []int
	for suf := range s.Members {
		if strings.HasPrefix(suf, "rejected_") && strings.HasSuffix(suf, ".mp4") {
			i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(suf, "rejected_"), ".mp4"))
			if err != nil || SuffixRejected(i) != suf {
				return nil, fmt.Errorf("pair %s: bad member %s", s.Key, suf)
			}
			idx = append(idx, i)
			continue
		}
		switch suf {
		case SuffixChosen, SuffixFirstFrame, SuffixCaption, SuffixMeta:
		default:
			return nil, fmt.Errorf("pair %s: unexpected member %s", s.Key, suf)
		}
	}
	sort.Ints(idx)
	for k, i := range idx {
		if i != k {
			return nil, fmt.Errorf("pair %s: rejected members %v are not 0..%d", s.Key, idx, len(idx)-1)
		}
		p.Rejected = append(p.Rejected, s.Members[SuffixRejected(i)])
	}
	if len(p.Rejected) == 0 {
		return nil, fmt.Errorf("pair %s: no rejected member", s.Key)
	}
	if len(p.Meta.Rejected) != len(p.Rejected) {
		return nil, fmt.Errorf("pair %s: metadata lists %d rejected, shard holds %d", s.Key, len(p.Meta.Rejected), len(p.Rejected))
	}
	check := func(what string, b []byte, m schemas.MemberInfo) error {
		if int64(len(b)) != m.Bytes || sha(b) != m.SHA256 {
			return fmt.Errorf("pair %s: %w: %s", s.Key, ErrChecksum, what)
		}
		return nil
	}
	if err := check(SuffixChosen, p.Chosen, p.Meta.Chosen); err != nil {
		return nil, err
	}
	if err := check(SuffixFirstFrame, p.FirstFrame, p.Meta.FirstFrame); err != nil {
		return nil, err
	}
	for i, b := range p.Rejected {
		if err := check(SuffixRejected(i), b, p.Meta.Rejected[i].MemberInfo); err != nil {
			return nil, err
		}
	}
	return p, nil
}
