package nodefile_test

import (
	"bytes"
	"encoding/json"
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
	// The real captures, the node list cut to one Node: a 46 KB seed made each input
	// slow enough that a few seconds tried only a couple of thousand.
	dir := filepath.Join(trackertest.Fixtures(f), "nodes")
	for _, name := range []string{"az-aks-nodepool-add-windows2022.json", "az-aks-nodepool-update-ubuntu2204.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	data, err := os.ReadFile(filepath.Join(dir, "kubectl-get-nodes-aks-ubuntu1804.json"))
	if err != nil {
		f.Fatal(err)
	}
	var list struct{ Items []json.RawMessage }
	if err := json.Unmarshal(data, &list); err != nil || len(list.Items) == 0 {
		f.Fatal(err)
	}
	f.Add([]byte(list.Items[0]))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[` + string(list.Items[0]) + `]}`))
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
