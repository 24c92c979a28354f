package storage

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

// TestPackComponents round-trips the components of real notes of every kind the
// fixtures hold, and refuses what the packing cannot hold.
func TestPackComponents(t *testing.T) {
	samples, err := filepath.Glob("../../shared/fixtures/samples/*.txt")
	if err != nil || len(samples) < 5 {
		t.Fatalf("samples: %v %v", samples, err)
	}
	for _, f := range samples {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vhdnotes.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		packed, err := packComponents(n.Components)
		if err != nil {
			t.Fatal(err)
		}
		if got := unpackComponents(packed); !reflect.DeepEqual(got, n.Components) {
			t.Errorf("%s: %d components in, %d out, or their versions differ", filepath.Base(f), len(n.Components), len(got))
		}
	}
	if got := unpackComponents(nil); got != nil {
		t.Errorf("no components unpack to %v", got)
	}
	for _, bad := range []map[string][]string{{"a\x00b": {"1"}}, {"runc": {"1.2\n3"}}} {
		if _, err := packComponents(bad); err == nil || !strings.Contains(err.Error(), "NUL or a newline") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
