package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	configType      = reflect.TypeFor[Config]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// visit is one node checked against one Go type; an anchor used in several places is
// checked once per type, which keeps alias bombs and self-referring aliases finite.
type visit struct {
	node *yaml.Node
	typ  reflect.Type
}

// walker goes through the document before it is decoded, checking it against the Config
// types (unknown keys, keys set twice, values of the wrong type) so that each problem is
// reported with its key path and line rather than a Go type name; yaml's own KnownFields
// is not available when decoding a Node. It also expands ${VAR} in each scalar value:
// on the parsed tree, so a value containing `:`, `#` or quotes cannot change the YAML.
type walker struct {
	env      func(string) (string, bool)
	seen     map[visit]bool
	expanded map[*yaml.Node]bool
	errs     []error
}

func (w *walker) errorf(path string, n *yaml.Node, format string, args ...any) {
	w.errs = append(w.errs, fmt.Errorf("%s (line %d): %s", path, n.Line, fmt.Sprintf(format, args...)))
}

func (w *walker) walk(n *yaml.Node, path string, t reflect.Type) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if w.seen[visit{n, t}] {
		return
	}
	w.seen[visit{n, t}] = true
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		w.leaf(n, path, t)
	case t.Kind() == reflect.Pointer: // a section that is off unless given (storage.backup)
		w.walk(n, path, t.Elem())
	case t.Kind() == reflect.Struct:
		w.mapping(n, path, t)
	case t.Kind() == reflect.Slice:
		w.sequence(n, path, t)
	default:
		w.leaf(n, path, t)
	}
}

func (w *walker) mapping(n *yaml.Node, path string, t reflect.Type) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		w.errorf(path, n, "want a mapping of keys, got %s", kindName(n))
		return
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fields[name] = f.Type
		names = append(names, name)
	}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" { // `<<: *anchor` brings the anchor's keys here
			w.merge(v, path, t)
			continue
		}
		p := join(path, k.Value)
		if line, ok := lines[k.Value]; ok {
			w.errorf(p, k, "set twice, first on line %d", line)
			continue
		}
		lines[k.Value] = k.Line
		ft, ok := fields[k.Value]
		if !ok {
			w.errorf(p, k, "unknown key; the keys here are %s", strings.Join(names, ", "))
			continue
		}
		w.walk(v, p, ft)
	}
}

func (w *walker) merge(v *yaml.Node, path string, t reflect.Type) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind != yaml.SequenceNode {
		w.walk(v, path, t)
		return
	}
	for _, m := range v.Content {
		w.walk(m, path, t)
	}
}

func (w *walker) sequence(n *yaml.Node, path string, t reflect.Type) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		w.errorf(path, n, "want a list, got %s", kindName(n))
		return
	}
	for i, e := range n.Content {
		w.walk(e, fmt.Sprintf("%s[%d]", path, i), t.Elem())
	}
}

// leaf expands the node's value and decodes it into a throwaway value of its type, so
// that a wrong type is reported here with its key path.
func (w *walker) leaf(n *yaml.Node, path string, t reflect.Type) {
	if n.Kind == yaml.ScalarNode && !w.expanded[n] {
		w.expanded[n] = true
		v, err := expand(n.Value, w.env)
		if err != nil {
			w.errorf(path, n, "%v", err)
			return
		}
		if v != n.Value && n.Style == 0 {
			// A plain value is typed by what it says: `max_attempts: ${N}` is a number
			// once expanded.
			n.Tag = ""
		}
		n.Value = v
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			err = errors.New(linePrefix.ReplaceAllString(te.Errors[0], ""))
		}
		w.errorf(path, n, "%v", err)
	}
}

var linePrefix = regexp.MustCompile(`^line \d+: `)

// shieldVariables replaces each ${...} in the file by a placeholder word before the
// YAML is parsed. YAML does not allow { and } in a plain value inside a flow mapping, so
// without this `{webhook_url: ${SLACK_WEBHOOK_URL}}` would not parse. The placeholders
// go back into the parsed values, which expand then.
func shieldVariables(data []byte) ([]byte, *strings.Replacer) {
	text := string(data)
	prefix := "__nodewatch_var"
	for strings.Contains(text, prefix) {
		prefix += "_"
	}
	var pairs []string
	text = reference.ReplaceAllStringFunc(text, func(ref string) string {
		if ref == "$$" {
			return ref
		}
		word := fmt.Sprintf("%s%d_", prefix, len(pairs)/2)
		pairs = append(pairs, word, ref)
		return word
	})
	return []byte(text), strings.NewReplacer(pairs...)
}

// reference matches what shieldVariables replaces, and $$ so that $${X} stays as it is.
var reference = regexp.MustCompile(`\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}\n]*)?\}`)

// restoreVariables puts the ${...} that shieldVariables took out back into every value
// and key.
func restoreVariables(n *yaml.Node, r *strings.Replacer) {
	if n.Kind == yaml.ScalarNode {
		n.Value = r.Replace(n.Value)
	}
	for _, c := range n.Content {
		restoreVariables(c, r)
	}
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} by the variable's value and ${VAR:-default} by its value, or
// the default when it is unset or empty; $$ is a literal $, and any other $ stays as it
// is. A default is taken literally. An unset ${VAR} without default is an error.
func expand(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] != '$':
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errors.New("${ without a closing }; write $$ for a literal $")
			}
			name, def, hasDef := strings.Cut(s[i+2:i+end], ":-")
			if !varName.MatchString(name) {
				return "", fmt.Errorf("${%s}: %q is not a variable name; write $$ for a literal $", name, name)
			}
			v, ok := env(name)
			switch {
			case hasDef && v == "":
				v = def
			case !ok:
				return "", fmt.Errorf("${%s} is not set (write ${%s:-default} for a default)", name, name)
			}
			b.WriteString(v)
			i += end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("the value %q", n.Value)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
