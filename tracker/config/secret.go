package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.yaml.in/yaml/v3"
)

const redacted = "[redacted]"

// Secret is a token or webhook URL. Every way of printing or encoding it shows
// [redacted] (or nothing when empty), so a secret reaches a log, an error or an API
// answer only through an explicit Value(). The text sits behind a pointer so that even
// a Secret held in some unexported field prints as an address, not as the text.
type Secret struct{ text *string }

// NewSecret wraps a secret value, e.g. for tests of packages that take one.
func NewSecret(value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{text: &value}
}

// Value returns the secret itself.
func (s Secret) Value() string {
	if s.text == nil {
		return ""
	}
	return *s.text
}

// String shows whether a secret is set without showing it.
func (s Secret) String() string {
	if s.Value() == "" {
		return ""
	}
	return redacted
}

func (s Secret) GoString() string             { return s.String() }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(s.String()) }
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
func (s Secret) MarshalYAML() (any, error)    { return s.String(), nil }
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a string")
	}
	*s = NewSecret(n.Value)
	return nil
}

// Duration is a time.Duration written as Go writes one: 30s, 1m, 6h, 1h30m.
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
func (d Duration) MarshalYAML() (any, error)    { return d.String(), nil }
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a duration such as 30s, 1m or 6h")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s, 1m or 6h", n.Value)
	}
	d.Duration = v
	return nil
}
