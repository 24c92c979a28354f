package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
)

// FuzzCheck: whatever bytes a file holds, the check and a read-only open and read of it
// end with an answer or an error, never a crash. The seed is a small real database (an
// image, a release, events, meta), so that the mutations are of bbolt's pages.
func FuzzCheck(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	meta := map[string]string{}
	for i := range 20 {
		meta[fmt.Sprintf("key-%03d", i)] = fmt.Sprintf("value %d", i)
	}
	batch := tracker.Batch{Meta: meta, Images: []tracker.NodeImage{{Family: "AKSUbuntu/gen2/2404containerd", Version: "202605.27.0", Kernel: "6.8.0-1056-azure"}}}
	if _, err := db.Apply(context.Background(), batch); err != nil {
		f.Fatal(err)
	}
	db.Close()
	if problems, err := Check(path); err != nil || len(problems) > 0 {
		f.Fatalf("the seed: %v %v", err, problems)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, file []byte) {
		path := filepath.Join(t.TempDir(), "nodewatch.db")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Check(path); err != nil {
			return
		}
		db, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Images("")
		_, _ = db.Meta("key-100")
	})
}
