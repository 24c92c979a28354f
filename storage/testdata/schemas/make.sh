#!/bin/sh
# make.sh makes again the databases of storage/testdata/schemas: for each released
# schema vN, a worktree of the last commit that wrote vN, where that version's own CLI
# test helpers (newCLI: the fixture world through upstreamtest, the CLI in-process) run
# `check` and `images --json`; the database file and that output are copied here.
#
#   storage/testdata/schemas/make.sh            every version
#   storage/testdata/schemas/make.sh 3 5        only v3 and v5
#
# Needs the fixtures beside the repository (../shared/fixtures) and the Go module cache
# or proxy. SCHEMAGEN_DIR (default /tmp/schemagen) holds the worktrees while it runs.
set -eu

repo=$(git rev-parse --show-toplevel)
out=$repo/storage/testdata/schemas
shared=$(cd "$repo/../shared" && pwd -P)
work=${SCHEMAGEN_DIR:-/tmp/schemagen}
world=world-2026-04-30

# vN and the commit built for it: the parent of the commit that introduced v(N+1), so
# the final code of vN; v6 is the newest (HEAD when these files were made).
commit_of() {
	case $1 in
	1) echo 6c813e1 ;; # parent of 3f8fe54 (v2: the outbox)
	2) echo 5acf88a ;; # parent of 98dfa2e (v3: packed components)
	3) echo 445aae4 ;; # parent of 83309b5 (v4: pool images)
	4) echo d60357f ;; # parent of 34a45b0 (v5: Flatcar advisories)
	5) echo 2c6c12d ;; # parent of 696dd52 (v6: contents)
	6) echo e3c4400 ;; # HEAD when made; v6 was introduced by 696dd52
	*) echo "no schema v$1" >&2; exit 2 ;;
	esac
}

# 6c813e1 does not build: its tracker/flatcar/source.go calls ParseJSON and ParseFeed,
# which the history committed one commit later (3f8fe54, new files only). v1 is built with
# those three files of 3f8fe54 added and nothing else changed: storage/ is v1's own.
borrow_of() {
	case $1 in
	1) echo "3f8fe54 tracker/flatcar/feed.go tracker/flatcar/flatcar.go tracker/flatcar/json.go" ;;
	esac
}

versions=${*:-1 2 3 4 5 6}
mkdir -p "$work"

# A worktree left by a failed run is removed, and never committed: nor is the test file.
dir=
cleanup() {
	if [ -n "$dir" ] && [ -d "$dir/main" ]; then
		git -C "$repo" worktree remove --force "$dir/main"
	fi
	[ -z "$dir" ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

for n in $versions; do
	c=$(commit_of "$n")
	dir=$work/v$n
	rm -rf "$dir"
	git -C "$repo" worktree prune
	mkdir -p "$dir"
	ln -s "$shared" "$dir/shared"
	git -C "$repo" worktree add --detach "$dir/main" "$c" >/dev/null

	# len(migrations) of that commit must be n: count the entries of the slice.
	got=$(awk '/^var migrations = /{on=1; next} on && /^}/{exit} on && /^\t(func\(tx|migrate[A-Za-z]*,)/{k++} END{print k+0}' "$dir/main/storage/db.go")
	if [ "$got" != "$n" ]; then
		echo "v$n: commit $c has $got migrations, not $n" >&2
		exit 1
	fi

	borrow=$(borrow_of "$n")
	if [ -n "$borrow" ]; then
		set -- $borrow
		from=$1
		shift
		for f in "$@"; do
			[ ! -e "$dir/main/$f" ] || { echo "v$n: $f exists already in $c" >&2; exit 1; }
			git -C "$repo" show "$from:$f" >"$dir/main/$f"
		done
	fi

	cat >"$dir/main/cmd/nodewatch/zz_schemagen_test.go" <<'EOF'
package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestSchemaGen (thrown away by make.sh) runs this version's check on a fixture world
// and copies out the database and images --json.
func TestSchemaGen(t *testing.T) {
	out, n, world := os.Getenv("SCHEMAGEN_OUT"), os.Getenv("SCHEMAGEN_VERSION"), os.Getenv("SCHEMAGEN_WORLD")
	if out == "" {
		t.Skip("run by storage/testdata/schemas/make.sh")
	}
	c := newCLI(t, world)
	c.mustRun("check")
	images := c.mustRun("images", "--json")
	path := filepath.Join(filepath.Dir(c.config), "nodewatch.db")

	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	b.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket([]byte("meta")); meta != nil {
			got = string(meta.Get([]byte("schema_version")))
		}
		return nil
	})
	b.Close()
	if got != n {
		t.Fatalf("%s: schema_version %q, want %q", path, got, n)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "v"+n+".db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "v"+n+".images.json"), []byte(images), 0o600); err != nil {
		t.Fatal(err)
	}
}
EOF

	echo "v$n: $c" >&2
	(cd "$dir/main" && SCHEMAGEN_OUT=$dir SCHEMAGEN_VERSION=$n SCHEMAGEN_WORLD=$world \
		go test ./cmd/nodewatch/ -run '^TestSchemaGen$' -count=1)
	gzip -n -9 -c "$dir/v$n.db" >"$out/v$n.db.gz"
	cp "$dir/v$n.images.json" "$out/v$n.images.json"
	chmod 644 "$out/v$n.db.gz" "$out/v$n.images.json"
	cleanup
	dir=
done
rmdir "$work" 2>/dev/null || true
ls -l "$out"
