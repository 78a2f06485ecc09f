// Package shards writes and reads RealDPO preference pairs as webdataset
// shards: plain POSIX (ustar) tar files in which every pair's members share
// a key and sit next to each other:
//
//	KEY.chosen.mp4       the real clip (preferred)
//	KEY.first_frame.png  its first frame (the generation condition)
//	KEY.json             schemas.PairMeta: ids, provenance, checksums, scores
//	KEY.rejected_0.mp4   generated clips (rejected), 0..N-1
//	KEY.txt              the caption
//
// Keys have no dots (webdataset splits a member name at the first dot of
// its base name) and no slashes. Headers are deterministic (mtime 0, uid and
// gid 0, mode 0644, no user names) and members are sorted by name within a
// pair, so the same pairs always give the same bytes.
package shards

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Member suffixes (after "KEY.").
const (
	SuffixChosen     = "chosen.mp4"
	SuffixFirstFrame = "first_frame.png"
	SuffixMeta       = "json"
	SuffixCaption    = "txt"
)

// SuffixRejected is the suffix of the i-th rejected clip.
func SuffixRejected(i int) string { return fmt.Sprintf("rejected_%d.mp4", i) }

// MaxNameLen keeps every member name inside a plain ustar header (no PAX
// records), which every tar reader understands.
const MaxNameLen = 100

// DefaultMaxMemberBytes bounds a member the reader accepts.
const DefaultMaxMemberBytes int64 = 1 << 30

var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidKey reports whether k can be a pair key: letters, digits, '_' and
// '-', at most 64 characters (so KEY.rejected_NN.mp4 fits a ustar name).
func ValidKey(k string) bool { return keyRE.MatchString(k) }

// KeyFor turns a clip id into a pair key: unchanged when valid, else its
// disallowed characters become '_' and a short hash of the id is appended
// so that two ids never collapse to one key.
func KeyFor(clipID string) string {
	if ValidKey(clipID) {
		return clipID
	}
	var b strings.Builder
	for _, c := range clipID {
		if c < 128 && (c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 48 {
		s = s[:48]
	}
	sum := sha256.Sum256([]byte(clipID))
	return s + "-" + hex.EncodeToString(sum[:6])
}

// Member is one file of a pair.
type Member struct {
	Suffix string // after "KEY."
	Data   []byte
}

// Pair is one preference pair as written.
type Pair struct {
	Key     string
	Members []Member
}

// EpochMTime is the fixed modification time of every member.
var EpochMTime = time.Unix(0, 0).UTC()

// TarSize is the exact number of bytes a pair takes in a ustar archive with
// the given member sizes (a 512-byte header plus the data rounded up to
// 512 per member), for planning shards before reading any data.
func TarSize(sizes ...int64) int64 {
	var n int64
	for _, s := range sizes {
		n += 512 + (s+511)/512*512
	}
	return n
}

// TrailerSize is the end-of-archive marker plus padding to the 10 KiB
// record size that archive/tar does not add (two zero blocks only).
const TrailerSize = 1024

// Writer writes pairs to a tar stream, hashing and counting as it goes.
type Writer struct {
	tw    *tar.Writer
	cw    *countWriter
	h     hash.Hash
	count int
	last  string
	keys  []string
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// NewWriter starts a shard on w.
func NewWriter(w io.Writer) *Writer {
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	return &Writer{tw: tar.NewWriter(cw), cw: cw, h: h}
}

// WritePair appends one pair, members sorted by name. Keys must be valid
// and each key may appear once.
func (w *Writer) WritePair(p Pair) error {
	if !ValidKey(p.Key) {
		return fmt.Errorf("shards: invalid pair key %q", p.Key)
	}
	for _, k := range w.keys {
		if k == p.Key {
			return fmt.Errorf("shards: pair key %q written twice", p.Key)
		}
	}
	ms := append([]Member(nil), p.Members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Suffix < ms[j].Suffix })
	for i, m := range ms {
		if m.Suffix == "" || strings.ContainsAny(m.Suffix, "/\\") {
			return fmt.Errorf("shards: pair %s: bad member suffix %q", p.Key, m.Suffix)
		}
		if i > 0 && ms[i-1].Suffix == m.Suffix {
			return fmt.Errorf("shards: pair %s: member %s twice", p.Key, m.Suffix)
		}
		name := p.Key + "." + m.Suffix
		if len(name) > MaxNameLen {
			return fmt.Errorf("shards: member name %q longer than %d bytes", name, MaxNameLen)
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Mode:     0o644,
			Size:     int64(len(m.Data)),
			ModTime:  EpochMTime,
			Format:   tar.FormatUSTAR,
		}
		if err := w.tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("shards: header %s: %w", name, err)
		}
		if _, err := w.tw.Write(m.Data); err != nil {
			return fmt.Errorf("shards: member %s: %w", name, err)
		}
	}
	w.keys = append(w.keys, p.Key)
	w.count++
	return nil
}

// Close ends the archive (it does not close the underlying writer) and
// returns the pair count, the byte count and the SHA-256 of the bytes.
func (w *Writer) Close() (count int, bytes int64, sha string, err error) {
	if err := w.tw.Close(); err != nil {
		return 0, 0, "", fmt.Errorf("shards: closing tar: %w", err)
	}
	return w.count, w.cw.n, hex.EncodeToString(w.h.Sum(nil)), nil
}

// Keys are the keys written so far, in order.
func (w *Writer) Keys() []string { return append([]string(nil), w.keys...) }

// ShardName is the file name of shard i.
func ShardName(i int) string { return fmt.Sprintf("pairs-%06d.tar", i) }

// StatsName is the stats file beside shard i.
func StatsName(i int) string { return fmt.Sprintf("pairs-%06d.stats.json", i) }

// ParseShardName returns the index of a shard file name, or an error.
func ParseShardName(name string) (int, error) {
	var i int
	if _, err := fmt.Sscanf(name, "pairs-%06d.tar", &i); err != nil || ShardName(i) != name {
		return 0, errors.New("not a shard name: " + name)
	}
	return i, nil
}
