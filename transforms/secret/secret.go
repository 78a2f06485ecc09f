// Package secret loads API keys from the environment or a secret file and
// keeps them out of logs, errors, manifests and pipeline graphs: a Secret
// prints as [REDACTED], refuses JSON serialisation (a DoFn field would put
// the key into the job graph sent to the runner), and Redact scrubs a key
// that a server echoed back into an error.
package secret

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
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

// Redact replaces every occurrence of the key in text.
func (s Secret) Redact(text string) string {
	if len(s.v) < 4 {
		return text // too short to scrub without mangling ordinary text
	}
	return strings.ReplaceAll(text, s.v, redacted)
}

// RedactErr returns err with the key scrubbed from its message (nil stays nil).
func (s Secret) RedactErr(err error) error {
	if err == nil || !s.IsSet() || !strings.Contains(err.Error(), s.v) {
		return err
	}
	return redactedError{msg: s.Redact(err.Error()), err: err}
}

// redactedError keeps errors.Is/As working on the original chain while its
// message is scrubbed.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
