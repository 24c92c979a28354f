package tracker

import (
	"fmt"
	"slices"
	"strings"
)

// AKS names a node image `<OS>-<sku>-<version>`, as `az aks nodepool list` prints
// nodeImageVersion and as the node label kubernetes.azure.com/node-image-version carries
// it. The OS is not the family's top directory (AKSAzureLinuxV3/* is AKSAzureLinux), and
// the sku is not the directory name: it comes from the family's *-image-list.json.

// osOfTop maps a family's top directory to the OS part of its images' AKS names.
// A top directory missing here (a new OS line) names its images as it is.
var osOfTop = map[string]string{
	"AKSUbuntu":              "AKSUbuntu",
	"AKSAzureLinuxV3":        "AKSAzureLinux",
	"AKSAzureLinux":          "AKSAzureLinux",
	"AKSCBLMariner":          "AKSCBLMariner",
	"AKSCBLMarinerV2":        "AKSCBLMariner",
	"AKSWindows":             "AKSWindows",
	"AKSFlatcar":             "AKSFlatcar",
	"AKSAzureContainerLinux": "AKSAzureContainerLinux",
}

// osACL is the one OS that AKS names without a sku: the node's architecture decides
// between its families.
const osACL = "AKSAzureContainerLinux"

// NameOS returns the OS part of the AKS names of a family's images.
func NameOS(family string) string {
	top, _, _ := strings.Cut(family, "/")
	if os, ok := osOfTop[top]; ok {
		return os
	}
	return top
}

// OSLine is the line of operating systems a family belongs to, as people group them.
func OSLine(family string) string {
	switch NameOS(family) {
	case "AKSUbuntu":
		return "Ubuntu"
	case "AKSAzureLinux", "AKSCBLMariner":
		return "Azure Linux"
	case osACL:
		return "Azure Container Linux"
	case "AKSFlatcar":
		return "Flatcar"
	case "AKSWindows":
		return "Windows"
	}
	return "Other"
}

// OSLines is the order the status page groups families in.
var OSLines = []string{"Ubuntu", "Azure Linux", "Azure Container Linux", "Flatcar", "Windows", "Other"}

// NodeImageVersion is the AKS name of one image of family, "" while the family's sku is
// unknown (Azure Container Linux needs none).
func NodeImageVersion(family, sku, version string) string {
	os := NameOS(family)
	switch {
	case os == osACL:
		return os + "-" + version
	case sku == "":
		return ""
	}
	return os + "-" + nameSKU(os, sku) + "-" + version
}

// nameSKU is the sku as it stands in a name: Windows image lists say
// `windows-2022-containerd`, where AKS prints `AKSWindows-2022-containerd-...`.
func nameSKU(os, sku string) string {
	if os == "AKSWindows" {
		return strings.TrimPrefix(sku, "windows-")
	}
	return sku
}

// NodeImageName is an AKS node image name taken apart.
type NodeImageName struct {
	Raw     string `json:"name"`
	OS      string `json:"os"`
	SKU     string `json:"sku"` // "" where the name has none (Azure Container Linux)
	Version string `json:"version"`
	// SecurityPatch is the day of the security patches applied to a node on top of its
	// image (`...-202410.27.0-2024.12.01`), "" for an image as published.
	SecurityPatch string `json:"security_patch,omitempty"`
}

// NameError is a query that starts like a node image name but is none.
type NameError struct{ msg string }

func (e *NameError) Error() string { return e.msg }

func nameError(format string, args ...any) error { return &NameError{fmt.Sprintf(format, args...)} }

// ParseNodeImageName reads `<OS>-<sku>-<version>[-<patch day>]`: AKSUbuntu-2204gen2containerd-202607.29.0,
// AKSWindows-2022-containerd-20348.2340.240401, AKSAzureContainerLinux-202606.01.0,
// AKSUbuntu-2204gen2containerd-202410.27.0-2024.12.01.
func ParseNodeImageName(s string) (NodeImageName, error) {
	n := NodeImageName{Raw: s}
	parts := strings.Split(s, "-")
	if !strings.HasPrefix(s, "AKS") || len(parts) < 2 || parts[0] == "AKS" {
		return n, nameError("%q is no AKS node image name (<OS>-<sku>-<version>, such as AKSUbuntu-2204gen2containerd-202607.29.0)", s)
	}
	n.OS = parts[0]
	last := len(parts) - 1
	if _, err := ParseImageVersion(parts[last]); err != nil {
		return n, nameError("%q is no AKS node image name: it does not end in an image version: %v", s, err)
	}
	if last >= 2 {
		if _, err := ParseImageVersion(parts[last-1]); err == nil {
			p, _ := ParseImageVersion(parts[last])
			if p.Format != FormatLegacy {
				return n, nameError("%q: a security patch day reads YYYY.MM.DD, not %q", s, parts[last])
			}
			n.SecurityPatch = parts[last]
			last--
		}
	}
	n.Version = parts[last]
	n.SKU = strings.Join(parts[1:last], "-")
	if n.SKU == "" && n.OS != osACL {
		return n, nameError("%q is no AKS node image name: no sku between %s and %s", s, n.OS, n.Version)
	}
	for _, p := range parts[1:last] {
		if p == "" {
			return n, nameError("%q is no AKS node image name: an empty part", s)
		}
	}
	return n, nil
}

// NameMatch is what an AKS node image name resolves to.
type NameMatch struct {
	Name NodeImageName `json:"name"`
	// Families publish images of the name's OS and sku; more than one for Azure
	// Container Linux without a sku, whose architecture decides.
	Families []string `json:"families"`
	// NoFamily says why no family matches: an OS line AKS retired, or a sku no family
	// nodewatch knows publishes.
	NoFamily string `json:"no_family,omitempty"`
}

// ResolveName finds the families that publish images named like n. skus maps every
// family nodewatch knows to its sku ("" while unknown). Names of families that are gone
// (Ubuntu 18.04, Azure Linux 2) never match another family: the OS and sku must agree.
func ResolveName(n NodeImageName, skus map[string]string) NameMatch {
	m := NameMatch{Name: n, Families: []string{}}
	for family, sku := range skus {
		os := NameOS(family)
		if os != n.OS {
			continue
		}
		// The case of a sku is AKS's (2204gen2TLcontainerd), but no two differ by it alone.
		if n.SKU == "" && os == osACL || sku != "" && strings.EqualFold(nameSKU(os, sku), nameSKU(os, n.SKU)) {
			m.Families = append(m.Families, family)
		}
	}
	slices.Sort(m.Families)
	if len(m.Families) == 0 {
		m.NoFamily = retiredLine(n)
	}
	return m
}

// retiredLine says why no family publishes n's images: the OS lines AKS retired, as
// AgentBaker's notes show them ending (testdata/world-later/world.json), or else that
// nodewatch knows no family of that sku.
func retiredLine(n NodeImageName) string {
	sku := strings.ToLower(nameSKU(n.OS, n.SKU))
	line := ""
	switch {
	// Ubuntu 20.04 is not here: AgentBaker still builds its FIPS images in 2026.
	case n.OS == "AKSUbuntu" && (strings.HasPrefix(sku, "1604") || strings.HasPrefix(sku, "1804")):
		line = "Ubuntu " + sku[:2] + "." + sku[2:4]
	case n.OS == "AKSCBLMariner":
		line = "CBL-Mariner / Azure Linux 2"
	case n.OS == "AKSAzureLinux" && strings.HasPrefix(sku, "v2"):
		line = "Azure Linux 2"
	case n.OS == "AKSWindows" && strings.HasPrefix(sku, "2019"):
		line = "Windows Server 2019"
	case n.OS == "AKSWindows" && strings.HasPrefix(sku, "23h2"):
		line = "Windows Server 23H2"
	default:
		return fmt.Sprintf("no family nodewatch knows publishes %s-%s images", n.OS, n.SKU)
	}
	return fmt.Sprintf("%s, which AKS no longer publishes: no family matches %s-%s", line, n.OS, n.SKU)
}
