package shards

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes (seeded with real shards, cut and
// corrupted) to the shard reader: it must end every stream with a pair,
// io.EOF or an error, never panic, loop or hold more than the member limit,
// and every pair it returns must match the checksums in its metadata.
func FuzzReader(f *testing.F) {
	one, _ := writeShard(f, testPair(f, "a0", 1))
	two, _ := writeShard(f, testPair(f, "a0", 2), testPair(f, "b1", 0))
	f.Add(one)
	f.Add(two)
	f.Add(two[:len(two)/2])
	f.Add(two[:512])
	flipped := bytes.Clone(two)
	flipped[700] ^= 0xff
	f.Add(flipped)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 1024))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		r := NewReader(bytes.NewReader(data), ReaderOptions{Name: "fuzz", MaxMemberBytes: limit})
		for i := 0; ; i++ {
			if i > len(data)/512+2 {
				t.Fatalf("more pairs (%d) than a %d-byte tar can hold", i, len(data))
			}
			p, err := r.Next()
			if err != nil {
				// A failed or finished reader stays that way.
				if _, err2 := r.Next(); err2 == nil || (errors.Is(err, io.EOF) != errors.Is(err2, io.EOF)) {
					t.Fatalf("reader changed its mind after %v: %v", err, err2)
				}
				return
			}
			if p.Meta.Chosen.SHA256 != sha(p.Chosen) || p.Meta.FirstFrame.SHA256 != sha(p.FirstFrame) || len(p.Rejected) != len(p.Meta.Rejected) {
				t.Fatalf("pair %s returned with members that do not match its metadata", p.Key)
			}
			for k, rj := range p.Rejected {
				if len(rj) > limit || p.Meta.Rejected[k].SHA256 != sha(rj) {
					t.Fatalf("pair %s: rejected %d does not match its metadata", p.Key, k)
				}
			}
		}
	})
}

// FuzzCheckName: a member name either parses into a valid key and a
// suffix, or is refused; never a path that could escape a directory.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a0.mp4", "a0.rejected_0.mp4", "../x.mp4", "/abs.mp4", "a/b.mp4", "a0", ".mp4", "a0.json\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		key, suffix, err := CheckName(name)
		if err != nil {
			return
		}
		if !ValidKey(key) || suffix == "" || key+"."+suffix != name {
			t.Fatalf("CheckName(%q) = %q, %q", name, key, suffix)
		}
		if bytes.ContainsAny([]byte(name), "/\\\x00") {
			t.Fatalf("CheckName accepted %q", name)
		}
	})
}
