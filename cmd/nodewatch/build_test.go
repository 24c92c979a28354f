package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestImageBuildsLikeMake: no Docker engine runs here, so the container image's build is
// kept to the one `make build` does, and that build is checked: static, under 25 MB,
// version stamped.
func TestImageBuildsLikeMake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	runs := regexp.MustCompile(`(?m)^RUN (.*)$`).FindAllStringSubmatch(string(dockerfile), -1)
	if len(runs) != 2 || runs[0][1] != "go mod download" || !strings.HasPrefix(runs[1][1], "make build") {
		t.Errorf("Dockerfile RUN steps %q: want `go mod download` then `make build`", runs)
	}
	if !regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static\S*:nonroot$`).Match(dockerfile) ||
		!strings.Contains(string(dockerfile), "USER nonroot") || !strings.Contains(string(dockerfile), "NODEWATCH_HTTP_LISTEN=0.0.0.0:8080") {
		t.Error("Dockerfile: want a distroless static nonroot base, a non-root user and http.listen 0.0.0.0:8080")
	}

	bin := filepath.Join(t.TempDir(), "nodewatch")
	cmd := exec.Command("make", "-s", "build", "BIN="+bin, "VERSION=v9.9.9-test")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The goal of the issue "Your clusters": under 40 MB with client-go in it.
	if st.Size() > 40<<20 {
		t.Errorf("binary is %d MB, want under 40", st.Size()>>20)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary asks for a dynamic loader: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary links %v: not static", libs)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "nodewatch v9.9.9-test" {
		t.Errorf("version: %q %v", out, err)
	}
	t.Logf("binary: %.1f MB", float64(st.Size())/(1<<20))
}
