package tracker_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
)

// TestParseNodeImageName takes apart every real form: the names here are as the
// contract, the fixtures' kubectl and az outputs, and AKS's documents print them.
func TestParseNodeImageName(t *testing.T) {
	for _, c := range []struct {
		name                    string
		os, sku, version, patch string
		err                     string
	}{
		{"AKSUbuntu-2204gen2containerd-202607.29.0", "AKSUbuntu", "2204gen2containerd", "202607.29.0", "", ""},
		{"AKSAzureLinux-V3gen2-202609.15.0", "AKSAzureLinux", "V3gen2", "202609.15.0", "", ""},
		{"AKSWindows-2022-containerd-20348.2340.240401", "AKSWindows", "2022-containerd", "20348.2340.240401", "", ""},
		{"AKSFlatcar-flatcargen2-202508.06.0", "AKSFlatcar", "flatcargen2", "202508.06.0", "", ""},
		{"AKSAzureContainerLinux-202606.01.0", "AKSAzureContainerLinux", "", "202606.01.0", "", ""},
		{"AKSUbuntu-2204gen2containerd-202410.27.0-2024.12.01", "AKSUbuntu", "2204gen2containerd", "202410.27.0", "2024.12.01", ""},
		{"AKSUbuntu-1804gen2containerd-2022.01.19", "AKSUbuntu", "1804gen2containerd", "2022.01.19", "", ""},
		{"AKSUbuntu-1804gen2-2021.06.12", "AKSUbuntu", "1804gen2", "2021.06.12", "", ""}, // fixtures/nodes, a 2021 cluster
		{"AKSCBLMariner-V2gen2-202402.26.0", "AKSCBLMariner", "V2gen2", "202402.26.0", "", ""},
		{"AKSUbuntu-2204gen2containerd-202403.25.0", "AKSUbuntu", "2204gen2containerd", "202403.25.0", "", ""}, // fixtures/nodes, az aks nodepool update
		{"AKSUbuntu-202607.29.0", "", "", "", "", "no sku"},
		{"AKSUbuntu-2204gen2containerd", "", "", "", "", "does not end in an image version"},
		{"AKSUbuntu-2204gen2containerd-202410.27.0-202412.01.0", "", "", "", "", "security patch day reads YYYY.MM.DD"},
		{"AKS-foo-202607.29.0", "", "", "", "", "no AKS node image name"},
		{"Ubuntu-2204gen2containerd-202607.29.0", "", "", "", "", "no AKS node image name"},
		{"AKSUbuntu--202607.29.0", "", "", "", "", "no sku"},
		{"AKSWindows-2022--containerd-20348.2340.240401", "", "", "", "", "an empty part"},
	} {
		n, err := tracker.ParseNodeImageName(c.name)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.name) {
				t.Errorf("%s: error %v, want one naming it and saying %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || n.OS != c.os || n.SKU != c.sku || n.Version != c.version || n.SecurityPatch != c.patch {
			t.Errorf("%s: %+v %v; want os %s sku %s version %s patch %q", c.name, n, err, c.os, c.sku, c.version, c.patch)
		}
	}
}

// TestNodeImageVersion names images as AKS does, whatever the family's directory says.
func TestNodeImageVersion(t *testing.T) {
	for _, c := range []struct{ family, sku, version, want string }{
		{"AKSAzureLinuxV3/gen2", "V3gen2", "202607.29.0", "AKSAzureLinux-V3gen2-202607.29.0"},
		{"AKSWindows/2022-containerd", "windows-2022-containerd", "20348.5139.260513", "AKSWindows-2022-containerd-20348.5139.260513"},
		{"AKSAzureContainerLinux/gen2tl", "aclgen2TL", "202607.29.0", "AKSAzureContainerLinux-202607.29.0"},
		{"AKSAzureContainerLinux/arm64gen2tl", "", "202607.29.0", "AKSAzureContainerLinux-202607.29.0"},
		{"AKSUbuntu/gen2/2204containerd", "2204gen2containerd", "202607.29.0", "AKSUbuntu-2204gen2containerd-202607.29.0"},
		{"AKSFlatcar/gen2", "flatcargen2", "202607.02.0", "AKSFlatcar-flatcargen2-202607.02.0"},
		{"AKSUbuntu/gen2/2404containerd", "", "202607.29.0", ""}, // sku not read yet: no name rather than a wrong one
	} {
		if got := tracker.NodeImageVersion(c.family, c.sku, c.version); got != c.want {
			t.Errorf("%s %s %s: %q, want %q", c.family, c.sku, c.version, got, c.want)
		}
	}
}

// TestResolveName: names find the families of their OS and sku, never another; a name
// no family publishes now says so.
func TestResolveName(t *testing.T) {
	skus := map[string]string{
		"AKSUbuntu/gen2/2204containerd":      "2204gen2containerd",
		"AKSUbuntu/gen1/2204containerd":      "2204containerd",
		"AKSAzureLinuxV3/gen2":               "V3gen2",
		"AKSWindows/2022-containerd":         "windows-2022-containerd",
		"AKSWindows/2022-containerd-gen2":    "windows-2022-containerd-gen2",
		"AKSAzureContainerLinux/gen2tl":      "aclgen2TL",
		"AKSAzureContainerLinux/arm64gen2tl": "aclarm64gen2TL",
		"AKSFlatcar/gen2":                    "flatcargen2",
		"AKSUbuntu/gen2/2404containerd":      "",
	}
	for _, c := range []struct {
		name     string
		families []string
		none     string
	}{
		{"AKSUbuntu-2204gen2containerd-202607.29.0", []string{"AKSUbuntu/gen2/2204containerd"}, ""},
		{"AKSUbuntu-2204containerd-202607.29.0", []string{"AKSUbuntu/gen1/2204containerd"}, ""},
		{"AKSUbuntu-2204GEN2containerd-202607.29.0", []string{"AKSUbuntu/gen2/2204containerd"}, ""}, // as typed, in another case
		{"AKSAzureLinux-V3gen2-202609.15.0", []string{"AKSAzureLinuxV3/gen2"}, ""},
		{"AKSWindows-2022-containerd-20348.2340.240401", []string{"AKSWindows/2022-containerd"}, ""},
		{"AKSAzureContainerLinux-202606.01.0", []string{"AKSAzureContainerLinux/arm64gen2tl", "AKSAzureContainerLinux/gen2tl"}, ""},
		{"AKSAzureContainerLinux-aclgen2TL-202606.01.0", []string{"AKSAzureContainerLinux/gen2tl"}, ""},
		{"AKSUbuntu-2204gen2containerd-202410.27.0-2024.12.01", []string{"AKSUbuntu/gen2/2204containerd"}, ""},
		{"AKSUbuntu-1804gen2containerd-2022.01.19", nil, "Ubuntu 18.04, which AKS no longer publishes"},
		{"AKSUbuntu-1804gen2-2021.06.12", nil, "Ubuntu 18.04, which AKS no longer publishes"},
		{"AKSCBLMariner-V2gen2-202402.26.0", nil, "CBL-Mariner / Azure Linux 2, which AKS no longer publishes"},
		{"AKSAzureLinux-V2gen2-202505.14.0", nil, "Azure Linux 2, which AKS no longer publishes"},
		{"AKSUbuntu-9904gen2containerd-202607.29.0", nil, "no family nodewatch knows publishes AKSUbuntu-9904gen2containerd images"},
		{"AKSWindows-2019-17763.1817.210310", nil, "Windows Server 2019, which AKS no longer publishes"},
		{"AKSWindows-2019-containerd-17763.8146.251212", nil, "Windows Server 2019, which AKS no longer publishes"},
		{"AKSWindows-23H2-gen2-25398.2025.251212", nil, "Windows Server 23H2, which AKS no longer publishes"},
		{"AKSUbuntuEdgeZone-2204gen2containerd-202512.18.0", nil, "no family nodewatch knows publishes AKSUbuntuEdgeZone-2204gen2containerd"},
	} {
		n, err := tracker.ParseNodeImageName(c.name)
		if err != nil {
			t.Fatal(err)
		}
		m := tracker.ResolveName(n, skus)
		if strings.Join(m.Families, ",") != strings.Join(c.families, ",") || !strings.Contains(m.NoFamily, c.none) || (c.none == "") != (m.NoFamily == "") {
			t.Errorf("%s: families %v, no family %q; want %v, %q", c.name, m.Families, m.NoFamily, c.families, c.none)
		}
	}
}

// FuzzParseNodeImageName: whatever a node label or a user types, the parser answers
// with a name whose parts give the input back, or with an error naming the input.
func FuzzParseNodeImageName(f *testing.F) {
	for _, s := range []string{"AKSUbuntu-2204gen2containerd-202607.29.0", "AKSWindows-2022-containerd-20348.2340.240401",
		"AKSAzureContainerLinux-202606.01.0", "AKSUbuntu-2204gen2containerd-202410.27.0-2024.12.01", "AKSUbuntu-1804gen2-2021.06.12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := tracker.ParseNodeImageName(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("error %q does not name %q", err, s)
			}
			return
		}
		parts := []string{n.OS}
		if n.SKU != "" {
			parts = append(parts, n.SKU)
		}
		parts = append(parts, n.Version)
		if n.SecurityPatch != "" {
			parts = append(parts, n.SecurityPatch)
		}
		if got := strings.Join(parts, "-"); got != s {
			t.Fatalf("%q parsed to %+v, which joins to %q", s, n, got)
		}
		if _, err := tracker.ParseImageVersion(n.Version); err != nil {
			t.Fatalf("%q: version %q does not parse: %v", s, n.Version, err)
		}
	})
}
