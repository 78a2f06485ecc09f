// Package secret loads API keys from the environment or a secret file and
// keeps them out of logs, errors, manifests and pipeline graphs: a Secret
// prints as [REDACTED], refuses JSON serialisation (a DoFn field would put
// the key into the job graph sent to the runner), and Redact scrubs a key,
// or any long run of it, that a server echoed back into an error; Excerpt
// is the bounded, sanitised part of an upstream error body that may be kept.
package secret

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Secret is an API key. The zero value is "no key".
type Secret struct{ v string }

const redacted = "[REDACTED]"

// Load returns the key in the file when file is set (a mounted Kubernetes
// or Secret Manager secret; surrounding whitespace dropped), else in the
// environment variable env. Neither set is not an error: the zero Secret.
// Flags never carry keys: they end up in process lists and job options.
func Load(env, file string) (Secret, error) {
	if file != "" {
		st, err := os.Stat(file)
		if err != nil {
			return Secret{}, fmt.Errorf("secret file: %w", err)
		}
		if !st.Mode().IsRegular() || st.Size() > 64<<10 {
			return Secret{}, fmt.Errorf("secret file %s: not a regular file under 64 KiB", file)
		}
		if st.Mode().Perm()&0o004 != 0 {
			slog.Warn("secret file is world-readable", "file", file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return Secret{}, fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, fmt.Errorf("secret file %s is empty", file)
		}
		return Secret{v}, nil
	}
	if env != "" {
		return Secret{strings.TrimSpace(os.Getenv(env))}, nil
	}
	return Secret{}, nil
}

// New wraps a key obtained elsewhere.
func New(v string) Secret { return Secret{strings.TrimSpace(v)} }

// Reveal returns the key, for the one place it is sent (an Authorization header).
func (s Secret) Reveal() string { return s.v }

// IsSet reports whether there is a key.
func (s Secret) IsSet() bool { return s.v != "" }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the key.
func (s Secret) GoString() string { return "secret.Secret{" + s.String() + "}" }

// LogValue keeps slog from printing the key.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ErrSerialise is returned when something tries to serialise a key.
var ErrSerialise = errors.New("secret: refusing to serialise an API key (load it on the worker from its environment variable or secret file)")

// MarshalJSON refuses: Beam serialises DoFn fields into the pipeline graph.
func (s Secret) MarshalJSON() ([]byte, error) {
	if s.v == "" {
		return []byte(`""`), nil
	}
	return nil, ErrSerialise
}

// MarshalText refuses, like MarshalJSON.
func (s Secret) MarshalText() ([]byte, error) {
	if s.v == "" {
		return nil, nil
	}
	return nil, ErrSerialise
}

// MinLeak is the shortest run of a key's characters that counts as the key
// leaking: a server that echoes most of a key, cut or split, still leaks
// every run this long, while shorter runs turn up in ordinary text.
const MinLeak = 8

// leaks returns the byte ranges of text that are runs of at least
// min(MinLeak, len(key)) consecutive characters of the key, merged.
func (s Secret) leaks(text string) [][2]int {
	k := s.v
	if len(k) < 4 || text == "" {
		return nil // too short to scrub without mangling ordinary text
	}
	need := min(MinLeak, len(k))
	var out [][2]int
	for i := 0; i+need <= len(text); i++ {
		// The longest run of key characters starting at text[i].
		best := 0
		for j := 0; j < len(k) && len(k)-j > best; j++ {
			n := 0
			for i+n < len(text) && j+n < len(k) && text[i+n] == k[j+n] {
				n++
			}
			best = max(best, n)
		}
		if best < need {
			continue
		}
		if m := len(out); m > 0 && i <= out[m-1][1] {
			out[m-1][1] = max(out[m-1][1], i+best)
		} else {
			out = append(out, [2]int{i, i + best})
		}
	}
	return out
}

// Leaks reports whether text holds the key or a run of MinLeak or more of
// its characters (a caption or answer that does must not be recorded).
func (s Secret) Leaks(text string) bool { return len(s.leaks(text)) > 0 }

// Redact replaces the key, and every run of MinLeak or more of its
// characters, in text.
func (s Secret) Redact(text string) string {
	rs := s.leaks(text)
	if len(rs) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for _, r := range rs {
		b.WriteString(text[last:r[0]])
		b.WriteString(redacted)
		last = r[1]
	}
	b.WriteString(text[last:])
	return b.String()
}

// RedactErr returns err with the key scrubbed from its message (nil stays nil).
func (s Secret) RedactErr(err error) error {
	if err == nil || !s.IsSet() || !s.Leaks(err.Error()) {
		return err
	}
	return redactedError{msg: s.Redact(err.Error()), err: err}
}

// MaxExcerpt bounds the excerpt of an upstream answer kept in a record or
// a log line.
const MaxExcerpt = 200

// Excerpt is what may be kept of an upstream error body: the key and any
// long run of it redacted, long opaque tokens (anything that looks like a
// credential: 24 or more letters, digits, '-' or '_' with letters and
// digits both) masked, control and bidirectional-override characters
// dropped, whitespace folded to single spaces, at most limit bytes (on a
// character boundary; MaxExcerpt when limit <= 0).
func (s Secret) Excerpt(body string, limit int) string {
	if limit <= 0 {
		limit = MaxExcerpt
	}
	// Bounded first so a huge body costs little; the cut may split a key,
	// whose remaining runs are still redacted below.
	if len(body) > 4*limit+64 {
		body = body[:4*limit+64]
	}
	body = s.Redact(strings.ToValidUTF8(body, "?"))
	var b strings.Builder
	space := false
	for _, r := range body {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == ' ':
			space = b.Len() > 0
			continue
		case isControl(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := maskTokens(b.String())
	if len(out) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "..."
	}
	return out
}

// isControl covers C0, DEL, C1 and the Unicode format characters that
// reorder or hide text (U+202A-U+202E, U+2066-U+2069, U+200B-U+200F, U+FEFF).
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == 0xFEFF || (r >= 0x200B && r <= 0x200F) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// maskTokens replaces credential-looking words: 24 or more characters of
// [A-Za-z0-9_-] holding both letters and digits.
func maskTokens(s string) string {
	isTok := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isTok(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		letters, digits := false, false
		for j < len(s) && isTok(s[j]) {
			c := s[j]
			letters = letters || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			digits = digits || c >= '0' && c <= '9'
			j++
		}
		if j-i >= 24 && letters && digits {
			b.WriteString(redacted)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// redactedError keeps errors.Is/As working on the original chain while its
// message is scrubbed.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
