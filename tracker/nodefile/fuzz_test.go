package nodefile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker/nodefile"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

// FuzzRead: whatever a user feeds `nodes -f`, the reader answers input or an error
// naming the file, and never panics; the seeds are the real captures.
func FuzzRead(f *testing.F) {
	dir := filepath.Join(trackertest.Fixtures(f), "nodes")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := nodefile.Read("input.json", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "input.json: ") {
				t.Errorf("an error that does not name the file: %v", err)
			}
			return
		}
		if in.Shape == "" {
			t.Error("input read without a shape")
		}
		_ = in.Groups()
	})
}
